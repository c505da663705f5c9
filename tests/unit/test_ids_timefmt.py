"""App ids, task ids, container names and Marathon timestamps."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import AppValidationError
from engine.model import (
    app_id_from_task_id,
    app_id_problems,
    attempt_of,
    container_name_for,
    format_ts,
    instance_id_for,
    next_attempt,
    normalize_app_id,
    parse_app,
    parse_ts,
    resolve_app_id,
    task_id_for,
)

# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("x", "/x"),
        ("/x", "/x"),
        ("//a//b/", "/a/b"),
        ("a/b/c", "/a/b/c"),
        ("/shop/web/", "/shop/web"),
        ("", "/"),
        ("/", "/"),
        ("///", "/"),
    ],
)
def test_normalize_app_id(raw: str, expected: str) -> None:
    assert normalize_app_id(raw) == expected


@pytest.mark.parametrize(
    "app_id",
    [
        "/x",
        "/a/b",
        "/shop/web-1",
        "/a.b/c-d.e",
        "/0",
        "/a1/b2/c3",
        "/my-app.v2",
        "/restart/app",
        "/tasks/x",
        "/a/versionsx",
    ],
)
def test_valid_app_ids(app_id: str) -> None:
    assert app_id_problems(app_id) == []


@pytest.mark.parametrize(
    ("app_id", "fragment"),
    [
        ("/Bad_ID", "segment 'Bad_ID' is invalid"),
        ("/a_b", "segment 'a_b' is invalid"),
        ("/-a", "segment '-a' is invalid"),
        ("/a-", "segment 'a-' is invalid"),
        ("/a..b", "segment 'a..b' is invalid"),
        ("/a.-b", "segment 'a.-b' is invalid"),
        ("/.a", "segment '.a' is invalid"),
        ("/a b", "segment 'a b' is invalid"),
        ("/A", "segment 'A' is invalid"),
        ("/a/restart", "must not be 'restart'"),
        ("/a/tasks", "must not be 'tasks'"),
        ("/versions", "must not be 'versions'"),
        ("/a/.", "relative segment '.'"),
        ("/a/../b", "relative segment '..'"),
        ("/", "root"),
        ("", "root"),
    ],
)
def test_invalid_app_ids(app_id: str, fragment: str) -> None:
    problems = app_id_problems(app_id)
    assert problems, app_id
    assert any(fragment in p for p in problems), problems


def test_invalid_id_reports_each_bad_segment() -> None:
    problems = app_id_problems("/Bad/ok/Worse_/restart")
    assert len(problems) == 3
    assert "'Bad'" in problems[0] and "'Worse_'" in problems[1] and "'restart'" in problems[2]


def test_unnormalised_id_is_checked_like_its_normal_form() -> None:
    assert app_id_problems("//a//restart") == app_id_problems("/a/restart") != []
    assert app_id_problems("x") == []


def test_task_and_instance_ids() -> None:
    uuid = "3c2f8b1e-0f4c-4b8a-9d3e-5a6b7c8d9e0f"
    assert task_id_for("/shop/web", uuid) == f"shop_web.instance-{uuid}._app.1"
    assert task_id_for("/shop/web", uuid, 3) == f"shop_web.instance-{uuid}._app.3"
    assert task_id_for("shop//web/", uuid) == f"shop_web.instance-{uuid}._app.1"
    assert instance_id_for("/shop/web", uuid) == f"shop_web.instance-{uuid}"
    assert container_name_for("/shop/web", uuid) == f"pacer.shop.web.{uuid}"
    assert container_name_for("/example-app", "u1") == "pacer.example-app.u1"
    assert container_name_for("/shop/web", uuid, 3) == f"pacer.shop.web.{uuid}.3"


def test_attempts_of_an_instance() -> None:
    uuid = "3c2f8b1e-0f4c-4b8a-9d3e-5a6b7c8d9e0f"
    first = task_id_for("/shop/web", uuid)
    assert attempt_of(first) == 1 and attempt_of(instance_id_for("/shop/web", uuid)) == 1
    assert next_attempt(first) == task_id_for("/shop/web", uuid, 2)
    assert attempt_of(next_attempt(next_attempt(first) or "") or "") == 3
    assert app_id_from_task_id(next_attempt(first) or "") == "/shop/web"
    assert next_attempt(f"shop_web.{uuid}") is None, "a legacy id starts a new instance"


@pytest.mark.parametrize(
    ("task_id", "app_id"),
    [
        ("shop_web.instance-3c2f8b1e-0f4c-4b8a-9d3e-5a6b7c8d9e0f._app.1", "/shop/web"),
        ("shop_web.instance-3c2f8b1e-0f4c-4b8a-9d3e-5a6b7c8d9e0f._app.12", "/shop/web"),
        ("shop_web.instance-3c2f8b1e-0f4c-4b8a-9d3e-5a6b7c8d9e0f", "/shop/web"),  # instance id
        ("a.b_c-d.instance-abc._app.1", "/a.b/c-d"),  # dots and dashes in the app id
        ("a.instance-b.instance-u1._app.1", "/a.instance-b"),
        ("grp_app.marathon-3c2f8b1e-0f4c-4b8a-9d3e-5a6b7c8d9e0f", "/grp/app"),  # older form
        ("grp_app.3c2f8b1e-0f4c-4b8a-9d3e-5a6b7c8d9e0f", "/grp/app"),  # legacy form
        ("example-app.instance-u._app.1", "/example-app"),
    ],
)
def test_app_id_from_task_id(task_id: str, app_id: str) -> None:
    assert app_id_from_task_id(task_id) == app_id


@pytest.mark.parametrize(
    "task_id",
    [
        "",
        "nonsense",
        "shop_web",
        ".instance-u._app.1",
        "Shop_web.instance-u._app.1",
        "shop__web.instance-u._app.1",
        "_web.instance-u._app.1",
        "shop_web.instance-._app.1",
        "shop_web.instance-u._app.x",
        "grp_app.notauuid",
        "shop_restart.instance-u._app.1",
    ],
)
def test_malformed_task_ids(task_id: str) -> None:
    assert app_id_from_task_id(task_id) is None


_segment = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,4}[a-z0-9])?)?", fullmatch=True)


@given(
    segments=st.lists(_segment, min_size=1, max_size=4).filter(lambda s: s[-1] not in ("restart", "tasks", "versions")),
    uuid=st.uuids(),
    attempt=st.integers(min_value=1, max_value=10_000),
)
def test_task_id_round_trip(segments: list[str], uuid: object, attempt: int) -> None:
    app_id = "/" + "/".join(segments)
    assert app_id_problems(app_id) == []
    assert app_id_from_task_id(task_id_for(app_id, str(uuid), attempt)) == app_id
    assert app_id_from_task_id(instance_id_for(app_id, str(uuid))) == app_id


# --------------------------------------------------------------------- timestamps


def test_format_ts() -> None:
    epoch = datetime(2026, 11, 26, 6, 32, 12, 123000, tzinfo=timezone.utc).timestamp()
    assert format_ts(epoch) == "2026-11-26T06:32:12.123Z"
    assert format_ts(0) == "1970-01-01T00:00:00.000Z"
    assert format_ts(1.001) == "1970-01-01T00:00:01.001Z"
    assert format_ts(59.9996) == "1970-01-01T00:01:00.000Z"  # rounds into the next second
    assert format_ts(1_700_000_000.5) == "2023-11-14T22:13:20.500Z"


def test_format_ts_shape_now() -> None:
    text = format_ts(time.time())
    assert len(text) == 24 and text.endswith("Z") and text[19] == "."


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2026-11-26T06:32:12.123Z", datetime(2026, 11, 26, 6, 32, 12, 123000, tzinfo=timezone.utc).timestamp()),
        ("2026-11-26T06:32:12.123456Z", datetime(2026, 11, 26, 6, 32, 12, 123456, tzinfo=timezone.utc).timestamp()),
        ("2026-11-26T06:32:12Z", datetime(2026, 11, 26, 6, 32, 12, tzinfo=timezone.utc).timestamp()),
        ("1970-01-01T00:00:00.000Z", 0.0),
    ],
)
def test_parse_ts(text: str, epoch: float) -> None:
    assert parse_ts(text) == pytest.approx(epoch, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26T06:32:12.123+00:00",
        "2026-11-26T06:32:12.123",
        "2026-11-26 06:32:12.123Z",
        "2026-13-26T06:32:12.123Z",
        "2026-02-30T06:32:12.123Z",
        "2026-11-26T25:32:12.123Z",
        "2026-11-26T06:32:12.Z",
        "26-11-26T06:32:12.123Z",
        "",
        "yesterday",
    ],
)
def test_parse_ts_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ts(text)


def test_parse_ts_rejects_non_strings() -> None:
    with pytest.raises(ValueError):
        parse_ts(12345)  # type: ignore[arg-type]


@given(ms=st.integers(min_value=0, max_value=4_102_444_800_000))  # up to 2100
def test_timestamp_round_trip(ms: int) -> None:
    text = format_ts(ms / 1000)
    assert parse_ts(text) == pytest.approx(ms / 1000, abs=1e-6)
    assert format_ts(parse_ts(text)) == text


@pytest.mark.parametrize(("raw", "group", "expected"), [
    ("db", "/shop", "/shop/db"),
    ("./db", "/shop", "/shop/db"),
    ("../shared/db", "/shop/web", "/shop/shared/db"),
    ("..", "/shop", "/"),
    ("/abs//db/", "/shop", "/abs/db"),
    ("../db", "/", None),
])
def test_relative_ids_resolve_as_marathon_does(raw: str, group: str, expected: str | None) -> None:
    assert resolve_app_id(raw, group) == expected


def test_dependencies_are_relative_to_the_apps_group() -> None:
    app = parse_app({"id": "/shop/web", "cmd": "x", "dependencies": ["db", "../top", "/abs"]}, default_image="busybox")
    assert app.dependencies == ["/shop/db", "/top", "/abs"]
    with pytest.raises(AppValidationError) as bad:
        parse_app({"id": "/web", "cmd": "x", "dependencies": ["../../db"]}, default_image="busybox")
    assert [e.path for e in bad.value.errors] == ["/dependencies/0"]

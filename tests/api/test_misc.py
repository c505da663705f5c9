"""/ping, /v2/info, /v2/leader, /metrics, /metrics/prometheus, /openapi.json, logs."""

from __future__ import annotations

import collections
import collections.abc

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine import Engine
from tests.api.conftest import app_body
from tests.conftest import wait_until

collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from marathon.models import MarathonInfo  # noqa: E402


@pytest.mark.parametrize(
    ("accept", "status", "content_type", "body"),
    [
        ("application/json", 200, "application/json", b'"pong"'),
        (None, 200, "text/plain; charset=utf-8", b"pong"),
        ("*/*", 200, "text/plain; charset=utf-8", b"pong"),
        ("text/plain", 200, "text/plain; charset=utf-8", b"pong"),
        ("application/json;q=0.5, text/plain", 200, "text/plain; charset=utf-8", b"pong"),
        ("image/png", 204, None, b""),
    ],
)
async def test_ping(client: httpx.AsyncClient, accept: str | None, status: int, content_type: str | None,
                    body: bytes) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    r = await client.get("/ping", headers=headers)
    if accept is None:
        r = await client.get("/ping", headers={"Accept": ""})
    assert r.status_code == status and r.content == body
    if content_type:
        assert r.headers["content-type"] == content_type


async def test_info_has_only_known_keys_and_parses(client: httpx.AsyncClient, engine: Engine) -> None:
    info = (await client.get("/v2/info")).json()
    assert {"marathon_config", "zookeeper_config", "http_config"} <= set(info)
    assert info["leader"] == "127.0.0.1:8080" and info["elected"] is True
    assert info["http_config"]["http_port"] == 8080
    parsed = MarathonInfo.from_json(info)
    assert parsed.marathon_config.local_port_min == 10000
    assert (await client.get("/v2/leader")).json() == {"leader": "127.0.0.1:8080"}


async def test_metrics_json_shape(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body(instances=2))
    await wait_until(lambda: engine.running_count("/web") == 2, 5, message="running")
    m = (await client.get("/metrics")).json()
    assert set(m) == {"version", "counters", "gauges", "histograms", "meters", "timers"}
    assert m["gauges"]["marathon.apps.active.gauge"] == {"value": 1}
    assert m["gauges"]["marathon.tasks.running.gauge"] == {"value": 2}
    assert m["counters"]["pacer.reconcile.rounds.counter"]["count"] >= 1
    timer = m["timers"]["pacer.reconcile.duration.timer"]
    assert {"count", "min", "max", "mean", "p50", "p99"} <= set(timer)


async def test_prometheus_text_parses(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body(instances=2))
    await client.post("/v2/apps", json=app_body("/big", instances=1, cpus=99))
    await wait_until(lambda: engine.running_count("/web") == 2 and "/big" in engine.waiting, 5, message="state")
    r = await client.get("/metrics/prometheus")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("pacer_apps", ())] == 2
    assert samples[("pacer_tasks", (("state", "TASK_RUNNING"),))] == 2
    assert samples[("pacer_deployments", ())] == 1
    assert samples[("pacer_tasks_waiting", ())] == 1
    assert families["pacer_reconcile_duration_seconds"].type == "summary"
    assert samples[("pacer_reconcile_duration_seconds_count", ())] >= 1
    assert ("pacer_task_start_latency_seconds", (("quantile", "0.5"),)) in samples
    assert families["pacer_reconcile_rounds"].type == "counter"
    assert ("pacer_task_health", (("result", "healthy"),)) in samples


async def test_openapi_document_is_served_and_valid(client: httpx.AsyncClient) -> None:
    from openapi_spec_validator import validate

    doc = (await client.get("/openapi.json")).json()
    validate(doc)
    assert {"/v2/apps", "/v2/apps/{appId}", "/v2/events", "/v2/queue/{appId}/delay"} <= set(doc["paths"])


def test_every_fixed_route_is_documented() -> None:
    """Each route without a catch-all path is in /openapi.json with its method (the catch-all routes, such as
    /v2/apps/{rest:path}, serve several documented paths)."""
    import re

    from engine.api import openapi_document
    from engine.api.app import routes

    def camel(match: re.Match[str]) -> str:
        head, *rest = match.group(1).split("_")
        return "{" + head + "".join(w.title() for w in rest) + "}"

    documented = {(path, method.upper()) for path, ops in openapi_document()["paths"].items() for method in ops}
    not_api = {"/openapi.json", "/metrics", "/metrics/prometheus"}  # the document itself, and scrape formats
    missing = [
        (route.path, method)
        for route in routes() if ":path}" not in route.path and route.path not in not_api
        for method in sorted(route.methods or ()) if method != "HEAD"
        and (re.sub(r"{(\w+)}", camel, route.path), method) not in documented
    ]
    assert missing == []


async def test_logs_of_app_and_task(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body("/shop/web", instances=2))
    await wait_until(lambda: engine.running_count("/shop/web") == 2, 5, message="running")
    r = await client.get("/pacer/v1/apps/shop/web/logs", params={"tail": "5"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert len(lines) == 2 and all(line.startswith("[shop_web.") and "started" in line for line in lines)
    task = engine.tasks_of("/shop/web")[0]
    r = await client.get(f"/pacer/v1/tasks/{task.task_id}/logs")
    assert r.status_code == 200 and task.task_id in r.text
    assert (await client.get("/pacer/v1/tasks/nope/logs")).status_code == 404
    assert (await client.get("/pacer/v1/apps/nope/logs")).status_code == 404
    assert (await client.get("/pacer/v1/apps/shop/web/logs", params={"tail": "x"})).status_code == 400


async def test_start_api_leaves_signal_handlers_alone(engine: Engine) -> None:
    import signal

    from engine.api import start_api

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = await start_api(engine, engine.config, bind="127.0.0.1:0")
    try:
        async with httpx.AsyncClient(base_url=server.url) as c:
            assert (await c.get("/ping")).text == "pong"
        assert {sig: signal.getsignal(sig) for sig in before} == before
    finally:
        await server.stop()
    assert {sig: signal.getsignal(sig) for sig in before} == before


async def test_port_in_use_is_a_config_error(engine: Engine) -> None:
    from engine import ConfigError
    from engine.api import start_api

    server = await start_api(engine, engine.config, bind="127.0.0.1:0")
    try:
        with pytest.raises(ConfigError) as info:
            await start_api(engine, engine.config, bind=f"127.0.0.1:{server.port}")
        assert "cannot listen" in info.value.message
    finally:
        await server.stop()

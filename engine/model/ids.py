"""App ids, task ids and container names.

App ids are Marathon path ids: ``/group/app``. Empty segments are dropped and
a relative id becomes absolute (``x`` -> ``/x``). Every segment matches
Marathon's segment regex: lowercase letters, digits and ``-``, in
dot-separated parts that start and end with a letter or digit. So an app id
never contains ``_``, which is what lets a task id carry the app id with ``/``
written as ``_``.

Task ids follow Marathon 1.10: ``<app path, / -> _>.instance-<uuid>._app.<attempt>``.
"""

from __future__ import annotations

import re

from engine.model.limits import MAX_ID_LENGTH, MAX_ID_SEGMENT_LENGTH

__all__ = [
    "RESERVED_LAST_SEGMENTS",
    "app_id_from_task_id",
    "app_id_problems",
    "attempt_of",
    "container_name_for",
    "instance_id_for",
    "instance_of",
    "next_attempt",
    "normalize_app_id",
    "task_id_for",
]

# Marathon's segment regex (PathId), used as a full match. Marathon also lets
# "." and ".." through the regex and resolves them; pacer refuses them (see
# app_id_problems).
_LABEL = r"(?:[a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])"
_SEGMENT_RE = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")

RESERVED_LAST_SEGMENTS = frozenset({"restart", "tasks", "versions", ".", ".."})

_TASK_ID_RE = re.compile(r"(?P<app>.+)\.(?:instance-|marathon-)(?P<uuid>[^.]+)(?:\._app\.(?P<attempt>\d+))?")
_LEGACY_TASK_ID_RE = re.compile(
    r"(?P<app>.+)\.(?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
)


def normalize_app_id(raw: str) -> str:
    """Drop empty segments and make absolute: ``x`` -> ``/x``, ``//a//b/`` -> ``/a/b``, ``""`` -> ``/``."""
    return "/" + "/".join(s for s in raw.split("/") if s)


def resolve_app_id(raw: str, group: str) -> str | None:
    """A path id as Marathon resolves one given relative to `group` (an app's dependencies are relative to its
    group): ``db``, ``./db``, ``../shared/db``; an absolute id is only normalised. None: ``..`` above the root."""
    if raw.startswith("/"):
        return normalize_app_id(raw)
    parts = [s for s in group.split("/") if s]
    for seg in (s for s in raw.split("/") if s):
        if seg == "..":
            if not parts:
                return None
            parts.pop()
        elif seg != ".":
            parts.append(seg)
    return "/" + "/".join(parts)


def group_of(app_id: str) -> str:
    """The group an app id is in: ``/shop/web`` -> ``/shop``, ``/web`` -> ``/``."""
    return normalize_app_id(app_id).rpartition("/")[0] or "/"


def _shown(seg: str) -> str:
    return seg if len(seg) <= 40 else f"{seg[:37]}..."


def app_id_problems(app_id: str, *, lengths: bool = True) -> list[str]:
    """Human-readable problems with an app id (normalised or not); empty when valid. With `lengths`, the
    id (normalised) and each segment must also be within pacer's limits (engine.model.limits)."""
    segments = [s for s in app_id.split("/") if s]
    if not segments:
        return ["must not be the root group '/'; give the app a name such as '/my-app'"]
    problems: list[str] = []
    length = sum(len(s) + 1 for s in segments)
    if lengths and length > MAX_ID_LENGTH:
        problems.append(f"must be at most {MAX_ID_LENGTH} characters long (pacer's limit), got {length}")
    for seg in segments:
        if seg in (".", ".."):
            problems.append(f"relative segment '{seg}' is not allowed in an app id")
        elif not _SEGMENT_RE.fullmatch(seg):
            problems.append(
                f"segment '{_shown(seg)}' is invalid: use lowercase letters, digits, '-' and '.', "
                "starting and ending with a letter or digit (no '-' or '.' next to a '.')"
            )
        elif lengths and len(seg) > MAX_ID_SEGMENT_LENGTH:
            problems.append(
                f"segment '{_shown(seg)}' is {len(seg)} characters long: at most {MAX_ID_SEGMENT_LENGTH} "
                "(pacer's limit)"
            )
    last = segments[-1]
    if last in RESERVED_LAST_SEGMENTS and last not in (".", ".."):
        problems.append(f"the last segment must not be '{last}' (reserved by the REST API)")
    return problems


def _app_path(app_id: str) -> str:
    return "_".join(s for s in app_id.split("/") if s)


def instance_id_for(app_id: str, instance_uuid: str) -> str:
    """``/shop/web`` -> ``shop_web.instance-<uuid>`` (Marathon's instance id; health results carry it)."""
    return f"{_app_path(app_id)}.instance-{instance_uuid}"


def task_id_for(app_id: str, instance_uuid: str, attempt: int = 1) -> str:
    """``/shop/web`` -> ``shop_web.instance-<uuid>._app.<attempt>``."""
    return f"{_app_path(app_id)}.instance-{instance_uuid}._app.{attempt}"


def instance_of(task_id: str) -> str:
    """The instance a task id belongs to: ``<app>.instance-<uuid>._app.<n>`` -> ``<app>.instance-<uuid>``
    (other forms are their own instance)."""
    return task_id.rsplit("._app.", 1)[0]


def attempt_of(task_id: str) -> int:
    """Which attempt of its instance a task is: ``..._app.3`` -> 3 (1 for ids without the suffix)."""
    m = _TASK_ID_RE.fullmatch(task_id)
    return int(m.group("attempt")) if m is not None and m.group("attempt") else 1


def next_attempt(task_id: str) -> str | None:
    """The id of the next attempt of the same instance (``._app.<n>`` -> ``._app.<n+1>``); None for ids
    that are not of the instance form (legacy ``<app>.<uuid>`` ids start a new instance instead)."""
    m = _TASK_ID_RE.fullmatch(task_id)
    if m is None or ".instance-" not in task_id:
        return None
    return f"{m.group('app')}.instance-{m.group('uuid')}._app.{attempt_of(task_id) + 1}"


def app_id_from_task_id(task_id: str) -> str | None:
    """The app id a task id (or instance id) belongs to, or None if it is not one.

    Reads Marathon's forms: ``<app>.instance-<uuid>._app.<n>`` (1.10),
    ``<app>.instance-<uuid>`` (an instance id), ``<app>.marathon-<uuid>`` and
    the legacy ``<app>.<uuid>``.
    """
    if not isinstance(task_id, str):
        return None
    m = _TASK_ID_RE.fullmatch(task_id) or _LEGACY_TASK_ID_RE.fullmatch(task_id)
    if m is None:
        return None
    path = m.group("app")
    segments = path.split("_")
    if any(not s for s in segments):
        return None
    app_id = "/" + "/".join(segments)
    if app_id_problems(app_id, lengths=False):
        return None
    return app_id


def container_name_for(app_id: str, instance_uuid: str, attempt: int = 1) -> str:
    """``/shop/web`` -> ``pacer.shop.web.<uuid>``, and ``pacer.shop.web.<uuid>.<n>`` for the n-th attempt of
    an instance (n > 1): the failed attempt's container may still exist while its successor is created."""
    name = "pacer." + ".".join(s for s in app_id.split("/") if s) + f".{instance_uuid}"
    return name if attempt <= 1 else f"{name}.{attempt}"

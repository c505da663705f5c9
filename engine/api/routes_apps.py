"""/v2/apps: list, create, read, update, patch, delete, restart, tasks, versions.

App ids contain ``/``, so one route per method takes the whole tail and the
last segments pick the operation, as Marathon's JAX-RS templates do:
``…/restart``, ``…/tasks``, ``…/tasks/{taskId}``, ``…/versions``,
``…/versions/{version}``, ``…/*`` (the apps of a group).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from engine.api.http import ApiError, dumps, embeds, flag, invalid, json_response, read_json
from engine.api.json_views import (
    AgentHosts,
    TaskCounts,
    app_extras,
    count_tasks,
    deployment_result,
    deployments_by_app,
    tasks_json,
    with_extras,
)
from engine.api.state import ApiState
from engine.commands import AppChange
from engine.errors import AppNotFound, AppValidationError, FieldError, TaskNotFound
from engine.model import (
    VERSION_ONLY_MESSAGE,
    AppDefinition,
    app_to_json,
    normalize_app_id,
    parse_app_version_only,
)
from engine.scheduler.deployments import Deployment


def api(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _dr(d: Deployment, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body, dr_headers = deployment_result(d)
    return json_response(body, status, {**dr_headers, **(headers or {})})


def _location(request: Request, app_id: str) -> str:
    base = str(request.base_url).rstrip("/")
    return f"{base}/v2/apps{app_id}"


def _label_selector(text: str) -> list[tuple[str, str, list[str]]]:
    """Marathon's label selector: `k`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, comma-joined."""
    terms: list[str] = []
    buf, depth, i = [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i:i + 2])
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            terms.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    terms.append("".join(buf))

    def unescape(s: str) -> str:
        out, j = [], 0
        while j < len(s):
            if s[j] == "\\" and j + 1 < len(s):
                out.append(s[j + 1])
                j += 2
            else:
                out.append(s[j])
                j += 1
        return "".join(out).strip()

    parsed: list[tuple[str, str, list[str]]] = []
    for term in (t.strip() for t in terms):
        if not term:
            continue
        for op in ("==", "!="):
            if op in term:
                key, _, value = term.partition(op)
                parsed.append((unescape(key), op, [unescape(value)]))
                break
        else:
            words = term.split(None, 1)
            if len(words) == 2 and words[1].split("(", 1)[0].strip() in ("in", "notin") and "(" in words[1]:
                op = words[1].split("(", 1)[0].strip()
                inner = words[1].split("(", 1)[1].rsplit(")", 1)[0]
                parsed.append((unescape(words[0]), op, [unescape(v) for v in inner.split(",")]))
            else:
                parsed.append((unescape(term), "exists", []))
    return parsed


def _labels_match(labels: dict[str, str], selector: list[tuple[str, str, list[str]]]) -> bool:
    for key, op, vals in selector:
        have = labels.get(key)
        if op == "exists" and have is None:
            return False
        if op == "==" and have != vals[0]:
            return False
        if op == "!=" and have == vals[0]:
            return False
        if op == "in" and have not in vals:
            return False
        if op == "notin" and have in vals:
            return False
    return True


_DICT_EMBEDS = frozenset({"tasks", "failures", "taskStats", "lastTaskFailure", "readiness"})
_COUNTS_TAIL = b',"tasksStaged":%d,"tasksRunning":%d,"tasksHealthy":%d,"tasksUnhealthy":%d,"deployments":%s}'


def _app_infos(state: ApiState, apps: list[AppDefinition], embed: frozenset[str]) -> bytes:
    """The encoded AppInfo list: cached definitions plus counts and deployments."""
    engine = state.engine
    checked = {a.id for a in apps if a.health_checks}
    by_app = {app.id: engine.tasks_of(app.id) for app in apps}
    counts: dict[str, TaskCounts] = {}
    for app_id, app_tasks in by_app.items():
        counts.update(count_tasks(app_tasks, engine.health, checked))
    deployments = deployments_by_app(engine)
    cache = state.app_cache
    cache.prune(engine.apps)
    if not embed & _DICT_EMBEDS:
        # The common answer (counts and deployments only): formatted straight into bytes.
        empty = TaskCounts()
        fast = []
        for app in apps:
            c = counts.get(app.id) or empty
            deps = deployments.get(app.id)
            fast.append(cache.encoded(app)[:-1] + _COUNTS_TAIL % (
                c.staged, c.running, c.healthy, c.unhealthy, dumps(deps) if deps else b"[]"))
        return b"[" + b",".join(fast) + b"]"
    parts = []
    for app in apps:
        extras, raw = app_extras(engine, app, counts.get(app.id), deployments.get(app.id, []), embed, state.hosts,
                                 tasks=by_app.get(app.id, []),
                                 task_cache=state.task_cache)
        parts.append(with_extras(cache.encoded(app), extras, raw))
    return b"[" + b",".join(parts) + b"]"


# -- /v2/apps --------------------------------------------------------------------------


_PROBE_EMBEDS = frozenset({"tasks", "failures"})


async def list_apps(request: Request) -> Response:
    state = api(request)
    embed = embeds(request)
    cacheable = "taskStats" not in embed  # lifetimes move with the clock
    probes = bool(embed & _PROBE_EMBEDS)
    key = ("apps", request.url.path, request.url.query)
    if cacheable:
        cached = state.responses.get(key, probes=probes)
        if cached is not None:
            return json_response(cached)
    engine = state.engine
    apps = list(engine.apps.values())
    cmd = request.query_params.get("cmd")
    if cmd:
        apps = [a for a in apps if a.cmd is not None and cmd.lower() in a.cmd.lower()]
    wanted_id = request.query_params.get("id")
    if wanted_id:
        apps = [a for a in apps if wanted_id.lower() in a.id.lower()]
    label = request.query_params.get("label")
    if label:
        selector = _label_selector(label)
        apps = [a for a in apps if _labels_match(a.labels, selector)]
    apps.sort(key=lambda a: a.id)
    body = b'{"apps":' + _app_infos(state, apps, embed) + b"}"
    if cacheable:
        state.responses.put(key, body, probes=probes)
    return json_response(body)


async def create_app(request: Request) -> Response:
    state = api(request)
    body = await read_json(request)
    force = flag(request, "force")
    deployment = await state.engine.create_app(body, force=force, client_ip=client_ip(request),
                                               uri=request.url.path)
    app = state.engine.get_app(deployment.app_id)
    info = with_extras(state.app_cache.encoded(app), {
        "tasksStaged": 0, "tasksRunning": 0, "tasksHealthy": 0, "tasksUnhealthy": 0,
        "deployments": [{"id": deployment.id}],
    })
    headers = {"Location": _location(request, app.id), "Marathon-Deployment-Id": deployment.id}
    return json_response(info, 201, headers)


def _check_batch(state: ApiState, body: Any, *, partial: bool, create: bool) -> list[AppChange]:
    """Validate every app of PUT/PATCH /v2/apps before changing any (one answer names every bad field)."""
    engine = state.engine
    if not isinstance(body, list):
        raise invalid("/", "must be a JSON array of apps")
    if not body:
        raise invalid("/", "give at least one app")
    errors: list[FieldError] = []
    submitted: list[tuple[str, object]] = []
    for i, item in enumerate(body):
        if not create and isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"].strip("/") \
                and normalize_app_id(item["id"]) not in engine.apps:
            errors.append(FieldError(f"/{i}/id", f"App '{normalize_app_id(item['id'])}' does not exist"))
        else:
            submitted.append((f"/{i}", item))
    try:
        changes = engine.plan_changes(submitted, partial=partial)
    except AppValidationError as exc:
        errors.extend(exc.errors)
    if errors:
        raise AppValidationError(sorted(errors, key=lambda e: _index_of(e.path)))
    return changes


def _index_of(path: str) -> int:
    head = path.split("/")[1] if path.count("/") else ""
    return int(head) if head.isdigit() else -1


async def put_apps(request: Request) -> Response:
    """PUT /v2/apps: create or update several apps (partialUpdate=true by default), as one deployment."""
    state = api(request)
    body = await read_json(request)
    force, partial = flag(request, "force"), flag(request, "partialUpdate", True)
    changes = _check_batch(state, body, partial=partial, create=True)
    return await _apply_batch(request, state, changes, force=force)


async def patch_apps(request: Request) -> Response:
    state = api(request)
    body = await read_json(request)
    force = flag(request, "force")
    changes = _check_batch(state, body, partial=True, create=False)
    return await _apply_batch(request, state, changes, force=force)


async def _apply_batch(request: Request, state: ApiState, changes: list[AppChange], *, force: bool) -> Response:
    deployments = await state.engine.apply_changes(changes, force=force, client_ip=client_ip(request),
                                                   uri=request.url.path)
    return _dr(deployments[0])


# -- /v2/apps/{id...} ------------------------------------------------------------------


def _split(tail: str) -> list[str]:
    return [s for s in tail.split("/") if s]


def _require_app(state: ApiState, app_id: str) -> AppDefinition:
    return state.engine.get_app(app_id)


async def get_app_path(request: Request) -> Response:
    state = api(request)
    segs = _split(request.path_params["rest"])
    if not segs:
        return await list_apps(request)
    engine = state.engine
    whole = "/" + "/".join(segs)
    if segs[-1] == "*":
        return _group_apps(request, state, "/" + "/".join(segs[:-1]))
    if segs[-1] == "tasks" and len(segs) > 1:
        return _app_tasks(state, "/" + "/".join(segs[:-1]))
    if segs[-1] == "versions" and len(segs) > 1:
        app = _require_app(state, "/" + "/".join(segs[:-1]))
        return json_response({"versions": engine.app_versions(app.id)})
    if len(segs) > 2 and segs[-2] == "versions":
        owner = "/" + "/".join(segs[:-2])
        if owner in engine.apps or whole not in engine.apps:
            app = _require_app(state, owner)
            try:
                at = engine.app_at_version(app.id, segs[-1])
            except AppNotFound:
                raise ApiError(404, f"App '{app.id}' does not exist in version {segs[-1]}") from None
            return json_response(app_to_json(at))
    return _one_app(request, state, whole)


def _one_app(request: Request, state: ApiState, app_id: str) -> Response:
    engine = state.engine
    app = _require_app(state, app_id)
    counts = count_tasks(engine.tasks_of(app.id), engine.health, {app.id} if app.health_checks else set())
    deployments = deployments_by_app(engine).get(app.id, [])
    extras, raw = app_extras(engine, app, counts.get(app.id), deployments, embeds(request), state.hosts,
                             detail=True, task_cache=state.task_cache)
    return json_response(b'{"app":' + with_extras(state.app_cache.encoded(app), extras, raw) + b"}")


def _group_apps(request: Request, state: ApiState, group: str) -> Response:
    prefix = "" if group == "/" else group
    apps = sorted((a for a in state.engine.apps.values() if a.id.startswith(prefix + "/")), key=lambda a: a.id)
    if not apps and group != "/":
        raise ApiError(404, f"Group '{group}' does not exist")
    return json_response(b'{"*":' + _app_infos(state, apps, embeds(request)) + b"}")


def _app_tasks(state: ApiState, app_id: str) -> Response:
    app = _require_app(state, app_id)
    tasks = sorted(state.engine.tasks_of(app.id), key=lambda t: (t.staged_at, t.task_id))
    encoded = state.task_cache.encoded(state.engine, tasks, state.hosts, service_ports=False)
    return json_response(b'{"tasks":' + encoded + b"}")


def _path_app_id(request: Request) -> str:
    segs = _split(request.path_params["rest"])
    return "/" + "/".join(segs)


async def put_app(request: Request) -> Response:
    state = api(request)
    engine = state.engine
    app_id = _path_app_id(request)
    body = await read_json(request)
    force, partial = flag(request, "force"), flag(request, "partialUpdate", True)
    if isinstance(body, dict):
        version = parse_app_version_only(body)
        if version is not None:
            app = _require_app(state, app_id)
            try:
                return _dr(await engine.rollback_app(app.id, version, force=force))
            except AppNotFound:
                raise ApiError(404, f"App '{app.id}' does not exist in version {version}") from None
        if body.get("version") is not None:
            raise invalid("/version", VERSION_ONLY_MESSAGE)
        body = {**body, "id": app_id}
    existed = normalize_app_id(app_id) in engine.apps
    deployment = await engine.put_app(body, app_id=app_id, partial=partial, force=force,
                                      client_ip=client_ip(request), uri=request.url.path)
    if existed:
        return _dr(deployment)
    return _dr(deployment, 201, {"Location": _location(request, deployment.app_id)})


async def patch_app(request: Request) -> Response:
    state = api(request)
    app = _require_app(state, _path_app_id(request))
    body = await read_json(request)
    if isinstance(body, dict):
        if body.get("version") is not None:
            raise invalid("/version", "PATCH cannot roll back; use PUT with only 'version'")
        body = {**body, "id": app.id}
    deployment = await state.engine.put_app(body, app_id=app.id, partial=True, force=flag(request, "force"),
                                            client_ip=client_ip(request), uri=request.url.path)
    return _dr(deployment)


async def delete_app_path(request: Request) -> Response:
    state = api(request)
    segs = _split(request.path_params["rest"])
    if not segs:
        raise ApiError(405, "Method Not Allowed")
    if segs[-1] == "tasks" and len(segs) > 1:
        return await _kill_app_tasks(request, state, "/" + "/".join(segs[:-1]))
    if len(segs) > 2 and segs[-2] == "tasks":
        return await _kill_app_task(request, state, "/" + "/".join(segs[:-2]), segs[-1])
    app = _require_app(state, "/" + "/".join(segs))
    return _dr(await state.engine.delete_app(app.id, force=flag(request, "force", True)))


async def post_app_path(request: Request) -> Response:
    state = api(request)
    segs = _split(request.path_params["rest"])
    if len(segs) > 1 and segs[-1] == "restart":
        app = _require_app(state, "/" + "/".join(segs[:-1]))
        return _dr(await state.engine.restart_app(app.id, force=flag(request, "force")))
    raise ApiError(405, "Method Not Allowed: POST is only for /v2/apps and /v2/apps/{appId}/restart")


def _kill_flags(request: Request) -> tuple[bool, bool]:
    scale, wipe = flag(request, "scale"), flag(request, "wipe")
    if scale and wipe:
        raise ApiError(400, "You cannot use scale and wipe at the same time.")
    return scale, flag(request, "force")


async def kill_and_answer(request: Request, state: ApiState, task_ids: list[str], *, scale: bool, force: bool,
                          single: bool = False) -> Response:
    """Kill tasks; answer the killed tasks, or with scale=true the deployment that lowered instances."""
    engine = state.engine
    before = set(engine.deployments)
    hosts: AgentHosts = state.hosts
    killed = await engine.kill_tasks(task_ids, scale=scale, force=force)
    if scale:
        created = [d for d_id, d in engine.deployments.items() if d_id not in before]
        if created:
            return _dr(max(created, key=lambda d: d.version))
    body = tasks_json(engine, killed, hosts, service_ports=False)
    if single:
        return json_response({"task": body[0]} if body else {"task": None})
    return json_response({"tasks": body})


async def _kill_app_tasks(request: Request, state: ApiState, app_id: str) -> Response:
    scale, force = _kill_flags(request)
    app = _require_app(state, app_id)
    host = request.query_params.get("host")
    tasks = state.engine.tasks_of(app.id)
    if host and host != "*":
        tasks = [t for t in tasks if t.agent == host or state.hosts(t.agent) == host]
    return await kill_and_answer(request, state, [t.task_id for t in tasks], scale=scale, force=force)


async def _kill_app_task(request: Request, state: ApiState, app_id: str, task_id: str) -> Response:
    scale, force = _kill_flags(request)
    app = _require_app(state, app_id)
    task = state.engine.tasks.get(task_id)
    if task is None or task.app_id != app.id:
        raise TaskNotFound(task_id)
    return await kill_and_answer(request, state, [task_id], scale=scale, force=force, single=True)


__all__ = [
    "create_app",
    "delete_app_path",
    "get_app_path",
    "kill_and_answer",
    "list_apps",
    "patch_app",
    "patch_apps",
    "post_app_path",
    "put_app",
    "put_apps",
]

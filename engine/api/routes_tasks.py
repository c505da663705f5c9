"""/v2/tasks and /v2/tasks/delete, /v2/deployments, /v2/queue."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from engine.api.http import ApiError, flag, invalid, json_response, read_json, values
from engine.api.json_views import deployment_result, queue_item
from engine.api.routes_apps import api, kill_and_answer
from engine.errors import AppNotFound
from engine.model import app_id_from_task_id, normalize_app_id
from engine.scheduler.deployments import deployments_json
from engine.scheduler.state import TaskState

_STATUS = {"running": TaskState.RUNNING, "staging": TaskState.STAGING}


async def list_tasks(request: Request) -> Response:
    state = api(request)
    engine = state.engine
    wanted = {_STATUS[s.lower()] for s in values(request, "status", "status[]") if s.lower() in _STATUS}
    tasks = [t for t in engine.tasks.values() if not wanted or t.state in wanted]
    tasks.sort(key=lambda t: (t.app_id, t.staged_at, t.task_id))
    encoded = state.task_cache.encoded(engine, tasks, state.hosts, service_ports=True)
    return json_response(b'{"tasks":' + encoded + b"}")


async def delete_tasks(request: Request) -> Response:
    """POST /v2/tasks/delete {"ids": [...]}: unknown but well-formed ids are skipped."""
    state = api(request)
    scale, wipe = flag(request, "scale"), flag(request, "wipe")
    if scale and wipe:
        raise ApiError(400, "You cannot use scale and wipe at the same time.")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid("/", 'must be a JSON object such as {"ids": ["<taskId>", ...]}')
    ids = body.get("ids")
    if not isinstance(ids, list):
        raise invalid("/ids", "is required: a list of task ids")
    bad = [i for i, t in enumerate(ids) if not isinstance(t, str)]
    if bad:
        raise ApiError(422, "Object is not valid",
                       [{"path": f"/ids/{i}", "errors": ["must be a string (a task id)"]} for i in bad])
    for task_id in ids:
        if app_id_from_task_id(task_id) is None:
            raise ApiError(400, f"Invalid task id '{task_id}'. [a task id looks like <app>.instance-<uuid>._app.<n>]")
    known = [t for t in dict.fromkeys(ids) if t in state.engine.tasks]
    return await kill_and_answer(request, state, known, scale=scale, force=flag(request, "force"))


# -- deployments ------------------------------------------------------------------------


async def list_deployments(request: Request) -> Response:
    engine = api(request).engine
    return json_response(deployments_json([d for d in engine.deployments.values() if d.status == "running"],
                                          engine.readiness_results_json()))


async def delete_deployment(request: Request) -> Response:
    engine = api(request).engine
    deployment_id = request.path_params["deployment_id"]
    if flag(request, "force"):
        await engine.cancel_deployment(deployment_id, rollback=False)
        return Response(status_code=202)
    rollback = await engine.cancel_deployment(deployment_id, rollback=True)
    assert rollback is not None
    body, headers = deployment_result(rollback)
    return json_response(body, 200, headers)


# -- queue ------------------------------------------------------------------------------


async def get_queue(request: Request) -> Response:
    engine = api(request).engine
    unused = "lastUnusedOffers" in values(request, "embed")
    agents = engine.snapshot().agents if engine.waiting else ()
    items = []
    for app_id, waiting in sorted(engine.waiting.items()):
        app = engine.apps.get(app_id)
        if app is None or waiting.count <= 0:
            continue
        items.append(queue_item(engine, app, waiting, agents, unused_offers=unused))
    return json_response({"queue": items})


async def delete_queue_path(request: Request) -> Response:
    """DELETE /v2/queue/{appId}/delay: reset the launch backoff."""
    engine = api(request).engine
    segs = [s for s in request.path_params["rest"].split("/") if s]
    if len(segs) < 2 or segs[-1] != "delay":
        raise ApiError(404, "URI not found")
    app_id = normalize_app_id("/".join(segs[:-1]))
    try:
        reset = await engine.reset_delay(app_id)
    except AppNotFound:
        reset = False
    if not reset:
        raise ApiError(404, f"Application {app_id} not found in tasks queue.")
    return Response(status_code=204)

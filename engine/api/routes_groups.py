"""/v2/groups: the app tree. Groups are implied by path ids in pacer (an app /shop/web is in group /shop).

GET reads it. POST creates a group's apps, PUT replaces them (apps of the group the body leaves out are
removed; {"scaleBy": f} scales them all; dryRun shows the steps), DELETE removes them: each as one
deployment of every app it touches (engine.commands.AppChange), in which an app waits for the apps it
depends on (and, removed, for the apps that depend on it). Group JSON carries Marathon's keys except `enforceRole`, which marathon-python 0.13 refuses.
Not offered: rolling a group back to a version (pacer keeps app versions, not group versions: roll back
each app).
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from engine.api.http import ApiError, flag, json_response, read_json
from engine.api.json_views import deployment_result
from engine.api.routes_apps import api, client_ip
from engine.api.state import ApiState
from engine.commands import AppChange
from engine.errors import AppValidationError, FieldError
from engine.model import AppDefinition, app_to_json, format_ts, normalize_app_id
from engine.model.groups import absolute, apps_in_group
from engine.model.limits import MAX_INSTANCES
from engine.scheduler.deployments import steps_for


def _group(state: ApiState, group_id: str, apps: list[AppDefinition]) -> dict[str, Any]:
    prefix = "" if group_id == "/" else group_id
    direct = [a for a in apps if a.id.rpartition("/")[0] == prefix]
    children = sorted({prefix + "/" + a.id[len(prefix) + 1:].split("/", 1)[0]
                       for a in apps if a.id.startswith(prefix + "/") and a.id.rpartition("/")[0] != prefix})
    versions = [a.version for a in apps if a.id.startswith(prefix + "/") and a.version]
    return {
        "id": group_id,
        "apps": [app_to_json(a) for a in sorted(direct, key=lambda a: a.id)],
        "groups": [_group(state, child, apps) for child in children],
        "pods": [],
        "dependencies": [],
        "version": max(versions) if versions else None,
    }


async def get_group(request: Request) -> Response:
    state = api(request)
    segs = [s for s in request.path_params.get("rest", "").split("/") if s]
    group_id = "/" + "/".join(segs)
    apps = list(state.engine.apps.values())
    if group_id in state.engine.apps:
        raise ApiError(404, f"Group '{group_id}' does not exist (it is an app: see /v2/apps{group_id})")
    if group_id != "/" and not any(a.id.startswith(group_id + "/") for a in apps):
        raise ApiError(404, f"Group '{group_id}' does not exist")
    return json_response(_group(state, group_id, apps))


# -- writes ------------------------------------------------------------------------------


def _path_group_id(request: Request) -> str:
    return normalize_app_id(request.path_params.get("rest", ""))


_NO_GROUP_ROLLBACK = ("rolling a group back to a version is not supported: roll back each app "
                      '(PUT /v2/apps/{id} with {"version": ...})')


def _under_group(state: ApiState, group_id: str) -> list[str]:
    return apps_in_group(state.engine.apps, group_id)


async def _commit(request: Request, state: ApiState, changes: list[AppChange], status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    deployments = await state.engine.apply_changes(changes, force=flag(request, "force"),
                                                   client_ip=client_ip(request), uri=request.url.path)
    if deployments:
        result, dr_headers = deployment_result(deployments[0])
    else:  # nothing to change: a deployment that is already over
        result = {"deploymentId": str(uuid.uuid4()), "version": format_ts(state.engine.clock())}
        dr_headers = {"Marathon-Deployment-Id": result["deploymentId"]}
    return json_response(result, status, {**dr_headers, **(headers or {})})


def _target_group(request: Request, body: Any, *, creating: bool) -> str:
    """The group a write is about. POST: the body's id relative to the path's (Marathon creates a subgroup
    there). PUT: the path's; at the root, the body's id; a body id that names another group is refused. A group
    id follows the rules of app ids, and is not an app's."""
    group_id = _path_group_id(request)
    raw = body.get("id") if isinstance(body, dict) else None
    problems = []
    if isinstance(raw, str) and raw.strip("/"):
        if creating:
            group_id = absolute(raw, group_id)
        elif group_id == "/":
            group_id = normalize_app_id(raw)
        elif normalize_app_id(raw) != group_id:
            problems.append(f"{raw} is not the group of the path, {group_id}")
    problems += api(request).engine.group_id_problems(group_id)
    if problems:
        raise AppValidationError([FieldError("/id", p) for p in problems])
    return group_id


async def create_group(request: Request) -> Response:
    """POST /v2/groups[/{id}]: a new group and its apps."""
    state = api(request)
    body = await read_json(request)
    group_id = _target_group(request, body, creating=True)
    if group_id == "/" or _under_group(state, group_id):
        raise ApiError(409, f"Group {group_id} is already created. Use PUT to change this group.")
    changes = state.engine.plan_group(body, group_id, replace=False)
    base = str(request.base_url).rstrip("/")
    return await _commit(request, state, changes, 201, {"Location": f"{base}/v2/groups{group_id}"})


async def update_group(request: Request) -> Response:
    """PUT /v2/groups[/{id}]: replace the group's apps (created when missing), or scale them with scaleBy."""
    state = api(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise AppValidationError([FieldError("/", "must be a JSON object (a group)")])
    group_id = _target_group(request, body, creating=False)
    if body.get("version") is not None:
        raise AppValidationError([FieldError("/version", _NO_GROUP_ROLLBACK)])
    if "scaleBy" in body:
        changes = _scale_by(state, group_id, body)
    else:
        changes = state.engine.plan_group(body, group_id, replace=True)
    if flag(request, "dryRun"):
        return json_response({"steps": _dry_run_steps(changes)})
    return await _commit(request, state, changes)


def _scaled(instances: int, factor: float) -> float:
    """instances * scaleBy, or infinity past any app's instance limit: never an overflow, whatever the numbers
    (a JSON integer can be larger than any float)."""
    if instances == 0:
        return 0.0
    if instances > MAX_INSTANCES or factor > MAX_INSTANCES:
        return math.inf
    return instances * factor


def _scale_by(state: ApiState, group_id: str, body: dict[str, Any]) -> list[AppChange]:
    factor = body["scaleBy"]
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
        raise AppValidationError([FieldError("/scaleBy", "must be a positive number")])
    if set(body) - {"id", "scaleBy"}:
        raise AppValidationError([FieldError("/scaleBy", "give scaleBy alone (with the group's id at most)")])
    apps = [state.engine.apps[a] for a in _under_group(state, group_id)]
    if not apps:
        raise ApiError(404, f"Group '{group_id}' does not exist")
    scaled = {a.id: _scaled(a.instances, factor) for a in apps}
    too_many = sorted(app_id for app_id, n in scaled.items() if not n <= MAX_INSTANCES)
    if too_many:
        shown = ", ".join(too_many[:5]) + (f" and {len(too_many) - 5} more" if len(too_many) > 5 else "")
        raise AppValidationError([FieldError(
            "/scaleBy", f"scales {shown} past {MAX_INSTANCES} instances (pacer's limit for an app)")])
    return [AppChange(a.id, a.model_copy(update={"instances": math.ceil(scaled[a.id])}), "scale") for a in apps]


def _dry_run_steps(changes: list[AppChange]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for c in changes:
        for i, actions in enumerate(steps_for(c.kind)):
            if i == len(steps):
                steps.append({"actions": []})
            steps[i]["actions"].extend({"action": a, "app": c.app_id} for a in actions)
    return steps


async def delete_group(request: Request) -> Response:
    """DELETE /v2/groups[/{id}]: remove every app of the group (the root: every app)."""
    state = api(request)
    group_id = _path_group_id(request)
    apps = _under_group(state, group_id)
    if not apps and group_id != "/":
        raise ApiError(404, f"Group '{group_id}' does not exist")
    return await _commit(request, state, state.engine.plan_changes([], delete=apps))

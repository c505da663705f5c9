"""GET /v2/groups[/{groupId}]: the app tree, read-only (groups are implied by path ids in pacer).

Group JSON carries Marathon's keys except `enforceRole`, which
marathon-python 0.13 refuses. Changing apps through groups (POST/PUT/DELETE)
is not offered: use /v2/apps.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from engine.api.http import ApiError, json_response
from engine.api.routes_apps import api
from engine.api.state import ApiState
from engine.model import AppDefinition, app_to_json


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

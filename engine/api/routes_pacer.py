"""pacer's own endpoints (/pacer/v1): data Marathon's shapes have no key for.

- ``GET /pacer/v1/apps/{appId}/explain``: why an app waits, per agent.
- ``GET /pacer/v1/deployments``: deployments with status and stuck reason.
- ``GET /pacer/v1/agents``: agents with capacity and use.
- ``GET /pacer/v1/pulls``: image pulls under way on the agents, with progress and the tasks waiting
  (``?app=/id``: only those its tasks wait for).
- ``GET /pacer/v1/apps/{appId}/autoscale``: the app's autoscaling policy, last
  measurement and decision, recent changes (``"policy": null`` without one).
- ``GET /pacer/v1/apps/{appId}/logs`` and ``/pacer/v1/tasks/{taskId}/logs``:
  output as text lines, ``?follow=true`` streams until the tasks end.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, AsyncIterator

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from engine.agents.base import ImagePull
from engine.api.http import ApiError, flag, int_param, json_response
from engine.api.json_views import last_task_failure, pacer_deployment
from engine.api.routes_apps import api
from engine.api.state import ApiState
from engine.errors import AgentError, TaskNotFound
from engine.model import format_ts, normalize_app_id
from engine.scheduler.state import TaskRecord, TaskState
from engine.serving import until_closing


def _tail_app_id(request: Request, suffix: str) -> str:
    segs = [s for s in request.path_params["rest"].split("/") if s]
    if len(segs) < 2 or segs[-1] != suffix:
        raise ApiError(404, "URI not found")
    return "/" + "/".join(segs[:-1])


def _number(x: float) -> float | None:
    """A number JSON can carry (null for an infinite or NaN one, which an agent's declared capacity may be)."""
    return x if math.isfinite(x) else None


def _free(capacity: float, used: float) -> float | None:
    return _number(round(capacity - used, 3)) if math.isfinite(capacity) and math.isfinite(used) else None


def explain_json(state: ApiState, app_id: str) -> dict[str, Any]:
    engine = state.engine
    app = engine.get_app(app_id)
    waiting = engine.waiting.get(app.id)
    tasks = engine.tasks_of(app.id)
    backoff = engine.backoff.get(app.id)
    agents = []
    for a in engine.snapshot().agents:
        rejection = waiting.rejections.get(a.name) if waiting else None
        agents.append({
            "agent": a.name,
            "hostname": a.hostname,
            "reachable": a.reachable,
            "accepted": rejection is None,
            "step": rejection.step if rejection else None,
            "reason": rejection.reason if rejection else None,
            "tasks": sum(1 for t in tasks if t.agent == a.name),
            "free": {"cpus": _free(a.capacity.cpus, a.used.cpus), "mem": _free(a.capacity.mem, a.used.mem),
                     "disk": _free(a.capacity.disk, a.used.disk)},
        })
    failure = engine.failures.get(app.id)
    task_ids = {t.task_id for t in tasks}
    pulls = [pull_json(p) for p in engine.image_pulls() if task_ids.intersection(p.task_ids)]
    return {
        "appId": app.id,
        "instances": app.instances,
        "tasksRunning": sum(1 for t in tasks if t.state == TaskState.RUNNING),
        "tasksStaged": sum(1 for t in tasks if t.state == TaskState.STAGING),
        "waiting": None if waiting is None else {
            "count": waiting.count,
            "reason": waiting.reason,
            "delayUntil": format_ts(waiting.delay_until) if waiting.delay_until else None,
        },
        "backoff": None if backoff is None else {
            "delaySeconds": _number(backoff.delay),
            "notBefore": format_ts(backoff.not_before),
            "lastFailureAt": format_ts(backoff.last_failure_at),
            "failures": backoff.failures,
        },
        "agents": agents,
        "deployments": [
            {"id": d.public_id, "currentStep": d.current_step, "totalSteps": d.total_steps, "reason": d.reason}
            for d in engine.locks(app.id)
        ],
        "lastTaskFailure": last_task_failure(failure) if failure else None,
        "pulls": pulls,
    }


def pull_json(pull: ImagePull) -> dict[str, Any]:
    """One pull as /pacer/v1/pulls shows it: `message` is the line operators read ("pulling IMAGE: 41% of 212 MB")."""
    return {
        "agent": pull.agent,
        "image": pull.image,
        "status": pull.status,
        "downloadedBytes": pull.downloaded,
        "totalBytes": pull.total,
        "percent": pull.percent,
        "layers": pull.layers,
        "layersDone": pull.layers_done,
        "startedAt": format_ts(pull.started_at),
        "taskIds": list(pull.task_ids),
        "message": pull.text,
    }


async def list_pulls(request: Request) -> Response:
    engine = api(request).engine
    pulls = engine.image_pulls()
    app_id = request.query_params.get("app")
    if app_id:
        wanted = {t.task_id for t in engine.tasks_of(normalize_app_id(app_id))}
        pulls = tuple(p for p in pulls if wanted.intersection(p.task_ids))
    return json_response({"pulls": [pull_json(p) for p in pulls]})


async def get_app_extension(request: Request) -> Response:
    segs = [s for s in request.path_params["rest"].split("/") if s]
    if segs and segs[-1] == "explain":
        return json_response(explain_json(api(request), _tail_app_id(request, "explain")))
    if segs and segs[-1] == "logs":
        return await _app_logs(request, _tail_app_id(request, "logs"))
    if segs and segs[-1] == "autoscale":
        return json_response(autoscale_json(api(request), _tail_app_id(request, "autoscale")))
    raise ApiError(404, "URI not found")


def autoscale_json(state: ApiState, app_id: str) -> dict[str, Any]:
    """The app's autoscaling: policy, last measurement and decision, recent changes (engine/autoscaler.py)."""
    engine = state.engine
    app = engine.get_app(app_id)
    status = engine.autoscale_status(app.id)
    return status if status is not None else {"appId": app.id, "policy": None}


async def list_deployments(request: Request) -> Response:
    engine = api(request).engine
    readiness = engine.readiness_results_json()
    return json_response([pacer_deployment(d, readiness)
                          for d in sorted(engine.deployments.values(), key=lambda d: d.version)])


async def list_agents(request: Request) -> Response:
    out = []
    for a in api(request).engine.snapshot().agents:
        out.append({
            "name": a.name, "kind": a.kind, "hostname": a.hostname, "reachable": a.reachable, "error": a.error,
            "capacity": {"cpus": a.capacity.cpus, "mem": a.capacity.mem, "disk": a.capacity.disk},
            "used": {"cpus": round(a.used.cpus, 3), "mem": round(a.used.mem, 3), "disk": round(a.used.disk, 3)},
            "tasks": a.tasks, "portsUsed": a.ports_used, "portRange": list(a.port_range),
            "attributes": dict(a.attributes),
        })
    return json_response({"agents": out})


# -- logs -------------------------------------------------------------------------------


def _short(task_id: str) -> str:
    head, _, rest = task_id.partition(".instance-")
    return f"{head}.{rest[:8]}" if rest else task_id


async def _merged(state: ApiState, tasks: list[TaskRecord], tail: int, prefix: bool) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1000)

    async def one(t: TaskRecord) -> None:
        try:
            async for line in state.engine.follow_task_logs(t.task_id, tail):
                text = f"[{_short(t.task_id)}] {line}" if prefix else line
                await queue.put(text.rstrip("\n").encode("utf-8", "replace") + b"\n")
        except (TaskNotFound, AgentError) as exc:
            await queue.put(f"[{_short(t.task_id)}] pacer: {exc.message}\n".encode())
        finally:
            await queue.put(None)

    readers = [asyncio.ensure_future(one(t)) for t in tasks]
    try:
        open_readers = len(readers)
        while open_readers:
            item = await queue.get()
            if item is None:
                open_readers -= 1
            else:
                yield item
    finally:
        for r in readers:
            r.cancel()


async def _logs(request: Request, tasks: list[TaskRecord], prefix: bool) -> Response:
    state = api(request)
    tail = int_param(request, "tail", 200, low=0, high=100_000)
    tasks = [t for t in tasks if t.container_id]
    if flag(request, "follow"):
        return StreamingResponse(until_closing(_merged(state, tasks, tail, prefix), state.closing),
                                 media_type="text/plain; charset=utf-8")
    out: list[str] = []
    for t in tasks:
        try:
            lines = await state.engine.task_logs(t.task_id, tail)
        except (TaskNotFound, AgentError) as exc:
            lines = [f"pacer: {exc.message}"]
        out.extend(f"[{_short(t.task_id)}] {line}" if prefix else line for line in lines)
    return PlainTextResponse("".join(line.rstrip("\n") + "\n" for line in out))


async def _app_logs(request: Request, app_id: str) -> Response:
    engine = api(request).engine
    app = engine.get_app(app_id)
    tasks = sorted(engine.tasks_of(app.id), key=lambda t: (t.staged_at, t.task_id))
    return await _logs(request, tasks, prefix=True)


async def task_logs(request: Request) -> Response:
    engine = api(request).engine
    task_id = request.path_params["task_id"]
    task = engine.tasks.get(task_id)
    if task is None or not task.container_id:
        raise TaskNotFound(task_id)
    return await _logs(request, [task], prefix=False)

"""Engine objects as Marathon JSON (reference §3-§6).

Every object here is read by strict clients (marathon-python 0.13 builds its
models from every key and fails on one it does not know), so apps, tasks,
deployments, queue items and /v2/info carry Marathon's keys only. pacer's own
data goes to the /pacer/v1 endpoints.

App definitions are serialised once per stored version: `AppJsonCache` keeps
the encoded definition of each app object (apps are frozen; a change replaces
the object), so listing 100 apps costs string joins, not 100 model walks.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from engine.api.event_json import event_json
from engine.api.http import dumps
from engine.events import EngineEvent
from engine.health import HealthResult
from engine.model import AppDefinition, app_to_json, format_ts, instance_of
from engine.model.service_ports import service_ports as service_ports_of
from engine.scheduler.deployments import Deployment
from engine.scheduler.state import TaskRecord, TaskState

if TYPE_CHECKING:
    from engine.core import Engine


# -- apps ---------------------------------------------------------------------------


class AppJsonCache:
    """The encoded `app_to_json` of each app object, reused while the object is current."""

    def __init__(self) -> None:
        self._by_id: dict[str, tuple[AppDefinition, bytes]] = {}

    def encoded(self, app: AppDefinition) -> bytes:
        hit = self._by_id.get(app.id)
        if hit is not None and hit[0] is app:
            return hit[1]
        data = dumps(app_to_json(app))
        self._by_id[app.id] = (app, data)
        return data

    def prune(self, current: Mapping[str, AppDefinition]) -> None:
        """Forget deleted apps (called now and then; cheap when nothing was deleted)."""
        if len(self._by_id) > len(current) + 64:
            for app_id in [k for k in self._by_id if k not in current]:
                del self._by_id[app_id]


def with_extras(encoded_app: bytes, extras: Mapping[str, Any], raw: Mapping[str, bytes] | None = None) -> bytes:
    """`{...app...}` + extra keys (+ keys whose values are already encoded), without decoding the app again."""
    if not extras and not raw:
        return encoded_app
    parts = [encoded_app[:-1]]
    if extras:
        tail = dumps(dict(extras))
        parts.append(tail[1:-1])
    for key, value in (raw or {}).items():
        parts.append(dumps(key) + b":" + value)
    head, rest = parts[0], [p for p in parts[1:] if p]
    if not rest:
        return encoded_app
    return head + (b"," if head != b"{" else b"") + b",".join(rest) + b"}"


class TaskCounts:
    __slots__ = ("staged", "running", "healthy", "unhealthy")

    def __init__(self) -> None:
        self.staged = 0
        self.running = 0
        self.healthy = 0
        self.unhealthy = 0

    def as_json(self) -> dict[str, int]:
        return {
            "tasksStaged": self.staged,
            "tasksRunning": self.running,
            "tasksHealthy": self.healthy,
            "tasksUnhealthy": self.unhealthy,
        }


def count_tasks(
    tasks: Iterable[TaskRecord], health: Mapping[str, bool | None], checked_apps: frozenset[str] | set[str]
) -> dict[str, TaskCounts]:
    """Marathon's per-app counts in one pass over the tasks."""
    out: dict[str, TaskCounts] = {}
    running_state, staging_state = TaskState.RUNNING, TaskState.STAGING
    for t in tasks:
        c = out.get(t.app_id)
        if c is None:
            c = out[t.app_id] = TaskCounts()
        state = t.state
        if state == running_state:
            c.running += 1
            if t.app_id in checked_apps:
                h = health.get(t.task_id)
                if h is True:
                    c.healthy += 1
                elif h is False:
                    c.unhealthy += 1
        elif state == staging_state:
            c.staged += 1
    return out


def deployments_by_app(engine: "Engine") -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for d in engine.deployments.values():
        if d.status == "running":
            out.setdefault(d.app_id, []).append({"id": d.public_id})
    return out


# -- tasks --------------------------------------------------------------------------


def task_json(
    t: TaskRecord,
    *,
    host: str,
    app: AppDefinition | None,
    health: bool | None,
    service_ports: bool = False,
    health_results: Mapping[int, HealthResult] | None = None,
) -> dict[str, Any]:
    """Marathon's Task (reference §4), with only the keys clients know."""
    out: dict[str, Any] = {
        "id": t.task_id,
        "appId": t.app_id,
        "host": host,
        "slaveId": t.agent,
        "state": t.state.value,
        "stagedAt": format_ts(t.staged_at),
    }
    if t.started_at is not None and t.state != TaskState.STAGING:
        out["startedAt"] = format_ts(t.started_at)
    out["version"] = t.version
    out["ports"] = list(t.host_ports)
    out["servicePorts"] = service_ports_of(app) if service_ports else []
    out["ipAddresses"] = [{"ipAddress": t.ip_address, "protocol": "IPv4"}] if t.ip_address else []
    out["localVolumes"] = []
    if app is not None and app.health_checks and health_results:
        instance_id = instance_of(t.task_id)
        out["healthCheckResults"] = [r.to_json(instance_id) for _, r in sorted(health_results.items())]
    elif app is not None and app.health_checks and health is not None:
        out["healthCheckResults"] = [
            {
                "alive": health,
                "consecutiveFailures": 0 if health else 1,
                "instanceId": instance_of(t.task_id),
            }
        ]
    return out


class AgentHosts:
    """Agent name -> hostname, refreshed at most once a second from the engine's snapshot."""

    def __init__(self, engine: "Engine") -> None:
        self._engine = engine

    def __call__(self, agent: str) -> str:
        return self._engine.hostname_of(agent)


class TaskJsonCache:
    """Encoded task JSON, reused while the record, its app, its health results and its host are the same objects."""

    def __init__(self) -> None:
        self._by_id: dict[tuple[str, bool], tuple[tuple[Any, ...], bytes]] = {}

    def encoded(self, engine: "Engine", tasks: Sequence[TaskRecord], hosts: AgentHosts, *,
                service_ports: bool) -> bytes:
        apps = engine.apps
        health = engine.health
        cache = self._by_id
        parts = []
        for t in tasks:
            app = apps.get(t.app_id)
            per_task = engine.health_results(t.task_id) if app is not None and app.health_checks else None
            host = hosts(t.agent)
            alive = health.get(t.task_id)
            check = (t, app, host, alive, tuple(per_task.values()) if per_task else ())
            hit = cache.get((t.task_id, service_ports))
            if hit is not None and len(hit[0]) == len(check) and all(a is b for a, b in zip(hit[0], check)):
                parts.append(hit[1])
                continue
            data = dumps(task_json(t, host=host, app=app, health=alive, service_ports=service_ports,
                                   health_results=per_task))
            cache[(t.task_id, service_ports)] = (check, data)
            parts.append(data)
        if len(cache) > 2 * len(engine.tasks) + 256:
            live = engine.tasks
            for key in [k for k in cache if k[0] not in live]:
                del cache[key]
        return b"[" + b",".join(parts) + b"]"


def tasks_json(engine: "Engine", tasks: Sequence[TaskRecord], hosts: AgentHosts, *, service_ports: bool) -> list[dict[str, Any]]:
    apps = engine.apps
    health = engine.health
    return [
        task_json(t, host=hosts(t.agent), app=apps.get(t.app_id), health=health.get(t.task_id),
                  service_ports=service_ports,
                  health_results=engine.health_results(t.task_id))
        for t in tasks
    ]


# -- embedded app extras -------------------------------------------------------------


def task_stats(engine: "Engine", app: AppDefinition, tasks: Sequence[TaskRecord]) -> dict[str, Any]:
    """`taskStats` (the key marathon-python knows; Marathon 1.10 spells it tasksStats)."""
    now = engine.clock()
    health = engine.health
    config = (app.version_info or {}).get("lastConfigChangeAt")
    scaled = (app.version_info or {}).get("lastScalingAt")

    def stats(group: list[TaskRecord]) -> dict[str, Any] | None:
        if not group:
            return None
        lifetimes = sorted(now - t.started_at for t in group if t.started_at is not None)
        running = [t for t in group if t.state == TaskState.RUNNING]
        counts = {
            "staged": sum(1 for t in group if t.state == TaskState.STAGING),
            "running": len(running),
            "healthy": sum(1 for t in running if health.get(t.task_id) is True),
            "unhealthy": sum(1 for t in running if health.get(t.task_id) is False),
        }
        out: dict[str, Any] = {"stats": {"counts": counts}}
        if lifetimes:
            mid = len(lifetimes) // 2
            median = lifetimes[mid] if len(lifetimes) % 2 else (lifetimes[mid - 1] + lifetimes[mid]) / 2
            out["stats"]["lifeTime"] = {
                "averageSeconds": round(sum(lifetimes) / len(lifetimes), 3),
                "medianSeconds": round(median, 3),
            }
        return out

    groups = {
        "startedAfterLastScaling": [t for t in tasks if scaled and t.version >= scaled],
        "withLatestConfig": [t for t in tasks if config and t.version >= config],
        "withOutdatedConfig": [t for t in tasks if config and t.version < config],
        "totalSummary": list(tasks),
    }
    return {k: v for k, g in groups.items() if (v := stats(g)) is not None}


def app_extras(
    engine: "Engine",
    app: AppDefinition,
    counts: TaskCounts | None,
    deployments: list[dict[str, str]],
    embed: frozenset[str],
    hosts: AgentHosts,
    *,
    detail: bool = False,
    tasks: Sequence[TaskRecord] | None = None,
    task_cache: TaskJsonCache | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """AppInfo extras: counts and deployments always; tasks, failure, stats on request (or `detail`).

    Returns plain extras and already-encoded ones (the tasks)."""
    extras: dict[str, Any] = (counts or TaskCounts()).as_json()
    extras["deployments"] = deployments
    raw: dict[str, bytes] = {}
    want_tasks = detail or "tasks" in embed or "failures" in embed
    if want_tasks:
        mine = list(tasks) if tasks is not None else engine.tasks_of(app.id)
        mine.sort(key=lambda t: (t.staged_at, t.task_id))
        cache = task_cache or TaskJsonCache()
        raw["tasks"] = cache.encoded(engine, mine, hosts, service_ports=True)
    if detail or "lastTaskFailure" in embed or "failures" in embed:
        failure = engine.failures.get(app.id)
        if failure:
            extras["lastTaskFailure"] = last_task_failure(failure)
    if "readiness" in embed:
        extras["readinessCheckResults"] = [r.to_json() for r in engine.readiness_results(app.id)]
    if "taskStats" in embed:
        extras["taskStats"] = task_stats(engine, app, list(tasks) if tasks is not None else engine.tasks_of(app.id))
    return extras, raw


_FAILURE_KEYS = ("appId", "host", "message", "state", "taskId", "timestamp", "version", "slaveId")


def last_task_failure(failure: Mapping[str, Any]) -> dict[str, Any]:
    return {k: failure[k] for k in _FAILURE_KEYS if failure.get(k) is not None}


# -- deployments -------------------------------------------------------------------


def deployment_result(d: Deployment) -> tuple[dict[str, str], dict[str, str]]:
    """Marathon's DR: body and header."""
    return {"deploymentId": d.public_id, "version": d.version}, {"Marathon-Deployment-Id": d.public_id}


def pacer_deployment(d: Deployment, readiness: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> dict[str, Any]:
    out = d.to_json(readiness)
    out["status"] = d.status
    out["reason"] = d.reason
    out["startedAt"] = format_ts(d.started_at)
    out["rollbackOf"] = d.rollback_of
    out["part"] = {"id": d.id, "appId": d.app_id} if d.group_id else None
    return out


# -- queue --------------------------------------------------------------------------

# Placement steps as Marathon's offer-rejection reasons, in the order they are checked.
REJECT_REASONS = (
    ("agent", "AgentMaintenance"),
    ("role", "UnfulfilledRole"),
    ("cpus", "InsufficientCpus"),
    ("mem", "InsufficientMemory"),
    ("disk", "InsufficientDisk"),
    ("gpus", "InsufficientGpus"),
    ("ports", "InsufficientPorts"),
    ("constraint", "UnfulfilledConstraint"),
)
_REASON_OF = dict(REJECT_REASONS)


def offers_summary(rejections: Mapping[str, Any], n_agents: int, now: float) -> dict[str, Any]:
    """processedOffersSummary: every agent is one offer, rejected at the first step that failed."""
    by_step: dict[str, int] = {}
    for r in rejections.values():
        by_step[r.step] = by_step.get(r.step, 0) + 1
    processed = n_agents
    summary = []
    for step, reason in REJECT_REASONS:
        declined = by_step.get(step, 0)
        summary.append({"reason": reason, "declined": declined, "processed": processed})
        processed -= declined
    out: dict[str, Any] = {
        "processedOffersCount": n_agents,
        "unusedOffersCount": len(rejections),
        "rejectSummaryLastOffers": summary,
        "rejectSummaryLaunchAttempt": summary,
    }
    if rejections:
        out["lastUnusedOfferAt"] = format_ts(now)
    if n_agents > len(rejections):
        out["lastUsedOfferAt"] = format_ts(now)
    return out


def queue_item(engine: "Engine", app: AppDefinition, waiting: Any, agents: Sequence[Any], *,
               unused_offers: bool) -> dict[str, Any]:
    now = engine.clock()
    delay_until = waiting.delay_until
    left = max(0.0, (delay_until or 0.0) - now)
    backoff = engine.backoff.get(app.id)
    since = backoff.last_failure_at if backoff is not None else None
    item: dict[str, Any] = {
        "count": waiting.count,
        "delay": {"timeLeftSeconds": math.ceil(left), "overdue": left <= 0},
        "since": format_ts(since) if since is not None else (app.version or format_ts(now)),
        "processedOffersSummary": offers_summary(waiting.rejections, len(agents), now),
        "app": app_to_json(app),
    }
    if unused_offers:
        item["lastUnusedOffers"] = [
            {
                "offer": {
                    "id": f"pacer-offer-{a.name}",
                    "agentId": a.name,
                    "hostname": a.hostname,
                    "resources": [
                        {"name": "cpus", "scalar": round(a.capacity.cpus - a.used.cpus, 3), "role": "*"},
                        {"name": "mem", "scalar": round(a.capacity.mem - a.used.mem, 3), "role": "*"},
                        {"name": "disk", "scalar": round(a.capacity.disk - a.used.disk, 3), "role": "*"},
                    ],
                    "attributes": [{"name": k, "text": v} for k, v in sorted(a.attributes.items())],
                },
                "timestamp": format_ts(now),
                "reason": [_REASON_OF.get(waiting.rejections[a.name].step, "UnfulfilledConstraint")],
            }
            for a in agents
            if a.name in waiting.rejections
        ]
    return item


# -- events ------------------------------------------------------------------------


def event_frame(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """One SSE frame: `event:` line, one-line `data:` JSON, blank line."""
    return b"event: " + event_type.encode() + b"\ndata: " + dumps(dict(payload)) + b"\n\n"


def event_sse_frame(event: EngineEvent) -> bytes:
    """An engine event's SSE frame: encoded once per event, the same bytes for every /v2/events stream."""
    return event_frame(event.event_type, event_json(event))

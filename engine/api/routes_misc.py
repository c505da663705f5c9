"""/ping, /v2/info, /v2/leader, /pacer/v1/health, /metrics (Marathon's JSON) and /metrics/prometheus.

/ping is liveness (pong while the process serves); /pacer/v1/health is readiness: 200 when every part of
the engine works, 503 when one is degraded, each part with its reason and since when. /v2/info keeps
Marathon's keys (strict clients refuse any other) and tells the same in its X-Pacer-Health headers.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from engine.api.http import json_response
from engine.api.routes_apps import api
from engine.model import format_ts
from engine.scheduler.state import TaskState

if TYPE_CHECKING:
    from engine.api.state import ApiState
    from engine.supervisor import EngineHealth, PartHealth

MARATHON_VERSION = "1.10.26"
PACER_VERSION = "0.1.0"
_STARTED = time.time()


def _accepts(request: Request) -> list[tuple[float, int, str]]:
    ranked = []
    for i, part in enumerate(request.headers.get("accept", "").split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, i, media))
    return sorted(ranked)


async def ping(request: Request) -> Response:
    """`pong` as text, or the JSON string "pong" when the client prefers JSON (Marathon's SystemResource)."""
    ranked = _accepts(request)
    if not ranked:
        return PlainTextResponse("pong")
    for _, _, media in ranked:
        if media in ("text/plain", "text/*", "*/*"):
            return PlainTextResponse("pong")
        if media in ("application/json", "application/*"):
            return json_response("pong")
    return Response(status_code=204)


async def leader(request: Request) -> Response:
    return json_response({"leader": api(request).settings.leader})


def info_json(state: "ApiState") -> dict[str, Any]:
    """/v2/info with only the keys marathon-python 0.13 accepts (marathon-client.md §3)."""
    engine = state.engine
    sched = engine.config.scheduler
    host, _, port = state.settings.leader.rpartition(":")
    port_number = int(port) if port.isdigit() else 0
    https = state.settings.scheme == "https"
    return {
        "name": "marathon",
        "version": MARATHON_VERSION,
        "buildref": f"pacer-{PACER_VERSION}",
        "elected": True,
        "leader": state.settings.leader,
        "frameworkId": engine.cluster_id or None,
        "marathon_config": {
            "checkpoint": True,
            "executor": "//cmd",
            "failover_timeout": 604800,
            "features": [],
            "framework_name": "pacer",
            "ha": False,
            "hostname": host,
            "leader_proxy_connection_timeout_ms": 5000,
            "leader_proxy_read_timeout_ms": 10000,
            "local_port_max": 20000,
            "local_port_min": 10000,
            "maintenance_mode": False,
            "master": f"pacer://{engine.cluster_id}",
            "mesos_role": "*",
            "mesos_user": "root",
            "reconciliation_initial_delay": 0,
            "reconciliation_interval": int(sched.reconcile_interval * 1000),
            "task_launch_timeout": 300000,
            "task_reservation_timeout": 20000,
            "webui_url": None,
        },
        "zookeeper_config": {
            "zk": None,
            "zk_compression": False,
            "zk_compression_threshold": 65536,
            "zk_connection_timeout": 10000,
            "zk_max_node_size": 1024000,
            "zk_max_versions": sched.max_versions,
            "zk_session_timeout": 10000,
            "zk_timeout": 10000,
        },
        "http_config": {
            "http_port": 0 if https else port_number,
            "https_port": port_number if https else 0,
        },
    }


async def info(request: Request) -> Response:
    state = api(request)
    return json_response(info_json(state), headers=health_headers(state.engine.health_status()))


def _header_text(text: str, limit: int = 1000) -> str:
    """A header value: printable ASCII on one line, at most `limit` characters."""
    clean = "".join(c if " " <= c <= "~" else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def health_headers(health: "EngineHealth") -> dict[str, str]:
    """X-Pacer-Health: ready or degraded; X-Pacer-Health-Reason: each problem, "; " between."""
    if health.ready:
        return {"X-Pacer-Health": "ready"}
    return {"X-Pacer-Health": "degraded", "X-Pacer-Health-Reason": _header_text("; ".join(health.problems))}


def _part_json(part: "PartHealth") -> dict[str, Any]:
    return {"name": part.name, "status": part.state, "reason": part.reason,
            "since": format_ts(part.since) if part.since is not None else None, "failures": part.failures}


def health_json(health: "EngineHealth") -> dict[str, Any]:
    """/pacer/v1/health: ready or degraded, the problems, every part and every agent."""
    return {
        "status": "ready" if health.ready else "degraded",
        "problems": list(health.problems),
        "checkedAt": format_ts(health.checked_at),
        "parts": [_part_json(p) for p in health.parts],
        "agents": [_part_json(a) for a in health.agents],
    }


async def health(request: Request) -> Response:
    """Readiness: 200 when the engine works, 503 when a part is degraded (same body, reasons included)."""
    status = api(request).engine.health_status()
    return json_response(health_json(status), 200 if status.ready else 503,
                         headers=None if status.ready else {"Retry-After": "5"})


# -- metrics -----------------------------------------------------------------------------


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[idx]


def _timer(values: Sequence[float], count: int) -> dict[str, Any]:
    """A Dropwizard timer over the recent window (durations in seconds)."""
    s = sorted(values)
    mean = sum(s) / len(s) if s else 0.0
    var = sum((v - mean) ** 2 for v in s) / len(s) if s else 0.0
    return {
        "count": count,
        "min": s[0] if s else 0.0,
        "max": s[-1] if s else 0.0,
        "mean": mean,
        "stddev": math.sqrt(var),
        "p50": _quantile(s, 0.5),
        "p75": _quantile(s, 0.75),
        "p95": _quantile(s, 0.95),
        "p98": _quantile(s, 0.98),
        "p99": _quantile(s, 0.99),
        "p999": _quantile(s, 0.999),
        "duration_units": "seconds",
        "rate_units": "calls/second",
    }


def _task_start_latencies(state: "ApiState") -> list[float]:
    return [t.started_at - t.staged_at for t in state.engine.tasks.values()
            if t.started_at is not None and t.started_at >= t.staged_at]


def _health_counts(state: "ApiState") -> dict[str, int]:
    engine = state.engine
    checked = {a.id for a in engine.apps.values() if a.health_checks}
    out = {"healthy": 0, "unhealthy": 0, "unknown": 0}
    for t in engine.tasks.values():
        if t.app_id in checked and t.state == TaskState.RUNNING:
            h = engine.health.get(t.task_id)
            out["healthy" if h is True else "unhealthy" if h is False else "unknown"] += 1
    return out


def metrics_json(state: "ApiState") -> dict[str, Any]:
    engine = state.engine
    stats = engine.stats
    by_state = {s: 0 for s in TaskState}
    for t in engine.tasks.values():
        by_state[TaskState(t.state)] += 1
    snapshot_agents = engine.snapshot().agents if hasattr(engine, "snapshot") else ()
    gauges: dict[str, dict[str, Any]] = {
        "marathon.apps.active.gauge": {"value": len(engine.apps)},
        "marathon.deployments.active.gauge": {"value": len({d.public_id for d in engine.deployments.values()
                                                             if d.status == "running"})},
        "marathon.tasks.running.gauge": {"value": by_state[TaskState.RUNNING]},
        "marathon.tasks.staged.gauge": {"value": by_state[TaskState.STAGING]},
        "marathon.instances.launch-overdue.gauge": {"value": sum(w.count for w in engine.waiting.values())},
        "marathon.uptime.gauge": {"value": int((time.time() - _STARTED) * 1000)},
        "pacer.agents.total.gauge": {"value": len(snapshot_agents)},
        "pacer.agents.reachable.gauge": {"value": sum(1 for a in snapshot_agents if a.reachable)},
        "pacer.sse.streams.gauge": {"value": state.streams},
        "pacer.ready.gauge": {"value": int(engine.health_status().ready)},
    }
    for s, n in by_state.items():
        gauges[f"pacer.tasks.{s.value.lower()}.gauge"] = {"value": n}
    for h, n in _health_counts(state).items():
        gauges[f"pacer.health.{h}.gauge"] = {"value": n}
    counters: dict[str, dict[str, Any]] = {
        "pacer.reconcile.rounds.counter": {"count": stats.rounds},
        "pacer.tasks.launched.counter": {"count": stats.launches},
        "pacer.tasks.killed.counter": {"count": stats.kills},
        "pacer.tasks.failed.counter": {"count": stats.failures},
    }
    counters["pacer.health.probes.counter"] = {"count": stats.probes}
    counters["pacer.health.probe.failures.counter"] = {"count": stats.probe_failures}
    timers = {"pacer.reconcile.duration.timer": _timer(stats.round_durations, stats.rounds)}
    latencies = _task_start_latencies(state)
    return {
        "version": "4.0.0",
        "gauges": gauges,
        "counters": counters,
        "histograms": {"pacer.tasks.start-latency.histogram": _timer(latencies, len(latencies))},
        "meters": {},
        "timers": timers,
    }


async def metrics(request: Request) -> Response:
    return json_response(metrics_json(api(request)))


def _prom_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(lines: list[str], name: str, kind: str, help_text: str,
            samples: Iterable[tuple[str, dict[str, str], float]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for suffix, labels, value in samples:
        label_text = ",".join(f'{k}="{_prom_escape(v)}"' for k, v in labels.items())
        shown = repr(float(value)) if not float(value).is_integer() else str(int(value))
        lines.append(f"{name}{suffix}{{{label_text}}} {shown}" if label_text else f"{name}{suffix} {shown}")


_QUANTILES = (0.5, 0.9, 0.99)


def _summary_samples(values: Sequence[float]) -> list[tuple[str, dict[str, str], float]]:
    s = sorted(values)
    out = [("", {"quantile": str(q)}, _quantile(s, q)) for q in _QUANTILES]
    out.append(("_sum", {}, sum(s)))
    out.append(("_count", {}, len(s)))
    return out


def prometheus_text(state: "ApiState") -> str:
    engine = state.engine
    stats = engine.stats
    lines: list[str] = []
    by_state = {s: 0 for s in TaskState}
    for t in engine.tasks.values():
        by_state[TaskState(t.state)] += 1
    agents = engine.snapshot().agents
    _family(lines, "pacer_apps", "gauge", "Apps defined.", [("", {}, len(engine.apps))])
    _family(lines, "pacer_app_instances", "gauge", "Instances wanted, summed over apps.",
            [("", {}, sum(a.instances for a in engine.apps.values()))])
    _family(lines, "pacer_tasks", "gauge", "Tasks by Mesos state.",
            [("", {"state": s.value}, n) for s, n in by_state.items()])
    _family(lines, "pacer_deployments", "gauge", "Running deployments.",
            [("", {}, len({d.public_id for d in engine.deployments.values() if d.status == "running"}))])
    _family(lines, "pacer_tasks_waiting", "gauge", "Tasks that could not be placed or are delayed by backoff.",
            [("", {}, sum(w.count for w in engine.waiting.values()))])
    _family(lines, "pacer_agents", "gauge", "Agents by reachability.",
            [("", {"reachable": "true"}, sum(1 for a in agents if a.reachable)),
             ("", {"reachable": "false"}, sum(1 for a in agents if not a.reachable))])
    _family(lines, "pacer_reconcile_rounds_total", "counter", "Reconcile rounds since start.",
            [("", {}, stats.rounds)])
    _family(lines, "pacer_reconcile_duration_seconds", "summary",
            "Reconcile round duration (observe, reconcile, placement, commit) over the last 1000 rounds.",
            _summary_samples(stats.round_durations))
    _family(lines, "pacer_reconcile_last_duration_seconds", "gauge", "Duration of the last reconcile round.",
            [("", {}, stats.last_round_seconds)])
    _family(lines, "pacer_task_start_latency_seconds", "summary",
            "From staged (placed) to running, for the tasks that run now.",
            _summary_samples(_task_start_latencies(state)))
    _family(lines, "pacer_task_launches_total", "counter", "Task launches ordered.", [("", {}, stats.launches)])
    _family(lines, "pacer_task_kills_total", "counter", "Task kills ordered.", [("", {}, stats.kills)])
    _family(lines, "pacer_task_failures_total", "counter", "Tasks that failed.", [("", {}, stats.failures)])
    _family(lines, "pacer_task_health", "gauge", "Running tasks of health-checked apps, by last probe result.",
            [("", {"result": k}, v) for k, v in _health_counts(state).items()])
    _family(lines, "pacer_health_probes_total", "counter", "Health probes run.", [("", {}, stats.probes)])
    _family(lines, "pacer_health_probe_failures_total", "counter", "Health probes that failed.",
            [("", {}, stats.probe_failures)])
    _family(lines, "pacer_sse_streams", "gauge", "Open /v2/events streams.", [("", {}, state.streams)])
    health = engine.health_status()
    _family(lines, "pacer_ready", "gauge", "1 when every part of the engine works (GET /pacer/v1/health).",
            [("", {}, int(health.ready))])
    _family(lines, "pacer_part_degraded", "gauge", "1 for each part of the engine that is degraded.",
            [("", {"part": p.name}, int(not p.ok)) for p in health.parts])
    return "\n".join(lines) + "\n"


async def metrics_prometheus(request: Request) -> Response:
    return Response(prometheus_text(api(request)), media_type="text/plain; version=0.0.4; charset=utf-8")

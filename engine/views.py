"""Frozen views of the engine for its readers (the console, the API): what a snapshot holds.

Built on the engine's loop from its live indexes, never by scanning every
task: an agent's usage comes from the task table's running totals, an app's
tasks from its cached tuple (the same tuple until one of its tasks changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from engine.agents.base import ImagePull
from engine.model import AppDefinition
from engine.scheduler.deployments import Deployment
from engine.scheduler.placement import AgentUsage
from engine.scheduler.reconcile import Waiting
from engine.scheduler.state import Resources, TaskRecord, TaskState


@dataclass(frozen=True, slots=True)
class AgentView:
    name: str
    kind: str
    hostname: str
    reachable: bool
    capacity: Resources
    used: Resources
    tasks: int
    ports_used: int
    port_range: tuple[int, int]
    attributes: Mapping[str, str]
    error: str | None = None
    draining: bool = False


@dataclass(frozen=True, slots=True)
class AppView:
    app: AppDefinition
    staged: int
    running: int
    healthy: int
    unhealthy: int
    waiting: Waiting | None
    last_failure: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    cluster_id: str
    taken_at: float
    agents: tuple[AgentView, ...]
    apps: tuple[AppView, ...]
    tasks: Mapping[str, tuple[TaskRecord, ...]]
    reconcile_rounds: int = 0
    deployments: tuple[Deployment, ...] = ()
    """The deployments under way (a change of several apps has one per app, sharing its `public_id`)."""
    pulls: tuple[ImagePull, ...] = ()
    """Image pulls under way or queued on the agents, oldest first (each says which tasks wait for it)."""

    def pull_of(self, task_id: str) -> ImagePull | None:
        """The pull a task's launch waits for (None: it waits for none)."""
        return next((p for p in self.pulls if task_id in p.task_ids), None)


@dataclass(frozen=True, slots=True)
class EngineStats:
    """Counters since the engine started (true counters: Prometheus reads them)."""

    rounds: int = 0
    last_round_seconds: float = 0.0
    launches: int = 0
    kills: int = 0
    failures: int = 0
    round_durations: tuple[float, ...] = ()
    """The last 1,000 rounds' durations, oldest first."""
    round_seconds_total: float = 0.0
    """Cumulative, with `rounds`: a true counter pair for Prometheus summaries."""
    probes: int = 0
    """Health probes run."""
    probe_failures: int = 0
    autoscale_decisions: int = 0


def _settled(value: float) -> float:
    """Running totals drift by float rounding as tasks come and go; show 0.30000000000000004 as 0.3."""
    rounded = round(value, 6)
    return 0.0 if rounded == 0 else rounded


def used_of(usage: AgentUsage | None) -> tuple[Resources, int, int]:
    """(resources used, task count, host ports used) of one agent, from its running totals."""
    if usage is None:
        return Resources(), 0, 0
    used = Resources(_settled(usage.cpus), _settled(usage.mem), _settled(usage.disk))
    return used, sum(usage.app_tasks.values()), len(usage.ports)


def app_view(app: AppDefinition, tasks: tuple[TaskRecord, ...], health: Mapping[str, bool | None],
             waiting: Waiting | None, last_failure: Mapping[str, Any] | None) -> AppView:
    staged = running = healthy = unhealthy = 0
    checked = bool(app.health_checks)
    for t in tasks:
        if t.state == TaskState.RUNNING:
            running += 1
            if checked:
                alive = health.get(t.task_id)
                if alive is True:
                    healthy += 1
                elif alive is False:
                    unhealthy += 1
        elif t.state == TaskState.STAGING:
            staged += 1
    return AppView(app=app, staged=staged, running=running, healthy=healthy, unhealthy=unhealthy,
                   waiting=waiting, last_failure=last_failure)

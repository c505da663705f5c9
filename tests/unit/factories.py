"""Small builders for the pure core's plain data."""

from __future__ import annotations

import itertools

from engine.scheduler.reconcile import ClusterView
from engine.scheduler.state import (
    AgentState,
    DesiredApp,
    ObservedContainer,
    PortRequest,
    Resources,
    TaskRecord,
    TaskState,
    UpgradePolicy,
)

_ids = itertools.count(1)


def app(app_id: str = "/web", instances: int = 2, *, cpus: float = 0.5, mem: float = 128, version: str = "v1",
        config_version: str | None = None, ports: tuple[PortRequest, ...] = (), **kw: object) -> DesiredApp:
    return DesiredApp(
        app_id=app_id, version=version, config_version=config_version or version, instances=instances,
        resources=Resources(cpus, mem, 0), ports=ports, **kw,  # type: ignore[arg-type]
    )


def agent(name: str, cpus: float = 4, mem: float = 4096, **kw: object) -> AgentState:
    return AgentState(name=name, capacity=Resources(cpus, mem, 0), hostname=kw.pop("hostname", name), **kw)  # type: ignore[arg-type]


def task(a: DesiredApp, agent_name: str, *, state: TaskState = TaskState.RUNNING, started: float = 100.0,
         task_id: str | None = None, config_version: str | None = None, ports: tuple[int, ...] = ()) -> TaskRecord:
    return TaskRecord(
        task_id=task_id or f"{a.app_id.strip('/')}.instance-{next(_ids)}._app.1",
        app_id=a.app_id, agent=agent_name, version=a.version, config_version=config_version or a.config_version,
        state=state, resources=a.resources, host_ports=ports, container_id=f"c-{task_id or next(_ids)}",
        staged_at=started, started_at=started if state == TaskState.RUNNING else None,
    )


def container(t: TaskRecord, state: str = "running", exit_code: int | None = None) -> ObservedContainer:
    return ObservedContainer(
        container_id=t.container_id or "c", task_id=t.task_id, app_id=t.app_id, version=t.version,
        config_version=t.config_version, state=state, exit_code=exit_code, started_at=t.started_at,  # type: ignore[arg-type]
        host_ports=t.host_ports,
    )


def view(apps: list[DesiredApp], agents: list[AgentState], tasks: list[TaskRecord] = (),  # type: ignore[assignment]
         observed: dict[str, list[ObservedContainer]] | None = None, now: float = 1000.0, **kw: object) -> ClusterView:
    if observed is None:
        observed = {a.name: [] for a in agents if a.reachable}
        for t in tasks:
            if t.agent in observed and t.state in (TaskState.RUNNING, TaskState.KILLING):
                observed[t.agent].append(container(t))
    return ClusterView(
        now=now, apps={a.app_id: a for a in apps}, tasks={t.task_id: t for t in tasks},
        agents={a.name: a for a in agents}, observed=observed, **kw,  # type: ignore[arg-type]
    )


def new_id_factory():  # type: ignore[no-untyped-def]
    c = itertools.count(1)
    return lambda app_id: f"{app_id.strip('/').replace('/', '_')}.instance-new{next(c)}._app.1"


__all__ = ["UpgradePolicy"]

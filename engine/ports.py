"""The small views each part of the engine gets of the others (the Protocols they declare), wired by `Engine`.

A port holds only the parts it forwards to, never the engine: the health monitor, the autoscaler and the
deployment watcher see what their Protocol names, nothing more.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, MutableMapping

from engine.agent_pool import AgentPool
from engine.agents.base import AgentDriver
from engine.app_registry import AppRegistry
from engine.commands import AppCommands
from engine.deployment_watcher import DeploymentWatcher
from engine.events import EngineEvent, EventBus
from engine.model import AppDefinition, HealthCheck, ReadinessCheck
from engine.readiness import ReadinessMonitor
from engine.scheduler.deployments import Deployment
from engine.scheduler.reconcile import Waiting
from engine.scheduler.state import DesiredApp, TaskRecord
from engine.specs import port_requests
from engine.task_ledger import TaskLedger


class DeploymentInputsPort:
    """engine.deployment_watcher.DeploymentInputs."""

    def __init__(self, registry: AppRegistry, ledger: TaskLedger, wake: Callable[[str | None], None],
                 readiness: Callable[[], ReadinessMonitor]) -> None:
        self._registry = registry
        self._ledger = ledger
        self._wake = wake
        self._readiness = readiness

    def readiness_of(self, app_id: str) -> tuple[Mapping[str, bool], str | None]:
        results = self._readiness().results_of(app_id)
        causes = [r.cause for r in results if not r.ready and r.cause]
        return {r.task_id: r.ready for r in results}, (causes[0] if causes else None)

    def wake(self, app_id: str | None = None) -> None:
        self._wake(app_id)

    @property
    def apps(self) -> Mapping[str, AppDefinition]:
        return self._registry.apps

    @property
    def desired(self) -> Mapping[str, DesiredApp]:
        return self._registry.desired

    @property
    def failures(self) -> Mapping[str, Mapping[str, Any]]:
        return self._ledger.failures

    @property
    def waiting(self) -> Mapping[str, Waiting]:
        return self._ledger.waiting

    @property
    def health(self) -> Mapping[str, bool | None]:
        return self._ledger.health

    def tasks_of(self, app_id: str) -> list[TaskRecord]:
        return self._ledger.tasks.of_app(app_id)


class ReadinessPort:
    """engine.readiness.ReadinessHost."""

    def __init__(self, ledger: TaskLedger, registry: AppRegistry, agents: AgentPool,
                 wake: Callable[[str | None], None]) -> None:
        self._ledger = ledger
        self._registry = registry
        self._agents = agents
        self._wake = wake

    @property
    def tasks(self) -> Mapping[str, TaskRecord]:
        return self._ledger.tasks

    def tasks_of(self, app_id: str) -> list[TaskRecord]:
        return self._ledger.tasks.of_app(app_id)

    def readiness_check_for(self, task: TaskRecord) -> tuple[ReadinessCheck, int | None] | None:
        app = self._registry.apps.get(task.app_id)
        if app is None or not app.readiness_checks:
            return None
        check = app.readiness_checks[0]
        names = [p.name for p in port_requests(app)]  # the order of the task's host ports
        return check, names.index(check.port_name) if check.port_name in names else None

    def wake(self, app_id: str | None = None) -> None:
        self._wake(app_id)

    def driver(self, agent: str) -> AgentDriver:
        return self._agents.driver(agent)

    def probe_host(self, agent: str) -> str:
        return self._agents.probe_host(agent)


class HealthPort:
    """engine.health.HealthHost."""

    def __init__(self, ledger: TaskLedger, registry: AppRegistry, agents: AgentPool, bus: EventBus,
                 clock: Callable[[], float], wake: Callable[[str | None], None],
                 kill_unhealthy: Callable[[TaskRecord, str], None]) -> None:
        self._ledger = ledger
        self._registry = registry
        self._agents = agents
        self._bus = bus
        self._clock = clock
        self._wake = wake
        self._kill_unhealthy = kill_unhealthy

    def clock(self) -> float:
        return self._clock()

    def wake(self, app_id: str | None = None) -> None:
        self._wake(app_id)

    def kill_unhealthy(self, task: TaskRecord, reason: str) -> None:
        self._kill_unhealthy(task, reason)

    @property
    def tasks(self) -> Mapping[str, TaskRecord]:
        return self._ledger.tasks

    @property
    def health(self) -> MutableMapping[str, bool | None]:
        return self._ledger.health

    def health_checks_for(self, task: TaskRecord) -> list[HealthCheck]:
        return self._registry.health_checks_for(task)

    def driver(self, agent: str) -> AgentDriver:
        return self._agents.driver(agent)

    def probe_host(self, agent: str) -> str:
        return self._agents.probe_host(agent)

    def hostname_of(self, agent: str) -> str:
        return self._agents.hostname_of(agent)

    def publish(self, event: EngineEvent) -> object:
        return self._bus.publish(event)


class AutoscalePort:
    """engine.autoscaler.AutoscaleHost: scaling goes through the operator's command."""

    def __init__(self, registry: AppRegistry, ledger: TaskLedger, agents: AgentPool, watcher: DeploymentWatcher,
                 bus: EventBus, clock: Callable[[], float], commands: AppCommands) -> None:
        self._registry = registry
        self._ledger = ledger
        self._agents = agents
        self._watcher = watcher
        self._bus = bus
        self._clock = clock
        self._commands = commands

    def clock(self) -> float:
        return self._clock()

    @property
    def apps(self) -> Mapping[str, AppDefinition]:
        return self._registry.apps

    def config_version_of(self, app_id: str) -> str | None:
        return self._registry.config_version_of(app_id)

    def tasks_of(self, app_id: str) -> list[TaskRecord]:
        return self._ledger.tasks.of_app(app_id)

    def driver(self, agent: str) -> AgentDriver:
        return self._agents.driver(agent)

    def deploying(self, app_id: str) -> bool:
        return bool(self._watcher.locks(app_id))

    async def scale(self, app_id: str, instances: int) -> Deployment:
        return await self._commands.scale(app_id, instances)

    def publish(self, event: EngineEvent) -> object:
        return self._bus.publish(event)

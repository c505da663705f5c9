"""Plain data the pure core works on: what should run, what runs, and agents.

Everything here is a frozen dataclass with no behaviour that touches the world,
so reconcile and placement can be tested with thousands of generated cases.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal


class TaskState(str, enum.Enum):
    """Mesos task states, as Marathon shows them."""

    STAGING = "TASK_STAGING"
    RUNNING = "TASK_RUNNING"
    KILLING = "TASK_KILLING"
    UNREACHABLE = "TASK_UNREACHABLE"
    FINISHED = "TASK_FINISHED"
    FAILED = "TASK_FAILED"
    KILLED = "TASK_KILLED"
    GONE = "TASK_GONE"

    @property
    def terminal(self) -> bool:
        return self in (TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED, TaskState.GONE)


@dataclass(frozen=True, slots=True)
class Resources:
    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0

    def __add__(self, other: "Resources") -> "Resources":
        return Resources(self.cpus + other.cpus, self.mem + other.mem, self.disk + other.disk)

    def __sub__(self, other: "Resources") -> "Resources":
        return Resources(self.cpus - other.cpus, self.mem - other.mem, self.disk - other.disk)


@dataclass(frozen=True, slots=True)
class PortRequest:
    """One port a task needs on its agent. host_port 0 means "pick one from the range"."""

    container_port: int
    host_port: int
    protocol: str = "tcp"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class UpgradePolicy:
    minimum_health_capacity: float = 1.0
    maximum_over_capacity: float = 1.0


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    backoff_seconds: float = 1.0
    backoff_factor: float = 1.15
    max_launch_delay_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class DesiredApp:
    """The part of an AppDefinition that scheduling needs."""

    app_id: str
    version: str
    config_version: str
    instances: int
    resources: Resources
    ports: tuple[PortRequest, ...] = ()
    constraints: tuple[tuple[str, ...], ...] = ()
    kill_selection: str = "YOUNGEST_FIRST"
    upgrade: UpgradePolicy = UpgradePolicy()
    backoff: BackoffPolicy = BackoffPolicy()
    has_health_checks: bool = False
    inactive_after_seconds: float | None = 300.0
    expunge_after_seconds: float | None = 600.0
    kill_grace_seconds: float = 3.0
    priority: int = 0
    accepted_roles: tuple[str, ...] = ("*",)
    """The resource roles the app's tasks may use (`acceptedResourceRoles`, else "*" and its `role`): "*" is
    unreserved resources, any other name the resources an agent reserves for that role."""
    has_readiness_checks: bool = False
    """During a deployment, a new task counts (toward the target and minimumHealthCapacity) once it is ready."""


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task pacer launched (or adopted), as kept in the store."""

    task_id: str
    app_id: str
    agent: str
    version: str
    config_version: str
    state: TaskState
    resources: Resources
    host_ports: tuple[int, ...] = ()
    container_id: str | None = None
    staged_at: float = 0.0
    started_at: float | None = None
    unreachable_since: float | None = None
    ip_address: str | None = None


@dataclass(frozen=True, slots=True)
class AgentState:
    name: str
    capacity: Resources
    hostname: str
    attributes: dict[str, str] = field(default_factory=dict)
    port_range: tuple[int, int] = (31000, 32000)
    reachable: bool = True
    draining: bool = False
    kind: str = "docker"
    reserved_ports: frozenset[int] = frozenset()
    """Host ports taken on this agent by containers that are not this cluster's tasks."""
    roles: tuple[str, ...] = ("*",)
    """The resource roles this agent offers (its config's `roles`): "*" is unreserved resources."""


@dataclass(frozen=True, slots=True)
class BackoffState:
    """Launch delay of one app. `delay` is what the next failure will add."""

    delay: float
    not_before: float
    last_failure_at: float
    failures: int = 0


ContainerState = Literal["created", "running", "paused", "restarting", "exited", "dead", "removing"]


@dataclass(frozen=True, slots=True)
class ObservedContainer:
    """One container carrying this cluster's label, as an agent reports it."""

    container_id: str
    task_id: str
    app_id: str
    version: str
    config_version: str
    state: ContainerState
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    host_ports: tuple[int, ...] = ()
    ip_address: str | None = None
    oom_killed: bool = False

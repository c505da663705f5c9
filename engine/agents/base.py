"""The agent protocol: what the engine asks of a host that runs containers.

Every driver (docker, pacer remote, sim) implements `AgentDriver`. Drivers own
all side effects on their host; the engine only sees the plain data below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Literal, Protocol

from engine.scheduler.state import ObservedContainer

LABEL_CLUSTER = "pacer.cluster"
LABEL_APP = "pacer.app"
LABEL_TASK = "pacer.task"
LABEL_VERSION = "pacer.version"
LABEL_CONFIG_VERSION = "pacer.config-version"
SANDBOX_CONTAINER_PATH = "/mnt/mesos/sandbox"
"""Where a task's sandbox is mounted in its container (Mesos' docker containerizer path); MESOS_SANDBOX."""


@dataclass(frozen=True, slots=True)
class PortBinding:
    container_port: int
    host_port: int
    protocol: str = "tcp"


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """Everything an agent needs to start one task's container."""

    task_id: str
    app_id: str
    version: str
    config_version: str
    cluster_id: str
    name: str
    image: str
    entrypoint: tuple[str, ...] | None
    command: tuple[str, ...] | None
    env: dict[str, str]
    labels: dict[str, str]
    cpus: float
    mem_mib: float
    network_mode: str  # bridge | host | none
    ports: tuple[PortBinding, ...] = ()
    user: str | None = None
    kill_grace_seconds: float = 3.0
    privileged: bool = False
    volumes: tuple[VolumeMount, ...] = ()
    """Host paths bound into the container; an agent's policy may refuse them (and `privileged`)."""
    read_only: bool = False
    """A read-only root filesystem (label pacer.read-only); engine.policy has the whole hardened profile."""
    cap_add: tuple[str, ...] = ()
    """Capabilities beyond the agent's default set (label pacer.cap-add); the agent's policy decides."""
    cap_drop: tuple[str, ...] = ()
    """Capabilities of the default set to drop as well ("ALL": none at all)."""
    pids_limit: int | None = None
    """A lower pids limit than the agent's (label pacer.pids-limit)."""
    tmpfs: tuple[str, ...] = ()
    """Extra tmpfs mounts (label pacer.tmpfs), for apps with a read-only root filesystem."""
    image_id: str | None = None
    """The image content id the app pins (label pacer.image-id): other content under the tag is refused."""
    add_hosts: tuple[str, ...] = ()
    """docker.parameters add-host: HOST:IP lines for /etc/hosts."""
    hostname: str | None = None
    workdir: str | None = None
    ulimits: tuple[tuple[str, int, int], ...] = ()
    """(name, soft, hard) from docker.parameters ulimit."""
    log_driver: str | None = None
    log_opts: dict[str, str] = field(default_factory=dict)
    shm_size: int | None = None
    """Bytes of /dev/shm."""
    memory_swap: int | None = None
    """Bytes of memory plus swap (-1: unlimited swap)."""
    sysctls: dict[str, str] = field(default_factory=dict)
    """Namespaced kernel parameters; the agent's policy must allow each (allow_sysctls)."""
    security_opts: tuple[str, ...] = ()
    """docker --security-opt values; the agent's policy must allow each (allow_security_opts)."""
    devices: tuple[str, ...] = ()
    """Host devices (/dev/HOST[:/dev/CONTAINER[:rwm]]); the agent's policy must allow each (allow_devices)."""
    signatures: tuple[str, ...] = ()
    """Signatures the engine holds for the image's repository (engine.trust wire form), checked by the agent."""
    force_pull: bool = False
    """Pull the image before every launch, even when the agent has it (Marathon's `forcePullImage`)."""

    def container_labels(self) -> dict[str, str]:
        labels = dict(self.labels)
        labels.update(
            {
                LABEL_CLUSTER: self.cluster_id,
                LABEL_APP: self.app_id,
                LABEL_TASK: self.task_id,
                LABEL_VERSION: self.version,
                LABEL_CONFIG_VERSION: self.config_version,
            }
        )
        return labels


PullStatus = Literal["queued", "pulling", "done", "failed"]


def format_bytes(n: float) -> str:
    """Sizes as docker shows them (powers of 1000): 212 MB, 1.9 MB, 740 kB, 3.4 GB."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True, slots=True)
class ImagePull:
    """One image pull on an agent, as operators watch it (engine/agents/images.py makes these)."""

    agent: str
    image: str
    status: PullStatus
    downloaded: int = 0
    """Bytes of layers downloaded so far."""
    total: int = 0
    """Bytes of the layers whose size the registry has announced (0: none yet)."""
    layers: int = 0
    layers_done: int = 0
    started_at: float = 0.0
    """Wall-clock time the first launch asked for this image."""
    task_ids: tuple[str, ...] = ()
    """The tasks whose launch waits for this pull."""
    message: str = ""
    """For a failed pull: the one-line reason; for a finished one: what it took."""

    @property
    def percent(self) -> int | None:
        """Downloaded share of the announced bytes (None: no size known yet)."""
        if self.total <= 0:
            return None
        return min(100, int(self.downloaded * 100 / self.total))

    @property
    def text(self) -> str:
        """One line: "pulling IMAGE: 41% of 212 MB"."""
        if self.status in ("done", "failed"):
            return self.message or f"{self.status}: {self.image}"
        if self.status == "queued":
            return f"waiting to pull {self.image} (other pulls on {self.agent} first)"
        percent = self.percent
        if percent is None:
            return f"pulling {self.image}: starting"
        text = f"pulling {self.image}: {percent}% of {format_bytes(self.total)}"
        if percent >= 100 and self.layers_done < self.layers:
            text += f", extracting ({self.layers_done}/{self.layers} layers)"
        return text

    @property
    def short(self) -> str:
        """A few characters for a table cell: "pull 41%", "pulling", "queued"."""
        if self.status == "queued":
            return "queued"
        percent = self.percent
        return "pulling" if percent is None else f"pull {percent}%"


@dataclass(frozen=True, slots=True)
class AgentCapacity:
    cpus: float
    mem_mib: float
    disk_mib: float
    hostname: str
    attributes: dict[str, str] = field(default_factory=dict)
    kind: str = "docker"


class AgentDriver(Protocol):
    """One host. Every method may raise `engine.errors.AgentError`/`AgentUnreachable`."""

    name: str
    kind: str
    foreign_ports: frozenset[int]
    """Host ports that containers of other clusters (or none) publish on this agent: placement avoids them."""

    async def connect(self) -> AgentCapacity: ...

    async def list_containers(self, cluster_id: str) -> list[ObservedContainer]: ...

    async def launch(self, spec: TaskSpec) -> ObservedContainer: ...

    async def stop(self, container_id: str, grace_seconds: float) -> None: ...

    async def remove(self, container_id: str) -> None: ...

    async def tail_logs(self, container_id: str, lines: int) -> list[str]: ...

    async def exec_check(self, container_id: str, command: str) -> tuple[int, str]:
        """Run `command` with /bin/sh -c inside the container: (exit code, output). For COMMAND health checks."""
        ...

    def follow_logs(self, container_id: str, tail: int) -> AsyncIterator[str]:
        """The last `tail` lines of output, then new lines as they are written."""
        ...

    async def stats(self, container_id: str) -> dict[str, Any]:
        """One sample shaped like docker's stats API (cpu_stats, precpu_stats, memory_stats); for autoscaling."""
        ...

    def simulated_health(self, container_id: str | None) -> bool | None:
        """A simulated agent's verdict on a task's health (its containers answer no probes); None: probe it."""
        ...

    def image_pulls(self) -> tuple[ImagePull, ...]:
        """The image pulls under way (or queued) on this agent, oldest first."""
        ...

    on_image_pull: Callable[[ImagePull], None] | None
    """Set by the engine: called (from any thread) when a pull starts, progresses, ends or fails."""

    async def watch(self, cluster_id: str, on_change: Callable[[], None]) -> None:
        """Call `on_change` (from any thread) when something may have changed; runs until cancelled."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class VolumeMount:
    """A host path bound into a task's container (Marathon's `hostPath` volume).

    A relative `host_path` is a path inside the task's sandbox directory (Marathon's rule): the agent puts it
    there; it is not a host path volume. `container_path` is absolute (the spec resolves relative ones)."""

    host_path: str
    container_path: str
    mode: Literal["RO", "RW"] = "RW"

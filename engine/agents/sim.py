"""The `sim` driver: an agent with declared capacity and no containers.

It is a real driver of the agent protocol, for scale tests, benchmarks, console
tests and `pacer --demo`. Tasks "run" in memory; tests can crash them, make the
agent unreachable, or slow its launches, and give them synthetic CPU and memory
load (`set_load`) that `stats()` reports in docker's stats shape.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator, Callable

from engine.agents.base import AgentCapacity, ImagePull, TaskSpec
from engine.errors import AgentError, AgentUnreachable
from engine.scheduler.state import ObservedContainer


@dataclass(frozen=True, slots=True)
class _SimSpec:
    """What a sim container keeps of its TaskSpec (not the whole spec: 100,000 of them add up)."""

    cluster_id: str
    app_id: str
    task_id: str
    name: str
    cpus: float
    mem_mib: float


@dataclass(slots=True)
class _SimContainer:
    observed: ObservedContainer
    spec: _SimSpec
    logs: list[str]
    """Output after the start line, which is made when asked for."""


class SimLoad:
    """Synthetic load, shareable by several sim agents.

    An app's demand (total cores and MiB) is spread evenly over its running tasks on every
    agent sharing this object, so more instances mean less load per task, as with real
    traffic; a container's own load, when set, replaces its share. Each task's load is
    capped at its cpus and mem limits.
    """

    def __init__(self) -> None:
        self.agents: list[SimAgent] = []
        self.app_demand: dict[str, tuple[float, float]] = {}
        self.container_load: dict[str, tuple[float, float]] = {}

    def set(self, target: str, cpus: float = 0.0, mem_mib: float = 0.0) -> None:
        """`target` is an app id (starts with /: total demand) or a container id (that task alone)."""
        if target.startswith("/"):
            self.app_demand[target] = (cpus, mem_mib)
        else:
            self.container_load[target] = (cpus, mem_mib)

    def running(self, app_id: str) -> int:
        return sum(
            1 for a in self.agents for c in a._containers.values()
            if c.spec.app_id == app_id and c.observed.state == "running"
        )

    def of(self, container_id: str, spec: "_SimSpec") -> tuple[float, float]:
        """(cores, MiB) that one running task uses now."""
        if container_id in self.container_load:
            cpus, mem = self.container_load[container_id]
        else:
            total_cpus, total_mem = self.app_demand.get(spec.app_id, (0.0, 0.0))
            n = max(self.running(spec.app_id), 1)
            cpus, mem = total_cpus / n, total_mem / n
        if spec.cpus > 0:
            cpus = min(cpus, spec.cpus)
        if spec.mem_mib > 0:
            mem = min(mem, spec.mem_mib)
        return max(cpus, 0.0), max(mem, 0.0)


class SimAgent:
    kind = "sim"
    foreign_ports: frozenset[int] = frozenset()
    """A simulated agent runs nothing of anyone else's."""
    on_image_pull: Callable[[ImagePull], None] | None = None
    """A simulated agent has every image at once: it never pulls."""

    def __init__(
        self,
        name: str,
        *,
        cpus: float = 8.0,
        mem_mib: float = 16384.0,
        disk_mib: float = 100_000.0,
        attributes: dict[str, str] | None = None,
        hostname: str | None = None,
        launch_delay: float = 0.0,
        clock: Callable[[], float] = time.time,
        load: SimLoad | None = None,
    ) -> None:
        self.name = name
        self.capacity = AgentCapacity(
            cpus=cpus,
            mem_mib=mem_mib,
            disk_mib=disk_mib,
            hostname=hostname or name,
            attributes=dict(attributes or {}),
            kind="sim",
        )
        self.launch_delay = launch_delay
        self.log_interval = 1.0
        self.reachable = True
        self.launch_count = 0
        self.fail_images: set[str] = set()
        """Images whose containers exit at once with code 1 (a crash-looping app)."""
        self._clock = clock
        self._containers: dict[str, _SimContainer] = {}
        self._ids = itertools.count(1)
        self._on_change: list[Callable[[], None]] = []
        self._unhealthy: set[str] = set()
        self.load = load if load is not None else SimLoad()
        """Synthetic load; pass one SimLoad to several agents so an app's demand spreads over all of them."""
        self.load.agents.append(self)
        self._cpu_used: dict[str, tuple[float, float]] = {}

    def _check(self) -> None:
        if not self.reachable:
            raise AgentUnreachable(f"agent {self.name}: simulated outage")

    def _changed(self) -> None:
        for cb in list(self._on_change):
            cb()

    async def connect(self) -> AgentCapacity:
        self._check()
        return self.capacity

    async def list_containers(self, cluster_id: str) -> list[ObservedContainer]:
        self._check()
        return [c.observed for c in self._containers.values() if c.spec.cluster_id == cluster_id]

    async def launch(self, spec: TaskSpec) -> ObservedContainer:
        self._check()
        if self.launch_delay:
            await asyncio.sleep(self.launch_delay)
        if spec.image.startswith("missing/"):
            raise AgentError(f"agent {self.name}: image {spec.image!r} not found on this daemon")
        self.launch_count += 1
        cid = f"sim-{self.name}-{next(self._ids):08d}"
        now = self._clock()
        crashed = spec.image in self.fail_images
        observed = ObservedContainer(
            container_id=cid,
            task_id=spec.task_id,
            app_id=spec.app_id,
            version=spec.version,
            config_version=spec.config_version,
            state="exited" if crashed else "running",
            exit_code=1 if crashed else None,
            started_at=now,
            finished_at=now if crashed else None,
            host_ports=tuple(p.host_port for p in spec.ports),
            ip_address="10.255.0.1",
        )
        slim = _SimSpec(spec.cluster_id, spec.app_id, spec.task_id, spec.name, spec.cpus, spec.mem_mib)
        self._containers[cid] = _SimContainer(observed, slim, [])
        if crashed:
            self._changed()
        return observed

    def crash(self, container_id: str, exit_code: int = 1) -> None:
        """Make a running container exit, as if its process died."""
        c = self._containers[container_id]
        c.observed = replace(c.observed, state="exited", exit_code=exit_code, finished_at=self._clock())
        c.logs.append(f"[sim] exited with code {exit_code}")
        self._changed()

    def set_health(self, container_id: str, healthy: bool) -> None:
        """What health probes of this container will answer from now on."""
        if healthy:
            self._unhealthy.discard(container_id)
        else:
            self._unhealthy.add(container_id)

    def health_of(self, container_id: str | None) -> bool:
        return container_id is not None and container_id in self._containers and container_id not in self._unhealthy

    def simulated_health(self, container_id: str | None) -> bool | None:
        """Simulated containers answer no probes: their health is what the test made it."""
        return self.health_of(container_id)

    async def exec_check(self, container_id: str, command: str) -> tuple[int, str]:
        self._check()
        return (0, "") if self.health_of(container_id) else (1, "simulated failure")

    def container_of(self, task_id: str) -> str | None:
        for cid, c in self._containers.items():
            if c.observed.task_id == task_id:
                return cid
        return None

    async def stop(self, container_id: str, grace_seconds: float) -> None:
        self._check()
        c = self._containers.get(container_id)
        if c is not None and c.observed.state == "running":
            c.observed = replace(c.observed, state="exited", exit_code=143, finished_at=self._clock())

    async def remove(self, container_id: str) -> None:
        self._check()
        self._containers.pop(container_id, None)
        self._cpu_used.pop(container_id, None)
        self.load.container_load.pop(container_id, None)

    def _lines(self, c: _SimContainer) -> list[str]:
        return [f"[sim] started {c.spec.task_id} on {self.name}", *c.logs]

    async def tail_logs(self, container_id: str, lines: int) -> list[str]:
        self._check()
        c = self._containers.get(container_id)
        return self._lines(c)[-lines:] if c else []

    async def follow_logs(self, container_id: str, tail: int) -> AsyncIterator[str]:
        """Simulated output: the kept lines, then one line a second while the task runs."""
        c = self._containers.get(container_id)
        if c is None:
            return
        for line in self._lines(c)[-tail:]:
            yield line
        n = 0
        while self._containers.get(container_id) is c and c.observed.state == "running":
            await asyncio.sleep(self.log_interval)
            n += 1
            line = f"[sim] {c.spec.app_id} {c.spec.task_id}: tick {n}"
            c.logs.append(line)
            del c.logs[:-1000]
            yield line

    def set_load(self, target: str, cpus: float = 0.0, mem_mib: float = 0.0) -> None:
        """Synthetic load: an app id (/...) sets the app's total demand in cores and MiB, spread over its
        running tasks; a container id sets that container's own use."""
        self.load.set(target, cpus, mem_mib)

    async def stats(self, container_id: str) -> dict[str, Any]:
        """One docker-stats-shaped sample of the synthetic load (cpu counters integrate it over time)."""
        self._check()
        c = self._containers.get(container_id)
        if c is None:
            raise AgentError(f"agent {self.name}: no such container: {container_id}")
        now = self._clock()
        online = max(int(self.capacity.cpus), 1)
        running = c.observed.state == "running"
        cores, mem = self.load.of(container_id, c.spec) if running else (0.0, 0.0)
        last_at, before = self._cpu_used.get(container_id, (c.observed.started_at or now, 0.0))
        total = before + cores * max(now - last_at, 0.0) * 1e9
        self._cpu_used[container_id] = (now, total)
        system = now * 1e9 * online
        if now - last_at < 1e-3:  # no time passed since the last reading: pretend one second at this load
            last_at, before = now - 1.0, max(total - cores * 1e9, 0.0)

        def cpu(total_ns: float, system_ns: float) -> dict[str, Any]:
            return {"cpu_usage": {"total_usage": int(total_ns)}, "system_cpu_usage": int(system_ns),
                    "online_cpus": online}

        limit = c.spec.mem_mib * 2**20 if c.spec.mem_mib > 0 else self.capacity.mem_mib * 2**20
        return {
            "id": container_id,
            "name": "/" + c.spec.name,
            "read": now,
            "pacer_sim": True,
            "cpu_stats": cpu(total, system),
            # docker's precpu is its reading before this one; here: our previous reading (or the start)
            "precpu_stats": cpu(before, last_at * 1e9 * online),
            "memory_stats": {"usage": int(mem * 2**20), "limit": int(limit), "stats": {"inactive_file": 0}},
            "pids_stats": {"current": 1 if running else 0},
        }

    async def watch(self, cluster_id: str, on_change: Callable[[], None]) -> None:
        self._on_change.append(on_change)
        try:
            await asyncio.Event().wait()
        finally:
            self._on_change.remove(on_change)

    def image_pulls(self) -> tuple[ImagePull, ...]:
        return ()

    async def close(self) -> None:
        return None

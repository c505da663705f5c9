"""The agents the engine drives: one driver per configured agent, whether it answers, and what it reports."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from engine.agents.base import AgentCapacity, AgentDriver
from engine.agents.docker_agent import DockerAgent
from engine.agents.sim import SimAgent
from engine.config import AgentConfig
from engine.errors import AgentError
from engine.events import AgentDrainStarted, AgentLost, AgentResumed, AgentReturned, EventBus
from engine.policy import AgentPolicy
from engine.scheduler.placement import ClusterUsage
from engine.scheduler.state import AgentState, ObservedContainer, Resources
from engine.supervisor import Supervisor
from engine.views import AgentView, used_of

log = logging.getLogger("pacer.engine")


def make_driver(agent: AgentConfig, policy: AgentPolicy | None = None) -> AgentDriver:
    """The driver for one configured agent; a docker agent enforces `policy` (engine.policy) on its daemon."""
    if agent.kind == "sim":
        return SimAgent(
            agent.name,
            cpus=agent.cpus if agent.cpus is not None else 8.0,
            mem_mib=agent.mem if agent.mem is not None else 16384.0,
            disk_mib=agent.disk,
            attributes=agent.attributes,
            hostname=agent.hostname,
        )
    if agent.kind == "pacer":
        from engine.agents.remote import RemoteAgent

        return RemoteAgent.from_config(agent)
    return DockerAgent.from_config(agent, policy)


@dataclass(slots=True)
class AgentSlot:
    config: AgentConfig
    driver: AgentDriver
    capacity: AgentCapacity | None = None
    reachable: bool = False
    error: str | None = None
    watcher: asyncio.Task[None] | None = None
    draining: bool = False
    foreign_ports: frozenset[int] = frozenset()


class AgentPool:
    def __init__(self, bus: EventBus, on_change: Callable[[str], None], *,
                 supervisor: Supervisor | None = None) -> None:
        """`on_change(agent)` is called from any thread when an agent reports that its containers changed."""
        self._supervisor = supervisor or Supervisor()
        self._bus = bus
        self._on_change = on_change
        self.slots: dict[str, AgentSlot] = {}
        self.cluster_id = ""
        self._states: dict[str, AgentState] | None = None

    def add(self, config: AgentConfig, driver: AgentDriver, *, draining: bool = False) -> None:
        self.slots[config.name] = AgentSlot(config, driver, draining=draining)

    def __contains__(self, name: object) -> bool:
        return name in self.slots

    def __len__(self) -> int:
        return len(self.slots)

    def driver(self, agent: str) -> AgentDriver:
        slot = self.slots.get(agent)
        if slot is None:
            raise AgentError(f"no agent named {agent!r}")
        return slot.driver

    def hostname_of(self, agent: str) -> str:
        slot = self.slots.get(agent)
        if slot is None:
            return agent
        return slot.config.hostname or (slot.capacity.hostname if slot.capacity else agent)

    def probe_host(self, agent: str) -> str:
        """Where this agent's published ports answer, for health probes."""
        slot = self.slots.get(agent)
        if slot is None:
            return "127.0.0.1"
        if slot.config.probe_host:
            return slot.config.probe_host
        url = slot.config.url
        if url.startswith("unix://") or url.startswith("sim://"):
            return "127.0.0.1"
        host = url.split("://", 1)[1].split("@")[-1].split("/")[0].rsplit(":", 1)[0]
        return host.strip("[]") or "127.0.0.1"

    def set_draining(self, agent: str, draining: bool) -> None:
        slot = self.slots.get(agent)
        if slot is None:
            raise AgentError(f"no agent named {agent!r}")
        slot.draining = draining
        self._bus.publish(AgentDrainStarted(agent=agent) if draining else AgentResumed(agent=agent))
        self._states = None

    # -- talking to agents ----------------------------------------------------------------------

    async def connect_all(self) -> None:
        await asyncio.gather(*(self._connect(slot) for slot in self.slots.values()))

    async def _connect(self, slot: AgentSlot) -> None:
        try:
            slot.capacity = await slot.driver.connect()
        except AgentError as exc:
            slot.reachable, slot.error = False, exc.message
            log.warning("agent %s: %s", slot.config.name, exc.message)
            return
        # Capacity and reachability changed: an agent down when the engine started must not stay unreachable.
        self._states = None
        slot.reachable, slot.error = True, None
        if slot.watcher is None or slot.watcher.done():
            name = slot.config.name
            # A watcher that crashes is logged and started again (with backoff); the timer covers the gap.
            slot.watcher = self._supervisor.keep_running(
                "agent watchers", lambda: slot.driver.watch(self.cluster_id, lambda: self._on_change(name)),
                f"watch {name}")

    async def observe(self, names: Iterable[str]) -> dict[str, list[ObservedContainer]]:
        """This cluster's containers on each named agent that answers (agents that do not are marked unreachable)."""
        async def one(slot: AgentSlot) -> tuple[str, list[ObservedContainer] | None]:
            if slot.capacity is None:
                await self._connect(slot)
                if slot.capacity is None:
                    return slot.config.name, None
            try:
                containers = await slot.driver.list_containers(self.cluster_id)
            except AgentError as exc:
                if slot.reachable:
                    log.warning("agent %s unreachable: %s", slot.config.name, exc.message)
                    self._bus.publish(AgentLost(agent=slot.config.name, reason=exc.message))
                    self._states = None
                slot.reachable, slot.error = False, exc.message
                return slot.config.name, None
            if not slot.reachable:
                self._bus.publish(AgentReturned(agent=slot.config.name))
                self._states = None
                if slot.watcher is None or slot.watcher.done():
                    await self._connect(slot)
            slot.reachable, slot.error = True, None
            if slot.driver.foreign_ports != slot.foreign_ports:
                slot.foreign_ports = slot.driver.foreign_ports
                self._states = None
            return slot.config.name, containers

        slots = [self.slots[n] for n in names if n in self.slots]
        results = await asyncio.gather(*(one(s) for s in slots))
        return {name: containers for name, containers in results if containers is not None}

    async def close(self) -> None:
        watchers = [slot.watcher for slot in self.slots.values() if slot.watcher is not None]
        for watcher in watchers:
            watcher.cancel()
        if watchers:
            await asyncio.wait(watchers, timeout=5)
        for slot in self.slots.values():
            await slot.driver.close()

    # -- what the core and the readers see -----------------------------------------------------------

    def states(self) -> dict[str, AgentState]:
        """Each agent as the pure core sees it (cached until an agent changes)."""
        if self._states is not None:
            return self._states
        states = {}
        for name, slot in self.slots.items():
            cap = slot.capacity
            states[name] = AgentState(
                name=name,
                capacity=Resources(cap.cpus, cap.mem_mib, cap.disk_mib) if cap else Resources(),
                hostname=(slot.config.hostname or (cap.hostname if cap else name)),
                attributes=dict(cap.attributes) if cap else dict(slot.config.attributes),
                port_range=slot.config.port_range,
                reachable=slot.reachable and cap is not None,
                draining=slot.draining,
                kind=slot.driver.kind,
                reserved_ports=slot.foreign_ports,
                roles=tuple(slot.config.roles),
            )
        self._states = states
        return states

    def views(self, usage: ClusterUsage) -> tuple[AgentView, ...]:
        agents = []
        for name, slot in self.slots.items():
            cap = slot.capacity
            used, count, ports_used = used_of(usage.peek(name))
            agents.append(AgentView(
                name=name, kind=slot.driver.kind, hostname=self.hostname_of(name), reachable=slot.reachable,
                capacity=Resources(cap.cpus, cap.mem_mib, cap.disk_mib) if cap else Resources(),
                used=used, tasks=count, ports_used=ports_used, port_range=slot.config.port_range,
                attributes=dict(cap.attributes) if cap else dict(slot.config.attributes),
                error=slot.error, draining=slot.draining))
        return tuple(agents)

    def configs(self) -> Mapping[str, AgentConfig]:
        return {name: slot.config for name, slot in self.slots.items()}

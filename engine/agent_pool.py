"""The agents the engine drives: one driver per configured agent, whether it answers, and what it reports.

Agents are independent: a round never waits long for one of them. Each agent has at most one call to
connect or list under way (`AgentSlot.call`), run as its own asyncio task with the driver's own timeout.
A round waits for a fresh listing of an agent that answers for at most `observe_timeout` seconds (longer
for an agent known to list slowly, never more than `observe_timeout_max`); an agent that has not answered
by then is marked unreachable (AgentLost) and the round goes on with the others' listings. While that
call is still under way the agent is not listed again, nor waited for at all; when it ends with an
answer the engine is woken, lists the agent afresh and it comes back (AgentReturned).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

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

OBSERVE_TIMEOUT = 3.0
"""Seconds a round waits for an agent's listing before it takes the agent as unreachable."""
OBSERVE_TIMEOUT_MAX = 10.0
"""The longest a round waits for an agent that is known to list slowly (twice its last listing's time)."""


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
    call: asyncio.Task[Any] | None = None
    """The connect or listing under way (at most one per agent: a hung agent does not pile up calls)."""
    call_kind: str = ""
    call_started: float = 0.0
    list_seconds: float = 0.0
    """How long the last listing that ended took (a slow agent is waited for longer, up to a bound)."""


class AgentPool:
    def __init__(self, bus: EventBus, on_change: Callable[[str], None], *,
                 supervisor: Supervisor | None = None, observe_timeout: float = OBSERVE_TIMEOUT,
                 observe_timeout_max: float = OBSERVE_TIMEOUT_MAX) -> None:
        """`on_change(agent)` is called from any thread when an agent reports that its containers changed, and
        when an agent that did not answer in time answers again."""
        self._supervisor = supervisor or Supervisor()
        self._bus = bus
        self._on_change = on_change
        self.slots: dict[str, AgentSlot] = {}
        self.cluster_id = ""
        self._states: dict[str, AgentState] | None = None
        self.observe_timeout = observe_timeout
        self.observe_timeout_max = max(observe_timeout_max, observe_timeout)

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
        """Connect every agent, waiting at most `observe_timeout` for each: one that has not answered by then
        is left unreachable while its connect goes on in the background (its answer wakes the engine)."""
        until = time.monotonic() + self.observe_timeout
        waiting = {self._start_call(slot, "connect"): slot for slot in self.slots.values() if slot.call is None}
        while waiting:
            timeout = until - time.monotonic()
            if timeout > 0:
                await asyncio.wait(waiting, timeout=timeout)
            for call, slot in list(waiting.items()):
                if call.done():
                    del waiting[call]
                    answered, capacity = self._take(slot)
                    if answered:
                        self._connected(slot, capacity)
                        slot.reachable, slot.error = True, None
                elif timeout <= 0:
                    del waiting[call]
                    self._leave(slot, call)
                    slot.error = f"agent {slot.config.name}: no answer within {self.observe_timeout:g} s"
                    log.warning("%s", slot.error)

    def _wait_for(self, slot: AgentSlot) -> float:
        return min(max(self.observe_timeout, 2 * slot.list_seconds), self.observe_timeout_max)

    def _start_call(self, slot: AgentSlot, kind: str) -> asyncio.Task[Any]:
        coro = slot.driver.connect() if kind == "connect" else slot.driver.list_containers(self.cluster_id)
        call = asyncio.get_running_loop().create_task(coro, name=f"{kind} {slot.config.name}")
        slot.call, slot.call_kind, slot.call_started = call, kind, time.monotonic()
        return call

    def _leave(self, slot: AgentSlot, call: asyncio.Task[Any]) -> None:
        """Nobody waits for this call any more: when it ends with an answer of an agent taken as unreachable,
        wake the engine to list that agent again at once."""
        name, kind = slot.config.name, slot.call_kind

        def ended(task: asyncio.Task[Any]) -> None:
            if task.cancelled():
                return
            failed = task.exception() is not None  # retrieved here: the failure is taken by a later round
            if kind == "list" and not failed:
                slot.list_seconds = time.monotonic() - slot.call_started
            if not failed and slot.call is task and not slot.reachable:
                self._on_change(name)

        call.add_done_callback(ended)

    def _take(self, slot: AgentSlot) -> tuple[bool, Any]:
        """Take the agent's call off it once it has ended: (whether the agent answered, the call's result)."""
        call = slot.call
        assert call is not None and call.done()
        slot.call = None
        try:
            return True, call.result()
        except AgentError as exc:
            self._lost(slot, exc.message)
            return False, None

    def _lost(self, slot: AgentSlot, message: str) -> None:
        if slot.reachable:
            log.warning("agent %s unreachable: %s", slot.config.name, message)
            self._bus.publish(AgentLost(agent=slot.config.name, reason=message))
            self._states = None
        slot.reachable, slot.error = False, message

    def _connected(self, slot: AgentSlot, capacity: AgentCapacity) -> None:
        slot.capacity = capacity
        # Capacity and reachability changed: an agent down when the engine started must not stay unreachable.
        self._states = None
        self._watch(slot)

    def _watch(self, slot: AgentSlot) -> None:
        if slot.watcher is None or slot.watcher.done():
            name = slot.config.name
            # A watcher that crashes is logged and started again (with backoff); the timer covers the gap.
            slot.watcher = self._supervisor.keep_running(
                "agent watchers", lambda: slot.driver.watch(self.cluster_id, lambda: self._on_change(name)),
                f"watch {name}")

    async def observe(self, names: Iterable[str]) -> dict[str, list[ObservedContainer]]:
        """This cluster's containers on each named agent that answers in time. An agent that does not is marked
        unreachable and left out: the round goes on without it, and later rounds do not wait for it."""
        observed: dict[str, list[ObservedContainer]] = {}
        waiting: dict[asyncio.Task[Any], tuple[AgentSlot, float, bool]] = {}
        """The calls this round waits for: agent, until when, whether it is the agent's first contact."""
        for name in names:
            slot = self.slots.get(name)
            if slot is None:
                continue
            first_contact = slot.capacity is None
            answered_now = False
            if slot.call is not None:
                # A call of an earlier round: while it is under way nothing new can be known of this agent and
                # no round waits for it again. Once ended, a listing is stale (it began before this round): it
                # only tells that the agent answers, and the agent is listed afresh.
                if not slot.call.done():
                    if slot.reachable:
                        self._lost(slot, f"agent {name}: no answer for {time.monotonic() - slot.call_started:.0f} s")
                    continue
                kind = slot.call_kind
                answered_now, result = self._take(slot)
                if answered_now and kind == "connect":
                    self._connected(slot, result)
            call = self._start_call(slot, "connect" if slot.capacity is None else "list")
            # Only an agent that answers is waited for: one that does not is left to its call in the background.
            if slot.reachable or answered_now:
                waiting[call] = (slot, time.monotonic() + self._wait_for(slot), first_contact)
            else:
                self._leave(slot, call)
        if waiting:
            await asyncio.sleep(0)  # the calls that answer at once (in-memory agents) have ended after one turn
        while waiting:
            soonest = min(until for _, until, _ in waiting.values())
            timeout = soonest - time.monotonic()
            if timeout > 0 and not any(call.done() for call in waiting):
                await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            now = time.monotonic()
            for call, (slot, until, first_contact) in list(waiting.items()):
                name = slot.config.name
                if not call.done():
                    if until <= now:
                        del waiting[call]
                        self._leave(slot, call)
                        self._lost(slot, f"agent {name}: no answer within {self._wait_for(slot):g} s")
                    continue
                del waiting[call]
                kind = slot.call_kind
                answered, result = self._take(slot)
                if not answered:
                    continue
                if kind == "connect":
                    self._connected(slot, result)
                    waiting[self._start_call(slot, "list")] = (slot, until, first_contact)
                    continue
                slot.list_seconds = now - slot.call_started
                if not slot.reachable:
                    if not first_contact:
                        self._bus.publish(AgentReturned(agent=name))
                    self._states = None
                    self._watch(slot)
                slot.reachable, slot.error = True, None
                if slot.driver.foreign_ports != slot.foreign_ports:
                    slot.foreign_ports = slot.driver.foreign_ports
                    self._states = None
                observed[name] = result
        return observed

    async def close(self) -> None:
        tasks = [slot.watcher for slot in self.slots.values() if slot.watcher is not None]
        tasks += [slot.call for slot in self.slots.values() if slot.call is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
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

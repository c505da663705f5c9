"""One hung agent never stalls scheduling for the others (simulated agents).

An agent whose listing never answers (as a SIGSTOPped dockerd) is marked unreachable after the pool's short
observation deadline; every later round keeps its normal duration, apps on the other agents launch at once,
nothing is launched or killed on the hung agent, and no second listing piles up behind the first. When the
listing answers at last the agent comes back and the surplus is killed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import AsyncIterator

import pytest

from engine import Engine, TaskState
from engine.agent_pool import OBSERVE_TIMEOUT
from engine.agents.sim import SimAgent
from engine.config import PacerConfig, SchedulerConfig
from engine.events import AgentLost, AgentReturned
from engine.scheduler.state import ObservedContainer
from tests.conftest import drain, wait_until

INTERVAL = 0.2


class HangingSim(SimAgent):
    """A sim agent whose listings hang, once `hang()` is called, until `release()`."""

    def __init__(self, name: str) -> None:
        super().__init__(name, cpus=4, mem_mib=4096)
        self.hung = False
        self.hung_listings = 0
        """Listings that started while hung."""
        self.actions_while_hung = 0
        self._released = asyncio.Event()

    def hang(self) -> None:
        self.hung = True

    def release(self) -> None:
        self.hung = False
        self._released.set()

    async def list_containers(self, cluster_id: str) -> list[ObservedContainer]:
        if self.hung:
            self.hung_listings += 1
            await self._released.wait()
        return await super().list_containers(cluster_id)

    async def launch(self, spec: object) -> ObservedContainer:  # type: ignore[override]
        self.actions_while_hung += self.hung
        return await super().launch(spec)  # type: ignore[arg-type]

    async def stop(self, container_id: str, grace_seconds: float) -> None:
        self.actions_while_hung += self.hung
        await super().stop(container_id, grace_seconds)


def app(app_id: str, instances: int, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {"id": app_id, "cmd": "serve", "cpus": 0.1, "mem": 32, "instances": instances,
                               "container": {"type": "DOCKER", "docker": {"image": "img:1"}},
                               "unreachableStrategy": {"inactiveAfterSeconds": 1, "expungeAfterSeconds": 600}}
    body.update(kw)
    return body


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Engine, SimAgent, HangingSim]]:
    healthy, hanging = SimAgent("s1", cpus=4, mem_mib=4096), HangingSim("s2")
    config = PacerConfig(scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), default_image="busybox:latest",
                                                   cluster_id="hangtest", reconcile_interval=INTERVAL))
    engine = Engine(config, drivers={"s1": healthy, "s2": hanging})
    await engine.start()
    try:
        yield engine, healthy, hanging
    finally:
        hanging.release()
        await engine.stop()


def reachable(engine: Engine, name: str) -> bool:
    return next(a.reachable for a in engine.snapshot().agents if a.name == name)


async def test_hung_agent_is_lost_quickly_and_rounds_go_on(setup: tuple[Engine, SimAgent, HangingSim]) -> None:
    engine, healthy, hanging = setup
    await engine.create_app(app("/a", 2))
    await wait_until(lambda: engine.converged("/a") and {t.agent for t in engine.tasks_of("/a")} == {"s1", "s2"}, 5,
                     message="/a running on both agents")
    (stranded,) = [t.task_id for t in engine.tasks_of("/a") if t.agent == "s2"]
    events = engine.subscribe()

    hanging.hang()
    hung_at = time.monotonic()
    await wait_until(lambda: not reachable(engine, "s2"), OBSERVE_TIMEOUT + 5, interval=0.05,
                     message="the hung agent marked unreachable")
    detected = time.monotonic() - hung_at
    print(f"\nhung sim agent marked unreachable after {detected:.2f} s")
    assert detected < OBSERVE_TIMEOUT + 2 * INTERVAL + 1.0, detected
    lost = [e for e in drain(events) if isinstance(e, AgentLost)]
    assert [e.agent for e in lost] == ["s2"] and "no answer" in lost[0].reason, lost

    # Rounds keep their pace and their normal duration while the agent stays hung.
    rounds = engine.stats.rounds
    await wait_until(lambda: engine.stats.rounds >= rounds + 10, 10 * INTERVAL + 5, interval=0.05,
                     message="ten more rounds")
    durations = engine.stats.round_durations[-(engine.stats.rounds - rounds):]
    assert max(durations) < 0.5, f"rounds waited for the hung agent: {durations}"

    # A new app starts on the healthy agent as fast as ever.
    created = time.monotonic()
    await engine.create_app(app("/b", 2, constraints=[["hostname", "CLUSTER", "s1"]]))
    await wait_until(lambda: engine.running_count("/b") == 2, 5, interval=0.02, message="/b running on s1")
    started = time.monotonic() - created
    print(f"new app on the healthy agent running after {started:.2f} s")
    assert started < 1.0, started
    assert {t.agent for t in engine.tasks_of("/b")} == {"s1"}

    # The hung agent's task follows unreachableStrategy: replaced on s1 after inactiveAfterSeconds.
    assert engine.tasks[stranded].state == TaskState.UNREACHABLE
    await wait_until(lambda: sum(1 for t in engine.tasks_of("/a") if t.state == TaskState.RUNNING
                                 and t.agent == "s1") == 2, 5, message="/a replaced on s1")
    print(f"task of the hung agent replaced after {time.monotonic() - hung_at:.2f} s")
    assert hanging.actions_while_hung == 0, "a launch or kill was tried on the hung agent"
    assert hanging.hung_listings == 1, f"{hanging.hung_listings} listings piled up on the hung agent"

    # It answers again: back, and the surplus task of /a is killed.
    hanging.release()
    await wait_until(lambda: reachable(engine, "s2"), 5, interval=0.05, message="s2 reachable again")
    assert [e.agent for e in drain(events) if isinstance(e, AgentReturned)] == ["s2"]
    await wait_until(lambda: engine.converged("/a") and len(engine.tasks_of("/a")) == 2
                     and all(t.state == TaskState.RUNNING for t in engine.tasks_of("/a")), 5,
                     message="/a back to exactly 2 tasks")
    listed = [c for a in (healthy, hanging) for c in await a.list_containers("hangtest")]
    assert sorted(c.app_id for c in listed if c.state == "running") == ["/a", "/a", "/b", "/b"], listed


async def test_agent_hung_at_start_does_not_hold_up_start_or_rounds(tmp_path: Path) -> None:
    """An agent that never answers its first contact: start() and the rounds go on without it; it joins later."""
    healthy, hanging = SimAgent("s1", cpus=4, mem_mib=4096), HangingSim("s2")
    never = asyncio.Event()

    async def hung_connect() -> object:
        await never.wait()
        return hanging.capacity

    hanging.connect = hung_connect  # type: ignore[method-assign]
    config = PacerConfig(scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), default_image="busybox:latest",
                                                   cluster_id="hangtest", reconcile_interval=INTERVAL))
    engine = Engine(config, drivers={"s1": healthy, "s2": hanging})
    began = time.monotonic()
    await asyncio.wait_for(engine.start(), OBSERVE_TIMEOUT + 5)
    try:
        assert time.monotonic() - began < OBSERVE_TIMEOUT + 1.5
        await engine.create_app(app("/a", 2))
        await wait_until(lambda: engine.running_count("/a") == 2, 3, message="/a running on s1")
        assert {t.agent for t in engine.tasks_of("/a")} == {"s1"} and not reachable(engine, "s2")
        never.set()
        await wait_until(lambda: reachable(engine, "s2"), 5, interval=0.05, message="s2 joins once it answers")
    finally:
        never.set()
        await engine.stop()

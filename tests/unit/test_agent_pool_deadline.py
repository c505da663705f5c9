"""The agent pool's observation deadline, on simulated agents with a short deadline: a slow agent is waited for
in proportion to how slowly it lists (it does not flap), a hung one is not waited for again."""

from __future__ import annotations

import asyncio
import time

from engine.agent_pool import AgentPool
from engine.agents.sim import SimAgent
from engine.config import AgentConfig
from engine.events import AgentLost, AgentReturned, EventBus
from engine.scheduler.state import ObservedContainer
from tests.conftest import drain


class SlowSim(SimAgent):
    def __init__(self, name: str, delay: float) -> None:
        super().__init__(name)
        self.delay = delay
        self.listings = 0

    async def list_containers(self, cluster_id: str) -> list[ObservedContainer]:
        self.listings += 1
        await asyncio.sleep(self.delay)
        return await super().list_containers(cluster_id)


def pool_of(*drivers: SimAgent, woken: list[str]) -> tuple[AgentPool, EventBus]:
    bus = EventBus()
    pool = AgentPool(bus, woken.append, observe_timeout=0.3, observe_timeout_max=2.0)
    pool.cluster_id = "c"
    for driver in drivers:
        pool.add(AgentConfig(name=driver.name, url="sim://"), driver)
    return pool, bus


async def timed(pool: AgentPool) -> tuple[set[str], float]:
    began = time.monotonic()
    observed = await pool.observe(list(pool.slots))
    return set(observed), time.monotonic() - began


async def test_slow_agent_is_lost_once_then_waited_for_as_long_as_it_needs() -> None:
    woken: list[str] = []
    fast, slow = SimAgent("fast"), SlowSim("slow", 0.5)
    slow.delay = 0.0
    pool, bus = pool_of(fast, slow, woken=woken)
    events = bus.subscribe()
    try:
        await pool.connect_all()
        assert (await timed(pool))[0] == {"fast", "slow"}
        slow.delay = 0.5  # now slower than the deadline (0.3 s)
        seen, took = await timed(pool)
        assert seen == {"fast"} and took < 0.45, (seen, took)
        assert [type(e) for e in drain(events)] == [AgentLost]
        # The late listing answers: the engine is woken, the agent listed afresh, waited for (2 x 0.5 s at most).
        deadline = time.monotonic() + 5
        while "slow" not in woken:
            assert time.monotonic() < deadline, "no wake-up when the slow agent answered"
            await asyncio.sleep(0.02)
        for _ in range(3):
            seen, took = await timed(pool)
            assert seen == {"fast", "slow"} and took < 1.0, (seen, took)
        assert [type(e) for e in drain(events)] == [AgentReturned], "the slow agent flapped"
    finally:
        await pool.close()


async def test_hung_agent_is_not_waited_for_again_nor_listed_twice() -> None:
    woken: list[str] = []
    fast, hung = SimAgent("fast"), SlowSim("hung", 0.0)
    pool, bus = pool_of(fast, hung, woken=woken)
    try:
        await pool.connect_all()
        assert (await timed(pool))[0] == {"fast", "hung"}
        hung.delay = 3600
        seen, took = await timed(pool)
        assert seen == {"fast"} and 0.25 < took < 0.45, (seen, took)
        for _ in range(20):
            seen, took = await timed(pool)
            assert seen == {"fast"} and took < 0.05, (seen, took)
        assert hung.listings == 2, f"{hung.listings} listings: they piled up on the hung agent"
        assert not pool.states()["hung"].reachable
        assert "no answer within 0.3 s" in (pool.slots["hung"].error or "")
    finally:
        await pool.close()


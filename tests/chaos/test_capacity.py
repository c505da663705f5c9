"""(7) A full cluster: a replacement that cannot be placed says why (per agent), and converges when
capacity returns (another app scaled down, or a drained agent resumed). Agents declare cpus=0.1."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from engine import TaskState
from tests.chaos.conftest import Agent, running_on, sleeper, wait_engine, wait_exact

pytestmark = pytest.mark.docker

CHAOS_AGENTS = ("plain", "plain")
CPUS = 0.1


def app(app_id: str, instances: int) -> dict[str, Any]:
    return sleeper(app_id, instances, inactive=2, expunge=300, cpus=0.05)


def why(engine: Any, app_id: str) -> dict[str, tuple[str, str]]:
    waiting = engine.waiting.get(app_id)
    return {} if waiting is None else {a: (r.step, r.reason) for a, r in waiting.rejections.items()}


async def test_lost_agent_replacement_waits_for_capacity_then_scale_down_frees_it(
        make_engine: Any, agents: list[Agent], chaos_cluster: str, record_recovery: Any) -> None:
    a1, a2 = agents
    engine = await make_engine(cpus=CPUS)
    await engine.create_app(app("/cap/web", 2))
    await engine.create_app(app("/cap/filler", 2))
    await wait_exact(engine, agents, chaos_cluster, {"/cap/web": 2, "/cap/filler": 2})
    assert {a.name: a.used.cpus for a in engine.snapshot().agents} == pytest.approx({"a1": CPUS, "a2": CPUS})

    lost = time.monotonic()
    await asyncio.to_thread(a2.kill)
    await wait_engine(engine, lambda: why(engine, "/cap/web").keys() == {"a1", "a2"}, 30,
                      "web waiting with a reason per agent")
    shown = time.monotonic() - lost
    reasons = why(engine, "/cap/web")
    assert reasons["a1"][0] == "cpus" and reasons["a1"][1].startswith("cpus: needs 0.05, free 0 of 0.1"), reasons
    assert reasons["a2"] == ("agent", "agent unreachable")
    waiting = engine.waiting["/cap/web"]
    assert waiting.count == 1 and "no agent can take 1 task(s)" in waiting.reason
    view = next(v for v in engine.snapshot().apps if v.app.id == "/cap/web")
    assert view.waiting is not None and view.running == 1
    record_recovery("(7) full cluster: lost agent -> 'why waiting' shown", shown)

    freed = time.monotonic()
    await engine.scale("/cap/filler", 0)

    async def web_back() -> bool:
        return await running_on([a1], chaos_cluster, "/cap/web") == {"a1": 2}

    await wait_engine(engine, lambda: engine.running_count("/cap/web") == 2 and "/cap/web" not in engine.waiting,
                      30, "web placed in the capacity the filler freed")
    await wait_engine(engine, web_back, 30, "web's 2 containers on a1")
    record_recovery("(7) full cluster: other app scaled down -> replacement placed", time.monotonic() - freed)

    back = time.monotonic()
    await asyncio.to_thread(a2.start)
    done = await wait_exact(engine, agents, chaos_cluster, {"/cap/web": 2, "/cap/filler": 0})
    record_recovery("(7) lost agent back (exited containers removed)", done - back)
    assert all(t.state == TaskState.RUNNING and t.agent == "a1" for t in engine.tasks.values())


async def test_drained_agent_resumed_gives_capacity_back(
        make_engine: Any, agents: list[Agent], chaos_cluster: str, record_recovery: Any) -> None:
    engine = await make_engine(cpus=CPUS)
    await engine.drain_agent("a2")
    await engine.create_app(app("/cap/filler", 2))
    await wait_exact(engine, agents, chaos_cluster, {"/cap/filler": 2})
    await engine.create_app(app("/cap/web", 2))
    await wait_engine(engine, lambda: why(engine, "/cap/web").keys() == {"a1", "a2"}, 30, "web waiting")
    reasons = why(engine, "/cap/web")
    assert reasons["a1"][0] == "cpus" and "needs 0.05, free 0 of 0.1" in reasons["a1"][1], reasons
    assert reasons["a2"] == ("agent", "agent draining")
    assert engine.waiting["/cap/web"].count == 2
    assert engine.tasks_of("/cap/web") == []
    assert await running_on(agents, chaos_cluster, "/cap/web") == {}

    resumed = time.monotonic()
    await engine.resume_agent("a2")
    done = await wait_exact(engine, agents, chaos_cluster, {"/cap/filler": 2, "/cap/web": 2})
    record_recovery("(7) drained agent resumed -> waiting app placed", done - resumed)
    assert await running_on(agents, chaos_cluster, "/cap/web") == {"a2": 2}
    assert not engine.waiting

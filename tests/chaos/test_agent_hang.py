"""(7) A hung agent: dockerd SIGSTOPped (it accepts connections and never answers). Scheduling on the other agents
goes on at its normal pace, the hung agent is marked unreachable within a few seconds, its task is replaced after
inactiveAfterSeconds, and after SIGCONT it is back and the surplus is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, TaskState
from engine.events import AgentLost, AgentReturned
from tests.chaos.conftest import Agent, describe, engine_config, running_on, sleeper, wait_engine, wait_exact
from tests.conftest import drain

pytestmark = pytest.mark.docker

CHAOS_AGENTS = ("plain", "plain")
INACTIVE = 5


def reachable(engine: Any, name: str) -> bool:
    return next(a.reachable for a in engine.snapshot().agents if a.name == name)


async def start_on_healthy(engine: Any, healthy: Agent, cluster_id: str, app_id: str) -> float:
    """Create a one-task app pinned to `healthy`; seconds until its container runs there and the engine says so."""
    created = time.monotonic()
    await engine.create_app(sleeper(app_id, 1, constraints=[["hostname", "CLUSTER", healthy.name]]))

    async def running() -> bool:
        return engine.running_count(app_id) == 1 and \
            (await running_on([healthy], cluster_id, app_id)).get(healthy.name) == 1

    await wait_engine(engine, running, 60, f"{app_id} running on {healthy.name}")  # type: ignore[arg-type]
    return time.monotonic() - created


async def test_sigstopped_agent_never_stalls_scheduling_on_the_others(
        tmp_path: Path, agents: list[Agent], chaos_cluster: str, record_recovery: Any) -> None:
    healthy, hung = agents
    config = engine_config(tmp_path, chaos_cluster, agents)
    # Both daemons run on this machine under one hostname: name each agent's host after the agent.
    config = config.model_copy(update={"agents": [a.model_copy(update={"hostname": a.name}) for a in config.agents]})
    engine = Engine(config)
    await engine.start()
    try:
        old = "/hang/old"
        await engine.create_app(sleeper(old, 2, inactive=INACTIVE, expunge=300))
        await wait_exact(engine, agents, chaos_cluster, {old: 2})
        assert await running_on(agents, chaos_cluster, old) == {healthy.name: 1, hung.name: 1}, describe(engine)
        (stranded,) = [t.task_id for t in engine.tasks_of(old) if t.agent == hung.name]
        events = engine.subscribe()

        pid = hung.daemon.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            stopped = time.monotonic()
            # The daemon has been hung for a moment (full rounds come every 0.5 s): a round is meeting it now.
            await asyncio.sleep(1.0)
            first = await start_on_healthy(engine, healthy, chaos_cluster, "/hang/during")
            record_recovery("(7) hung agent: new app on a healthy agent, created 1 s after SIGSTOP", first)
            assert first < 10, f"a new app on the healthy agent took {first:.1f} s with one agent hung"

            await wait_engine(engine, lambda: not reachable(engine, hung.name), 60, "the hung agent unreachable")
            detected = time.monotonic() - stopped
            record_recovery("(7) hung agent (SIGSTOP): marked unreachable", detected)
            assert detected < 10, f"the hung agent was marked unreachable after {detected:.1f} s"
            lost = [e for e in drain(events) if isinstance(e, AgentLost)]
            assert [e.agent for e in lost] == [hung.name], lost

            second = await start_on_healthy(engine, healthy, chaos_cluster, "/hang/after")
            record_recovery("(7) hung agent: new app on a healthy agent, created once it is unreachable", second)
            assert second < 10, f"a new app on the healthy agent took {second:.1f} s with one agent unreachable"

            async def replaced() -> bool:
                return (await running_on([healthy], chaos_cluster, old)).get(healthy.name) == 2

            await wait_engine(engine, replaced, INACTIVE + 60, "the hung agent's task replaced")  # type: ignore[arg-type]
            replacement = time.monotonic() - stopped
            record_recovery(f"(7) hung agent: its task replaced (inactiveAfterSeconds={INACTIVE})", replacement)
            assert engine.tasks[stranded].state == TaskState.UNREACHABLE, describe(engine)
            assert replacement >= INACTIVE, f"replaced after {replacement:.1f} s, before inactiveAfterSeconds"
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        await wait_engine(engine, lambda: reachable(engine, hung.name), 60, "the agent reachable again")
        record_recovery("(7) hung agent: reachable again after SIGCONT", time.monotonic() - resumed)
        assert [e.agent for e in drain(events) if isinstance(e, AgentReturned)] == [hung.name]
        done = await wait_exact(engine, agents, chaos_cluster, {old: 2, "/hang/during": 1, "/hang/after": 1})
        record_recovery("(7) hung agent back: surplus killed, exact", done - resumed)
    finally:
        await engine.stop()

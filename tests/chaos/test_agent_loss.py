"""Agents that die and come back: SIGKILL past inactiveAfterSeconds, return with or without live-restore,
and a dockerd restart (SIGTERM + start on the same data root)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from engine import TaskState
from tests.chaos.conftest import (
    Agent,
    inventory,
    running_on,
    sleeper,
    wait_engine,
    wait_exact,
)
from tests.conftest import wait_until

pytestmark = pytest.mark.docker

CHAOS_AGENTS = ("plain", "plain", "plain", "live")


def tasks_on(engine: Any, app_id: str, agent: str) -> dict[str, Any]:
    return {t.task_id: t for t in engine.tasks_of(app_id) if t.agent == agent}


async def lose_agent_past_inactive(engine: Any, lost: Agent, others: list[Agent], cluster_id: str, app_id: str,
                                   instances: int, inactive: float) -> tuple[set[str], float]:
    """SIGKILL `lost`; its tasks turn unreachable and, after `inactive` s, are replaced on `others`.
    Returns the lost task ids and the seconds from the kill to `instances` running elsewhere."""
    gone = set(tasks_on(engine, app_id, lost.name))
    assert gone, "the lost agent ran no task of the app"
    started = time.monotonic()
    await asyncio.to_thread(lost.kill)
    await wait_until(lambda: all(engine.tasks[t].state == TaskState.UNREACHABLE for t in gone), 10,
                     message="tasks of the killed agent unreachable")

    async def replaced() -> bool:
        return sum((await running_on(others, cluster_id, app_id)).values()) == instances

    await wait_until(replaced, inactive + 30, interval=0.2, message="replacements on the other agents")
    elapsed = time.monotonic() - started
    assert elapsed >= inactive - 0.5, f"replaced after {elapsed:.1f}s, before inactiveAfterSeconds={inactive}"
    # Still known, as unreachable: not expunged, not counted.
    assert all(engine.tasks[t].state == TaskState.UNREACHABLE for t in gone)
    running = [t for t in engine.tasks_of(app_id) if t.state == TaskState.RUNNING]
    assert len(running) == instances and all(t.agent != lost.name for t in running)
    # While the agent stays down the loop keeps its pace (reconcile_interval 0.5 s), it does not spin.
    rounds = engine.stats.rounds
    await asyncio.sleep(1.0)
    assert engine.stats.rounds - rounds < 20, f"{engine.stats.rounds - rounds} reconcile rounds in 1 s"
    return gone, elapsed


async def test_agent_sigkill_replaced_then_back_without_live_restore(
        make_engine: Any, agents: list[Agent], chaos_cluster: str, record_recovery: Any) -> None:
    """(2) + (3), no live-restore: the returning daemon's containers come back exited; they are removed and
    the app stays at exactly `instances` (no relaunch, no kill of the replacements)."""
    a1, a2, a3, _ = agents
    used = [a1, a2, a3]
    engine = await make_engine(used)
    app_id = "/loss/plain"
    await engine.create_app(sleeper(app_id, 3, inactive=3, expunge=120))
    await wait_exact(engine, used, chaos_cluster, {app_id: 3})
    assert await running_on(used, chaos_cluster, app_id) == {"a1": 1, "a2": 1, "a3": 1}, "spread: one per agent"

    gone, elapsed = await lose_agent_past_inactive(engine, a1, [a2, a3], chaos_cluster, app_id, 3, 3)
    record_recovery("(2) agent SIGKILL -> replaced on others (inactive=3s)", elapsed)
    replacements = {t.task_id for t in engine.tasks_of(app_id) if t.state == TaskState.RUNNING}
    launches = engine.stats.launches

    back = time.monotonic()
    await asyncio.to_thread(a1.start)
    done = await wait_exact(engine, used, chaos_cluster, {app_id: 3})
    record_recovery("(3) agent back, no live-restore: exited containers removed", done - back)
    # The agent failed, not the app: no lastTaskFailure, no launch delay.
    assert app_id not in engine.failures and app_id not in engine.backoff
    assert {t.task_id for t in engine.tasks_of(app_id)} == replacements, "the replacements stay"
    assert not gone & set(engine.tasks), "the lost tasks are forgotten"
    assert engine.stats.launches == launches, "nothing relaunched"
    assert a1.containers() == [], "the dead containers are removed from the returning daemon"


async def test_agent_sigkill_replaced_then_back_with_live_restore(
        make_engine: Any, agents: list[Agent], chaos_cluster: str, record_recovery: Any) -> None:
    """(2) + (3), live-restore: the returning daemon's containers still run; the surplus is killed."""
    a1, a2, _, live = agents
    used = [a1, a2, live]
    engine = await make_engine(used)
    app_id = "/loss/live"
    await engine.create_app(sleeper(app_id, 3, inactive=3, expunge=120))
    await wait_exact(engine, used, chaos_cluster, {app_id: 3})
    survivors = {row["Id"] for row in live.containers()}
    assert len(survivors) == 1

    _, elapsed = await lose_agent_past_inactive(engine, live, [a1, a2], chaos_cluster, app_id, 3, 3)
    record_recovery("(2) live-restore agent SIGKILL -> replaced on others", elapsed)

    launches, kills = engine.stats.launches, engine.stats.kills

    back = time.monotonic()
    await asyncio.to_thread(live.start)
    assert {row["Id"] for row in live.containers(status="running")} == survivors, "live-restore kept it running"
    done = await wait_exact(engine, used, chaos_cluster, {app_id: 3})
    record_recovery("(3) agent back, live-restore: surplus killed", done - back)
    seen = await asyncio.to_thread(inventory, used, chaos_cluster)
    assert len(seen) == 3 and len({s.task_id for s in seen}) == 3
    assert (engine.stats.launches, engine.stats.kills) == (launches, kills + 1), "exactly one surplus killed"


async def test_live_restore_agent_back_after_expunge_is_adopted_and_surplus_killed(
        make_engine: Any, agents: list[Agent], chaos_cluster: str, record_recovery: Any) -> None:
    """Past expungeAfterSeconds the lost tasks are forgotten; their containers, still running on the returning
    live-restore daemon, are adopted (a known app's labels) and the surplus is killed."""
    a1, _, _, live = agents
    used = [a1, live]
    engine = await make_engine(used)
    app_id = "/loss/expunged"
    await engine.create_app(sleeper(app_id, 2, inactive=2, expunge=4))
    await wait_exact(engine, used, chaos_cluster, {app_id: 2})
    (lost,) = tasks_on(engine, app_id, live.name).values()

    await asyncio.to_thread(live.kill)
    await wait_engine(engine, lambda: lost.task_id not in engine.tasks and engine.running_count(app_id) == 2, 30,
                      "the lost task expunged and replaced")
    assert await running_on([a1], chaos_cluster, app_id) == {"a1": 2}

    back = time.monotonic()
    await asyncio.to_thread(live.start)
    done = await wait_exact(engine, used, chaos_cluster, {app_id: 2})
    record_recovery("live-restore agent back after expunge: adopted, surplus killed", done - back)
    seen = await asyncio.to_thread(inventory, used, chaos_cluster)
    assert len({s.task_id for s in seen}) == 2


async def test_dockerd_restart_relaunches_tasks_that_died_with_it(
        make_engine: Any, agents: list[Agent], chaos_cluster: str, record_recovery: Any) -> None:
    """(4) SIGTERM + start without live-restore: the daemon stopped its containers; the task is relaunched by
    pacer (docker's restart policy stays `no`, the dead container is not restarted but removed)."""
    a1, a2, _, _ = agents
    used = [a1, a2]
    engine = await make_engine(used)
    app_id = "/restart/plain"
    await engine.create_app(sleeper(app_id, 2, inactive=120, expunge=600))
    await wait_exact(engine, used, chaos_cluster, {app_id: 2})
    (old_task,) = tasks_on(engine, app_id, "a1").values()

    fault = time.monotonic()
    await asyncio.to_thread(a1.stop)
    await asyncio.to_thread(a1.start)
    back = time.monotonic()
    done = await wait_exact(engine, used, chaos_cluster, {app_id: 2})
    # dockerd stops its containers before it stops answering (open keep-alive connections are still
    # served): the engine usually sees the exit (143: SIGTERM through docker-init) as any other exit, a
    # failure with the app's launch backoff; seen only once the agent was unreachable, it is TASK_GONE.
    failure = engine.failures.get(app_id)
    assert failure is None or (failure["taskId"] == old_task.task_id and failure["message"] in (
        "exited with code 143", "exited with code 137")), failure
    record_recovery("(4) dockerd restart, no live-restore: relaunched (from SIGTERM)", done - fault,
                    from_daemon_back=round(max(done - back, 0), 2))
    assert old_task.task_id not in engine.tasks
    assert all(row["Id"] != old_task.container_id for row in a1.containers()), "the dead container is removed"
    for agent in used:
        for row in agent.containers():
            policy = agent.client.api.inspect_container(row["Id"])["HostConfig"]["RestartPolicy"]
            assert policy["Name"] == "no"


async def test_dockerd_restart_with_live_restore_adopts_survivors(
        make_engine: Any, agents: list[Agent], chaos_cluster: str, record_recovery: Any) -> None:
    """(4) SIGTERM + start with live-restore: the containers survive and the same tasks carry on."""
    a1, _, _, live = agents
    used = [a1, live]
    engine = await make_engine(used)
    app_id = "/restart/live"
    await engine.create_app(sleeper(app_id, 2, inactive=120, expunge=600))
    await wait_exact(engine, used, chaos_cluster, {app_id: 2})
    before = {t.task_id: t.container_id for t in engine.tasks_of(app_id)}
    launches, kills = engine.stats.launches, engine.stats.kills

    fault = time.monotonic()
    await asyncio.to_thread(live.stop)
    await wait_until(lambda: any(t.state == TaskState.UNREACHABLE for t in engine.tasks_of(app_id)), 10,
                     message="the task on the stopped daemon unreachable")
    await asyncio.to_thread(live.start)
    back = time.monotonic()
    done = await wait_exact(engine, used, chaos_cluster, {app_id: 2})
    record_recovery("(4) dockerd restart, live-restore: survivors adopted (from daemon back)", max(done - back, 0),
                    from_fault=round(done - fault, 2))
    assert {t.task_id: t.container_id for t in engine.tasks_of(app_id)} == before, "same tasks, same containers"
    assert (engine.stats.launches, engine.stats.kills) == (launches, kills), "nothing launched or killed"

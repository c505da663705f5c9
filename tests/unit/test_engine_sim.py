"""The whole engine (store, reconcile, executor, deployments) on simulated agents."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import AsyncIterator

import pytest

from engine import DeploymentConflict, Engine, TaskState
from engine.agents.sim import SimAgent
from engine.api.event_json import event_json
from engine.config import PacerConfig, SchedulerConfig
from engine.model.ids import attempt_of, instance_of
from tests.conftest import wait_until


def sim_config(tmp_path: Path) -> PacerConfig:
    return PacerConfig(scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), default_image="busybox:latest",
                                                 cluster_id="simtest", reconcile_interval=0.2,
                                                 orphan_grace_seconds=0.5))


def app(app_id: str = "/web", instances: int = 2, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {"id": app_id, "cmd": "serve", "cpus": 0.5, "mem": 64, "instances": instances,
                               "container": {"type": "DOCKER", "docker": {"image": "img:1"}}}
    body.update(kw)
    return body


@pytest.fixture
def agents() -> dict[str, SimAgent]:
    return {f"s{i}": SimAgent(f"s{i}", cpus=2, mem_mib=1024) for i in (1, 2)}


@pytest.fixture
async def engine(tmp_path: Path, agents: dict[str, SimAgent]) -> AsyncIterator[Engine]:
    e = Engine(sim_config(tmp_path), drivers=agents)
    await e.start()
    yield e
    await e.stop()


async def test_create_scale_and_finish_deployments(engine: Engine) -> None:
    dep = await engine.create_app(app(instances=3))
    assert [d.id for d in engine.deployments.values()] == [dep.id]
    await wait_until(lambda: engine.converged("/web") and not engine.deployments, 5, message="deployed")
    assert sorted(t.agent for t in engine.tasks_of("/web")).count("s1") in (1, 2), "spread over agents"
    await engine.scale("/web", 1)
    await wait_until(lambda: engine.converged("/web") and len(engine.tasks_of("/web")) == 1, 5, message="scaled")


async def test_second_change_conflicts_unless_forced(engine: Engine, agents: dict[str, SimAgent]) -> None:
    # 20 cpus cannot fit: the deployment stays running and locks the app.
    first = await engine.create_app(app(cpus=20, instances=1))
    await engine.wait_for_round()
    with pytest.raises(DeploymentConflict) as info:
        await engine.scale("/web", 2)
    assert info.value.deployment_ids == [first.id]
    waiting = engine.waiting["/web"]
    assert {r.step for r in waiting.rejections.values()} == {"cpus"}
    forced = await engine.put_app({"cpus": 0.5}, app_id="/web", force=True)
    assert list(engine.deployments) == [forced.id]
    await wait_until(lambda: engine.converged("/web"), 5, message="forced deployment converged")


async def test_cancel_rolls_back_to_previous_version(engine: Engine) -> None:
    await engine.create_app(app(instances=2))
    await wait_until(lambda: engine.converged("/web") and not engine.deployments, 5, message="v1 running")
    v1_tasks = {t.task_id for t in engine.tasks_of("/web")}
    v1_config = engine.get_app("/web").version_info["lastConfigChangeAt"]
    # v2 can never be placed (too big): old tasks keep serving, deployment stuck with a reason.
    bad = await engine.put_app({"cpus": 50}, app_id="/web")
    await engine.wait_for_round()
    await engine.wait_for_round()
    assert {t.task_id for t in engine.tasks_of("/web")} >= v1_tasks
    assert "cpus" in (engine.deployments[bad.id].reason or "")
    rollback = await engine.cancel_deployment(bad.id)
    assert rollback is not None and rollback.rollback_of == bad.id
    await wait_until(lambda: engine.converged("/web") and not engine.deployments, 5, message="rolled back")
    assert engine.get_app("/web").cpus == 0.5
    assert engine.get_app("/web").version_info["lastConfigChangeAt"] == v1_config
    assert {t.task_id for t in engine.tasks_of("/web")} == v1_tasks, "the old tasks were kept"


async def test_crashed_task_is_replaced_after_backoff(engine: Engine, agents: dict[str, SimAgent]) -> None:
    await engine.create_app(app(instances=1, backoffSeconds=1))
    await wait_until(lambda: engine.converged("/web"), 5, message="running")
    (task,) = engine.tasks_of("/web")
    agents[task.agent].crash(task.container_id or "", exit_code=2)
    await wait_until(lambda: task.task_id not in engine.tasks, 5, message="failure noticed")
    assert engine.backoff["/web"].delay == pytest.approx(1.0)
    assert engine.failures["/web"]["state"] == TaskState.FAILED.value
    await wait_until(lambda: engine.converged("/web"), 5, message="replaced")


async def test_restart_adopts_and_does_not_relaunch(tmp_path: Path, agents: dict[str, SimAgent]) -> None:
    first = Engine(sim_config(tmp_path), drivers=agents)
    await first.start()
    await first.create_app(app(instances=3))
    await wait_until(lambda: first.converged("/web"), 5, message="running")
    before = {t.task_id: t.container_id for t in first.tasks_of("/web")}
    launches = sum(a.launch_count for a in agents.values())
    await first.stop()
    second = Engine(sim_config(tmp_path), drivers=agents)
    await second.start()
    try:
        for _ in range(3):
            await second.wait_for_round()
        assert {t.task_id: t.container_id for t in second.tasks_of("/web")} == before
        assert sum(a.launch_count for a in agents.values()) == launches
    finally:
        await second.stop()


async def test_delete_kills_everything(engine: Engine, agents: dict[str, SimAgent]) -> None:
    await engine.create_app(app(instances=2))
    await wait_until(lambda: engine.converged("/web"), 5, message="running")
    await engine.delete_app("/web")
    await wait_until(lambda: not engine.tasks and not engine.deployments, 5, message="deleted")
    for a in agents.values():
        assert await a.list_containers("simtest") == []


async def test_unreachable_agent_tasks_replaced_elsewhere(engine: Engine, agents: dict[str, SimAgent]) -> None:
    await engine.create_app(app(instances=2, constraints=[], unreachableStrategy={"inactiveAfterSeconds": 0,
                                                                                 "expungeAfterSeconds": 0}))
    await wait_until(lambda: engine.converged("/web"), 5, message="running")
    agents["s1"].reachable = False
    await wait_until(lambda: engine.running_count("/web") == 2 and all(t.agent == "s2" for t in engine.tasks_of("/web")),
                     5, message="all on s2")


async def test_drain_moves_tasks_and_survives_restart(tmp_path: Path, agents: dict[str, SimAgent]) -> None:
    e = Engine(sim_config(tmp_path), drivers=agents)
    await e.start()
    try:
        await e.create_app(app(instances=2))
        await wait_until(lambda: e.converged("/web"), 5, message="running")
        await e.drain_agent("s1")
        await wait_until(lambda: e.converged("/web") and all(t.agent == "s2" for t in e.tasks_of("/web")), 5,
                         message="everything moved to s2")
        assert [a.draining for a in e.snapshot().agents] == [True, False]
    finally:
        await e.stop()
    again = Engine(sim_config(tmp_path), drivers=agents)
    await again.start()
    try:
        assert [a.draining for a in again.snapshot().agents] == [True, False]
        await again.resume_agent("s1")
        await again.scale("/web", 4)
        await wait_until(lambda: again.converged("/web") and {t.agent for t in again.tasks_of("/web")} == {"s1", "s2"},
                         5, message="s1 takes tasks again")
    finally:
        await again.stop()


async def test_priority_and_preemption_on_a_full_sim_cluster(tmp_path: Path, agents: dict[str, SimAgent]) -> None:
    config = sim_config(tmp_path)
    config = config.model_copy(update={"scheduler": config.scheduler.model_copy(update={"preemption": True})})
    e = Engine(config, drivers=agents)
    await e.start()
    try:
        # 2 agents x 2 cpus: the low-priority app fills the cluster.
        await e.create_app(app("/low", instances=4, cpus=1, upgradeStrategy={"minimumHealthCapacity": 0.5,
                                                                             "maximumOverCapacity": 0}))
        await wait_until(lambda: e.converged("/low"), 5, message="low fills the cluster")
        statuses = e.subscribe(event_types=frozenset({"status_update_event"}))
        await e.create_app(app("/high", instances=2, cpus=1, labels={"pacer.priority": "10"}))
        await e.wait_for_round()
        assert "priority 10: waiting for 2 lower-priority task(s) to stop" in e.waiting["/high"].reason
        await wait_until(lambda: e.converged("/high"), 10, message="high placed by preemption")
        assert len(e.tasks_of("/low")) == 2, "two low tasks stopped, two kept (minimumHealthCapacity 0.5)"
        assert e.waiting["/low"].count == 2
        preempted = set()
        while not statuses.queue.empty():
            event = statuses.queue.get_nowait()
            if event is not None and event_json(event)["message"] == "preempted by /high (priority 10 > 0)":
                preempted.add(event_json(event)["taskId"])
        assert len(preempted) == 2
    finally:
        await e.stop()


class SlowRemovalAgent(SimAgent):
    """Removals wait until the test lets them finish, as a busy daemon's would."""

    def __init__(self, name: str) -> None:
        super().__init__(name, cpus=2, mem_mib=1024)
        self.removals: list[str] = []
        self.release = asyncio.Event()

    async def remove(self, container_id: str) -> None:
        self.removals.append(container_id)
        await self.release.wait()
        await super().remove(container_id)


async def test_a_container_being_removed_is_not_adopted_when_it_starts(tmp_path: Path) -> None:
    agent = SlowRemovalAgent("s1")
    engine = Engine(sim_config(tmp_path), drivers={"s1": agent})
    await engine.start()
    try:
        await engine.create_app(app(instances=1))
        await wait_until(lambda: engine.converged("/web"), 5, message="running")
        # A leftover of an interrupted launch: created by an engine that died, with no task record.
        running = next(iter(agent._containers.values()))
        leftover = replace(running.observed, container_id="sim-leftover", task_id="web.instance-lost._app.1",
                           state="created", started_at=None)
        agent._containers["sim-leftover"] = replace(running, observed=leftover, logs=[])
        agent._changed()
        await wait_until(lambda: agent.removals == ["sim-leftover"], 5, message="its removal under way")
        # The dead engine's start lands while the removal is still under way.
        agent._containers["sim-leftover"].observed = replace(leftover, state="running", started_at=time.time())
        rounds = engine.stats.rounds
        agent._changed()
        await wait_until(lambda: engine.stats.rounds >= rounds + 3, 5, message="rounds that list the agent")
        assert [t.container_id for t in engine.tasks_of("/web")] == [running.observed.container_id]
        assert agent.removals == ["sim-leftover"], "one removal, not one per round"
        agent.release.set()
        await wait_until(lambda: "sim-leftover" not in agent._containers, 5, message="removed")
        await engine.wait_for_round()
        assert engine.converged("/web") and len(agent._containers) == 1
    finally:
        agent.release.set()
        await engine.stop()


async def test_a_failed_instance_keeps_its_next_attempt_across_an_engine_restart(
        tmp_path: Path, agents: dict[str, SimAgent]) -> None:
    first = Engine(sim_config(tmp_path), drivers=agents)
    await first.start()
    await first.create_app(app(instances=1, backoffSeconds=30))
    await wait_until(lambda: first.converged("/web"), 5, message="running")
    (crashed,) = first.tasks_of("/web")
    agents[crashed.agent].crash(crashed.container_id or "", exit_code=2)
    await wait_until(lambda: not first.tasks_of("/web"), 5, message="failure noticed; the backoff holds the next")
    await first.stop()
    second = Engine(sim_config(tmp_path), drivers=agents)
    await second.start()
    try:
        second.backoff.pop("/web")  # no need to wait 30 s: the backoff is not what this test is about
        second.wake("/web")
        await wait_until(lambda: second.converged("/web"), 5, message="replaced")
        (replacement,) = second.tasks_of("/web")
        assert instance_of(replacement.task_id) == instance_of(crashed.task_id)
        assert attempt_of(replacement.task_id) == 2
    finally:
        await second.stop()


async def test_the_engine_keeps_max_versions_per_app(tmp_path: Path, agents: dict[str, SimAgent]) -> None:
    base = sim_config(tmp_path)
    config = base.model_copy(update={"scheduler": base.scheduler.model_copy(update={"max_versions": 3})})
    async with Engine(config, drivers=agents) as e:
        await e.create_app(app(instances=1))
        for cpus in (0.1, 0.2, 0.3, 0.4, 0.25):
            await e.put_app({"cpus": cpus}, app_id="/web", force=True)
        await wait_until(lambda: e.converged("/web"), 5, message="the last version runs")
        versions = e.app_versions("/web")
        assert len(versions) == 3 and e.get_app("/web").version in versions, versions


async def test_scale_refuses_more_than_the_instance_limit(engine: Engine) -> None:
    from engine import AppValidationError
    from engine.model.limits import MAX_INSTANCES

    await engine.create_app(app(instances=1))
    with pytest.raises(AppValidationError) as info:
        await engine.scale("/web", MAX_INSTANCES + 1)
    assert info.value.errors[0].path == "/instances"

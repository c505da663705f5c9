"""A supervised engine: a crash in a round, a job or a loop is logged at once with its traceback, the part
starts again, and health_status() says what is degraded. The state files are private."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest

from engine import Engine
from engine.agents.base import TaskSpec
from engine.agents.sim import SimAgent
from engine.config import PacerConfig, SchedulerConfig
from engine.scheduler.state import ObservedContainer
from engine.store import Store
from engine.supervisor import Supervisor
from tests.conftest import wait_until


def config(tmp_path: Path) -> PacerConfig:
    return PacerConfig(scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), default_image="busybox:latest",
                                                 cluster_id="suptest", reconcile_interval=0.2,
                                                 orphan_grace_seconds=0.5))


def app(app_id: str, instances: int = 1, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {"id": app_id, "cmd": "serve", "cpus": 0.1, "mem": 16, "instances": instances,
                               "container": {"type": "DOCKER", "docker": {"image": "img:1"}}}
    body.update(kw)
    return body


class FaultyAgent(SimAgent):
    """A sim agent with bugs on demand: `list_fails` / `launch_fails` calls raise a RuntimeError (not an
    AgentError: a bug, which nothing on the way expects)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, cpus=4, mem_mib=4096)
        self.list_fails = 0
        self.launch_fails = 0
        self.watch_fails = 0
        self.watches = 0

    async def watch(self, cluster_id: str, on_change: Callable[[], None]) -> None:
        self.watches += 1
        if self.watch_fails:
            self.watch_fails -= 1
            raise RuntimeError("watcher exploded")
        await super().watch(cluster_id, on_change)

    async def list_containers(self, cluster_id: str) -> list[ObservedContainer]:
        if self.list_fails:
            self.list_fails -= 1
            raise RuntimeError("listing exploded")
        return await super().list_containers(cluster_id)

    async def launch(self, spec: TaskSpec) -> ObservedContainer:
        if self.launch_fails:
            self.launch_fails -= 1
            raise RuntimeError("launch exploded")
        return await super().launch(spec)


@pytest.fixture
def agent() -> FaultyAgent:
    return FaultyAgent("f1")


@pytest.fixture
async def engine(tmp_path: Path, agent: FaultyAgent) -> AsyncIterator[Engine]:
    e = Engine(config(tmp_path), drivers={"f1": agent})
    await e.start()
    try:
        yield e
    finally:
        await e.stop()


def crash_records(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    """Records that carry the traceback of an exception whose text has `words`."""
    return [r for r in caplog.records if r.exc_info and r.exc_info[1] is not None and words in str(r.exc_info[1])]


async def test_a_bug_in_a_round_is_logged_at_once_and_the_loop_goes_on(
        engine: Engine, agent: FaultyAgent, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await wait_until(lambda: engine.stats.rounds >= 1, 10, message="first round")
    agent.list_fails = 1
    await engine.create_app(app("/first"))  # wakes the loop: its round meets the bug
    await wait_until(lambda: crash_records(caplog, "listing exploded"), 10, message="the crash logged")
    (record,) = crash_records(caplog, "listing exploded")
    assert record.levelno == logging.ERROR and "reconcile round failed" in record.getMessage()
    # The loop goes on: the app of the failed round runs, and so does one created after.
    await engine.create_app(app("/second"))
    await wait_until(lambda: engine.running_count("/first") == 1 and engine.running_count("/second") == 1, 15,
                     message="both apps running after the crash")
    loop = next(p for p in engine.health_status().parts if p.name == "loop")
    assert loop.ok, loop


async def test_a_round_that_keeps_failing_shows_as_degraded_then_recovers(
        engine: Engine, agent: FaultyAgent, caplog: pytest.LogCaptureFixture) -> None:
    await wait_until(lambda: engine.health_status().ready, 10, message="ready at start")
    agent.list_fails = 4
    engine.wake()
    await wait_until(lambda: not engine.health_status().ready, 10, message="degraded")
    health = engine.health_status()
    loop = next(p for p in health.parts if p.name == "loop")
    assert loop.state == "degraded" and "RuntimeError: listing exploded" in (loop.reason or "")
    assert loop.since is not None and health.summary().startswith("degraded: loop: reconcile round failed")
    await wait_until(lambda: engine.health_status().ready, 20, message="ready again once rounds go through")
    # Four crashes, but the same one: logged with its traceback once, not four times within the minute.
    assert len(crash_records(caplog, "listing exploded")) == 1


async def test_a_crashed_launch_job_is_logged_and_its_task_reconciled(
        engine: Engine, agent: FaultyAgent, caplog: pytest.LogCaptureFixture) -> None:
    agent.launch_fails = 1
    await engine.create_app(app("/web"))
    await wait_until(lambda: crash_records(caplog, "launch exploded"), 10, message="the crashed job logged")
    (record,) = crash_records(caplog, "launch exploded")
    assert record.name == "pacer.supervisor" and "executor: launch web.instance-" in record.getMessage()
    executor = next(p for p in engine.health_status().parts if p.name == "executor")
    assert executor.state == "degraded" and "launch exploded" in (executor.reason or "")
    # Nothing is in flight any more: the next rounds see no container and replace the task.
    await wait_until(lambda: engine.running_count("/web") == 1, 30, message="the task replaced and running")
    assert agent.launch_fails == 0


async def test_a_crashed_agent_watcher_is_logged_and_started_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    agent = FaultyAgent("f1")
    agent.watch_fails = 1  # its first event watcher dies at once
    async with Engine(config(tmp_path), drivers={"f1": agent}) as engine:
        await watcher_crash_is_survived(engine, agent, caplog)


async def watcher_crash_is_survived(engine: Engine, agent: FaultyAgent, caplog: pytest.LogCaptureFixture) -> None:
    await wait_until(lambda: crash_records(caplog, "watcher exploded"), 10, message="the crashed watcher logged")
    await wait_until(lambda: agent.watches == 2 and agent.watch_fails == 0, 10, message="watching again")
    part = next(p for p in engine.health_status().parts if p.name == "agent watchers")
    assert part.state == "degraded" and "watch f1: RuntimeError: watcher exploded" == part.reason
    # The watcher works again: a container that ends is a hint the engine acts on at once.
    await engine.create_app(app("/web"))
    await wait_until(lambda: engine.running_count("/web") == 1, 10, message="running")
    (task,) = engine.tasks_of("/web")
    assert task.container_id
    agent.crash(task.container_id)
    await wait_until(lambda: engine.tasks_of("/web") and engine.tasks_of("/web")[0].task_id != task.task_id, 10,
                     message="the crashed task replaced")


async def test_a_crashed_health_probe_loop_is_restarted(engine: Engine, caplog: pytest.LogCaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    prober = engine._health.prober
    real = prober.probe
    calls = {"n": 0}

    async def probe(task, check):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("probe exploded")
        return await real(task, check)

    monkeypatch.setattr(prober, "probe", probe)
    check = {"protocol": "COMMAND", "command": {"value": "true"}, "intervalSeconds": 1, "gracePeriodSeconds": 0}
    await engine.create_app(app("/checked", healthChecks=[check]))
    await wait_until(lambda: crash_records(caplog, "probe exploded"), 10, message="the crashed probe loop logged")
    await wait_until(lambda: calls["n"] >= 3, 15, message="the probe loop running again")


async def test_supervised_loop_restarts_with_backoff_and_its_part_clears_when_quiet(
        caplog: pytest.LogCaptureFixture) -> None:
    sup = Supervisor(quiet_seconds=0.5, backoff=(0.01, 2.0, 0.05))
    runs = {"n": 0}

    async def flaky() -> None:
        runs["n"] += 1
        if runs["n"] <= 3:
            raise ValueError(f"crash {runs['n']}")
        await asyncio.Event().wait()

    task = sup.keep_running("autoscaler", flaky, "flaky loop")
    try:
        await wait_until(lambda: runs["n"] == 4, 5, message="restarted after three crashes")
        part = sup.part("autoscaler")
        assert part.state == "degraded" and part.failures == 3 and "crash 3" in (part.reason or "")
        assert len(crash_records(caplog, "crash")) == 3, "each different crash logged with its traceback"
        await wait_until(lambda: sup.part("autoscaler").ok, 5, message="fine again after a quiet while")
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_state_database_and_its_companions_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "state.db"
        store = Store(path)
        store.put_apps([{"id": "/a", "version": "v1", "env": {"TOKEN": "secret"}}])
        names = ["state.db", "state.db-wal", "state.db-shm"]
        modes = {n: stat.S_IMODE(os.stat(tmp_path / n).st_mode) for n in names}
        assert modes == dict.fromkeys(names, 0o600)
        store.close()
        # A file left readable by an older version is made private when opened.
        os.chmod(path, 0o644)
        Store(path).close()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        os.umask(old)

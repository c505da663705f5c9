"""Chaos scenario (5): kill -9 the `pacer --serve` agent process under a running app.

The engine marks the agent unreachable and its tasks TASK_UNREACHABLE; the
containers keep running on dockerd. When the agent process is back (same state
dir, certificate and token) the engine marks it reachable and the same tasks
are RUNNING again on the same containers, with no duplicate launched.

Reports the recovery time (agent listening again -> every task RUNNING) with
the detection time (kill -> unreachable) through the chaos suite's
`record_recovery` when present (printed otherwise); nothing asserts on them
beyond the waiting deadlines.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from engine import AgentConfig, Engine, PacerConfig, SchedulerConfig, TaskState
from tests.agent.process import AgentProcess
from tests.conftest import wait_until

pytestmark = pytest.mark.docker

APP = {
    "id": "/chaos/agent", "cmd": "exec sleep 600", "cpus": 0.05, "mem": 16, "instances": 3,
    "networks": [{"mode": "container/bridge"}],
    "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}},
}


def running_ids(client: Any, cluster_id: str) -> set[str]:
    return {c.id for c in client.containers.list(all=True, sparse=True, filters={"label": f"pacer.cluster={cluster_id}"})}


def agent_view(engine: Engine) -> Any:
    return next(a for a in engine.snapshot().agents if a.name == "remote")


def states(engine: Engine) -> list[TaskState]:
    return [t.state for t in engine.tasks_of(APP["id"])]


def report(request: pytest.FixtureRequest, name: str, seconds: float, **details: Any) -> None:
    """Into the chaos suite's recovery table when its `record_recovery` fixture exists, else printed."""
    try:
        record = request.getfixturevalue("record_recovery")
    except pytest.FixtureLookupError:
        print(f"\nrecovery: {name}: {seconds:.2f} s {details}")
        return
    record(name, seconds, **details)


async def test_kill9_agent_process_unreachable_then_recovered(
    tmp_path: Path, docker_url: str, docker_client: Any, cleanup_cluster: str, request: pytest.FixtureRequest
) -> None:
    agent = AgentProcess(tmp_path / "agent", docker_url)
    agent.start()
    config = PacerConfig(
        scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), cluster_id=cleanup_cluster,
                                  reconcile_interval=0.5, orphan_grace_seconds=5),
        agents=[AgentConfig(name="remote", url=agent.url, token_file=str(agent.token_file),
                            tls_fingerprint=agent.fingerprint, timeout=3)],
    )
    try:
        async with Engine(config) as engine:
            await engine.create_app(APP)
            await wait_until(lambda: engine.converged(APP["id"]), 60, message="3 tasks running")
            before_tasks = {t.task_id: t.container_id for t in engine.tasks_of(APP["id"])}
            before_containers = running_ids(docker_client, cleanup_cluster)
            assert len(before_containers) == 3 and set(before_tasks.values()) == before_containers
            launches = engine.stats.launches

            killed_at = time.monotonic()
            agent.kill9()
            await wait_until(lambda: not agent_view(engine).reachable, 30, message="agent marked unreachable")
            unreachable_at = time.monotonic()
            await wait_until(lambda: states(engine) == [TaskState.UNREACHABLE] * 3, 30,
                             message="tasks TASK_UNREACHABLE")
            assert agent_view(engine).error
            # the containers do not depend on the agent process
            assert running_ids(docker_client, cleanup_cluster) == before_containers

            back_at = agent.start()
            await wait_until(lambda: agent_view(engine).reachable and states(engine) == [TaskState.RUNNING] * 3,
                             60, interval=0.02, message="agent reachable and tasks RUNNING again")
            recovered_at = time.monotonic()

            after_tasks = {t.task_id: t.container_id for t in engine.tasks_of(APP["id"])}
            assert after_tasks == before_tasks  # the same tasks on the same containers
            assert running_ids(docker_client, cleanup_cluster) == before_containers  # no duplicates
            assert engine.stats.launches == launches
            report(request, "(5) pacer agent kill -9: agent back -> tasks RUNNING", recovered_at - back_at,
                   detected_after=round(unreachable_at - killed_at, 2), down_for=round(back_at - killed_at, 2))
            # and it keeps working: one more instance launches through the restarted agent
            await engine.scale(APP["id"], 4)
            await wait_until(lambda: engine.converged(APP["id"]), 60, message="scaled to 4 after recovery")
    finally:
        agent.cleanup()

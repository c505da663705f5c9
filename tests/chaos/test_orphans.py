"""Orphans on the agents: a container with this cluster's labels that matches no task is removed after
orphan_grace_seconds; one of a known app is adopted (and the surplus killed); containers of another
cluster id or without labels on the same daemons are never touched."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from typing import Any

import pytest

from tests.chaos.conftest import BUSYBOX, Agent, sleeper, wait_engine, wait_exact

pytestmark = pytest.mark.docker

CHAOS_AGENTS = ("plain", "plain")
GRACE = 2.0


def run_container(agent: Agent, labels: dict[str, str], *, exit_at_once: bool = False) -> str:
    api = agent.client.api
    created = api.create_container(
        BUSYBOX, ["sh", "-c", "exit 3" if exit_at_once else "exec sleep 3600"], labels=labels,
        host_config=api.create_host_config(init=True), name=f"chaos-{uuid.uuid4().hex[:8]}")
    api.start(created["Id"])
    if exit_at_once:
        api.wait(created["Id"], timeout=10)
    return str(created["Id"])


def pacer_labels(cluster_id: str, app_id: str, version: str = "2020-01-01T00:00:00.000Z") -> dict[str, str]:
    return {"pacer.cluster": cluster_id, "pacer.app": app_id,
            "pacer.task": f"{app_id.strip('/').replace('/', '_')}.instance-{uuid.uuid4()}._app.1",
            "pacer.version": version, "pacer.config-version": version}


def state_of(agent: Agent, container_id: str) -> str | None:
    rows = agent.containers(id=container_id)
    return str(rows[0]["State"]) if rows else None


async def test_orphans_removed_after_grace_and_foreign_containers_untouched(
        make_engine: Any, agents: list[Agent], chaos_cluster: str, record_recovery: Any) -> None:
    a1, a2 = agents
    engine = await make_engine(orphan_grace=GRACE)
    app_id = "/orph/app"
    await engine.create_app(sleeper(app_id, 1))
    await wait_exact(engine, agents, chaos_cluster, {app_id: 1})
    version = engine.get_app(app_id).version_info["lastConfigChangeAt"]

    foreign = [
        (a1, run_container(a1, pacer_labels(f"other-{chaos_cluster}", app_id, version))),  # another cluster
        (a2, run_container(a2, pacer_labels(f"other-{chaos_cluster}", "/orph/ghost"))),
        (a1, run_container(a1, {})),  # no labels at all
        (a2, run_container(a2, {"app": "mine", "pacer.app": app_id})),  # not this cluster's label
    ]
    created = time.monotonic()
    ghost = run_container(a2, pacer_labels(chaos_cluster, "/orph/ghost"))
    dead = run_container(a1, pacer_labels(chaos_cluster, "/orph/ghost"), exit_at_once=True)
    stray = run_container(a1, pacer_labels(chaos_cluster, app_id, version))  # a known app, an unknown task

    await wait_engine(engine, lambda: state_of(a1, dead) is None, 10, "the exited orphan removed")
    dead_gone = time.monotonic() - created
    seen_ghost: list[float] = []

    def ghost_gone() -> bool:
        if state_of(a2, ghost) is None:
            seen_ghost.append(time.monotonic())
            return True
        return False

    await wait_engine(engine, ghost_gone, 20, "the running orphan removed")
    ghost_gone_after = seen_ghost[0] - created
    assert ghost_gone_after >= GRACE - 0.3, f"removed after {ghost_gone_after:.1f}s, before the grace period"
    assert dead_gone < GRACE + 1.5, "a stopped container without a task needs no grace"
    record_recovery("orphan (running, unknown app) removed after grace=2s", ghost_gone_after)
    record_recovery("orphan (exited) removed", dead_gone)

    done = await wait_exact(engine, agents, chaos_cluster, {app_id: 1})
    record_recovery("stray container of a known app: adopted, surplus killed", done - created)
    assert state_of(a1, stray) is None or stray in {t.container_id for t in engine.tasks_of(app_id)}

    await asyncio.sleep(3 * GRACE)
    for agent, container_id in foreign:
        assert state_of(agent, container_id) == "running", "a container that is not ours was touched"
    await wait_exact(engine, agents, chaos_cluster, {app_id: 1})


async def test_host_port_held_outside_docker_is_skipped(make_engine: Any, agents: list[Agent], chaos_cluster: str,
                                                        record_recovery: Any) -> None:
    """A process on the agent's host listens on the first port of its range: the launch that picked it fails
    once, then placement leaves that port alone and the task runs on the next one."""
    a1, _ = agents
    lo, _ = a1.port_range
    holder = socket.socket()
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("0.0.0.0", lo))
        holder.listen()
        engine = await make_engine([a1])
        app_id = "/ports/web"
        started = time.monotonic()
        await engine.create_app(sleeper(app_id, 1, cmd="exec httpd -f -p 8080", container={
            "type": "DOCKER", "docker": {"image": BUSYBOX, "network": "BRIDGE",
                                         "portMappings": [{"containerPort": 8080, "hostPort": 0}]}}))
        done = await wait_exact(engine, [a1], chaos_cluster, {app_id: 1}, timeout=30)
        record_recovery("host port held outside docker: placed on the next port", done - started)
        (task,) = engine.tasks_of(app_id)
        assert task.host_ports == (lo + 1,)
        assert engine.stats.failures <= 1 and "address already in use" in engine.failures[app_id]["message"]
    finally:
        holder.close()

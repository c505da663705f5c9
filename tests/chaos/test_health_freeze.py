"""(6) A frozen container (`docker pause`) with an HTTP health check on an extra daemon: killed and replaced.

Probes go to the agent's host taken from its URL (127.0.0.N); extra daemons publish on all addresses.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from engine import TaskState
from tests.chaos.conftest import BUSYBOX, Agent, wait_engine, wait_exact

pytestmark = pytest.mark.docker

CHAOS_AGENTS = ("plain", "plain")
SERVE = "mkdir -p /www && echo ok > /www/h && exec httpd -f -p 8080 -h /www"


def web(app_id: str, instances: int) -> dict[str, Any]:
    return {
        "id": app_id, "cmd": SERVE, "cpus": 0.02, "mem": 16, "instances": instances,
        "container": {"type": "DOCKER", "docker": {"image": BUSYBOX, "network": "BRIDGE",
                                                   "portMappings": [{"containerPort": 8080, "hostPort": 0}]}},
        "healthChecks": [{"protocol": "HTTP", "path": "/h", "portIndex": 0, "gracePeriodSeconds": 3,
                          "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 2}],
        "taskKillGracePeriodSeconds": 1, "backoffSeconds": 1,
    }


def all_healthy(engine: Any, app_id: str, instances: int) -> bool:
    tasks = engine.tasks_of(app_id)
    return len(tasks) == instances and all(
        t.state == TaskState.RUNNING and engine.health.get(t.task_id) is True for t in tasks)


async def test_paused_container_is_replaced(make_engine: Any, agents: list[Agent], chaos_cluster: str,
                                            record_recovery: Any) -> None:
    a1, a2 = agents
    engine = await make_engine()
    app_id = "/freeze/web"
    await engine.create_app(web(app_id, 2))
    await wait_engine(engine, lambda: all_healthy(engine, app_id, 2), 60, "2 healthy tasks")
    await wait_exact(engine, agents, chaos_cluster, {app_id: 2})
    (frozen,) = [t for t in engine.tasks_of(app_id) if t.agent == "a1"]

    # The probe address: the agent's own loopback address, where its published ports answer.
    assert engine.probe_host("a1") == a1.host and engine.probe_host("a2") == a2.host
    for t in engine.tasks_of(app_id):
        host = engine.probe_host(t.agent)
        reply = await asyncio.to_thread(httpx.get, f"http://{host}:{t.host_ports[0]}/h", timeout=2)
        assert reply.status_code == 200 and reply.text.strip() == "ok"
        lo, hi = next(a for a in agents if a.name == t.agent).port_range
        assert lo <= t.host_ports[0] <= hi

    a1.client.api.pause(frozen.container_id)
    paused = time.monotonic()
    await wait_engine(engine, lambda: frozen.task_id not in engine.tasks, 30, "the frozen task killed")
    killed = time.monotonic() - paused
    failure = engine.failures[app_id]
    assert failure["taskId"] == frozen.task_id and "timed out" in failure["message"], failure
    await wait_engine(engine, lambda: all_healthy(engine, app_id, 2), 60, "the replacement healthy")
    healthy = time.monotonic()
    done = await wait_exact(engine, agents, chaos_cluster, {app_id: 2})
    record_recovery("(6) paused container: killed (health timeout)", killed)
    record_recovery("(6) paused container: replacement healthy", max(healthy, done) - paused)
    assert all(row["Id"] != frozen.container_id for row in a1.containers()), "the paused container is removed"

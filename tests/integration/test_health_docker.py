"""Health checks against real containers: HTTP, COMMAND, failing endpoints, frozen containers."""

from __future__ import annotations

from typing import Any

import pytest

from engine import Engine
from tests.conftest import wait_until

pytestmark = pytest.mark.docker

SERVE = "mkdir -p /www && echo ok > /www/health && exec httpd -f -p 8080 -h /www"


def web_app(app_id: str, **check: object) -> dict[str, Any]:
    health = {"protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 5,
              "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 2}
    health.update(check)
    return {"id": app_id, "cmd": SERVE, "cpus": 0.05, "mem": 16, "instances": 1,
            "container": {"type": "DOCKER", "docker": {"image": "busybox:latest", "network": "BRIDGE",
                                                       "portMappings": [{"containerPort": 8080, "hostPort": 0}]}},
            "healthChecks": [health]}


def only_task(engine: Engine, app_id: str) -> Any:
    (task,) = engine.tasks_of(app_id)
    return task


async def test_http_check_turns_task_healthy(docker_engine: Engine) -> None:
    await docker_engine.create_app(web_app("/health/ok"))
    await wait_until(lambda: docker_engine.converged("/health/ok"), 30, message="healthy and deployed")
    task = only_task(docker_engine, "/health/ok")
    assert docker_engine.health[task.task_id] is True
    (result,) = docker_engine.health_results(task.task_id).values()
    assert result.alive and result.first_success is not None and result.consecutive_failures == 0


async def test_failing_endpoint_gets_task_replaced(docker_engine: Engine, docker_client: Any) -> None:
    await docker_engine.create_app(web_app("/health/breaks"))
    await wait_until(lambda: docker_engine.converged("/health/breaks"), 30, message="healthy")
    task = only_task(docker_engine, "/health/breaks")
    docker_client.containers.get(task.container_id).exec_run(["rm", "/www/health"])
    await wait_until(lambda: task.task_id not in docker_engine.tasks, 30, message="unhealthy task killed")
    failure = docker_engine.failures["/health/breaks"]
    assert "failed 2 times" in failure["message"] and "answered 404" in failure["message"]
    await wait_until(lambda: docker_engine.converged("/health/breaks"), 30, message="replacement healthy")
    assert only_task(docker_engine, "/health/breaks").task_id != task.task_id


async def test_command_check(docker_engine: Engine) -> None:
    app = web_app("/health/cmd", protocol="COMMAND", command={"value": "test -f /www/health"})
    await docker_engine.create_app(app)
    await wait_until(lambda: docker_engine.converged("/health/cmd"), 30, message="command check passes")
    failing = web_app("/health/cmd-fails", protocol="COMMAND", command={"value": "echo nope; exit 1"},
                      gracePeriodSeconds=0)
    await docker_engine.create_app(failing)
    await wait_until(lambda: "/health/cmd-fails" in docker_engine.failures, 30, message="failing command kills")
    assert "command exited with code 1: nope" in docker_engine.failures["/health/cmd-fails"]["message"]


async def test_frozen_container_fails_by_timeout_and_is_replaced(docker_engine: Engine, docker_client: Any) -> None:
    await docker_engine.create_app(web_app("/health/frozen"))
    await wait_until(lambda: docker_engine.converged("/health/frozen"), 30, message="healthy")
    task = only_task(docker_engine, "/health/frozen")
    docker_client.containers.get(task.container_id).pause()
    await wait_until(lambda: task.task_id not in docker_engine.tasks, 40, message="frozen task killed")
    assert "timed out" in docker_engine.failures["/health/frozen"]["message"]
    await wait_until(lambda: docker_engine.converged("/health/frozen"), 40, message="replacement healthy")

"""What a task's container gets, read from inside real containers: Marathon's task environment,
the task sandbox at /mnt/mesos/sandbox, and docker.parameters as `docker inspect` shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import Engine
from tests.conftest import wait_until

pytestmark = pytest.mark.docker

BRIDGE = [{"mode": "container/bridge"}]


def container_env(docker_client: Any, container_id: str) -> dict[str, str]:
    code, output = docker_client.containers.get(container_id).exec_run(["env"])
    assert code == 0, output
    return dict(line.split("=", 1) for line in output.decode().splitlines() if "=" in line)


async def running_task(engine: Engine, app_id: str) -> Any:
    await wait_until(lambda: engine.running_count(app_id) == 1, 60, message=f"{app_id} running")
    (task,) = engine.tasks_of(app_id)
    return task


async def test_marathon_task_environment(docker_engine: Engine, docker_client: Any) -> None:
    await docker_engine.create_app({
        "id": "/env/web", "cmd": "exec sleep 600", "cpus": 0.1, "mem": 24, "disk": 5, "instances": 1,
        "networks": BRIDGE,
        "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"},
                      "portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "http"},
                                       {"containerPort": 9090, "hostPort": 0, "name": "admin-api"}]},
        "labels": {"team": "core", "tier.name": "front end", "x": "y"},
        "env": {"APP_SETTING": "on", "PORT0": "7777"},
    })
    task = await running_task(docker_engine, "/env/web")
    env = container_env(docker_client, task.container_id)
    app = docker_engine.get_app("/env/web")
    http, admin = task.host_ports
    assert env["MARATHON_APP_ID"] == "/env/web"
    assert env["MARATHON_APP_VERSION"] == app.version
    assert env["MARATHON_APP_DOCKER_IMAGE"] == "busybox:latest"
    assert env["MARATHON_APP_RESOURCE_CPUS"] == "0.1"
    assert env["MARATHON_APP_RESOURCE_MEM"] == "24.0"
    assert env["MARATHON_APP_RESOURCE_DISK"] == "5.0"
    assert env["MARATHON_APP_RESOURCE_GPUS"] == "0"
    assert sorted(env["MARATHON_APP_LABELS"].split(" ")) == ["TEAM", "TIER_NAME", "X"]
    assert env["MARATHON_APP_LABEL_TEAM"] == "core"
    assert env["MARATHON_APP_LABEL_TIER_NAME"] == "front end"
    assert env["MESOS_TASK_ID"] == task.task_id
    assert env["MESOS_SANDBOX"] == "/mnt/mesos/sandbox"
    assert env["HOST"]
    assert env["PORT"] == str(http)
    assert env["PORTS"] == f"{http},{admin}"
    assert env["PORT1"] == str(admin)
    assert env["PORT_HTTP"] == str(http) and env["PORT_ADMIN_API"] == str(admin)
    assert env["PORT_8080"] == str(http) and env["PORT_9090"] == str(admin)
    # the app's own env wins over Marathon's variables
    assert env["PORT0"] == "7777"
    assert env["APP_SETTING"] == "on"


async def test_sandbox_survives_a_crash_and_holds_relative_volumes(docker_config: Any, docker_client: Any) -> None:
    from engine.config import AgentConfig

    root = Path(docker_config.scheduler.state).parent / "sandboxes" / "local"
    (agent,) = docker_config.agents
    assert agent.sandbox_root == str(root)
    config = docker_config.model_copy(update={"agents": [agent.model_copy(update={"sandbox_grace": 4.0})]})
    assert isinstance(config.agents[0], AgentConfig)
    engine = Engine(config)
    await engine.start()
    try:
        await engine.create_app({
            "id": "/box/crash", "cpus": 0.05, "mem": 16, "instances": 1, "networks": BRIDGE,
            "cmd": 'echo "last words of $MESOS_TASK_ID" > "$MESOS_SANDBOX/notes"; echo kept > /data/file; '
                   'echo inside > "$MESOS_SANDBOX/rel/file"; sleep 1; exit 3',
            "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"},
                          "volumes": [{"hostPath": "data", "containerPath": "/data", "mode": "RW"},
                                      {"hostPath": "cache", "containerPath": "rel", "mode": "RW"}]},
            "backoffSeconds": 60,
        })
        await wait_until(lambda: "/box/crash" in engine.failures, 60, message="the task crashed")
        task_id = engine.failures["/box/crash"]["taskId"]
        sandbox = root / config.scheduler.cluster_id / task_id
        # the files survive the crash, on the host, for the operator
        assert (sandbox / "notes").read_text() == f"last words of {task_id}\n"
        assert (sandbox / "data" / "file").read_text() == "kept\n"
        assert (sandbox / "cache" / "file").read_text() == "inside\n"
        # ... and go once the container is gone for the grace period
        await engine.delete_app("/box/crash")
        await wait_until(lambda: not sandbox.exists(), 60, message="sandbox removed after grace")
    finally:
        await engine.stop()


async def test_relative_host_path_is_not_a_host_path_volume(docker_engine: Engine) -> None:
    # the default policy refuses host path volumes; a relative hostPath is in the sandbox and runs
    await docker_engine.create_app({
        "id": "/box/rel", "cmd": "exec sleep 600", "cpus": 0.05, "mem": 16, "networks": BRIDGE,
        "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"},
                      "volumes": [{"hostPath": "work", "containerPath": "/work", "mode": "RW"}]},
    })
    await running_task(docker_engine, "/box/rel")

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


def params(**kv: Any) -> list[dict[str, str]]:
    return [{"key": k.replace("_", "-"), "value": v} for k, vs in kv.items() for v in (vs if isinstance(vs, list) else [vs])]


async def test_docker_parameters_reach_the_container(docker_engine: Engine, docker_client: Any) -> None:
    await docker_engine.create_app({
        "id": "/params/all", "cmd": "exec sleep 600", "cpus": 0.05, "mem": 32, "networks": BRIDGE,
        "env": {"FROM_APP": "app"},
        "container": {"type": "DOCKER", "docker": {"image": "busybox:latest", "parameters": params(
            env=["FROM_PARAM=param", "FROM_APP=param wins"], label="team=core", add_host="db.internal:10.1.2.3",
            hostname="worker-1", user="1000:1000", workdir="/tmp", ulimit="nofile=512:1024",
            log_driver="json-file", log_opt="max-size=1m", shm_size="32m", memory_swap="96m")}},
    })
    task = await running_task(docker_engine, "/params/all")
    attrs = docker_client.containers.get(task.container_id).attrs
    config, host = attrs["Config"], attrs["HostConfig"]
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["FROM_PARAM"] == "param" and env["FROM_APP"] == "param wins"
    assert config["Labels"]["team"] == "core" and config["Labels"]["pacer.app"] == "/params/all"
    assert host["ExtraHosts"] == ["db.internal:10.1.2.3"]
    assert config["Hostname"] == "worker-1"
    assert config["User"] == "1000:1000" and config["WorkingDir"] == "/tmp"
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 512, "Hard": 1024}]
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert host["ShmSize"] == 32 * 2**20
    assert host["Memory"] == 32 * 2**20 and host["MemorySwap"] == 96 * 2**20
    code, out = docker_client.containers.get(task.container_id).exec_run(["sh", "-c", "id -u; ulimit -n; pwd"])
    assert out.decode().split() == ["1000", "512", "/tmp"]


PRIVILEGED_PARAMS = params(sysctl="net.core.somaxconn=1024", security_opt="apparmor=unconfined",
                           device="/dev/zero:/dev/pacer-zero")


async def test_sysctl_security_opt_device_need_the_policy(docker_engine: Engine, docker_client: Any,
                                                          cleanup_cluster: str) -> None:
    await docker_engine.create_app({
        "id": "/params/kernel", "cmd": "exec sleep 600", "cpus": 0.05, "mem": 16, "networks": BRIDGE,
        "container": {"type": "DOCKER", "docker": {"image": "busybox:latest", "parameters": PRIVILEGED_PARAMS}},
    })
    await wait_until(lambda: "/params/kernel" in docker_engine.waiting, 30, message="waiting")
    reason = docker_engine.waiting["/params/kernel"].rejections["local"].reason
    assert reason == ("policy: sysctl net.core.somaxconn is not allowed on this agent (policy allow_sysctls: none); "
                      "security-opt apparmor=unconfined is not allowed on this agent (policy allow_security_opts: "
                      "none); device /dev/zero is not allowed on this agent (policy allow_devices: none)"), reason
    assert not docker_client.containers.list(all=True, sparse=True, filters={"label": f"pacer.cluster={cleanup_cluster}"})


async def test_sysctl_security_opt_device_run_where_allowed(docker_config: Any, docker_client: Any) -> None:
    from engine.policy import ClusterPolicy

    allowing = ClusterPolicy(allow_sysctls=("net.core.*",), allow_security_opts=("apparmor=*",),
                             allow_devices=("/dev/zero",))
    engine = Engine(docker_config.model_copy(update={"policy": allowing}))
    await engine.start()
    try:
        await engine.create_app({
            "id": "/params/kernel", "cmd": "exec sleep 600", "cpus": 0.05, "mem": 16, "networks": BRIDGE,
            "container": {"type": "DOCKER", "docker": {"image": "busybox:latest", "parameters": PRIVILEGED_PARAMS}},
        })
        task = await running_task(engine, "/params/kernel")
        container = docker_client.containers.get(task.container_id)
        host = container.attrs["HostConfig"]
        assert host["Sysctls"] == {"net.core.somaxconn": "1024"}
        assert "apparmor=unconfined" in host["SecurityOpt"] and "no-new-privileges:true" in host["SecurityOpt"]
        assert host["Devices"] == [{"PathOnHost": "/dev/zero", "PathInContainer": "/dev/pacer-zero",
                                    "CgroupPermissions": "rwm"}]
        code, out = container.exec_run(["sh", "-c", "cat /proc/sys/net/core/somaxconn; test -c /dev/pacer-zero"])
        assert code == 0 and out.decode().split() == ["1024"], out
    finally:
        await engine.stop()


async def test_a_non_root_task_writes_its_sandbox(docker_engine: Engine, docker_client: Any) -> None:
    await docker_engine.create_app({
        "id": "/box/user", "cpus": 0.05, "mem": 16, "networks": BRIDGE, "user": "1000:1000",
        "cmd": 'echo mine > "$MESOS_SANDBOX/out" && echo too > /w/out && exec sleep 600',
        "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"},
                      "volumes": [{"hostPath": "w", "containerPath": "/w", "mode": "RW"}]},
    })
    task = await running_task(docker_engine, "/box/user")
    container = docker_client.containers.get(task.container_id)
    await wait_until(lambda: container.exec_run(["cat", "/w/out"])[1] == b"too\n", 20, message="both files written")
    assert container.exec_run(["cat", "/mnt/mesos/sandbox/out"])[1] == b"mine\n"

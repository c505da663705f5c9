"""The hardened container profile, read from inside running pacer-launched containers, and the policy's refusals.

Each app writes its own /proc/self/status when it starts; the test reads it
(and the cgroup limit files, v1 or v2) with docker exec: the capabilities, the
no_new_privs flag, the pids and memory limits in force. Privileged mode and
host paths are refused by the default policy, with the reason in the app's
"why waiting", and run when the agent's policy allows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import Engine
from engine.agents.base import TaskSpec
from engine.agents.docker_agent import DockerAgent
from engine.config import PacerConfig
from engine.policy import (
    DEFAULT_CAPABILITIES,
    AgentPolicy,
    ClusterPolicy,
    PolicyRefusal,
    capabilities_of_mask,
)
from tests.conftest import wait_until

pytestmark = pytest.mark.docker

BRIDGE = [{"mode": "container/bridge"}]
RECORD = "cat /proc/self/status > /tmp/status; id -u > /tmp/uid; exec sleep 600"
PROBE = r"""
cat /tmp/status
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  echo "cgroup=v2"; echo "pids.max=$(cat /sys/fs/cgroup/pids.max)"; echo "memory=$(cat /sys/fs/cgroup/memory.max)"
else
  echo "cgroup=v1"; echo "pids.max=$(cat /sys/fs/cgroup/pids/pids.max)"
  echo "memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
fi
echo "uid=$(cat /tmp/uid)"
"""


def app(app_id: str, *, mem: float = 48, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": app_id, "cmd": RECORD, "cpus": 0.1, "mem": mem, "instances": 1,
                            "networks": BRIDGE, "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}}
    body.update(extra)
    return body


def probe(docker_client: Any, container_id: str) -> dict[str, str]:
    code, output = docker_client.containers.get(container_id).exec_run(["/bin/sh", "-c", PROBE])
    assert code == 0, output
    facts = {}
    for line in output.decode().splitlines():
        key, sep, value = line.partition(":" if ":" in line and "=" not in line else "=")
        if sep:
            facts[key.strip()] = value.strip()
    return facts


def caps(facts: dict[str, str], key: str) -> set[str]:
    return capabilities_of_mask(int(facts[key], 16))


async def running_task(engine: Engine, app_id: str) -> Any:
    await wait_until(lambda: engine.running_count(app_id) == 1, 60, message=f"{app_id} running")
    (task,) = engine.tasks_of(app_id)
    return task


async def test_default_profile_inside_the_container(docker_engine: Engine, docker_client: Any) -> None:
    await docker_engine.create_app(app("/iso/plain", mem=48))
    task = await running_task(docker_engine, "/iso/plain")
    await wait_until(lambda: docker_client.containers.get(task.container_id).exec_run(
        ["test", "-s", "/tmp/uid"])[0] == 0, 20, message="the app recorded its status")
    facts = probe(docker_client, task.container_id)
    # root in the container, but with only an ordinary service's capabilities
    assert facts["uid"] == "0"
    assert caps(facts, "CapEff") == set(DEFAULT_CAPABILITIES)
    assert caps(facts, "CapBnd") == set(DEFAULT_CAPABILITIES)
    assert not caps(facts, "CapEff") & {"SYS_ADMIN", "NET_RAW", "MKNOD", "SYS_CHROOT", "SETFCAP", "NET_ADMIN"}
    assert facts["NoNewPrivs"] == "1"
    assert facts["pids.max"] == "256"
    assert int(facts["memory"]) == 48 * 2**20
    host_config = docker_client.containers.get(task.container_id).attrs["HostConfig"]
    assert host_config["Privileged"] is False and host_config["CapDrop"] == ["ALL"]
    assert host_config["SecurityOpt"] == ["no-new-privileges:true"] and host_config["PidsLimit"] == 256
    # The rootfs is writable unless the app asks otherwise.
    assert docker_client.containers.get(task.container_id).exec_run(["touch", "/etc/pacer-was-here"])[0] == 0


async def test_non_root_read_only_and_a_lower_pids_limit(docker_engine: Engine, docker_client: Any) -> None:
    labels = {"pacer.read-only": "true", "pacer.pids-limit": "24"}
    await docker_engine.create_app(app("/iso/locked", mem=32, user="65534:65534", labels=labels))
    task = await running_task(docker_engine, "/iso/locked")
    container = docker_client.containers.get(task.container_id)
    await wait_until(lambda: container.exec_run(["test", "-s", "/tmp/uid"])[0] == 0, 20,
                     message="the app recorded its status")
    facts = probe(docker_client, task.container_id)
    assert facts["uid"] == "65534"
    assert caps(facts, "CapEff") == set()  # a non-root process holds no capability at all
    assert caps(facts, "CapBnd") == set(DEFAULT_CAPABILITIES)
    assert facts["NoNewPrivs"] == "1"
    assert facts["pids.max"] == "24"
    assert int(facts["memory"]) == 32 * 2**20
    code, output = container.exec_run(["touch", "/etc/nope"])
    assert code != 0 and b"Read-only file system" in output
    assert container.exec_run(["touch", "/tmp/scratch"])[0] == 0  # a tmpfs for scratch files
    # The pids limit holds: spawning past it fails inside the container.
    code, output = container.exec_run(["/bin/sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); "
                                                        "done 2>&1; echo spawned"])
    assert b"fork" in output or b"Resource temporarily unavailable" in output, output


async def test_an_ordinary_web_service_runs_hardened(docker_engine: Engine) -> None:
    health = {"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 20, "intervalSeconds": 1,
              "timeoutSeconds": 2, "maxConsecutiveFailures": 3}
    web = {"id": "/iso/web", "cmd": "cd /tmp && exec python3 -m http.server 8080", "cpus": 0.1, "mem": 64,
           "user": "65534:65534", "labels": {"pacer.read-only": "true"}, "networks": BRIDGE,
           "container": {"type": "DOCKER", "docker": {"image": "python:3"},
                         "portMappings": [{"containerPort": 8080, "hostPort": 0}]},
           "healthChecks": [health]}
    await docker_engine.create_app(web)
    await wait_until(lambda: docker_engine.converged("/iso/web"), 60, message="python http.server healthy")
    (task,) = docker_engine.tasks_of("/iso/web")
    assert docker_engine.health[task.task_id] is True


async def test_privileged_and_host_paths_are_refused_by_default(docker_engine: Engine, docker_client: Any,
                                                               cleanup_cluster: str) -> None:
    root = app("/iso/root")
    root["container"]["docker"]["privileged"] = True
    host = app("/iso/host")
    host["container"]["volumes"] = [{"containerPath": "/host", "hostPath": "/", "mode": "RW"}]
    net = app("/iso/caps", labels={"pacer.cap-add": "NET_ADMIN"})
    for body in (root, host, net):
        await docker_engine.create_app(body)
    await wait_until(lambda: {"/iso/root", "/iso/host", "/iso/caps"} <= set(docker_engine.waiting), 30,
                     message="all three waiting")
    reasons = {a: docker_engine.waiting[a].rejections["local"].reason for a in ("/iso/root", "/iso/host", "/iso/caps")}
    assert reasons == {
        "/iso/root": "policy: privileged mode is not allowed on this agent",
        "/iso/host": "policy: host path volumes are not allowed on this agent (/)",
        "/iso/caps": "policy: capabilities NET_ADMIN are not allowed on this agent (an app may add: none)",
    }
    assert "policy: 1 agent(s)" in docker_engine.waiting["/iso/root"].reason
    assert not docker_client.containers.list(all=True, sparse=True, filters={"label": f"pacer.cluster={cleanup_cluster}"})


async def test_the_driver_refuses_too(docker_url: str, docker_client: Any, cleanup_cluster: str) -> None:
    """Defence in depth: even a spec that skipped placement is refused by the driver, before any container."""
    agent = DockerAgent("local", docker_url)
    spec = TaskSpec(task_id="/x.instance-1._app.1", app_id="/x", version="v", config_version="v",
                    cluster_id=cleanup_cluster, name=f"pacer.x.{cleanup_cluster}", image="busybox:latest",
                    entrypoint=None, command=("sleep", "60"), env={}, labels={}, cpus=0.1, mem_mib=16,
                    network_mode="bridge", privileged=True)
    try:
        with pytest.raises(PolicyRefusal) as info:
            await agent.launch(spec)
        assert info.value.message == "agent local: policy: privileged mode is not allowed on this agent"
    finally:
        await agent.close()
    assert not docker_client.containers.list(all=True, sparse=True, filters={"label": f"pacer.cluster={cleanup_cluster}"})


async def test_privileged_and_host_paths_run_where_the_policy_allows(docker_config: PacerConfig, tmp_path: Path,
                                                                   docker_client: Any) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "greeting").write_text("hello from the host\n")
    allowing = ClusterPolicy(allow_privileged=True, allow_host_volumes=True, host_paths=(str(tmp_path) + "/*",),
                             allow_capabilities=("NET_ADMIN",))
    (local,) = docker_config.agents
    config = docker_config.model_copy(update={"agents": [local.model_copy(update={"policy": allowing})]})
    async with Engine(config) as engine:
        root = app("/iso/root")
        root["container"]["docker"]["privileged"] = True
        host = app("/iso/host", cmd=f"cat /host/greeting > /tmp/seen; {RECORD}")
        host["container"]["volumes"] = [{"containerPath": "/host", "hostPath": str(shared), "mode": "RO"}]
        outside = app("/iso/outside")
        outside["container"]["volumes"] = [{"containerPath": "/host", "hostPath": "/etc", "mode": "RO"}]
        netadmin = app("/iso/netadmin", labels={"pacer.cap-add": "NET_ADMIN"})
        for body in (root, host, outside, netadmin):
            await engine.create_app(body)
        host_task = await running_task(engine, "/iso/host")
        net_task = await running_task(engine, "/iso/netadmin")
        for task in (host_task, net_task):
            await wait_until(lambda t=task: docker_client.containers.get(t.container_id).exec_run(
                ["test", "-s", "/tmp/uid"])[0] == 0, 20, message="the app recorded its status")
        if privileged_containers_start(docker_client):
            root_task = await running_task(engine, "/iso/root")
            assert docker_client.containers.get(root_task.container_id).attrs["HostConfig"]["Privileged"] is True
            await wait_until(lambda: docker_client.containers.get(root_task.container_id).exec_run(
                ["test", "-s", "/tmp/uid"])[0] == 0, 20, message="the app recorded its status")
            facts = probe(docker_client, root_task.container_id)
            assert caps(facts, "CapEff") == caps(facts, "CapBnd") and len(caps(facts, "CapEff")) > 30
        else:
            # This daemon cannot start privileged containers at all (it lacks capabilities itself): the policy
            # let the app through, and the daemon's own refusal is what the operator sees.
            await wait_until(lambda: "/iso/root" in engine.failures, 30, message="the daemon's answer")
            message = engine.failures["/iso/root"]["message"]
            assert "policy:" not in message and "caps" in message, message
        seen = docker_client.containers.get(host_task.container_id).exec_run(["cat", "/tmp/seen"])[1]
        assert seen == b"hello from the host\n"
        assert caps(probe(docker_client, net_task.container_id), "CapEff") == {*DEFAULT_CAPABILITIES, "NET_ADMIN"}
        await wait_until(lambda: "/iso/outside" in engine.waiting, 20, message="the /etc bind waiting")
        assert engine.waiting["/iso/outside"].rejections["local"].reason == (
            f"policy: host path /etc is not among this agent's allowed host paths ({tmp_path}/*)")


def privileged_containers_start(docker_client: Any) -> bool:
    container = docker_client.containers.create("busybox:latest", ["true"], privileged=True)
    try:
        container.start()
    except Exception:  # noqa: BLE001 - docker.errors.APIError: this daemon cannot
        return False
    finally:
        container.remove(force=True)
    return True


def test_agent_policy_model_is_the_engines() -> None:
    from engine.agentd.config import AgentPolicy as AgentdPolicy

    assert AgentdPolicy is AgentPolicy

"""A real `pacer --serve` agent process on 127.0.0.1 in front of dockerd, and an engine using it.

Deploys through the agent (launch, list, logs, COMMAND health checks), and the
security checks of issue #6 against the real process: no token, a wrong token,
another certificate pinned, privileged and hostPath apps refused by its policy
with the message reaching the engine; the token never appears in its log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest

from engine import AgentConfig, Engine, PacerConfig, SchedulerConfig
from engine.agents.remote import RemoteAgent
from engine.errors import AgentUnreachable
from tests.agent.process import AgentProcess
from tests.agent.support import CertFactory
from tests.conftest import wait_until

pytestmark = pytest.mark.docker

BRIDGE = [{"mode": "container/bridge"}]


def busybox_app(app_id: str, instances: int = 1, **extra: Any) -> dict[str, Any]:
    app: dict[str, Any] = {
        "id": app_id, "cmd": "echo hello from $MESOS_TASK_ID; exec sleep 600", "cpus": 0.05, "mem": 16,
        "instances": instances, "networks": BRIDGE,
        "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}},
    }
    app.update(extra)
    return app


def remote_config(tmp_path: Path, cluster_id: str, agent: AgentProcess) -> PacerConfig:
    return PacerConfig(
        scheduler=SchedulerConfig(state=str(tmp_path / "engine" / "state.db"), cluster_id=cluster_id,
                                  reconcile_interval=0.5, orphan_grace_seconds=5, default_image="busybox:latest"),
        agents=[AgentConfig(name="remote", url=agent.url, token_file=str(agent.token_file),
                            tls_fingerprint=agent.fingerprint)],
    )


@pytest.fixture
def agent(tmp_path: Path, docker_url: str) -> Any:
    process = AgentProcess(tmp_path / "agent", docker_url)
    process.start()
    yield process
    process.cleanup()


@pytest.fixture
async def engine(tmp_path: Path, cleanup_cluster: str, agent: AgentProcess) -> AsyncIterator[Engine]:
    async with Engine(remote_config(tmp_path, cleanup_cluster, agent)) as eng:
        yield eng


async def test_engine_runs_apps_through_the_agent(engine: Engine, agent: AgentProcess, docker_client: Any,
                                                  cleanup_cluster: str) -> None:
    health = {"protocol": "COMMAND", "command": {"value": "test -d /proc/1"}, "gracePeriodSeconds": 10,
              "intervalSeconds": 1, "timeoutSeconds": 5, "maxConsecutiveFailures": 3}
    await engine.create_app(busybox_app("/agent/web", 2, healthChecks=[health]))
    await wait_until(lambda: engine.converged("/agent/web"), 60, message="2 healthy tasks through the agent")
    view = next(a for a in engine.snapshot().agents if a.name == "remote")
    assert view.reachable and view.kind == "pacer" and view.attributes.get("zone") == "z1"
    containers = docker_client.containers.list(filters={"label": f"pacer.cluster={cleanup_cluster}"})
    assert len(containers) == 2
    for c in containers:
        host_config = c.attrs["HostConfig"]
        # no host path beyond the task's own sandbox under the agent's state_dir
        (sandbox,) = host_config["Binds"]
        assert host_config["Privileged"] is False and sandbox.endswith(":/mnt/mesos/sandbox:rw")
        assert "/agent/state/sandboxes/" in sandbox
    task = engine.tasks_of("/agent/web")[0]
    assert engine.health[task.task_id] is True
    await wait_until(lambda: _has_hello(engine, task.task_id), 20, message="the task's output through the agent")
    await engine.scale("/agent/web", 1)
    # sparse: a full listing inspects each container, and one being removed meanwhile makes it raise NotFound
    await wait_until(lambda: len(docker_client.containers.list(
        all=True, sparse=True, filters={"label": f"pacer.cluster={cleanup_cluster}"})) == 1, 30,
        message="one container left")
    assert agent.terminate() == 0
    assert "stopping" in agent.output()


async def _has_hello(engine: Engine, task_id: str) -> bool:
    return any(f"hello from {task_id}" in line for line in await engine.task_logs(task_id, 20))


async def test_policy_refusals_reach_the_engine(engine: Engine, docker_client: Any, cleanup_cluster: str) -> None:
    privileged = busybox_app("/agent/root")
    privileged["container"]["docker"]["privileged"] = True
    await engine.create_app(privileged)
    host_path = busybox_app("/agent/hostpath")
    host_path["container"]["volumes"] = [{"containerPath": "/host", "hostPath": "/", "mode": "RW"}]
    await engine.create_app(host_path)
    await wait_until(lambda: {"/agent/root", "/agent/hostpath"} <= set(engine.failures), 30,
                     message="both launches refused")
    assert "agent remote: policy: privileged mode is not allowed on this agent" in engine.failures["/agent/root"]["message"]
    assert ("agent remote: policy: host path volumes are not allowed on this agent (/)"
            in engine.failures["/agent/hostpath"]["message"])
    app = next(a for a in engine.snapshot().apps if a.app.id == "/agent/root")
    assert app.last_failure is not None and "privileged" in app.last_failure["message"]
    assert docker_client.containers.list(all=True, sparse=True, filters={"label": f"pacer.cluster={cleanup_cluster}"}) == []


async def test_refusals_by_the_real_agent(agent: AgentProcess, tmp_path: Path) -> None:
    token = agent.token
    base = f"https://127.0.0.1:{agent.port}"
    async with httpx.AsyncClient(base_url=base, verify=False) as client:  # noqa: S501 - testing auth, not TLS
        assert (await client.get("/v1/info")).status_code == 401
        wrong = await client.get("/v1/info", headers={"Authorization": "Bearer not-the-token-at-all"})
        assert wrong.status_code == 401 and wrong.json() == {"message": "unauthorized: wrong token"}
        good = await client.get("/v1/info", headers={"Authorization": f"Bearer {token}"})
        assert good.status_code == 200 and good.json()["name"] == "remote-agent"
        # a container that is not pacer's (or does not exist) cannot be touched through the agent
        gone = await client.delete("/v1/containers/does-not-exist", params={"cluster": "c1"},
                                   headers={"Authorization": f"Bearer {token}"})
        assert gone.status_code == 404
    stranger = CertFactory(tmp_path / "ca").issue("stranger", self_signed=True)
    driver = RemoteAgent("remote", agent.url, token=token, fingerprint=stranger.fingerprint, timeout=5)
    try:
        with pytest.raises(AgentUnreachable, match="is not the pinned"):
            await driver.connect()
    finally:
        await driver.close()
    await wait_until(lambda: agent.output().count("refused GET /v1/info") >= 2, 10, message="refusals logged")
    log = agent.output()
    assert "no Authorization header" in log and "wrong token" in log
    assert token not in log and "not-the-token-at-all" not in log
    assert f"fingerprint {agent.fingerprint}" in log and str(agent.token_file) in log


async def test_another_clusters_container_is_out_of_reach(agent: AgentProcess, docker_client: Any,
                                                          cleanup_cluster: str) -> None:
    """Issue #19: exec into a container of another cluster on the same daemon showed its secret env."""
    secret = "hunter2-" + cleanup_cluster
    theirs = docker_client.containers.run("busybox:latest", ["sleep", "600"], detach=True,
                                          labels={"pacer.cluster": cleanup_cluster, "pacer.task": "their-task"},
                                          environment={"DB_PASSWORD": secret})
    unlabelled = docker_client.containers.run("busybox:latest", ["sleep", "600"], detach=True,
                                              labels={"pacer.test": cleanup_cluster},
                                              environment={"DB_PASSWORD": secret})
    try:
        auth = {"Authorization": f"Bearer {agent.token}"}
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{agent.port}", verify=False,  # noqa: S501
                                     headers=auth, timeout=30) as client:
            for container in (theirs, unlabelled):
                for ref in (container.id, container.id[:12], container.name):
                    for method, what, body in [("POST", "/exec", {"command": "env"}), ("GET", "/logs", None),
                                               ("GET", "/stats", None), ("POST", "/stop", None), ("DELETE", "", None)]:
                        answer = await client.request(method, f"/v1/containers/{ref}{what}",
                                                      params={"cluster": "mine"}, json=body)
                        assert answer.status_code == 404, (ref, what, answer.text)
                        assert answer.json() == {"message": f"no container {ref!r} of cluster 'mine' on this agent"}
                        assert secret not in answer.text and cleanup_cluster not in answer.text
            # its own cluster's engine still reaches it (same token: clusters = [...] in [agent] separates them)
            own = await client.post(f"/v1/containers/{theirs.id}/exec", params={"cluster": cleanup_cluster},
                                    json={"command": "echo ok"})
            assert own.status_code == 200 and own.json() == {"exit_code": 0, "output": "ok\n"}
        for container in (theirs, unlabelled):
            container.reload()
            assert container.status == "running"
    finally:
        unlabelled.remove(force=True)
        theirs.remove(force=True)

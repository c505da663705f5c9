"""Deployments on real dockerd: rolling upgrades within bounds, stuck versions, rollback, kill -9 mid-way."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, TaskState
from tests.conftest import wait_until
from tests.integration.test_headless_restart import Headless, write_config

pytestmark = pytest.mark.docker

SERVE = "mkdir -p /www && echo {body} > /www/health && exec httpd -f -p 8080 -h /www"


def web(app_id: str, body: str = "v1", *, instances: int = 4, m: float = 1.0, o: float = 1.0,
        health_path: str = "/health") -> dict[str, Any]:
    return {
        "id": app_id, "cmd": SERVE.format(body=body), "cpus": 0.02, "mem": 16, "instances": instances,
        "container": {"type": "DOCKER", "docker": {"image": "busybox:latest", "network": "BRIDGE",
                                                   "portMappings": [{"containerPort": 8080, "hostPort": 0}]}},
        "healthChecks": [{"protocol": "HTTP", "path": health_path, "portIndex": 0, "gracePeriodSeconds": 3,
                          "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 2}],
        "upgradeStrategy": {"minimumHealthCapacity": m, "maximumOverCapacity": o},
        "taskKillGracePeriodSeconds": 1,
    }


def sample(engine: Engine, app_id: str) -> tuple[int, int]:
    tasks = engine.tasks_of(app_id)
    healthy = sum(1 for t in tasks if t.state == TaskState.RUNNING and engine.health.get(t.task_id) is True)
    return healthy, len(tasks)


@pytest.mark.parametrize(("m", "o"), [(1.0, 0.0), (0.5, 0.0), (1.0, 0.5), (0.0, 0.0)])
async def test_rolling_upgrade_stays_within_bounds(docker_engine: Engine, m: float, o: float) -> None:
    app_id = f"/roll/m{int(m * 100)}-o{int(o * 100)}"
    await docker_engine.create_app(web(app_id, m=m, o=o))
    await wait_until(lambda: docker_engine.converged(app_id), 60, message="v1 healthy")
    deployment = await docker_engine.put_app({"cmd": SERVE.format(body="v2")}, app_id=app_id)
    samples: list[tuple[int, int]] = []
    while deployment.id in docker_engine.deployments:
        samples.append(sample(docker_engine, app_id))
        assert len(samples) < 2400, "upgrade did not finish in 120 s"
        await asyncio.sleep(0.05)
    samples.append(sample(docker_engine, app_id))
    n = 4
    min_healthy = math.ceil(n * m)
    cap = n + math.floor(n * o)
    if cap <= min_healthy:
        cap = min_healthy + 1  # Marathon allows one extra instance when the bounds leave no room
    assert min(h for h, _ in samples) >= min_healthy, samples
    changes = [s for i, s in enumerate(samples) if i == 0 or s != samples[i - 1]]
    assert max(e for _, e in samples) <= cap, str(changes)
    assert docker_engine.converged(app_id)
    version = docker_engine.get_app(app_id).version_info["lastConfigChangeAt"]
    assert all(t.config_version == version for t in docker_engine.tasks_of(app_id))


async def test_never_healthy_version_keeps_old_serving_and_cancel_restores(docker_engine: Engine) -> None:
    app_id = "/stuck/web"
    await docker_engine.create_app(web(app_id, instances=2, m=1.0, o=0.5))
    await wait_until(lambda: docker_engine.converged(app_id), 60, message="v1 healthy")
    v1 = docker_engine.get_app(app_id)
    old_tasks = {t.task_id for t in docker_engine.tasks_of(app_id)}
    bad = await docker_engine.put_app({"healthChecks": web(app_id, health_path="/missing")["healthChecks"]},
                                      app_id=app_id)
    await wait_until(lambda: app_id in docker_engine.failures
                     and "answered 404" in docker_engine.failures[app_id]["message"], 60,
                     message="the new version fails its health check")
    await wait_until(lambda: "last failure" in (docker_engine.deployments[bad.id].reason or ""), 30,
                     message="deployment shows why it is stuck")
    assert old_tasks <= {t.task_id for t in docker_engine.tasks_of(app_id)}, "old tasks keep serving"
    assert sample(docker_engine, app_id)[0] >= 2
    rollback = await docker_engine.cancel_deployment(bad.id)
    assert rollback is not None
    await wait_until(lambda: docker_engine.converged(app_id), 60, message="rolled back")
    restored = docker_engine.get_app(app_id)
    assert restored.health_checks == v1.health_checks
    assert {t.task_id for t in docker_engine.tasks_of(app_id)} == old_tasks


async def test_kill9_during_deployment_then_restart_finishes_without_duplicates(
        tmp_path: Path, docker_url: str, docker_client: Any, cleanup_cluster: str) -> None:
    app = web("/mid/deploy", instances=3, m=0.5, o=0.0)
    config = write_config(tmp_path, cleanup_cluster, docker_url, [app])
    headless = Headless(config, tmp_path / "pacer.log")

    def containers() -> list[dict[str, Any]]:
        # The low-level list: no per-container inspect that races with removals.
        return list(docker_client.api.containers(filters={"label": f"pacer.cluster={cleanup_cluster}"}))

    headless.start()
    try:
        await wait_until(lambda: len(containers()) == 3, 60, message="v1 running")
        v1_version = {c["Labels"]["pacer.config-version"] for c in containers()}
        headless.kill9()
        app_file = tmp_path / "apps" / "mid_deploy.json"
        app_file.write_text(json.dumps(web("/mid/deploy", "v2", instances=3, m=0.5, o=0.0)))
        headless.start()
        # Mid-way: containers of both versions exist.
        await wait_until(lambda: len({c["Labels"]["pacer.config-version"] for c in containers()} - v1_version) == 1,
                         60, message="deployment under way")
        headless.kill9()
        headless.start()

        def done() -> bool:
            cs = containers()
            versions = {c["Labels"]["pacer.config-version"] for c in cs}
            return len(cs) == 3 and len(versions) == 1
        await wait_until(done, 90, message="3 containers of one version")
        final = containers()
        assert len({c["Labels"]["pacer.task"] for c in final}) == 3, "no duplicate tasks"
        for c in final:
            assert "v2" in docker_client.containers.get(c["Id"]).exec_run(["cat", "/www/health"]).output.decode()
    finally:
        headless.cleanup()


READY_SERVE = "mkdir -p /www && echo ok > /www/health {make_ready}&& exec httpd -f -p 8080 -h /www"


def ready_web(app_id: str, make_ready: bool) -> dict[str, Any]:
    """Two busybox httpd tasks whose readiness check GETs /ready (404 until the file exists)."""
    return {
        "id": app_id, "cmd": READY_SERVE.format(make_ready="&& echo yes > /www/ready " if make_ready else ""),
        "cpus": 0.02, "mem": 16, "instances": 2,
        "container": {"type": "DOCKER", "docker": {"image": "busybox:latest", "network": "BRIDGE",
                                                   "portMappings": [{"containerPort": 8080, "hostPort": 0,
                                                                     "name": "http"}]}},
        "readinessChecks": [{"name": "warm", "protocol": "HTTP", "path": "/ready", "portName": "http",
                             "intervalSeconds": 2, "timeoutSeconds": 1, "httpStatusCodesForReady": [200],
                             "preserveLastResponse": True}],
        "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0},
        "taskKillGracePeriodSeconds": 1,
    }


async def test_upgrade_waits_for_readiness_then_proceeds(docker_engine: Engine, docker_client: Any) -> None:
    import httpx

    from engine.api import ApiSettings, build_app

    app_id = "/ready/web"
    await docker_engine.create_app(ready_web(app_id, make_ready=True))
    await wait_until(lambda: docker_engine.converged(app_id), 60, message="v1 deployed and ready")
    old = {t.task_id for t in docker_engine.tasks_of(app_id)}
    deployment = await docker_engine.put_app(ready_web(app_id, make_ready=False), app_id=app_id)
    version = docker_engine.get_app(app_id).version_info["lastConfigChangeAt"]

    def new_tasks() -> list[Any]:
        return [t for t in docker_engine.tasks_of(app_id)
                if t.config_version == version and t.state == TaskState.RUNNING]

    api = build_app(docker_engine, ApiSettings(leader="127.0.0.1:8080"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(api), base_url="http://127.0.0.1") as client:
        async def not_ready_seen_twice() -> bool:
            body = (await client.get("/v2/deployments")).json()
            mine = [d for d in body if d["id"] == deployment.public_id]
            results = mine[0]["currentActions"][0]["readinessCheckResults"] if mine else []
            probes = [r for r in docker_engine.readiness_results(app_id) if r.probes >= 2]
            return len(new_tasks()) == 2 and len(results) == 2 and len(probes) == 2 and all(
                r["name"] == "warm" and not r["ready"] and r["lastResponse"]["status"] == 404 for r in results)

        await wait_until(not_ready_seen_twice, 60, message="new tasks running, probed twice, not ready")

        def reason() -> str:
            d = docker_engine.deployments.get(deployment.id)
            return (d.reason or "") if d is not None else "finished"

        await wait_until(lambda: "0 of 2 new task(s) ready, 2 old task(s) left; 2 running but not ready yet "
                         "(readiness check: GET http://" in reason(), 30,
                         message="the deployment says why it waits")
        # The upgrade holds: both old tasks still run and the deployment is not done.
        assert all(docker_engine.tasks[t].state == TaskState.RUNNING for t in old)
        embedded = (await client.get("/v2/apps/ready/web", params={"embed": "app.readiness"})).json()["app"]
        assert sorted(r["taskId"] for r in embedded["readinessCheckResults"]) == sorted(t.task_id for t in new_tasks())
        assert deployment.id in docker_engine.deployments
        # The marker: each new task becomes ready, and the upgrade proceeds to its end.
        for t in new_tasks():
            docker_client.containers.get(t.container_id).exec_run(["sh", "-c", "echo yes > /www/ready"])
        await wait_until(lambda: deployment.id not in docker_engine.deployments, 60, message="upgrade finished")
        assert docker_engine.converged(app_id)
        assert not old & {t.task_id for t in docker_engine.tasks_of(app_id)}
        assert (await client.get("/v2/deployments")).json() == []
        assert docker_engine.readiness_results(app_id) == [], "readiness is checked only during a deployment"

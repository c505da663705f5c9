"""The engine against a real dockerd: the seed app, scaling, replacement, backoff, limits."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, TaskState
from engine.model import next_attempt
from tests.conftest import drain, wait_until

pytestmark = pytest.mark.docker

SAMPLES = Path(__file__).resolve().parents[2] / "sample_apps"


def seed_app() -> dict[str, Any]:
    return json.loads((SAMPLES / "example-app.json").read_text())


def running_containers(client: Any, cluster_id: str, app_id: str | None = None) -> list[Any]:
    filters = [f"pacer.cluster={cluster_id}"] + ([f"pacer.app={app_id}"] if app_id else [])
    return client.containers.list(filters={"label": filters, "status": "running"})


def http_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def test_seed_example_runs_and_answers_http(docker_engine: Engine, docker_client: Any, cluster_id: str) -> None:
    deployment = await docker_engine.create_app(seed_app())
    app = docker_engine.get_app("/example-app")
    assert deployment.app_id == app.id == "/example-app" and deployment.version == app.version
    await wait_until(lambda: docker_engine.running_count("/example-app") == 2, 60, message="2 running tasks")
    tasks = docker_engine.tasks_of("/example-app")
    ports = [t.host_ports[0] for t in tasks]
    assert len(set(ports)) == 2 and all(31000 <= p <= 32000 for p in ports)
    for port in ports:
        await wait_until(lambda p=port: http_ok(p), 60, message=f"HTTP 200 on port {port}")
    containers = running_containers(docker_client, cluster_id, "/example-app")
    assert sorted(c.id for c in containers) == sorted(t.container_id for t in tasks)
    labels = containers[0].labels
    assert labels["pacer.app"] == "/example-app" and labels["pacer.version"] == app.version
    assert labels["pacer.task"] in {t.task_id for t in tasks}
    assert containers[0].name.startswith("pacer.example-app.")
    assert containers[0].attrs["HostConfig"]["RestartPolicy"]["Name"] == "no"


async def test_limits_visible_in_docker_inspect(docker_engine: Engine, docker_client: Any, cluster_id: str) -> None:
    await docker_engine.create_app(
        {"id": "limits", "cmd": "sleep 600", "cpus": 0.25, "mem": 48, "instances": 1,
         "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}}
    )
    await wait_until(lambda: docker_engine.running_count("/limits") == 1, 30, message="task running")
    (container,) = running_containers(docker_client, cluster_id, "/limits")
    host = container.attrs["HostConfig"]
    assert host["NanoCpus"] == 250_000_000
    assert host["Memory"] == 48 * 2**20


async def test_scale_up_and_down_kills_youngest(docker_engine: Engine, docker_client: Any, cluster_id: str) -> None:
    app = {"id": "/scale/web", "cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 2,
           "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}}
    await docker_engine.create_app(app)
    await wait_until(lambda: docker_engine.converged("/scale/web"), 30, message="2 running")
    await docker_engine.scale("/scale/web", 5)
    await wait_until(lambda: docker_engine.converged("/scale/web") and docker_engine.running_count("/scale/web") == 5,
                     60, message="5 running")
    by_age = sorted(docker_engine.tasks_of("/scale/web"), key=lambda t: (t.started_at or 0))
    oldest = by_age[0]
    await docker_engine.scale("/scale/web", 1)
    await wait_until(lambda: len(running_containers(docker_client, cluster_id, "/scale/web")) == 1
                     and docker_engine.converged("/scale/web"), 60, message="1 running")
    (survivor,) = docker_engine.tasks_of("/scale/web")
    assert survivor.task_id == oldest.task_id, "YOUNGEST_FIRST keeps the oldest task"
    (container,) = running_containers(docker_client, cluster_id, "/scale/web")
    assert container.id == oldest.container_id


async def test_container_killed_from_outside_is_replaced(docker_engine: Engine, docker_client: Any,
                                                         cluster_id: str) -> None:
    await docker_engine.create_app(
        {"id": "victim", "cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 2,
         "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}}
    )
    await wait_until(lambda: docker_engine.converged("/victim"), 30, message="2 running")
    victim = docker_engine.tasks_of("/victim")[0]
    docker_client.containers.get(victim.container_id).kill()
    await wait_until(lambda: victim.task_id not in docker_engine.tasks and docker_engine.converged("/victim"),
                     30, message="replacement running")
    assert len(running_containers(docker_client, cluster_id, "/victim")) == 2
    failure = docker_engine.failures["/victim"]
    assert failure["taskId"] == victim.task_id and failure["state"] == "TASK_FAILED"
    assert "137" in failure["message"]
    # The replacement is the same instance's next attempt (the console's RESTARTS), in its own container.
    second = next_attempt(victim.task_id)
    assert second is not None and second in docker_engine.tasks
    replacement = docker_client.containers.get(docker_engine.tasks[second].container_id)
    assert replacement.name.endswith(".2") and replacement.labels["pacer.task"] == second


async def test_crash_loop_backs_off_on_schedule(docker_engine: Engine) -> None:
    launches: list[float] = []
    sub = docker_engine.subscribe(event_types=frozenset({"status_update_event"}))

    async def record() -> None:
        async for event in sub:
            if event.fields["taskStatus"] == TaskState.STAGING.value and event.fields["appId"] == "/crash":
                launches.append(time.monotonic())

    import asyncio

    recorder = asyncio.get_running_loop().create_task(record())
    await docker_engine.create_app(
        {"id": "crash", "cmd": "echo going down; sleep 0.3; exit 3", "cpus": 0.05, "mem": 16, "instances": 1,
         "backoffSeconds": 1, "backoffFactor": 2, "maxLaunchDelaySeconds": 30,
         "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}}
    )
    await wait_until(lambda: len(launches) >= 4, 40, message="4 launches")
    gaps = [b - a for a, b in zip(launches, launches[1:])]
    # Each relaunch waits at least the backoff delay (1, 2, 4 s) after the previous run ended.
    for gap, delay in zip(gaps, [1.0, 2.0, 4.0]):
        assert delay <= gap <= delay + 4.0, f"gaps {gaps}"
    failure = docker_engine.failures["/crash"]
    assert "exited with code 3" in failure["message"]
    await wait_until(lambda: "going down" in docker_engine.failures["/crash"]["message"], 10,
                     message="last log lines kept in lastTaskFailure")
    recorder.cancel()


async def test_command_app_runs_in_default_image(docker_engine: Engine, docker_client: Any, cluster_id: str) -> None:
    await docker_engine.create_app({"id": "cmd-only", "cmd": "echo $MARATHON_APP_ID; sleep 600",
                                    "cpus": 0.05, "mem": 16})
    await wait_until(lambda: docker_engine.running_count("/cmd-only") == 1, 30, message="running")
    (container,) = running_containers(docker_client, cluster_id, "/cmd-only")
    assert container.attrs["Config"]["Image"] == "busybox:latest"
    assert container.attrs["Config"]["Entrypoint"] == ["/bin/sh", "-c"]
    await wait_until(lambda: b"/cmd-only" in container.logs(), 10, message="env var in logs")


async def test_foreign_containers_are_never_touched(docker_config: Any, docker_client: Any, cluster_id: str) -> None:
    unlabelled = docker_client.containers.run("busybox:latest", ["sleep", "600"], detach=True,
                                              labels={"test": cluster_id})
    other = docker_client.containers.run(
        "busybox:latest", ["sleep", "600"], detach=True,
        labels={"pacer.cluster": cluster_id + "-other", "pacer.app": "/x", "pacer.task": "x.instance-1._app.1"},
    )
    try:
        engine = Engine(docker_config)
        await engine.start()
        try:
            await engine.create_app({"id": "mine", "cmd": "sleep 600", "cpus": 0.05, "mem": 16,
                                     "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}})
            await wait_until(lambda: engine.converged("/mine"), 30, message="own app running")
            rounds = engine.stats.rounds
            # Past the orphan grace period, several rounds later.
            await wait_until(lambda: engine.stats.rounds >= rounds + 6, 30, message="more rounds")
            await engine.delete_app("/mine")
            await wait_until(lambda: not engine.tasks, 30, message="own app gone")
        finally:
            await engine.stop()
        unlabelled.reload()
        other.reload()
        assert unlabelled.status == "running" and other.status == "running"
    finally:
        unlabelled.remove(force=True)
        other.remove(force=True)


async def test_orphan_of_this_cluster_removed_after_grace(docker_engine: Engine, docker_client: Any,
                                                          cluster_id: str) -> None:
    orphan = docker_client.containers.run(
        "busybox:latest", ["sleep", "600"], detach=True,
        labels={"pacer.cluster": cluster_id, "pacer.app": "/unknown", "pacer.task": "unknown.instance-1._app.1",
                "pacer.version": "2026-01-01T00:00:00.000Z"},
    )
    docker_engine.wake()
    await wait_until(lambda: not docker_client.containers.list(all=True, sparse=True, filters={"id": orphan.id}), 30,
                     message="orphan removed")


async def test_group_sample_starts_web_once_db_is_healthy_and_stops_web_first(docker_engine: Engine,
                                                                              docker_client: Any) -> None:
    from engine.model.groups import apps_in_group

    group = json.loads((SAMPLES / "web-stack-group.json").read_text())
    watched = docker_engine.bus.subscribe(event_types=frozenset({"status_update_event",
                                                                 "health_status_changed_event"}))

    def seen() -> list[tuple[str, str, Any]]:
        return [(e.event_type, e.fields["appId"], e.fields.get("taskStatus", e.fields.get("alive")))
                for e in drain(watched)]

    deployments = await docker_engine.put_group(group)
    assert {d.app_id for d in deployments} == {"/stack/db", "/stack/web"}
    assert len({d.public_id for d in deployments}) == 1
    await wait_until(lambda: not docker_engine.deployments, 120, message="the group deployed")
    started = seen()
    db_healthy = started.index(("health_status_changed_event", "/stack/db", True))
    first_web = next(i for i, e in enumerate(started) if e[1] == "/stack/web")
    assert db_healthy < first_web, started
    for t in docker_engine.tasks_of("/stack/web"):
        await wait_until(lambda p=t.host_ports[0]: http_ok(p), 30, message=f"web answers on {t.host_ports[0]}")
    await docker_engine.apply_changes(docker_engine.plan_changes([], delete=apps_in_group(docker_engine.apps, "/stack")))
    await wait_until(lambda: not docker_engine.tasks and not docker_engine.deployments, 60, message="removed")
    stopped = [(app, status) for kind, app, status in seen() if status == "TASK_KILLED"]
    assert [app for app, _ in stopped] == ["/stack/web", "/stack/web", "/stack/db"], stopped

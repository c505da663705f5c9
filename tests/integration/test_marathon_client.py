"""marathon-python 0.13.0, used as its users use it, against pacer on a real dockerd.

The client is synchronous (requests); it runs on a worker thread while the
engine and the API share the test's event loop, as in `pacer --serve`.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import json
import urllib.request
from pathlib import Path
from typing import Any, AsyncIterator, Callable, TypeVar

import pytest
import requests

from engine import Engine
from engine.api import ApiServer, start_api
from tests.api.sse_client import open_stream
from tests.conftest import wait_until

# marathon-python 0.13 uses collections.Iterable, gone since Python 3.10 (marathon-client.md §4).
collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

import marathon  # noqa: E402
from marathon.exceptions import ConflictError, NotFoundError  # noqa: E402
from marathon.models import MarathonApp, MarathonDeployment, MarathonQueueItem, MarathonTask  # noqa: E402
from marathon.models.container import MarathonContainer, MarathonDockerContainer  # noqa: E402

pytestmark = pytest.mark.docker

SAMPLES = Path(__file__).resolve().parents[2] / "sample_apps"
T = TypeVar("T")


@pytest.fixture
async def api(docker_engine: Engine) -> AsyncIterator[ApiServer]:
    server = await start_api(docker_engine, docker_engine.config, bind="127.0.0.1:0")
    try:
        yield server
    finally:
        await server.stop()


async def call(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """A blocking client call, off the loop that serves it."""
    return await asyncio.to_thread(fn, *args, **kw)


def running(docker_client: Any, cluster_id: str, app_id: str) -> list[Any]:
    return docker_client.containers.list(filters={"label": [f"pacer.cluster={cluster_id}", f"pacer.app={app_id}"],
                                                  "status": "running"})


def busybox_app(instances: int) -> MarathonApp:
    return MarathonApp(
        cmd="trap 'exit 0' TERM INT; sleep 600 & wait",
        cpus=0.05, mem=16, instances=instances,
        container=MarathonContainer(docker=MarathonDockerContainer(image="busybox:latest", network="BRIDGE")),
        labels={"pacer.note": "marathon-python"},
    )


async def test_marathon_python_lifecycle(api: ApiServer, docker_engine: Engine, docker_client: Any,
                                         cluster_id: str) -> None:
    c = marathon.MarathonClient(api.url)
    engine = docker_engine
    app_id = "/mp/web"

    async def containers(n: int) -> None:
        await wait_until(lambda: len(running(docker_client, cluster_id, app_id)) == n and engine.converged(app_id)
                         and not engine.deployments, 60, message=f"{n} running containers of {app_id}")

    # create
    created = await call(c.create_app, app_id, busybox_app(2))
    assert isinstance(created, MarathonApp) and created.id == app_id and created.instances == 2
    await containers(2)
    assert await call(c.ping) == b'"pong"'
    info = await call(c.get_info)
    assert info.leader == f"127.0.0.1:{api.port}" and info.marathon_config.mesos_role == "*"

    # list apps and tasks
    apps = await call(c.list_apps, embed_tasks=True, embed_counts=True)
    (listed,) = [a for a in apps if a.id == app_id]
    assert listed.tasks_running == 2 and len(listed.tasks) == 2
    assert [a.id for a in await call(c.list_apps, label="pacer.note")] == [app_id]
    tasks = await call(c.list_tasks, app_id)
    assert len(tasks) == 2 and all(isinstance(t, MarathonTask) and t.state == "TASK_RUNNING" for t in tasks)
    assert {t.id for t in tasks} == {cont.labels["pacer.task"] for cont in running(docker_client, cluster_id, app_id)}
    assert all(t.started_at is not None and t.started_at.tzinfo is not None for t in tasks)
    assert len(await call(c.list_tasks)) >= 2
    got = await call(c.get_app, app_id)
    assert got.tasks_running == 2 and got.version in await call(c.list_versions, app_id)

    # scale by count and by delta
    await call(c.scale_app, app_id, instances=3)
    await containers(3)
    await call(c.scale_app, app_id, delta=-1)
    await containers(2)
    assert (await call(c.get_app, app_id)).instances == 2

    # kill tasks: one with scale (instances go down), one without (it is replaced)
    victim = (await call(c.list_tasks, app_id))[0]
    await call(c.kill_task, app_id, victim.id, scale=True)
    await containers(1)
    assert (await call(c.get_app, app_id)).instances == 1
    (survivor,) = await call(c.list_tasks, app_id)
    killed = await call(c.kill_tasks, app_id)
    assert [t.id for t in killed] == [survivor.id]
    await wait_until(lambda: survivor.id not in engine.tasks and engine.converged(app_id), 60,
                     message="killed task replaced")
    await containers(1)
    assert await call(c.kill_given_tasks, [t.id for t in await call(c.list_tasks, app_id)], scale=True) is True
    await containers(0)
    assert (await call(c.get_app, app_id)).instances == 0
    await call(c.scale_app, app_id, instances=2)
    await containers(2)

    # update while a deployment is stuck: 409 without force, accepted with force
    stuck = await call(c.update_app, app_id, MarathonApp(cpus=500, instances=2))
    assert "deploymentId" in stuck
    deployments = await call(c.list_deployments)
    assert [d.id for d in deployments] == [stuck["deploymentId"]]
    assert isinstance(deployments[0], MarathonDeployment) and deployments[0].affected_apps == [app_id]
    await wait_until(lambda: app_id in engine.waiting, 30, message="the stuck app waits in the queue")
    queue = await call(c.list_queue)
    assert queue and isinstance(queue[0], MarathonQueueItem) and queue[0].app.id == app_id
    with pytest.raises(ConflictError):
        await call(c.update_app, app_id, MarathonApp(cpus=0.05, instances=2))
    forced = await call(c.update_app, app_id, MarathonApp(cpus=0.06, instances=2,
                                                          env={"VERSION": "2"}), force=True)
    assert forced["deploymentId"] != stuck["deploymentId"]
    await containers(2)
    assert {cont.attrs["Config"]["Env"].count("VERSION=2") for cont in running(docker_client, cluster_id, app_id)} \
        == {1}

    # delete deployments: with rollback, then with force
    stuck = await call(c.update_app, app_id, MarathonApp(cpus=500))
    rollback = await call(c.delete_deployment, stuck["deploymentId"])
    assert rollback["deploymentId"] != stuck["deploymentId"]
    await containers(2)
    assert (await call(c.get_app, app_id)).cpus == 0.06
    stuck = await call(c.update_app, app_id, MarathonApp(cpus=500))
    assert await call(c.delete_deployment, stuck["deploymentId"], force=True) == {}
    assert await call(c.list_deployments) == []

    # delete the app
    await call(c.delete_app, app_id, force=True)
    await wait_until(lambda: not running(docker_client, cluster_id, app_id) and app_id not in engine.apps, 60,
                     message="app deleted, containers gone")
    with pytest.raises(NotFoundError):
        await call(c.get_app, app_id)


def http_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def test_seed_snippet_unchanged(api: ApiServer, docker_engine: Engine, docker_client: Any,
                                      cluster_id: str) -> None:
    """`requests.post(url + "/v2/apps", json=app)` with the seed's example app yields running containers."""
    app = json.loads((SAMPLES / "example-app.json").read_text())
    url = api.url
    response = await call(requests.post, url + "/v2/apps", json=app)
    assert response.status_code == 201, response.text
    assert response.json()["id"] == "/example-app"
    await wait_until(lambda: len(running(docker_client, cluster_id, "/example-app")) == 2, 90,
                     message="2 example-app containers")
    tasks = (await call(requests.get, url + "/v2/apps/example-app/tasks")).json()["tasks"]
    ports = [t["ports"][0] for t in tasks]
    for port in ports:
        await wait_until(lambda p=port: http_ok(p), 60, message=f"HTTP 200 on {port}")


async def test_health_events_in_order_on_dockerd(api: ApiServer, docker_engine: Engine) -> None:
    """busybox-web (HTTP health check): the deployment's events in Marathon's order."""
    types = ("api_post_event", "deployment_info", "status_update_event", "health_status_changed_event",
             "deployment_success")
    stream = await open_stream(api.host, api.port, "/v2/events?" + "&".join(f"event_type={t}" for t in types))
    try:
        app = json.loads((SAMPLES / "busybox-web.json").read_text())
        app["instances"] = 1
        response = await call(requests.post, api.url + "/v2/apps", json=app)
        assert response.status_code == 201
        kinds = []
        while True:
            kind, data = await stream.event(timeout=60)
            kinds.append(kind)
            if kind == "deployment_success":
                break
        it = iter(kinds)
        assert all(any(k == w for k in it) for w in types), kinds
    finally:
        await stream.close()

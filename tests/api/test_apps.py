"""/v2/apps: Marathon's paths, statuses, headers and JSON shapes, on sim agents."""

from __future__ import annotations

import collections
import collections.abc
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine import Engine
from engine.agents.sim import SimAgent
from tests.api.conftest import app_body
from tests.conftest import wait_until

# marathon-python 0.13 on Python >= 3.10 (marathon-client.md §4)
collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from marathon.models import MarathonApp, MarathonTask  # noqa: E402

TS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


async def converged(engine: Engine, app_id: str) -> None:
    await wait_until(lambda: engine.converged(app_id) and not engine.deployments, 5, message=f"{app_id} converged")


async def test_post_creates_with_201_location_and_deployment_header(client: httpx.AsyncClient) -> None:
    r = await client.post("/v2/apps", json=app_body("/shop/web"))
    assert r.status_code == 201
    body = r.json()
    assert r.headers["location"] == "http://pacer.test/v2/apps/shop/web"
    assert r.headers["marathon-deployment-id"] == body["deployments"][0]["id"]
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-marathon-leader"] == "http://127.0.0.1:8080"
    assert r.headers["cache-control"] == "no-cache, no-store, must-revalidate"
    assert body["id"] == "/shop/web" and body["instances"] == 2
    assert (body["tasksStaged"], body["tasksRunning"], body["tasksHealthy"], body["tasksUnhealthy"]) == (0, 0, 0, 0)
    assert "tasks" not in body and "versionInfo" in body
    MarathonApp.from_json(body)


async def test_relative_id_and_double_slashes(client: httpx.AsyncClient, engine: Engine) -> None:
    r = await client.post("/v2/apps", json=app_body("x"))
    assert r.status_code == 201 and r.json()["id"] == "/x"
    for path in ("/v2/apps//x", "/v2/apps/x", "/v2/apps/x/", "/v2//apps///x"):
        got = await client.get(path)
        assert got.status_code == 200, path
        assert got.json()["app"]["id"] == "/x"


async def test_get_app_embeds_counts_tasks_and_parses_with_marathon_models(client: httpx.AsyncClient,
                                                                           engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body("/shop/web", instances=3))
    await converged(engine, "/shop/web")
    app = (await client.get("/v2/apps/shop/web")).json()["app"]
    assert app["tasksRunning"] == 3 and app["deployments"] == []
    assert len(app["tasks"]) == 3
    task = app["tasks"][0]
    assert task["appId"] == "/shop/web" and task["state"] == "TASK_RUNNING"
    assert set(task) <= {"id", "appId", "host", "slaveId", "state", "stagedAt", "startedAt", "version", "ports",
                         "servicePorts", "ipAddresses", "localVolumes", "healthCheckResults"}
    import re

    assert re.match(TS, task["stagedAt"]) and re.match(TS, task["startedAt"]) and re.match(TS, app["version"])
    parsed = MarathonApp.from_json(app)
    assert parsed.tasks_running == 3 and len(parsed.tasks) == 3
    assert all(isinstance(t, MarathonTask) for t in parsed.tasks)


async def test_list_filters_and_embeds(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body("/shop/web", cmd="python3 -m http.server", labels={"tier": "front"}))
    await client.post("/v2/apps", json=app_body("/shop/db", cmd="postgres", labels={"tier": "back", "x": "1"}))
    await client.post("/v2/apps", json=app_body("/other", labels={}))
    await wait_until(lambda: not engine.deployments, 5, message="deployed")

    async def ids(**params: Any) -> list[str]:
        r = await client.get("/v2/apps", params=params)
        assert r.status_code == 200
        return [a["id"] for a in r.json()["apps"]]

    assert await ids() == ["/other", "/shop/db", "/shop/web"]
    assert await ids(cmd="HTTP.server") == ["/shop/web"]
    assert await ids(id="SHOP") == ["/shop/db", "/shop/web"]
    assert await ids(label="tier") == ["/shop/db", "/shop/web"]
    assert await ids(label="tier==front") == ["/shop/web"]
    assert await ids(label="tier!=front") == ["/other", "/shop/db"]
    assert await ids(label="tier in (back, front),x") == ["/shop/db"]
    assert await ids(label="tier notin (back)") == ["/other", "/shop/web"]
    plain = (await client.get("/v2/apps")).json()["apps"][0]
    assert "tasks" not in plain and {"tasksRunning", "deployments"} <= set(plain)
    embedded = (await client.get("/v2/apps", params=[("embed", "apps.tasks"), ("embed", "app.taskStats"),
                                                      ("embed", "app.lastTaskFailure"),
                                                      ("embed", "app.readiness")])).json()["apps"]
    assert all("tasks" in a and "taskStats" in a and "tasksStats" not in a for a in embedded)
    for a in embedded:
        MarathonApp.from_json(a)
    group = (await client.get("/v2/apps/shop/*")).json()
    assert [a["id"] for a in group["*"]] == ["/shop/db", "/shop/web"]
    assert (await client.get("/v2/apps/nothing/*")).status_code == 404


async def test_put_creates_201_then_updates_200_partial_and_full(client: httpx.AsyncClient, engine: Engine) -> None:
    r = await client.put("/v2/apps/shop/api", json=app_body(labels={"a": "1"}, env={"E": "1"}))
    assert r.status_code == 201
    assert r.headers["location"].endswith("/v2/apps/shop/api")
    assert set(r.json()) == {"deploymentId", "version"}
    assert r.headers["marathon-deployment-id"] == r.json()["deploymentId"]
    app = engine.get_app("/shop/api")
    assert app.id == "/shop/api", "the path id wins over the body's"
    await converged(engine, "/shop/api")
    r = await client.put("/v2/apps/shop/api", json={"cpus": 0.5})
    assert r.status_code == 200
    assert engine.get_app("/shop/api").cpus == 0.5 and engine.get_app("/shop/api").env == {"E": "1"}
    await converged(engine, "/shop/api")
    r = await client.put("/v2/apps/shop/api", params={"partialUpdate": "False"},
                         json={"cmd": "sleep 5", "container": {"docker": {"image": "busybox:latest"}}})
    assert r.status_code == 200
    replaced = engine.get_app("/shop/api")
    assert replaced.env == {} and replaced.cpus == 1.0 and replaced.instances == 1


async def test_put_echoing_get_with_read_only_fields_is_accepted(client: httpx.AsyncClient, engine: Engine) -> None:
    """marathon-python's update_app(id, get_app(id)) echoes tasks, counts and versionInfo."""
    await client.post("/v2/apps", json=app_body(instances=2))
    await converged(engine, "/web")
    echoed = (await client.get("/v2/apps/web")).json()["app"]
    echoed["version"] = None
    echoed["instances"] = 3
    r = await client.put("/v2/apps//web", params={"force": "False"}, json=echoed)
    assert r.status_code == 200, r.text
    assert engine.get_app("/web").instances == 3


async def test_rollback_with_version_only_and_version_mixed_is_422(client: httpx.AsyncClient,
                                                                    engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body(cpus=0.25))
    await converged(engine, "/web")
    first = engine.get_app("/web").version
    await client.put("/v2/apps/web", json={"cpus": 0.5})
    await converged(engine, "/web")
    versions = (await client.get("/v2/apps/web/versions")).json()["versions"]
    assert len(versions) == 2 and versions[-1] == first
    old = (await client.get(f"/v2/apps/web/versions/{first}")).json()
    assert old["cpus"] == 0.25 and old["version"] == first and "tasksRunning" not in old
    MarathonApp.from_json(old)
    missing = await client.get("/v2/apps/web/versions/2001-01-01T00:00:00.000Z")
    assert missing.status_code == 404
    assert missing.json()["message"] == "App '/web' does not exist in version 2001-01-01T00:00:00.000Z"
    r = await client.put("/v2/apps/web", json={"version": first})
    assert r.status_code == 200 and engine.get_app("/web").cpus == 0.25
    mixed = await client.put("/v2/apps/web", json={"version": first, "cpus": 2}, params={"force": "true"})
    assert mixed.status_code == 422
    assert mixed.json()["details"] == [
        {"path": "/version", "errors": ["The 'version' field may only be combined with the 'id' field."]}]


async def test_patch_updates_and_never_creates(client: httpx.AsyncClient, engine: Engine) -> None:
    assert (await client.patch("/v2/apps/nope", json={"instances": 1})).status_code == 404
    await client.post("/v2/apps", json=app_body())
    await converged(engine, "/web")
    r = await client.patch("/v2/apps/web", json={"instances": 1})
    assert r.status_code == 200 and engine.get_app("/web").instances == 1


async def test_batch_put_and_patch(client: httpx.AsyncClient, engine: Engine) -> None:
    r = await client.put("/v2/apps", json=[app_body("/a"), app_body("/b")])
    assert r.status_code == 200 and set(r.json()) == {"deploymentId", "version"}
    assert set(engine.apps) == {"/a", "/b"}
    await wait_until(lambda: not engine.deployments, 5, message="deployed")
    bad = await client.patch("/v2/apps", json=[{"id": "/a", "cpus": -1}, {"id": "/zzz", "cpus": 1}, 7])
    assert bad.status_code == 422
    paths = [d["path"] for d in bad.json()["details"]]
    assert paths == ["/0/cpus", "/1/id", "/2"]
    assert engine.get_app("/a").cpus == 0.25, "nothing changed when one app was bad"
    ok = await client.patch("/v2/apps", json=[{"id": "/a", "instances": 1}, {"id": "b", "instances": 1}])
    assert ok.status_code == 200
    assert engine.get_app("/a").instances == engine.get_app("/b").instances == 1


async def test_conflict_409_names_deployments_and_force_overrides(client: httpx.AsyncClient, engine: Engine) -> None:
    first = await client.post("/v2/apps", json=app_body(cpus=100))  # never fits: the deployment keeps running
    dep = first.headers["marathon-deployment-id"]
    again = await client.post("/v2/apps", json=app_body())
    assert again.status_code == 409 and again.json()["message"] == "An app with id [/web] already exists."
    r = await client.put("/v2/apps/web", json={"instances": 3})
    assert r.status_code == 409
    assert r.json()["deployments"] == [{"id": dep}]
    assert dep in r.json()["message"]
    assert (await client.post("/v2/apps/web/restart")).status_code == 409
    assert (await client.delete("/v2/apps/web", params={"force": "false"})).status_code == 409
    forced = await client.put("/v2/apps/web", params={"force": "TRUE"}, json={"cpus": 0.25})
    assert forced.status_code == 200
    await converged(engine, "/web")


async def test_restart_and_delete(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body())
    await converged(engine, "/web")
    before = {t.task_id for t in engine.tasks_of("/web")}
    r = await client.post("/v2/apps//web/restart")
    assert r.status_code == 200 and r.headers["marathon-deployment-id"] == r.json()["deploymentId"]
    await wait_until(lambda: engine.converged("/web") and not ({t.task_id for t in engine.tasks_of("/web")} & before),
                     5, message="all tasks replaced")
    r = await client.delete("/v2/apps/web")  # force defaults to true
    assert r.status_code == 200
    await wait_until(lambda: not engine.tasks and not engine.deployments, 5, message="deleted")
    assert (await client.get("/v2/apps/web")).status_code == 404
    assert (await client.delete("/v2/apps/web")).status_code == 404
    assert (await client.post("/v2/apps/web/restart")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v2/apps", b"{nope"),
        ("POST", "/v2/apps", b""),
        ("POST", "/v2/apps", b"\xff\xfe"),
        ("PUT", "/v2/apps/x", b'{"id": '),
        ("POST", "/v2/apps", b"[1, NaN]"),
        ("POST", "/v2/tasks/delete", b"{]"),
    ],
)
async def test_malformed_json_is_400(client: httpx.AsyncClient, method: str, path: str, body: bytes) -> None:
    r = await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["message"] == "Invalid JSON" and isinstance(r.json()["details"], str)


async def test_422_names_every_bad_field_with_its_path(client: httpx.AsyncClient) -> None:
    body = {"id": "/Bad_Id", "cmd": "x", "cpus": -1, "mem": "lots", "instances": -2,
            "upgradeStrategy": {"minimumHealthCapacity": 2}, "constraints": [["hostname", "NEAR"]]}
    r = await client.post("/v2/apps", json=body)
    assert r.status_code == 422
    data = r.json()
    assert data["message"] == "Object is not valid"
    paths = {d["path"] for d in data["details"]}
    assert {"/id", "/cpus", "/mem", "/instances", "/upgradeStrategy/minimumHealthCapacity",
            "/constraints/0"} <= paths
    assert all(d["errors"] and all(isinstance(e, str) for e in d["errors"]) for d in data["details"])
    for wrong in (b"[1, 2]", b'"app"', b"3", b"null"):
        r = await client.post("/v2/apps", content=wrong, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["details"][0]["path"] == "/"


async def test_unknown_routes_and_methods_answer_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/nothing")
    assert r.status_code == 404 and r.json() == {"message": "URI not found"}
    r = await client.delete("/v2/info")
    assert r.status_code == 405 and r.json()["message"]
    r = await client.post("/v2/apps/web/somewhere")
    assert r.status_code == 405 and r.json()["message"]


async def test_seed_snippet_with_requests_style_body(client: httpx.AsyncClient, engine: Engine) -> None:
    """The seed's example app (legacy docker.network BRIDGE, hostPort 0), posted as requests.post(json=app) does."""
    app = {"id": "example-app", "cmd": "python3 -m http.server 8080", "cpus": 0.5, "mem": 128, "instances": 2,
           "container": {"type": "DOCKER", "docker": {"image": "python:3", "network": "BRIDGE",
                                                      "portMappings": [{"containerPort": 8080, "hostPort": 0}]}}}
    r = await client.post("/v2/apps", json=app)
    assert r.status_code == 201
    await converged(engine, "/example-app")
    tasks = (await client.get("/v2/apps/example-app/tasks")).json()["tasks"]
    assert len(tasks) == 2 and all(len(t["ports"]) == 1 for t in tasks)
    assert all(t["servicePorts"] == [] for t in tasks), "servicePorts are only filled by /v2/tasks"
    everything = (await client.get("/v2/tasks")).json()["tasks"]
    assert all(len(t["servicePorts"]) >= len(t["ports"]) for t in everything)


async def test_health_results_and_counts(client: httpx.AsyncClient, engine: Engine,
                                         agents: dict[str, SimAgent]) -> None:
    body = app_body("/checked", instances=2, healthChecks=[
        {"protocol": "COMMAND", "command": {"value": "true"}, "gracePeriodSeconds": 30, "intervalSeconds": 1,
         "timeoutSeconds": 1, "maxConsecutiveFailures": 0}])
    await client.post("/v2/apps", json=body)
    await wait_until(lambda: sum(1 for t in engine.tasks_of("/checked") if engine.health.get(t.task_id)) == 2, 10,
                     message="2 healthy")
    app = (await client.get("/v2/apps/checked")).json()["app"]
    assert app["tasksHealthy"] == 2 and app["tasksUnhealthy"] == 0
    results = app["tasks"][0]["healthCheckResults"]
    assert len(results) == 1 and results[0]["alive"] is True and results[0]["consecutiveFailures"] == 0
    assert results[0]["instanceId"] == app["tasks"][0]["id"].rsplit("._app.", 1)[0]
    parsed = MarathonApp.from_json(app)
    assert parsed.tasks[0].health_check_results[0].alive is True
    sick = engine.tasks_of("/checked")[0]
    agents[sick.agent].set_health(sick.container_id or "", False)
    await wait_until(lambda: engine.health.get(sick.task_id) is False, 10, message="one unhealthy")
    app = (await client.get("/v2/apps/checked")).json()["app"]
    assert app["tasksHealthy"] == 1 and app["tasksUnhealthy"] == 1


async def test_groups_read_only(client: httpx.AsyncClient, engine: Engine) -> None:
    from marathon.models import MarathonGroup

    for app_id in ("/shop/web", "/shop/db/main", "/top"):
        await client.post("/v2/apps", json=app_body(app_id, instances=1))
    root = (await client.get("/v2/groups")).json()
    assert root["id"] == "/" and [a["id"] for a in root["apps"]] == ["/top"]
    assert [g["id"] for g in root["groups"]] == ["/shop"] and "enforceRole" not in root
    shop = (await client.get("/v2/groups/shop")).json()
    assert [a["id"] for a in shop["apps"]] == ["/shop/web"]
    assert [g["id"] for g in shop["groups"]] == ["/shop/db"]
    assert shop["groups"][0]["apps"][0]["id"] == "/shop/db/main"
    MarathonGroup.from_json(root)
    MarathonGroup.from_json(shop)
    assert (await client.get("/v2/groups/nope")).status_code == 404
    assert (await client.get("/v2/groups/top")).status_code == 404


async def test_service_ports_are_assigned_kept_on_update_and_never_shared(client: httpx.AsyncClient,
                                                                            engine: Engine) -> None:
    def body(app_id: str, service_port: int = 0) -> dict[str, Any]:
        return app_body(app_id, instances=1, container={"type": "DOCKER", "docker": {
            "image": "busybox:latest", "network": "BRIDGE",
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "servicePort": service_port}]}})

    assert (await client.post("/v2/apps", json=body("/a"))).status_code == 201
    assert (await client.post("/v2/apps", json=body("/b"))).status_code == 201
    shown = (await client.get("/v2/apps/a")).json()["app"]
    assert shown["container"]["portMappings"][0]["servicePort"] == 10000
    assert (await client.get("/v2/apps/b")).json()["app"]["container"]["portMappings"][0]["servicePort"] == 10001
    await converged(engine, "/a")
    changed_at = engine.get_app("/a").version_info["lastConfigChangeAt"]
    tasks = {t.task_id for t in engine.tasks_of("/a")}
    r = await client.put("/v2/apps/a", json=body("/a"))  # the same JSON again, servicePort 0
    assert r.status_code == 200
    assert engine.get_app("/a").version_info["lastConfigChangeAt"] == changed_at, "not a config change"
    await converged(engine, "/a")
    assert {t.task_id for t in engine.tasks_of("/a")} == tasks, "nothing restarted"
    taken = await client.post("/v2/apps", json=body("/c", 10001))
    assert taken.status_code == 422
    assert [(d["path"], d["errors"]) for d in taken.json()["details"]] == [
        ("/container/portMappings/0/servicePort", ["service port 10001 is already used by app /b"])]
    assert (await client.delete("/v2/apps/b")).status_code == 200
    assert (await client.post("/v2/apps", json=body("/c", 10001))).status_code == 201, "a deleted app's port is free"
    assert (await client.post("/v2/apps", json=body("/d"))).status_code == 201
    assert engine.get_app("/d").port_mappings[0].service_port == 10002


# -- issue #19: what a submission may ask for -------------------------------------------------------------

INJECTION = "/h\r\n\r\nPOST /containers/create HTTP/1.1\r\nHost: 127.0.0.1:2375\r\nContent-Length: 2\r\n\r\n{}"


async def test_health_checks_that_could_reach_other_requests_or_ports_are_422(client: httpx.AsyncClient,
                                                                             engine: Engine) -> None:
    crlf = await client.post("/v2/apps", json=app_body(healthChecks=[{"protocol": "HTTP", "path": INJECTION}]))
    assert crlf.status_code == 422, crlf.text
    assert [d["path"] for d in crlf.json()["details"]] == ["/healthChecks/0/path"]
    undeclared = await client.post("/v2/apps", json=app_body(healthChecks=[{"protocol": "HTTP", "port": 2375}]))
    assert undeclared.status_code == 422, undeclared.text
    assert [d["path"] for d in undeclared.json()["details"]] == ["/healthChecks/0/port"]
    assert "is not a port of this app" in undeclared.json()["details"][0]["errors"][0]
    assert engine.apps == {}
    declared = await client.post("/v2/apps", json=app_body(
        networks=[{"mode": "container/bridge"}],
        container={"type": "DOCKER", "docker": {"image": "busybox:latest"},
                   "portMappings": [{"containerPort": 8080, "hostPort": 0}]},
        healthChecks=[{"protocol": "MESOS_HTTP", "port": 8080, "path": "/health?full=1"}]))
    assert declared.status_code == 201, declared.text
    assert declared.json()["healthChecks"][0]["port"] == 8080 and "portIndex" not in declared.json()["healthChecks"][0]


async def test_absurd_numbers_are_422_naming_every_field(client: httpx.AsyncClient, engine: Engine) -> None:
    r = await client.post("/v2/apps", json=app_body("/" + "x" * 10_000, instances=1e12, mem=1e15))
    assert r.status_code == 422, r.text[:300]
    assert {d["path"] for d in r.json()["details"]} == {"/id", "/instances", "/mem"}
    r = await client.post("/v2/apps", json=app_body(instances=1e308, backoffSeconds=10**15, cpus=1e308))
    assert r.status_code == 422
    assert {d["path"] for d in r.json()["details"]} == {"/instances", "/backoffSeconds", "/cpus"}
    assert engine.apps == {}
    at_limits = await client.post("/v2/apps", json=app_body(instances=0, mem=16 * 1024 * 1024, cpus=1024,
                                                            backoffSeconds=2**31 - 1))
    assert at_limits.status_code == 201, at_limits.text


async def test_group_scale_by_past_the_instance_limit_is_422(client: httpx.AsyncClient, engine: Engine) -> None:
    assert (await client.post("/v2/apps", json=app_body("/g/a", instances=2))).status_code == 201
    for factor in (1e12, 50_001, 1e308, 10**400):
        r = await client.put("/v2/groups/g", params={"dryRun": "true"}, json={"scaleBy": factor})
        assert r.status_code == 422, (factor, r.text)
        assert r.json()["details"][0]["path"] == "/scaleBy" and "100000" in r.json()["details"][0]["errors"][0]
    ok = await client.put("/v2/groups/g", params={"dryRun": "true"}, json={"scaleBy": 50_000})
    assert ok.status_code == 200, ok.text


async def test_explain_and_queue_never_500_on_huge_numbers(tmp_path: Path, agents: dict[str, SimAgent]) -> None:
    """An app stored with huge durations (by a pacer before the limits) loads, runs and is explained."""
    from engine.api import ApiSettings, build_app
    from engine.model import app_to_json, format_ts, parse_app
    from engine.store import Store
    from tests.api.conftest import sim_config

    stored = app_to_json(parse_app(app_body("/huge", instances=1), default_image="busybox:latest"))
    stored.update(backoffSeconds=10**15, maxLaunchDelaySeconds=10**15, version=format_ts(1.0),
                  versionInfo={"lastScalingAt": format_ts(1.0), "lastConfigChangeAt": format_ts(1.0)})
    store = Store(tmp_path / "state.db")
    store.put_apps([stored])
    store.close()
    engine = Engine(sim_config(tmp_path), drivers=agents)
    await engine.start()
    try:
        transport = httpx.ASGITransport(build_app(engine, ApiSettings(leader="127.0.0.1:8080")))
        async with httpx.AsyncClient(transport=transport, base_url="http://pacer.test") as client:
            await wait_until(lambda: any(t.container_id for t in engine.tasks_of("/huge")), 5, message="launched")
            task = engine.tasks_of("/huge")[0]
            agents[task.agent].crash(task.container_id or "")
            await wait_until(lambda: "/huge" in engine.backoff, 5, message="backoff after the crash")
            explain = await client.get("/pacer/v1/apps/huge/explain")
            assert explain.status_code == 200, explain.text
            assert explain.json()["backoff"]["notBefore"] == "9999-12-31T23:59:59.999Z"
            await wait_until(lambda: "/huge" in engine.waiting, 5, message="waiting")
            queue = await client.get("/v2/queue")
            assert queue.status_code == 200, queue.text
            assert (await client.get("/pacer/v1/apps/huge/explain")).status_code == 200
    finally:
        await engine.stop()


async def test_versions_are_bounded_keeping_the_current_and_running_ones(client: httpx.AsyncClient,
                                                                         engine: Engine) -> None:
    assert (await client.post("/v2/apps", json=app_body(instances=1))).status_code == 201
    await converged(engine, "/web")
    first = engine.get_app("/web").version
    (oldest_task,) = engine.tasks_of("/web")
    for n in range(150):  # scale changes: the first task keeps running (YOUNGEST_FIRST), on the first version
        r = await client.put("/v2/apps/web", params={"force": "true"}, json={"instances": 2 if n % 2 == 0 else 1})
        assert r.status_code == 200, r.text
    await converged(engine, "/web")
    assert oldest_task.task_id in {t.task_id for t in engine.tasks_of("/web")}
    versions = (await client.get("/v2/apps/web/versions")).json()["versions"]
    assert len(versions) <= 50
    assert versions[0] == engine.get_app("/web").version, "the current version is kept"
    assert first in versions, "a running task's version is kept"
    assert (await client.get(f"/v2/apps/web/versions/{first}")).status_code == 200
    target = versions[20]
    wanted = (await client.get(f"/v2/apps/web/versions/{target}")).json()["instances"]
    back = await client.put("/v2/apps/web", params={"force": "true"}, json={"version": target})
    assert back.status_code == 200, back.text
    assert engine.get_app("/web").instances == wanted
    after = (await client.get("/v2/apps/web/versions")).json()["versions"]
    assert len(after) <= 50 and after[0] == engine.get_app("/web").version and first in after

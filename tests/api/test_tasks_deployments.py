"""/v2/tasks, task kills, /v2/deployments, /v2/queue and the explain extension."""

from __future__ import annotations

import collections
import collections.abc

import httpx

from engine import Engine
from engine.agents.sim import SimAgent
from tests.api.conftest import app_body
from tests.conftest import wait_until

collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from marathon.models import MarathonDeployment, MarathonQueueItem, MarathonTask  # noqa: E402


async def running(engine: Engine, app_id: str, n: int) -> None:
    await wait_until(lambda: engine.converged(app_id) and engine.running_count(app_id) == n and not engine.deployments,
                     5, message=f"{n} tasks of {app_id}")


async def test_list_tasks_with_status_filter_and_service_ports(client: httpx.AsyncClient, engine: Engine,
                                                               agents: dict[str, SimAgent]) -> None:
    await client.post("/v2/apps", json=app_body("/a", instances=2))
    await running(engine, "/a", 2)
    agents["s1"].launch_delay = agents["s2"].launch_delay = 30  # the next launches stay in staging
    await client.post("/v2/apps", json=app_body("/b", instances=1))
    await wait_until(lambda: any(t.app_id == "/b" for t in engine.tasks.values()), 5, message="b staged")
    all_tasks = (await client.get("/v2/tasks")).json()["tasks"]
    assert sorted(t["appId"] for t in all_tasks) == ["/a", "/a", "/b"]
    for t in all_tasks:
        MarathonTask.from_json(t)
        # service ports from Marathon's range, one per app port, unique across apps
        assert t["servicePorts"] == {"/a": [10000], "/b": [10001]}[t["appId"]] and len(t["ports"]) == 1
    run = (await client.get("/v2/tasks", params={"status": "RUNNING"})).json()["tasks"]
    assert sorted(t["appId"] for t in run) == ["/a", "/a"] and all("startedAt" in t for t in run)
    staged = (await client.get("/v2/tasks", params=[("status[]", "staging")])).json()["tasks"]
    assert [t["appId"] for t in staged] == ["/b"] and "startedAt" not in staged[0]
    assert (await client.get("/v2/apps/nope/tasks")).status_code == 404


async def test_kill_tasks_without_and_with_scale(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body(instances=3))
    await running(engine, "/web", 3)
    victim = sorted(engine.tasks_of("/web"), key=lambda t: t.task_id)[0]
    r = await client.delete(f"/v2/apps/web/tasks/{victim.task_id}", params={"scale": "False", "wipe": "False"})
    assert r.status_code == 200 and r.json()["task"]["id"] == victim.task_id
    MarathonTask.from_json(r.json()["task"])
    await wait_until(lambda: victim.task_id not in engine.tasks and engine.running_count("/web") == 3, 5,
                     message="replaced")
    assert engine.get_app("/web").instances == 3
    some = sorted(engine.tasks_of("/web"), key=lambda t: t.task_id)[:2]
    r = await client.post("/v2/tasks/delete", params={"scale": "True"},
                          json={"ids": [t.task_id for t in some] + ["web.instance-00000000-0000-0000-0000-000000000000._app.1"]})
    assert r.status_code == 200 and set(r.json()) == {"deploymentId", "version"}
    assert r.headers["marathon-deployment-id"] == r.json()["deploymentId"]
    assert engine.get_app("/web").instances == 1
    await running(engine, "/web", 1)
    r = await client.delete("/v2/apps/web/tasks", params={"scale": "true"})
    assert r.status_code == 200 and "deploymentId" in r.json()
    await wait_until(lambda: not engine.tasks_of("/web") and not engine.deployments, 5, message="scaled to 0")
    assert engine.get_app("/web").instances == 0


async def test_kill_all_tasks_of_app_on_one_host(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body(instances=4))
    await running(engine, "/web", 4)
    on_s1 = {t.task_id for t in engine.tasks_of("/web") if t.agent == "s1"}
    r = await client.delete("/v2/apps/web/tasks", params={"host": "s1"})
    assert r.status_code == 200
    assert {t["id"] for t in r.json()["tasks"]} == on_s1


async def test_kill_errors(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body(instances=1))
    await running(engine, "/web", 1)
    r = await client.delete("/v2/apps/web/tasks", params={"scale": "true", "wipe": "true"})
    assert r.status_code == 400 and r.json()["message"] == "You cannot use scale and wipe at the same time."
    r = await client.delete("/v2/apps/web/tasks/web.instance-00000000-0000-0000-0000-000000000000._app.1")
    assert r.status_code == 404 and "does not exist" in r.json()["message"]
    r = await client.delete("/v2/apps/nope/tasks")
    assert r.status_code == 404
    r = await client.post("/v2/tasks/delete", json={"ids": ["not a task id"]})
    assert r.status_code == 400 and r.json()["message"].startswith("Invalid task id 'not a task id'.")
    r = await client.post("/v2/tasks/delete", json={"ids": "x"})
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "/ids"
    r = await client.post("/v2/tasks/delete", json={"ids": [1]})
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "/ids/0"
    r = await client.post("/v2/tasks/delete", json={"ids": []})
    assert r.status_code == 200 and r.json() == {"tasks": []}


async def test_deployments_list_cancel_with_rollback_and_force(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body(instances=2, cpus=0.25))
    await running(engine, "/web", 2)
    stuck = await client.put("/v2/apps/web", json={"cpus": 50})  # cannot be placed: stays running
    dep_id = stuck.json()["deploymentId"]
    listed = (await client.get("/v2/deployments")).json()
    assert isinstance(listed, list) and [d["id"] for d in listed] == [dep_id]
    d = listed[0]
    assert d["affectedApps"] == ["/web"] and d["steps"] == [{"actions": [{"action": "RestartApplication",
                                                                           "app": "/web"}]}]
    assert d["currentStep"] == 1 and d["totalSteps"] == 1
    MarathonDeployment.from_json(d)
    pacer = (await client.get("/pacer/v1/deployments")).json()
    await wait_until(lambda: engine.deployments[dep_id].reason is not None, 5, message="a stuck reason")
    pacer = (await client.get("/pacer/v1/deployments")).json()
    assert pacer[0]["status"] == "running" and "cpus" in pacer[0]["reason"]
    r = await client.delete(f"/v2/deployments/{dep_id}")
    assert r.status_code == 200
    rollback = r.json()["deploymentId"]
    assert rollback != dep_id and r.headers["marathon-deployment-id"] == rollback
    await running(engine, "/web", 2)
    assert engine.get_app("/web").cpus == 0.25
    stuck = await client.put("/v2/apps/web", json={"cpus": 60})
    r = await client.delete(f"/v2/deployments/{stuck.json()['deploymentId']}", params={"force": "True"})
    assert r.status_code == 202 and r.content == b""
    assert (await client.get("/v2/deployments")).json() == []
    r = await client.delete("/v2/deployments/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404 and r.json()["message"] == \
        "DeploymentPlan 00000000-0000-0000-0000-000000000000 does not exist"


async def test_queue_shows_waiting_apps_with_offer_summary_and_explain(client: httpx.AsyncClient,
                                                                       engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body("/big", instances=3, cpus=3))
    await wait_until(lambda: "/big" in engine.waiting, 5, message="/big waiting")
    queue = (await client.get("/v2/queue")).json()["queue"]
    assert len(queue) == 1
    item = queue[0]
    assert "role" not in item and item["app"]["id"] == "/big" and item["count"] == 1
    assert item["delay"] == {"timeLeftSeconds": 0, "overdue": True}
    summary = item["processedOffersSummary"]
    assert summary["processedOffersCount"] == 2
    cpus = next(r for r in summary["rejectSummaryLastOffers"] if r["reason"] == "InsufficientCpus")
    assert cpus["declined"] >= 1
    parsed = MarathonQueueItem.from_json(item)
    assert parsed.app.id == "/big" and parsed.delay.overdue is True
    with_offers = (await client.get("/v2/queue", params={"embed": "lastUnusedOffers"})).json()["queue"][0]
    assert with_offers["lastUnusedOffers"] and with_offers["lastUnusedOffers"][0]["reason"] == ["InsufficientCpus"]
    explain = (await client.get("/pacer/v1/apps/big/explain")).json()
    assert explain["waiting"]["count"] == 1
    refused = [a for a in explain["agents"] if not a["accepted"]]
    assert refused and all(a["step"] == "cpus" and "cpus" in a["reason"] for a in refused)
    assert (await client.get("/pacer/v1/apps/nope/explain")).status_code == 404


async def test_reset_delay(client: httpx.AsyncClient, engine: Engine, agents: dict[str, SimAgent]) -> None:
    r = await client.delete("/v2/queue/web/delay")
    assert r.status_code == 404 and r.json()["message"] == "Application /web not found in tasks queue."
    agents["s1"].fail_images.add("crash:1")
    agents["s2"].fail_images.add("crash:1")
    body = app_body(instances=1, backoffSeconds=300, container={"type": "DOCKER", "docker": {"image": "crash:1"}})
    await client.post("/v2/apps", json=body)
    await wait_until(lambda: "/web" in engine.backoff, 5, message="backoff")
    await wait_until(lambda: "/web" in engine.waiting, 5, message="delayed in the queue")
    item = (await client.get("/v2/queue")).json()["queue"][0]
    assert item["delay"]["overdue"] is False and item["delay"]["timeLeftSeconds"] > 200
    r = await client.delete("/v2/queue//web/delay")
    assert r.status_code == 204 and r.content == b""
    assert "/web" not in engine.backoff or engine.backoff["/web"].not_before <= engine.clock() + 5

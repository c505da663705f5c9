"""Group writes (POST/PUT/DELETE /v2/groups): every app a write touches changes in one deployment."""

from __future__ import annotations

import asyncio
import collections
import collections.abc
from typing import Any

import httpx

from engine import Engine
from engine.api import ApiServer
from engine.api.event_json import event_json
from tests.api.conftest import app_body
from tests.conftest import drain, wait_until

collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]  # marathon-python 0.13 on 3.11

import marathon  # noqa: E402
from marathon.models import MarathonGroup  # noqa: E402


def shop(**web: Any) -> dict[str, Any]:
    """A group with relative and absolute app ids and a nested group."""
    return {
        "id": "/shop",
        "apps": [app_body("web", instances=2, **web), app_body("/shop/api", instances=1)],
        "groups": [{"id": "db", "apps": [app_body("main", instances=1)]}],
    }


async def test_post_creates_the_tree_as_one_deployment(client: httpx.AsyncClient, engine: Engine) -> None:
    events = engine.subscribe(event_types=frozenset({"deployment_success"}))
    r = await client.post("/v2/groups", json=shop())
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith("/v2/groups/shop")
    deployment_id = r.json()["deploymentId"]
    assert r.headers["marathon-deployment-id"] == deployment_id
    assert set(engine.apps) == {"/shop/web", "/shop/api", "/shop/db/main"}
    listed = (await client.get("/v2/deployments")).json()
    assert [d["id"] for d in listed] == [deployment_id]
    assert sorted(listed[0]["affectedApps"]) == ["/shop/api", "/shop/db/main", "/shop/web"]
    assert listed[0]["totalSteps"] == 2 and len(listed[0]["steps"][0]["actions"]) == 3
    await wait_until(lambda: all(engine.converged(a) for a in engine.apps), 10, message="all running")
    success = await asyncio.wait_for(events.queue.get(), 5)
    assert success is not None and event_json(success)["id"] == deployment_id, "one success, for the whole change"
    assert events.queue.empty()
    assert (await client.get("/v2/deployments")).json() == []
    tree = (await client.get("/v2/groups/shop")).json()
    assert [a["id"] for a in tree["apps"]] == ["/shop/api", "/shop/web"]
    assert tree["groups"][0]["apps"][0]["id"] == "/shop/db/main"
    again = await client.post("/v2/groups", json=shop())
    assert again.status_code == 409 and again.json()["message"].startswith("Group /shop is already created")


async def test_every_bad_field_is_named_and_nothing_is_created(client: httpx.AsyncClient, engine: Engine) -> None:
    body = {
        "id": "/g",
        "apps": [app_body("a", cpus=-1), app_body("/other/x"), app_body("b", mem="lots")],
        "groups": [{"apps": []}, {"id": "/elsewhere"}],
        "owner": "me",
    }
    r = await client.post("/v2/groups", json=body)
    assert r.status_code == 422, r.text
    paths = {d["path"] for d in r.json()["details"]}
    assert paths == {"/apps/0/cpus", "/apps/1/id", "/apps/2/mem", "/groups/0/id", "/groups/1/id", "/owner"}
    assert not engine.apps and not engine.deployments
    empty = await client.post("/v2/groups", json={"id": "/empty"})
    assert empty.status_code == 422 and empty.json()["details"][0]["path"] == "/apps"
    await client.post("/v2/apps", json=app_body("/solo", instances=0))
    on_app = await client.put("/v2/groups/solo", json={"apps": []})
    assert on_app.status_code == 422 and "is an app, not a group" in on_app.text
    bad_id = await client.post("/v2/groups", json={"id": "/Bad Name", "apps": [app_body("a")]})
    assert bad_id.status_code == 422 and bad_id.json()["details"][0]["path"] == "/id"


async def test_put_replaces_the_given_lists_and_scale_by(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/v2/groups", json=shop())
    await wait_until(lambda: not engine.deployments, 10, message="created")
    dry = await client.put("/v2/groups/shop", params={"dryRun": "true"}, json={"apps": [app_body("web")]})
    assert dry.status_code == 200
    assert dry.json()["steps"] == [{"actions": [{"action": "ScaleApplication", "app": "/shop/web"},
                                                {"action": "StopApplication", "app": "/shop/api"}]}]
    assert set(engine.apps) == {"/shop/web", "/shop/api", "/shop/db/main"} and not engine.deployments
    # `apps` given: the group's own apps are exactly those; its subgroups are untouched.
    r = await client.put("/v2/groups/shop", json={"apps": [app_body("web", instances=3)]})
    assert r.status_code == 200, r.text
    assert set(engine.apps) == {"/shop/web", "/shop/db/main"} and engine.get_app("/shop/web").instances == 3
    await wait_until(lambda: not engine.deployments, 10, message="updated")
    scaled = await client.put("/v2/groups/shop", json={"scaleBy": 1.5})
    assert scaled.status_code == 200
    assert {a: engine.get_app(a).instances for a in engine.apps} == {"/shop/web": 5, "/shop/db/main": 2}
    bad = await client.put("/v2/groups/shop", json={"scaleBy": 0})
    assert bad.status_code == 422 and bad.json()["details"][0]["path"] == "/scaleBy"
    rollback = await client.put("/v2/groups/shop", json={"version": "2026-01-01T00:00:00.000Z"})
    assert rollback.status_code == 422 and rollback.json()["details"][0]["path"] == "/version"
    await wait_until(lambda: not engine.deployments, 10, message="scaled")
    # `groups` given (empty): the subgroups' apps go.
    r = await client.put("/v2/groups/shop", json={"groups": []})
    assert r.status_code == 200 and set(engine.apps) == {"/shop/web"}
    # A PUT on a missing group creates it; the body may name the path's group, not another.
    made = await client.put("/v2/groups/new", json={"id": "new", "apps": [app_body("one", instances=1)]})
    assert made.status_code == 200 and "/new/one" in engine.apps
    other = await client.put("/v2/groups/new", json={"id": "/elsewhere", "apps": []})
    assert other.status_code == 422 and other.json()["details"][0]["path"] == "/id"
    # POST under a path makes a subgroup of it.
    sub = await client.post("/v2/groups/new", json={"id": "sub", "apps": [app_body("two", instances=0)]})
    assert sub.status_code == 201 and "/new/sub/two" in engine.apps


async def test_conflict_cancel_rolls_back_every_part_and_delete(client: httpx.AsyncClient, engine: Engine) -> None:
    await client.post("/v2/apps", json=app_body("/shop/web", instances=1))
    await wait_until(lambda: not engine.deployments, 10, message="web running")
    # /shop/big never fits, so the change stays under way.
    r = await client.put("/v2/groups/shop", json={"apps": [app_body("web", instances=2), app_body("big", cpus=100)]})
    change = r.json()["deploymentId"]
    ended = engine.subscribe(event_types=frozenset({"deployment_failed", "deployment_success"}))
    conflict = await client.put("/v2/apps/shop/web", json={"instances": 1})
    assert conflict.status_code == 409 and conflict.json()["deployments"] == [{"id": change}]
    cancel = await client.delete(f"/v2/deployments/{change}")
    assert cancel.status_code == 200, cancel.text
    rollback = cancel.json()["deploymentId"]
    assert rollback != change
    assert set(engine.apps) == {"/shop/web"} and engine.get_app("/shop/web").instances == 1
    await wait_until(lambda: not engine.deployments, 10, message="rolled back")
    announced = [(e.event_type, event_json(e)["id"], event_json(e).get("reason")) for e in drain(ended)]
    assert announced == [("deployment_failed", change, "rolled back"), ("deployment_success", rollback, None)]
    gone = await client.delete("/v2/groups/shop")
    assert gone.status_code == 200 and not engine.apps
    assert (await client.delete("/v2/groups/shop")).status_code == 404
    assert (await client.delete("/v2/groups")).status_code == 200, "an empty root: nothing to do"


async def test_marathon_python_group_calls(server: ApiServer, engine: Engine) -> None:
    c = marathon.MarathonClient(server.url)
    created = await asyncio.to_thread(c.create_group, MarathonGroup.from_json(shop()))
    assert created["deploymentId"]
    assert {g.id for g in await asyncio.to_thread(c.list_groups)} == {"/shop"}
    await wait_until(lambda: not engine.deployments, 10, message="created")
    scaled = await asyncio.to_thread(c.scale_group, "/shop", 2)
    assert scaled["deploymentId"] and engine.get_app("/shop/web").instances == 4
    await wait_until(lambda: not engine.deployments, 10, message="scaled")
    await asyncio.to_thread(c.delete_group, "/shop", force=True)
    assert not engine.apps


async def test_dependencies_order_the_change_and_cycles_are_refused(client: httpx.AsyncClient,
                                                                    engine: Engine) -> None:
    staged = engine.subscribe(event_types=frozenset({"status_update_event"}))
    group = {"id": "/stack", "apps": [app_body("web", instances=2, dependencies=["/stack/db"]),
                                      app_body("db", instances=1)]}
    r = await client.post("/v2/groups", json=group)
    assert r.status_code == 201, r.text
    await wait_until(lambda: not engine.deployments, 10, message="deployed")
    order = [(event_json(e)["appId"], event_json(e)["taskStatus"]) for e in drain(staged)]
    first_web = next(i for i, (app_id, _) in enumerate(order) if app_id == "/stack/web")
    assert ("/stack/db", "TASK_RUNNING") in order[:first_web], f"web started before db ran: {order}"
    assert engine.running_count("/stack/web") == 2
    cycle = {"id": "/loop", "apps": [app_body("a", dependencies=["/loop/b"]), app_body("b", dependencies=["a"])]}
    bad = await client.post("/v2/groups", json=cycle)
    assert bad.status_code == 422
    messages = {d["path"]: d["errors"] for d in bad.json()["details"]}
    assert messages == {"/apps/0/dependencies": ["dependencies form a cycle: /loop/a -> /loop/b -> /loop/a"],
                        "/apps/1/dependencies": ["dependencies form a cycle: /loop/b -> /loop/a -> /loop/b"]}


async def test_a_removed_group_stops_dependents_first(client: httpx.AsyncClient, engine: Engine) -> None:
    group = {"id": "/stack", "apps": [app_body("web", instances=2, dependencies=["db"]),
                                      app_body("cache", instances=1, dependencies=["db"]),
                                      app_body("db", instances=1)]}
    assert (await client.post("/v2/groups", json=group)).status_code == 201
    await wait_until(lambda: not engine.deployments, 10, message="deployed")
    ended = engine.subscribe(event_types=frozenset({"status_update_event"}))
    assert (await client.delete("/v2/groups/stack")).status_code == 200
    await wait_until(lambda: not engine.deployments and not engine.tasks, 10, message="removed")
    order = [(event_json(e)["appId"], event_json(e)["taskStatus"]) for e in drain(ended)]
    first_db = next(i for i, (app_id, _) in enumerate(order) if app_id == "/stack/db")
    dependents_gone = [s for s in order[:first_db] if s[1] == "TASK_KILLED"]
    assert sorted(app for app, _ in dependents_gone) == ["/stack/cache", "/stack/web", "/stack/web"], order

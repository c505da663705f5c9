"""Autoscaling through the API: labels validated as 422, status endpoint, pacer_autoscale over SSE on request."""

from __future__ import annotations

import httpx

from engine import Engine
from engine.agents.sim import SimAgent
from engine.api import ApiServer
from engine.model.autoscale_labels import AutoscalePolicy
from tests.api.conftest import app_body
from tests.api.sse_client import open_stream
from tests.conftest import wait_until

POLICY = AutoscalePolicy("memory", 50, 1, 3, step=1, cooldown=0.3, window=0.2, interval=0.1)


async def test_bad_policy_is_a_422_at_its_label(client: httpx.AsyncClient) -> None:
    labels = POLICY.to_labels() | {"pacer.autoscale.target": "high", "pacer.autoscale.windw": "3"}
    r = await client.post("/v2/apps", json=app_body(labels=labels))
    assert r.status_code == 422
    details = {d["path"]: d["errors"] for d in r.json()["details"]}
    assert "must be a number" in details["/labels/pacer.autoscale.target"][0]
    assert "did you mean pacer.autoscale.window?" in details["/labels/pacer.autoscale.windw"][0]
    # the same through a PATCH of an existing app (merged labels)
    assert (await client.post("/v2/apps", json=app_body(labels=POLICY.to_labels()))).status_code == 201
    r = await client.patch("/v2/apps/web", json={"labels": POLICY.to_labels() | {"pacer.autoscale.min": "9"}})
    assert r.status_code == 422
    assert [d["path"] for d in r.json()["details"]] == ["/labels/pacer.autoscale.max"]


async def test_status_endpoint_and_labels_round_trip(client: httpx.AsyncClient, engine: Engine) -> None:
    assert (await client.post("/v2/apps", json=app_body("/plain", instances=1))).status_code == 201
    assert (await client.get("/pacer/v1/apps/plain/autoscale")).json() == {"appId": "/plain", "policy": None}
    assert (await client.get("/pacer/v1/apps/nope/autoscale")).status_code == 404
    body = app_body("/team/web", instances=1, labels=POLICY.to_labels())
    assert (await client.post("/v2/apps", json=body)).status_code == 201
    got = (await client.get("/v2/apps/team/web")).json()["app"]
    assert got["labels"] == POLICY.to_labels()
    await wait_until(lambda: engine.converged("/team/web"), 5, message="deployed")
    status = (await client.get("/pacer/v1/apps/team/web/autoscale")).json()
    assert status["appId"] == "/team/web" and status["policy"]["metric"] == "memory"
    assert status["policy"]["max"] == 3 and status["recent"] == []


async def test_decisions_stream_as_pacer_autoscale_events(server: ApiServer, engine: Engine,
                                                          agents: dict[str, SimAgent]) -> None:
    plain = await open_stream(server.host, server.port, "/v2/events")
    asked = await open_stream(server.host, server.port, "/v2/events?event_type=pacer_autoscale")
    try:
        async with httpx.AsyncClient(base_url=server.url) as c:
            r = await c.post("/v2/apps", json=app_body("/m", instances=1, mem=100, labels=POLICY.to_labels()))
            assert r.status_code == 201
        await wait_until(lambda: engine.converged("/m"), 5, message="deployed")
        for a in agents.values():
            a.set_load("/m", mem_mib=80)  # each agent's own SimLoad: one task at 80 % -> 2
        kind, data = await asked.event(timeout=10)
        assert kind == "pacer_autoscale"
        assert data["appId"] == "/m" and (data["from"], data["to"]) == (1, 2)
        assert data["metric"] == "memory" and data["target"] == 50 and data["measured"] > 55
        assert data["reason"] and data["deploymentId"]
        seen: list[str] = []
        while seen.count("deployment_success") < 2:  # the creation's and the scale's
            kind, _ = await plain.event(timeout=10)
            seen.append(kind)
        assert not [k for k in seen if k.startswith("pacer_")]
    finally:
        await plain.close()
        await asked.close()

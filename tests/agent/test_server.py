"""The agent's HTTP API in-process (httpx ASGITransport) on a fake backend: auth, policy, guards."""

from __future__ import annotations

import logging
from typing import AsyncIterator

import httpx
import pytest

from engine.agentd.config import AgentPolicy
from engine.agentd.server import AgentSettings, build_app
from engine.agentd.wire import spec_to_json
from engine.agents.base import VolumeMount
from tests.agent.support import TOKEN, FakeBackend, spec

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(cpus=4, mem_mib=2048, attributes={"rack": "r1"})


@pytest.fixture
async def client(backend: FakeBackend) -> AsyncIterator[httpx.AsyncClient]:
    settings = AgentSettings(token=TOKEN, name="edge-1",
                             policy=AgentPolicy(image_allowlist=("busybox:*", "python:3")), heartbeat=0.2)
    app = build_app(backend, settings)
    transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 4242))
    async with httpx.AsyncClient(transport=transport, base_url="http://agent") as c:
        yield c


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no Authorization header"),
        ({"Authorization": "Bearer wrong-token-wrong-token"}, "wrong token"),
        ({"Authorization": f"Basic {TOKEN}"}, "not a Bearer token"),
        ({"Authorization": "Bearer "}, "not a Bearer token"),
    ],
)
async def test_requests_without_the_token_are_refused_and_logged_without_it(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, headers: dict[str, str], reason: str
) -> None:
    caplog.set_level(logging.INFO, logger="pacer.agentd")
    for method, path in [("GET", "/v1/info"), ("GET", "/v1/containers?cluster=c1"), ("POST", "/v1/tasks"),
                         ("DELETE", "/v1/containers/abc"), ("GET", "/v1/events?cluster=c1")]:
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.json() == {"message": f"unauthorized: {reason}"}
        assert response.headers["www-authenticate"].startswith("Bearer")
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 5
    assert all("10.9.8.7:4242" in line and reason in line for line in refusals)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged and "wrong-token" not in logged


async def test_info_reports_capacity_attributes_and_policy(client: httpx.AsyncClient) -> None:
    info = (await client.get("/v1/info", headers=AUTH)).json()
    assert info["name"] == "edge-1" and info["api"] == "v1"
    assert info["capacity"]["cpus"] == 4 and info["capacity"]["mem_mib"] == 2048
    assert info["capacity"]["attributes"] == {"rack": "r1"}
    assert info["policy"]["allow_privileged"] is False
    assert info["policy"]["image_allowlist"] == ["busybox:*", "python:3"]


async def test_launch_list_stop_remove(client: httpx.AsyncClient, backend: FakeBackend) -> None:
    launched = await client.post("/v1/tasks", json=spec_to_json(spec("t1")), headers=AUTH)
    assert launched.status_code == 201, launched.text
    cid = launched.json()["container_id"]
    listed = (await client.get("/v1/containers", params={"cluster": "c1"}, headers=AUTH)).json()["containers"]
    assert [(c["container_id"], c["task_id"], c["state"]) for c in listed] == [(cid, "t1", "running")]
    assert (await client.get("/v1/containers", params={"cluster": "other"}, headers=AUTH)).json() == {
        "containers": [], "foreign_ports": []}
    assert (await client.post(f"/v1/containers/{cid}/stop", params={"grace": 1}, headers=AUTH)).status_code == 204
    logs = await client.get(f"/v1/containers/{cid}/logs", params={"tail": 5}, headers=AUTH)
    assert logs.text.startswith("[sim] started t1")
    stats = await client.get(f"/v1/containers/{cid}/stats", headers=AUTH)
    assert stats.json()["memory_stats"] == {"usage": 1024}
    assert (await client.delete(f"/v1/containers/{cid}", headers=AUTH)).status_code == 204
    assert (await client.get("/v1/containers", params={"cluster": "c1"}, headers=AUTH)).json()["containers"] == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"privileged": True}, "policy: privileged mode is not allowed on this agent"),
        ({"volumes": (VolumeMount("/var/run/docker.sock", "/sock"),)},
         "policy: host path volumes are not allowed on this agent (/var/run/docker.sock)"),
        ({"network_mode": "host"}, "policy: host networking is not allowed on this agent"),
        ({"image": "alpine:3"}, "policy: image 'alpine:3' is not in this agent's image allowlist (busybox:*, python:3)"),
    ],
)
async def test_policy_refuses_what_the_engine_asks(
    client: httpx.AsyncClient, backend: FakeBackend, caplog: pytest.LogCaptureFixture, changes: dict, message: str
) -> None:
    caplog.set_level(logging.INFO, logger="pacer.agentd")
    response = await client.post("/v1/tasks", json=spec_to_json(spec(**changes)), headers=AUTH)
    assert response.status_code == 403
    assert response.json() == {"message": message}
    assert backend.launched == []
    assert any(message in r.getMessage() for r in caplog.records)


async def test_only_pacer_containers_can_be_touched(client: httpx.AsyncClient, backend: FakeBackend) -> None:
    backend.foreign.add("f00d")
    for method, path in [("POST", "/v1/containers/f00d/stop"), ("DELETE", "/v1/containers/f00d"),
                         ("GET", "/v1/containers/f00d/logs"), ("GET", "/v1/containers/f00d/stats"),
                         ("POST", "/v1/containers/nothing/stop")]:
        response = await client.request(method, path, headers=AUTH)
        assert response.status_code == 404, (method, path)
        assert "no pacer container" in response.json()["message"]
    response = await client.post("/v1/containers/f00d/exec", json={"command": "id"}, headers=AUTH)
    assert response.status_code == 404


async def test_cluster_filter_on_container_calls(client: httpx.AsyncClient) -> None:
    cid = (await client.post("/v1/tasks", json=spec_to_json(spec("t1")), headers=AUTH)).json()["container_id"]
    assert (await client.post(f"/v1/containers/{cid}/stop", params={"cluster": "c2"}, headers=AUTH)).status_code == 404
    assert (await client.post(f"/v1/containers/{cid}/stop", params={"cluster": "c1"}, headers=AUTH)).status_code == 204


async def test_exec_runs_health_commands(client: httpx.AsyncClient, backend: FakeBackend) -> None:
    cid = (await client.post("/v1/tasks", json=spec_to_json(spec("t1")), headers=AUTH)).json()["container_id"]
    ok = await client.post(f"/v1/containers/{cid}/exec", json={"command": "true"}, headers=AUTH)
    assert ok.json() == {"exit_code": 0, "output": ""}
    backend.set_health(cid, False)
    bad = await client.post(f"/v1/containers/{cid}/exec", json={"command": "true"}, headers=AUTH)
    assert bad.json()["exit_code"] == 1
    missing = await client.post(f"/v1/containers/{cid}/exec", json={}, headers=AUTH)
    assert missing.status_code == 400 and "command" in missing.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", "/v1/tasks", b"not json", "body: not JSON"),
        ("POST", "/v1/tasks", b"[]", "body: must be a JSON object"),
        ("POST", "/v1/tasks", b'{"task_id": "x"}', "is required"),
        ("GET", "/v1/containers", b"", "cluster: the query parameter is required"),
    ],
)
async def test_bad_requests_are_400_with_the_field(
    client: httpx.AsyncClient, method: str, path: str, body: bytes, message: str
) -> None:
    response = await client.request(method, path, content=body, headers=AUTH)
    assert response.status_code == 400
    assert message in response.json()["message"]


async def test_unreachable_docker_is_503(client: httpx.AsyncClient, backend: FakeBackend) -> None:
    backend.reachable = False
    response = await client.get("/v1/containers", params={"cluster": "c1"}, headers=AUTH)
    assert response.status_code == 503 and "simulated outage" in response.json()["message"]


async def test_launch_errors_reach_the_caller(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/tasks", json=spec_to_json(spec(image="busybox:missing")), headers=AUTH)
    assert response.status_code == 201  # the fake has every image but 'missing/...'
    response = await client.post("/v1/tasks", json=spec_to_json(spec("t2", image="missing/x")), headers=AUTH)
    assert response.status_code == 403  # the allowlist comes first

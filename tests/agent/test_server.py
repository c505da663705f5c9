"""The agent's HTTP API in-process (httpx ASGITransport) on a fake backend: auth, policy, guards."""

from __future__ import annotations

import json
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
C1 = {"cluster": "c1"}


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
    stopped = await client.post(f"/v1/containers/{cid}/stop", params={"cluster": "c1", "grace": 1}, headers=AUTH)
    assert stopped.status_code == 204
    logs = await client.get(f"/v1/containers/{cid}/logs", params={"cluster": "c1", "tail": 5}, headers=AUTH)
    assert logs.text.startswith("[sim] started t1")
    stats = await client.get(f"/v1/containers/{cid}/stats", params=C1, headers=AUTH)
    assert stats.json()["memory_stats"] == {"usage": 1024}
    assert (await client.delete(f"/v1/containers/{cid}", params=C1, headers=AUTH)).status_code == 204
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


CONTAINER_CALLS = [("POST", "stop"), ("DELETE", ""), ("GET", "logs"), ("GET", "logs?follow=1"), ("GET", "stats"),
                   ("POST", "exec")]


async def _call(client: httpx.AsyncClient, method: str, cid: str, what: str, cluster: str | None) -> httpx.Response:
    path, _, query = f"/v1/containers/{cid}/{what}".rstrip("/").partition("?")
    params = dict(p.split("=") for p in query.split("&") if p)
    if cluster is not None:
        params["cluster"] = cluster
    body = {"command": "env"} if what == "exec" else None
    return await client.request(method, path, params=params, json=body, headers=AUTH)


async def test_only_this_clusters_containers_can_be_touched(
    client: httpx.AsyncClient, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pacer.agentd")
    backend.foreign.add("f00d")  # on the daemon without pacer's labels
    secret = {"DB_PASSWORD": "hunter2-of-cluster-c2"}
    other = (await client.post("/v1/tasks", json=spec_to_json(spec("t9", cluster="c2", env=secret)),
                               headers=AUTH)).json()["container_id"]
    for method, what in CONTAINER_CALLS:
        answers = {cid: await _call(client, method, cid, what, "c1") for cid in (other, "f00d", "nothing")}
        for cid, response in answers.items():
            assert response.status_code == 404, (method, what, cid, response.text)
            # the same answer whether the container is another cluster's, not pacer's or absent
            assert response.json() == {"message": f"no container {cid!r} of cluster 'c1' on this agent"}
            assert "hunter2" not in response.text and "c2" not in response.text and "t9" not in response.text
    assert backend.calls == [] and backend.running_task_ids() == {"t9"}  # nothing reached the daemon
    refusals = [r.getMessage() for r in caplog.records if "is not one of cluster 'c1'" in r.getMessage()]
    assert len(refusals) == 2 * len(CONTAINER_CALLS)  # the operator's log says which (absent ones are routine)
    assert any("another cluster's" in r for r in refusals) and any("not pacer's" in r for r in refusals)
    # the owner still reaches it
    exec_c2 = await _call(client, "POST", other, "exec", "c2")
    assert exec_c2.status_code == 200


async def test_container_calls_must_name_their_cluster(client: httpx.AsyncClient, backend: FakeBackend) -> None:
    cid = (await client.post("/v1/tasks", json=spec_to_json(spec("t1")), headers=AUTH)).json()["container_id"]
    for method, what in CONTAINER_CALLS:
        for cluster in (None, "", "  "):
            response = await _call(client, method, cid, what, cluster)
            assert response.status_code == 400, (method, what, cluster)
            assert response.json()["message"].startswith("cluster: the query parameter is required")
    assert backend.calls == [] and backend.running_task_ids() == {"t1"}


async def test_an_agent_for_named_clusters_refuses_the_others(backend: FakeBackend) -> None:
    settings = AgentSettings(token=TOKEN, name="edge-1", clusters=("c1",), heartbeat=0.2)
    transport = httpx.ASGITransport(app=build_app(backend, settings), client=("10.9.8.7", 4242))
    async with httpx.AsyncClient(transport=transport, base_url="http://agent") as client:
        assert (await client.get("/v1/info", headers=AUTH)).json()["clusters"] == ["c1"]
        ours = await client.post("/v1/tasks", json=spec_to_json(spec("t1")), headers=AUTH)
        assert ours.status_code == 201
        theirs = await client.post("/v1/tasks", json=spec_to_json(spec("t2", cluster="c2")), headers=AUTH)
        assert theirs.status_code == 403
        assert theirs.json() == {"message": "cluster 'c2' is not served by this agent (it serves c1)"}
        for path in ("/v1/containers", "/v1/events"):
            refused = await client.get(path, params={"cluster": "c2"}, headers=AUTH)
            assert refused.status_code == 403 and "'c2' is not served" in refused.json()["message"]
        cid = ours.json()["container_id"]
        for method, what in CONTAINER_CALLS:
            assert (await _call(client, method, cid, what, "c2")).status_code == 403
        assert [s.task_id for s in backend.launched] == ["t1"] and backend.running_task_ids() == {"t1"}
        assert backend.calls == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pids_limit": -1}, "pids_limit"),
        ({"pids_limit": 0}, "pids_limit"),
        ({"cpus": 0}, "cpus"),
        ({"cpus": -0.5}, "cpus"),
        ({"cpus": 0.001}, "cpus"),  # below docker's 0.01: the driver would round it to no limit
        ({"mem_mib": 0}, "mem_mib"),
        ({"mem_mib": -64}, "mem_mib"),
        ({"mem_mib": 1e-9}, "mem_mib"),
        ({"cpus": float("nan")}, "cpus"),
        ({"mem_mib": float("inf")}, "mem_mib"),
        ({"cpus": 1e9}, "cpus"),
        ({"kill_grace_seconds": -1.0}, "kill_grace_seconds"),
        ({"kill_grace_seconds": float("nan")}, "kill_grace_seconds"),
        ({"ports": [{"container_port": 80, "host_port": 70000}]}, "ports[0].host_port"),
        ({"ports": [{"container_port": -1, "host_port": 31000}]}, "ports[0].container_port"),
        ({"cluster_id": ""}, "cluster_id"),
    ],
)
async def test_limits_that_would_be_no_limit_and_bad_numbers_are_400(
    client: httpx.AsyncClient, backend: FakeBackend, changes: dict, field: str
) -> None:
    body = {**spec_to_json(spec("t1")), **changes}
    # NaN and Infinity as Python's json writes them: the agent must not take them for numbers
    response = await client.post("/v1/tasks", content=json.dumps(body).encode(), headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(f"{field}: "), response.json()
    assert backend.launched == []


async def test_zero_limits_say_why(client: httpx.AsyncClient) -> None:
    answers = [(await client.post("/v1/tasks", json={**spec_to_json(spec("t1")), **change}, headers=AUTH)).json()
               for change in ({"pids_limit": -1}, {"cpus": 0}, {"mem_mib": 0})]
    assert answers == [
        {"message": "pids_limit: must be between 1 and 4194304 (0 or -1 would be no pids limit at all; leave it "
                    "out for the agent's), got -1"},
        {"message": "cpus: must be between 0.01 and 4096 (0 would be no CPU limit at all), got 0"},
        {"message": "mem_mib: must be between 6 and 1073741824 (0 would be no memory limit at all), got 0"},
    ]


@pytest.mark.parametrize(
    ("method", "what", "query", "message"),
    [
        ("POST", "stop", "grace=nan", "grace: must be a finite number, got nan"),
        ("POST", "stop", "grace=inf", "grace: must be a finite number, got inf"),
        ("POST", "stop", "grace=-inf", "grace: must be a finite number, got -inf"),
        ("POST", "stop", "grace=-1", "grace: must be between 0 and 86400, got -1"),
        ("POST", "stop", "grace=1e9", "grace: must be between 0 and 86400, got 1000000000"),
        ("GET", "logs", "tail=nan", "tail: must be a whole number, got 'nan'"),
        ("GET", "logs", "tail=1e400", "tail: must be a whole number, got '1e400'"),
        ("GET", "logs", "tail=-5", "tail: must be between 0 and 1000000, got -5"),
        ("GET", "logs", "tail=99999999999", "tail: must be between 0 and 1000000, got 99999999999"),
        ("GET", "logs", "follow=maybe", "follow: must be 0, 1, true or false, got 'maybe'"),
    ],
)
async def test_numbers_in_queries_are_checked(
    client: httpx.AsyncClient, backend: FakeBackend, method: str, what: str, query: str, message: str
) -> None:
    cid = (await client.post("/v1/tasks", json=spec_to_json(spec("t1")), headers=AUTH)).json()["container_id"]
    response = await _call(client, method, cid, f"{what}?{query}", "c1")
    assert response.status_code == 400 and response.json() == {"message": message}
    assert backend.calls == [] and backend.running_task_ids() == {"t1"}  # nothing reached the daemon


async def test_exec_runs_health_commands(client: httpx.AsyncClient, backend: FakeBackend) -> None:
    cid = (await client.post("/v1/tasks", json=spec_to_json(spec("t1")), headers=AUTH)).json()["container_id"]
    ok = await client.post(f"/v1/containers/{cid}/exec", params=C1, json={"command": "true"}, headers=AUTH)
    assert ok.json() == {"exit_code": 0, "output": ""}
    backend.set_health(cid, False)
    bad = await client.post(f"/v1/containers/{cid}/exec", params=C1, json={"command": "true"}, headers=AUTH)
    assert bad.json()["exit_code"] == 1
    missing = await client.post(f"/v1/containers/{cid}/exec", params=C1, json={}, headers=AUTH)
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

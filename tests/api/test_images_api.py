"""Images through the API: a reference that cannot exist and pullConfig are 422s; /pacer/v1/pulls answers."""

from __future__ import annotations

import httpx

from tests.api.conftest import app_body


async def test_a_bad_image_reference_is_a_422_at_its_field(client: httpx.AsyncClient) -> None:
    body = app_body("/inky")
    body["container"]["docker"]["image"] = "mesosphere:marathon/latest"
    r = await client.post("/v2/apps", json=body)
    assert r.status_code == 422
    assert r.json()["details"] == [{"path": "/container/docker/image", "errors": [
        "invalid image reference 'mesosphere:marathon/latest': 'mesosphere:marathon' is not a registry host[:port]"]}]
    body["container"]["docker"]["image"] = "mesosphere/inky"  # an unmodified public app: accepted
    assert (await client.post("/v2/apps", json=body)).status_code == 201


async def test_pull_config_is_a_422_that_says_why(client: httpx.AsyncClient) -> None:
    body = app_body("/private", secrets={"reg": {"source": "registry-creds"}})
    body["container"]["docker"]["pullConfig"] = {"secret": "reg"}
    r = await client.post("/v2/apps", json=body)
    assert r.status_code == 422
    (detail,) = [d for d in r.json()["details"] if d["path"] == "/container/docker/pullConfig"]
    assert "no secret store" in detail["errors"][0] and "[agent.registries]" in detail["errors"][0]


async def test_pulls_endpoint_on_agents_that_pull_nothing(client: httpx.AsyncClient) -> None:
    await client.post("/v2/apps", json=app_body("/web"))
    assert (await client.get("/pacer/v1/pulls")).json() == {"pulls": []}
    assert (await client.get("/pacer/v1/pulls", params={"app": "/web"})).json() == {"pulls": []}
    explain = (await client.get("/pacer/v1/apps/web/explain")).json()
    assert explain["pulls"] == []

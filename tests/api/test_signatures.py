"""/pacer/v1/signatures and /pacer/v1/policies."""

from __future__ import annotations

from pathlib import Path

import httpx

from engine import Engine
from engine.trust import generate_key_pair, load_private_key, sign_image

ID_A = "sha256:" + "ab" * 32


async def test_signatures_round_trip(client: httpx.AsyncClient, engine: Engine, tmp_path: Path) -> None:
    private, _, _ = generate_key_pair(tmp_path / "k")
    sig = sign_image(load_private_key(private), "busybox", ID_A)
    body = {"image": "busybox", "imageId": sig.image_id, "publicKey": sig.public_key, "signature": sig.signature}
    created = await client.post("/pacer/v1/signatures", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["image"] == "busybox:latest" and created.json()["keyId"] == sig.key_id
    listed = (await client.get("/pacer/v1/signatures", params={"image": "busybox:latest"})).json()["signatures"]
    assert [s["imageId"] for s in listed] == [ID_A]
    assert (await client.get("/pacer/v1/signatures", params={"image": "python:3"})).json() == {"signatures": []}
    assert len(engine.signatures) == 1

    forged = await client.post("/pacer/v1/signatures", json={**body, "imageId": "sha256:" + "cd" * 32})
    assert forged.status_code == 422
    assert forged.json()["details"][0]["path"] == "/signature"
    missing = await client.post("/pacer/v1/signatures", json={"image": "busybox"})
    assert missing.status_code == 422 and missing.json()["details"][0]["path"] == "/imageId"
    assert (await client.post("/pacer/v1/signatures", content=b"[1]",
                              headers={"content-type": "application/json"})).status_code == 422

    nothing = await client.delete("/pacer/v1/signatures")
    assert nothing.status_code == 422
    removed = await client.delete("/pacer/v1/signatures", params={"keyId": sig.key_id})
    assert removed.status_code == 200 and len(removed.json()["removed"]) == 1
    assert engine.signatures == ()


async def test_policies_per_agent(client: httpx.AsyncClient) -> None:
    agents = (await client.get("/pacer/v1/policies")).json()["agents"]
    assert {a["agent"] for a in agents} == {"s1", "s2"}
    policy = agents[0]["policy"]
    assert policy["allow_privileged"] is False and policy["pids_limit"] == 256
    assert "NET_BIND_SERVICE" in policy["capabilities"]

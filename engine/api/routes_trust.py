"""pacer's image trust endpoints (/pacer/v1): signatures the engine keeps, and the agents' policies.

- ``GET /pacer/v1/signatures[?image=REF][&imageId=ID]``: stored image signatures.
- ``POST /pacer/v1/signatures``: store one (``pacer image sign`` sends it):
  ``{"image": "busybox:latest", "imageId": "sha256:...", "publicKey": BASE64, "signature": BASE64}``;
  422 unless the signature verifies for that id under that key. Whether the key is *trusted* is each
  agent's decision (its policy's trusted_keys), made when it creates a container.
- ``DELETE /pacer/v1/signatures?imageId=ID|keyId=ID|image=REF``: forget the matching signatures.
- ``GET /pacer/v1/policies``: per agent, the policy the engine applies (engine.policy).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from engine.api.http import invalid, json_response, read_json
from engine.api.routes_apps import api
from engine.trust import ImageSignature, normalize_ref


def _str_field(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > 4096:
        raise invalid(f"/{key}", "must be a non-empty string")
    return value.strip()


async def list_signatures(request: Request) -> Response:
    engine = api(request).engine
    image = request.query_params.get("image")
    image_id = request.query_params.get("imageId")
    ref = normalize_ref(image) if image else None
    sigs = [s for s in engine.signatures
            if (ref is None or s.image == ref) and (image_id is None or s.image_id == image_id)]
    return json_response({"signatures": [s.to_json() for s in sigs]})


async def add_signature(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid("/", "must be a JSON object with image, imageId, publicKey and signature")
    signed_at = body.get("signedAt", 0.0)
    if not isinstance(signed_at, (int, float)) or isinstance(signed_at, bool) or signed_at < 0:
        raise invalid("/signedAt", "must be a number of seconds since the epoch")
    sig = ImageSignature(
        image=_str_field(body, "image"),
        image_id=_str_field(body, "imageId"),
        public_key=_str_field(body, "publicKey"),
        signature=_str_field(body, "signature"),
        signed_at=float(signed_at),
    )
    if any(c.isspace() for c in sig.image):
        raise invalid("/image", "must be an image reference such as busybox:latest")
    stored = api(request).engine.add_signature(sig)
    return json_response(stored.to_json(), 201)


async def delete_signatures(request: Request) -> Response:
    q = request.query_params
    gone = api(request).engine.remove_signatures(image_id=q.get("imageId"), key_id=q.get("keyId"),
                                                 image=q.get("image"))
    return json_response({"removed": [s.to_json() for s in gone]})


async def list_policies(request: Request) -> Response:
    engine = api(request).engine
    out = []
    for a in engine.snapshot().agents:
        policy = engine.policy_of(a.name)
        out.append({"agent": a.name, "kind": a.kind,
                    "policy": policy.model_dump(mode="json") if policy is not None else None,
                    "enforcedBy": "engine and agent" if a.kind != "pacer" else
                    ("agent (its own policy) and engine" if policy is not None else "agent (its own policy)")})
    return json_response({"agents": out})

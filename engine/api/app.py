"""The Starlette application: routes, the Marathon middleware, error mapping.

    build_app(engine, ApiSettings(token=..., leader="127.0.0.1:8080")) -> Starlette

The middleware (pure ASGI, so streams are not buffered) folds empty path
segments (clients send ``/v2/apps//x``), refuses what engine/api/auth.py's
`RequestGuard` refuses (no token: 401; a browser's forged request: 403 or
415; a declared body over the limit: 413), stops a body that grows past
the limit while it is read (413, and the connection is closed), and adds
Marathon's leader and no-cache headers to every answer. Every error is JSON:
engine errors map to Marathon's statuses (422 with every bad field, 404, 409
with the locking deployments), unknown routes are 404, and an unexpected
exception is a 500 with a JSON body (a bug, never the answer to bad input).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api import routes_apps, routes_groups, routes_misc, routes_pacer, routes_tasks, routes_trust, sse
from engine.api.auth import RequestGuard
from engine.api.http import MAX_BODY_BYTES, ApiError, dumps, error_for, json_response
from engine.api.openapi import openapi_document
from engine.api.state import ApiSettings, ApiState
from engine.errors import PacerError

if TYPE_CHECKING:
    from engine.core import Engine

log = logging.getLogger("pacer.api")

_NO_CACHE = [
    (b"cache-control", b"no-cache, no-store, must-revalidate"),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
]


DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 5.0
"""A refused request's body is read and dropped up to this much (and this long), so that an ordinary client
sees the answer rather than a reset connection; past that the connection is closed under it."""


class BodyTooLarge(ApiError):
    """A request body that grew past the limit while it was read (raised from the middleware's `receive`)."""

    def __init__(self, limit: int, *, close: bool) -> None:
        super().__init__(413, f"Request body too large (max {limit} bytes)",
                         headers={"Connection": "close"} if close else None)


async def _drain(receive: Receive, more_body: bool = True) -> bool:
    """Read and drop the rest of a request body, within DRAIN_BYTES and DRAIN_SECONDS; True when it ended."""
    dropped = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while more_body and dropped <= DRAIN_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return False
                dropped += len(message.get("body", b""))
                more_body = message.get("more_body", False)
    except TimeoutError:
        return False
    return not more_body


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length (0 without one), or None for a body of unknown length (chunked)."""
    length = 0
    for key, value in headers:
        if key == b"transfer-encoding":
            return None
        if key == b"content-length" and value.strip().isdigit():
            length = int(value)
    return length


class MarathonMiddleware:
    def __init__(self, app: ASGIApp, state: ApiState, *, local_names_only: bool = False,
                 max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.state = state
        self.guard = RequestGuard(state.settings.token, local_names_only=local_names_only, max_body=max_body)
        self.max_body = max_body
        self.leader_header = (b"x-marathon-leader", state.leader_url.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if "//" in path or (len(path) > 1 and path.endswith("/")):
            path = "/" + "/".join(s for s in path.split("/") if s)
            scope = dict(scope)
            scope["path"] = path
            scope["raw_path"] = path.encode("utf-8", "surrogateescape")
        extra = [self.leader_header, *_NO_CACHE]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        headers = scope.get("headers", [])
        refusal = self.guard.check(scope["method"], scope.get("scheme", "http"), path, headers)
        if refusal is not None:
            body = dumps({"message": refusal.message})
            answer = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                      *refusal.headers]
            declared = _declared_length(headers)
            if declared != 0:
                # Nothing of the body is kept. A small one is dropped so the client reads this answer on a
                # connection it can reuse; a large or endless one is cut off by closing the connection, and
                # one that waits for "100 Continue" is never asked for.
                waits = (b"expect", b"100-continue") in ((k, v.strip().lower()) for k, v in headers)
                small = declared is None or declared <= DRAIN_BYTES
                if waits or not (small and await _drain(receive)):
                    answer.append((b"connection", b"close"))
            await send_with_headers({"type": "http.response.start", "status": refusal.status, "headers": answer})
            await send_with_headers({"type": "http.response.body", "body": body})
            return

        received = 0
        limit = self.max_body

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    ended = await _drain(receive, message.get("more_body", False))
                    raise BodyTooLarge(limit, close=not ended)
            return message

        await self.app(scope, limited_receive, send_with_headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _pacer_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PacerError)
    return error_for(exc).response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "URI not found", 405: "Method Not Allowed"}.get(exc.status_code, str(exc.detail))
    return json_response({"message": message}, exc.status_code, exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error in %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return json_response({"message": "Internal server error", "details": type(exc).__name__}, 500)


async def _openapi(request: Request) -> Response:
    return json_response(openapi_document())


def routes() -> list[Route]:
    return [
        Route("/ping", routes_misc.ping, methods=["GET"]),
        Route("/metrics", routes_misc.metrics, methods=["GET"]),
        Route("/metrics/prometheus", routes_misc.metrics_prometheus, methods=["GET"]),
        Route("/openapi.json", _openapi, methods=["GET"]),
        Route("/v2/info", routes_misc.info, methods=["GET"]),
        Route("/v2/leader", routes_misc.leader, methods=["GET"]),
        Route("/pacer/v1/health", routes_misc.health, methods=["GET"]),
        Route("/v2/apps", routes_apps.list_apps, methods=["GET"]),
        Route("/v2/apps", routes_apps.create_app, methods=["POST"]),
        Route("/v2/apps", routes_apps.put_apps, methods=["PUT"]),
        Route("/v2/apps", routes_apps.patch_apps, methods=["PATCH"]),
        Route("/v2/apps/{rest:path}", routes_apps.get_app_path, methods=["GET"]),
        Route("/v2/apps/{rest:path}", routes_apps.put_app, methods=["PUT"]),
        Route("/v2/apps/{rest:path}", routes_apps.patch_app, methods=["PATCH"]),
        Route("/v2/apps/{rest:path}", routes_apps.delete_app_path, methods=["DELETE"]),
        Route("/v2/apps/{rest:path}", routes_apps.post_app_path, methods=["POST"]),
        Route("/v2/groups", routes_groups.get_group, methods=["GET"]),
        Route("/v2/groups/{rest:path}", routes_groups.get_group, methods=["GET"]),
        Route("/v2/groups", routes_groups.create_group, methods=["POST"]),
        Route("/v2/groups/{rest:path}", routes_groups.create_group, methods=["POST"]),
        Route("/v2/groups", routes_groups.update_group, methods=["PUT"]),
        Route("/v2/groups/{rest:path}", routes_groups.update_group, methods=["PUT"]),
        Route("/v2/groups", routes_groups.delete_group, methods=["DELETE"]),
        Route("/v2/groups/{rest:path}", routes_groups.delete_group, methods=["DELETE"]),
        Route("/v2/tasks", routes_tasks.list_tasks, methods=["GET"]),
        Route("/v2/tasks/delete", routes_tasks.delete_tasks, methods=["POST"]),
        Route("/v2/deployments", routes_tasks.list_deployments, methods=["GET"]),
        Route("/v2/deployments/{deployment_id}", routes_tasks.delete_deployment, methods=["DELETE"]),
        Route("/v2/queue", routes_tasks.get_queue, methods=["GET"]),
        Route("/v2/queue/{rest:path}", routes_tasks.delete_queue_path, methods=["DELETE"]),
        Route("/v2/events", sse.events, methods=["GET"]),
        Route("/pacer/v1/apps/{rest:path}", routes_pacer.get_app_extension, methods=["GET"]),
        Route("/pacer/v1/tasks/{task_id}/logs", routes_pacer.task_logs, methods=["GET"]),
        Route("/pacer/v1/deployments", routes_pacer.list_deployments, methods=["GET"]),
        Route("/pacer/v1/agents", routes_pacer.list_agents, methods=["GET"]),
        Route("/pacer/v1/pulls", routes_pacer.list_pulls, methods=["GET"]),
        Route("/pacer/v1/signatures", routes_trust.list_signatures, methods=["GET"]),
        Route("/pacer/v1/signatures", routes_trust.add_signature, methods=["POST"]),
        Route("/pacer/v1/signatures", routes_trust.delete_signatures, methods=["DELETE"]),
        Route("/pacer/v1/policies", routes_trust.list_policies, methods=["GET"]),
    ]


def build_app(engine: "Engine", settings: ApiSettings | None = None, *, local_names_only: bool = False) -> Starlette:
    """The API over `engine`; serve it with `start_api` (or any ASGI server in the engine's loop).

    `local_names_only`: served on a loopback address, so without a token only requests addressed to
    localhost or an IP address are answered (engine/api/auth.py: DNS rebinding)."""
    state = ApiState(engine, settings or ApiSettings())
    app = Starlette(
        routes=routes(),
        exception_handlers={
            ApiError: _api_error,
            PacerError: _pacer_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.api = state
    app.add_middleware(MarathonMiddleware, state=state, local_names_only=local_names_only)
    return app


def api_state(app: Starlette) -> ApiState:
    state: ApiState = app.state.api
    return state

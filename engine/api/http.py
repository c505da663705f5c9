"""Small HTTP helpers shared by the routes: JSON responses, errors, query parsing.

Marathon's conventions (reference §0-§1): JSON in and out, errors as
``{"message": ..., "details": ...}``, booleans in queries true only for a
case-insensitive ``true`` (Python clients send ``True``/``False``), repeated
keys for lists.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping

from starlette.requests import Request
from starlette.responses import Response

from engine.errors import (
    AppExists,
    AppNotFound,
    AppValidationError,
    DeploymentConflict,
    DeploymentNotFound,
    FieldError,
    PacerError,
    StorageUnavailable,
    TaskNotFound,
)

JSON = "application/json"

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def dumps(data: Any) -> bytes:
    return _encode(data).encode("utf-8")


class JsonResponse(Response):
    media_type = JSON

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return dumps(content)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return JsonResponse(data, status_code=status, headers=dict(headers) if headers else None)


class ApiError(Exception):
    """An error answer: status, Marathon's `message`, optional `details` and extra body keys."""

    def __init__(
        self,
        status: int,
        message: str,
        details: Any = None,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def response(self) -> Response:
        body: dict[str, Any] = {"message": self.message}
        if self.details is not None:
            body["details"] = self.details
        body.update(self.extra)
        return json_response(body, self.status, self.headers)


def validation_details(errors: Iterable[FieldError], prefix: str = "") -> list[dict[str, Any]]:
    """Marathon's 422 details: one entry per path, every message of that path."""
    by_path: dict[str, list[str]] = {}
    for e in errors:
        path = prefix + e.path if prefix else e.path
        if prefix and e.path == "/":
            path = prefix
        by_path.setdefault(path or "/", []).append(e.message)
    return [{"path": p, "errors": msgs} for p, msgs in by_path.items()]


def error_for(exc: PacerError) -> ApiError:
    """Map an engine error to Marathon's status and body."""
    if isinstance(exc, AppValidationError):
        return ApiError(422, "Object is not valid", validation_details(exc.errors))
    if isinstance(exc, (AppNotFound, TaskNotFound, DeploymentNotFound)):
        return ApiError(404, exc.message)
    if isinstance(exc, DeploymentConflict):
        return ApiError(409, exc.message, extra={"deployments": [{"id": d} for d in exc.deployment_ids]})
    if isinstance(exc, AppExists):
        return ApiError(409, exc.message)
    if isinstance(exc, StorageUnavailable):
        # Nothing was changed; the same request goes through once the storage takes writes again.
        return ApiError(503, exc.message, headers={"Retry-After": "5"})
    return ApiError(400, exc.message)


def invalid(path: str, message: str) -> ApiError:
    return ApiError(422, "Object is not valid", [{"path": path, "errors": [message]}])


# -- query parameters -------------------------------------------------------------


def flag(request: Request, name: str, default: bool = False) -> bool:
    """Marathon's boolean query parameter: true only for a case-insensitive 'true'."""
    value = request.query_params.get(name)
    if value is None:
        return default
    return value.strip().lower() == "true"


def values(request: Request, *names: str) -> list[str]:
    """Every value of repeated (and comma-separated) query parameters."""
    out: list[str] = []
    for name in names:
        for raw in request.query_params.getlist(name):
            out.extend(v.strip() for v in raw.split(",") if v.strip())
    return out


def int_param(request: Request, name: str, default: int, *, low: int = 0, high: int = 1_000_000) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Query parameter '{name}' must be an integer, got '{raw[:50]}'") from None
    if not low <= value <= high:
        raise ApiError(400, f"Query parameter '{name}' must be between {low} and {high}, got {value}")
    return value


_EMBED_PREFIXES = ("group.apps.", "apps.", "app.")


def embeds(request: Request) -> frozenset[str]:
    """`embed` values without their prefix (`app.tasks`, `apps.tasks` and `tasks` are the same)."""
    out = set()
    for value in values(request, "embed"):
        for prefix in _EMBED_PREFIXES:
            if value.startswith(prefix):
                value = value[len(prefix):]
                break
        out.add(value)
    return frozenset(out)


# -- request bodies ----------------------------------------------------------------

MAX_BODY_BYTES = 4 * 1024 * 1024
"""The largest request body the API reads (declared or streamed); more is 413."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: Request) -> Any:
    """The decoded JSON body, or 400 Invalid JSON with the parser's words.

    The API's middleware (engine/api/app.py) has checked the content type and answers 413 as soon as
    the body streams past MAX_BODY_BYTES, so at most that much is ever held here."""
    body = await request.body()
    if not body.strip():
        raise ApiError(400, "Invalid JSON", "the request body is empty; send a JSON document")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "Invalid JSON", f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ApiError(400, "Invalid JSON", str(exc)) from None
    except RecursionError:
        raise ApiError(400, "Invalid JSON", "the document is nested too deeply") from None


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None

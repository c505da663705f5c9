"""Marathon's REST API v2 for the engine, on Starlette and uvicorn.

    from engine.api import start_api
    server = await start_api(engine, config, bind="127.0.0.1:8080")
    ...
    await server.stop()

`build_app(engine, settings)` gives the ASGI app alone (tests use it with
httpx's ASGITransport). Importing this package pulls in Starlette and
uvicorn; `engine` itself does not import it.
"""

from engine.api.app import build_app
from engine.api.openapi import openapi_document
from engine.api.server import ApiServer, check_binding, is_loopback, parse_bind, start_api
from engine.api.state import ApiSettings, ApiState

__all__ = [
    "ApiServer",
    "ApiSettings",
    "ApiState",
    "build_app",
    "check_binding",
    "is_loopback",
    "openapi_document",
    "parse_bind",
    "start_api",
]

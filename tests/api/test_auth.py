"""Token authentication, binding rules, and the token staying out of logs."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import httpx
import pytest

from engine import ConfigError, Engine
from engine.api import ApiSettings, build_app, check_binding, parse_bind, start_api
from engine.api.auth import TokenCheck
from engine.config import SchedulerConfig
from tests.api.conftest import app_body

TOKEN = "s3cr3t-t0ken-value"


@pytest.fixture
async def secured(engine: Engine) -> httpx.AsyncClient:
    app = build_app(engine, ApiSettings(token=TOKEN))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://pacer.test")


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer   {TOKEN}", True),
        (f"token={TOKEN}", True),
        (f'token="{TOKEN}"', True),
        ("Basic " + base64.b64encode(f"pacer:{TOKEN}".encode()).decode(), True),
        ("Bearer wrong", False),
        (f"Bearer {TOKEN}x", False),
        (f"token={TOKEN[:-1]}", False),
        ("Basic " + base64.b64encode(TOKEN.encode()).decode(), False),
        ("Basic !!!", False),
        (TOKEN, False),
        (None, False),
    ],
)
async def test_token_forms(secured: httpx.AsyncClient, header: str | None, ok: bool) -> None:
    headers = {"Authorization": header} if header is not None else {}
    async with secured:
        r = await secured.get("/v2/apps", headers=headers)
    if ok:
        assert r.status_code == 200
    else:
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/json" and r.json()["message"].startswith("Unauthorized")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in r.text


async def test_ping_and_openapi_are_public(secured: httpx.AsyncClient) -> None:
    async with secured:
        assert (await secured.get("/ping")).status_code == 200
        assert (await secured.get("/openapi.json")).status_code == 200
        assert (await secured.get("/v2/info")).status_code == 401
        assert (await secured.get("/v2/events", headers={"Accept": "text/event-stream"})).status_code == 401


def test_token_check_hides_itself() -> None:
    check = TokenCheck(TOKEN)
    assert TOKEN not in repr(check) and TOKEN not in repr(ApiSettings(token=TOKEN))


@pytest.mark.parametrize("text", ["", "8080", "host:", ":80", "host:99999", "a:b:c", "[::1]8080", "host:x"])
def test_bad_bind_addresses(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_bind(text)


def test_bind_parsing() -> None:
    assert parse_bind("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_bind("[::1]:0") == ("::1", 0)
    assert parse_bind("localhost:1") == ("localhost", 1)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.org", "::"])
def test_non_loopback_needs_token_and_tls(host: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_binding(host, SchedulerConfig(), "pacer.toml")
    assert "api_token" in info.value.message and "api_tls_cert" in info.value.message
    with pytest.raises(ConfigError) as info:
        check_binding(host, SchedulerConfig(api_token=TOKEN), "pacer.toml")
    assert "api_token" not in info.value.message.split("needs")[1]
    check_binding(host, SchedulerConfig(api_token=TOKEN, api_tls_cert="c.pem", api_tls_key="k.pem"), "pacer.toml")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1", "localhost"])
def test_loopback_may_go_without(host: str) -> None:
    check_binding(host, SchedulerConfig(), "pacer.toml")


async def test_start_api_refuses_non_loopback_without_tls(engine: Engine) -> None:
    with pytest.raises(ConfigError):
        await start_api(engine, engine.config, bind="0.0.0.0:0")


async def test_token_never_logged(engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sched = engine.config.scheduler.model_copy(update={"api_token": TOKEN})
    server = await start_api(engine, sched, bind="127.0.0.1:0")
    try:
        async with httpx.AsyncClient(base_url=server.url) as c:
            assert (await c.get("/v2/apps", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200
            assert (await c.get("/v2/apps", headers={"Authorization": "Bearer nope"})).status_code == 401
            r = await c.post("/v2/apps", json=app_body(), headers={"Authorization": f"token={TOKEN}"})
            assert r.status_code == 201
            assert (await c.get("/v2/apps/x/y/z", headers={"Authorization": f"token={TOKEN}"})).status_code == 404
    finally:
        await server.stop()
    assert caplog.records, "the server logged something"
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    assert TOKEN not in repr(server.state.settings)

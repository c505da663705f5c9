"""What a browser could forge is refused; bodies are limited while they stream; a token-less API says so.

A real server on loopback (uvicorn), so Host, Origin and the socket behave as a browser or client sees them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from typing import Any

import httpx
import pytest

from engine import Engine
from engine.api import ApiServer, start_api
from engine.api.http import MAX_BODY_BYTES
from tests.api.conftest import app_body

TOKEN = "guard-test-token-0123456789"


def _rss() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def _read_answer(loop: asyncio.AbstractEventLoop, sock: socket.socket, timeout: float) -> tuple[int, bytes]:
    """Status and raw bytes of the answer on `sock` (until the end of its JSON body or EOF)."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        left = deadline - time.monotonic()
        assert left > 0, f"no complete answer within {timeout}s: {data[:300]!r}"
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), left)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 "), f"not an HTTP answer: {data[:300]!r}"
    return int(data.split(b" ", 2)[1]), data


# -- browsers: foreign origins and non-JSON writes ---------------------------------------------


async def test_cross_site_text_plain_post_creates_nothing(server: ApiServer, engine: Engine) -> None:
    """The probe's CSRF: a page posts text/plain JSON to the API; it is refused and creates no app."""
    forged = json.dumps(app_body("/csrf", instances=1))
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post("/v2/apps", content=forged,
                         headers={"Content-Type": "text/plain", "Origin": "http://evil.example"})
        assert r.status_code in (403, 415) and r.headers["content-type"] == "application/json"
        assert r.json()["message"]
        # the same without an Origin (older browsers sent none on form posts): the content type alone refuses it
        r = await c.post("/v2/apps", content=forged, headers={"Content-Type": "text/plain;charset=UTF-8"})
        assert r.status_code == 415 and "application/json" in r.json()["message"]
        for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                             "application/json; charset=latin-1", "application/jsonx"):
            r = await c.post("/v2/apps", content=forged, headers={"Content-Type": content_type})
            assert r.status_code == 415, content_type
        r = await c.post("/v2/apps", content=forged.encode())  # no content type at all (a no-cors fetch of bytes)
        assert r.status_code == 415
        # a body-less form post to an action (restart) is refused as well
        r = await c.post("/v2/apps/csrf/restart", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 415
        assert (await c.get("/v2/apps")).json()["apps"] == []
    assert "/csrf" not in engine.apps


async def test_foreign_origins_are_refused_and_real_clients_pass(server: ApiServer, engine: Engine) -> None:
    own = server.url
    body = app_body("/web", instances=1)
    async with httpx.AsyncClient(base_url=server.url) as c:
        for origin in ("http://evil.example", "null", f"http://localhost:{server.port}",
                       f"https://127.0.0.1:{server.port}", f"http://127.0.0.1:{server.port + 1}", "garbage"):
            r = await c.post("/v2/apps", json=body, headers={"Origin": origin})
            assert r.status_code == 403, origin
            assert r.headers["content-type"] == "application/json" and r.json()["message"].startswith("Forbidden")
            r = await c.get("/v2/apps", headers={"Origin": origin})
            assert r.status_code == 403, origin
        for site in ("cross-site", "same-site"):
            r = await c.post("/v2/apps", json=body, headers={"Sec-Fetch-Site": site})
            assert r.status_code == 403 and site in r.json()["message"]
        assert "/web" not in engine.apps
        # what real clients send: no Origin, JSON with or without a charset; the API's own origin is fine too
        r = await c.post("/v2/apps", content=json.dumps(body),
                         headers={"Content-Type": "application/json; charset=utf-8", "Origin": own,
                                  "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 201, r.text
        r = await c.put("/v2/apps/web", json={**body, "instances": 2}, params={"force": "true"},
                        headers={"Sec-Fetch-Site": "none"})
        assert r.status_code == 200, r.text
        r = await c.post("/v2/apps/web/restart", params={"force": "true"})  # no body, no content type
        assert r.status_code == 200, r.text
        r = await c.delete("/v2/apps/web", params={"force": "true"}, headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text


async def test_a_rebound_name_cannot_reach_an_api_without_token(server: ApiServer, engine: Engine) -> None:
    """DNS rebinding: a page at http://rebound.example:PORT whose name now points at 127.0.0.1 is its own
    origin; an API without a token answers only localhost and IP addresses."""
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post("/v2/apps", json=app_body("/rebound", instances=1),
                         headers={"Host": f"rebound.example:{server.port}",
                                  "Origin": f"http://rebound.example:{server.port}"})
        assert r.status_code == 403 and "api_token" in r.json()["message"]
        r = await c.get("/v2/apps", headers={"Host": f"rebound.example:{server.port}"})
        assert r.status_code == 403
        for host in (f"localhost:{server.port}", f"[::1]:{server.port}", f"app.localhost:{server.port}",
                     f"127.0.0.1:{server.port}"):
            assert (await c.get("/v2/apps", headers={"Host": host})).status_code == 200, host
    assert "/rebound" not in engine.apps


async def test_with_a_token_other_host_names_need_only_the_token(engine: Engine) -> None:
    sched = engine.config.scheduler.model_copy(update={"api_token": TOKEN})
    api = await start_api(engine, sched, bind="127.0.0.1:0")
    try:
        async with httpx.AsyncClient(base_url=api.url) as c:
            host = {"Host": f"pacer.internal:{api.port}"}
            assert (await c.get("/v2/apps", headers=host)).status_code == 401
            r = await c.get("/v2/apps", headers={**host, "Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200
            # the token does not make a browser's request acceptable
            r = await c.post("/v2/apps", json=app_body("/x"), headers={"Authorization": f"Bearer {TOKEN}",
                                                                      "Origin": "http://evil.example"})
            assert r.status_code == 403
    finally:
        await api.stop()


# -- body limits -----------------------------------------------------------------------------------


async def test_a_streamed_oversized_body_is_refused_early_with_bounded_memory(server: ApiServer,
                                                                              engine: Engine) -> None:
    """200 MB chunked (no Content-Length): 413 after at most the limit and a chunk, and the server's memory
    (this process) grows far less than the body."""
    loop = asyncio.get_running_loop()
    total, chunk = 200 << 20, 1 << 20
    frame = f"{chunk:x}\r\n".encode() + b" " * chunk + b"\r\n"
    peak = baseline = _rss()
    sampling = True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, _rss())
            await asyncio.sleep(0.01)

    sampler = asyncio.ensure_future(sample())
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.setblocking(False)
        await loop.sock_sendall(sock, (f"POST /v2/apps HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                                       "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
        try:
            while sent < total:
                await asyncio.wait_for(loop.sock_sendall(sock, frame), 30)
                sent += chunk
            await loop.sock_sendall(sock, b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what we came for
        status, answer = await _read_answer(loop, sock, 30)
    sampling = False
    await sampler
    growth = peak - baseline
    assert status == 413, answer[:300]
    assert b"too large" in answer
    assert growth < 50 << 20, f"RSS grew by {growth / 2**20:.0f} MB for a body refused at {MAX_BODY_BYTES} bytes"
    assert sent < total, "the server read the whole body before refusing it"
    async with httpx.AsyncClient(base_url=server.url) as c:
        assert (await c.get("/ping")).status_code == 200, "the server goes on answering"


async def test_a_declared_oversized_body_is_refused_before_it_is_sent(server: ApiServer) -> None:
    loop = asyncio.get_running_loop()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.setblocking(False)
        await loop.sock_sendall(sock, (f"PUT /v2/apps/web HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                                       "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n").encode())
        status, answer = await _read_answer(loop, sock, 10)
    assert status == 413 and b"connection: close" in answer.lower()
    # a client that waits for "100 Continue" (curl does, for bodies over 1 KB) is answered without sending it
    for content_type, length, expected in (("application/json", MAX_BODY_BYTES + 1, 413), ("text/plain", 900, 415)):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.setblocking(False)
            await loop.sock_sendall(sock, (f"POST /v2/apps HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                                           f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n"
                                           "Expect: 100-continue\r\n\r\n").encode())
            status, answer = await _read_answer(loop, sock, 10)
        assert status == expected and b"connection: close" in answer.lower(), answer


def _pieces(body: bytes) -> Any:
    async def pieces() -> Any:
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]
    return pieces()


async def test_bodies_within_the_limit_stream_through(server: ApiServer, engine: Engine) -> None:
    """A chunked body under the limit is read whole; one a little over it (an honest mistake) gets a clean
    413 that the client can read, declared or streamed, and the connection goes on serving."""
    body = json.dumps(app_body("/chunked", instances=1, env={"PAD1": "x" * 50_000, "PAD2": "x" * 50_000})).encode()
    json_type = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post("/v2/apps", content=_pieces(body), headers=json_type)
        assert r.status_code == 201, r.text
        big = json.dumps(app_body("/big", env={"PAD": "x" * (MAX_BODY_BYTES + 10)})).encode()
        r = await c.post("/v2/apps", content=big, headers=json_type)
        assert r.status_code == 413 and r.json()["message"].startswith("Request body too large")
        r = await c.post("/v2/apps", content=_pieces(big), headers=json_type)
        assert r.status_code == 413 and r.json()["message"].startswith("Request body too large")
        assert "connection" not in r.headers, "a body dropped to its end leaves the connection usable"
        assert (await c.get("/v2/apps")).status_code == 200
        r = await c.post("/v2/apps", content=big, headers={"Content-Type": "text/plain"})
        assert r.status_code == 415, "a refused body is dropped, and the client reads the answer"
    assert "/chunked" in engine.apps and "/big" not in engine.apps


# -- the start-line notice ---------------------------------------------------------------------


async def test_no_token_notice_once_and_only_without_token(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pacer")
    api = await start_api(engine, engine.config, bind="127.0.0.1:0")
    try:
        async with httpx.AsyncClient(base_url=api.url) as c:
            assert (await c.get("/v2/apps")).status_code == 200
    finally:
        await api.stop()
    notices = [r for r in caplog.records if "has no token" in r.getMessage()]
    assert len(notices) == 1, [r.getMessage() for r in caplog.records]
    (notice,) = notices
    assert notice.levelno == logging.WARNING
    assert notice.getMessage() == (
        f"API on 127.0.0.1:{api.port} has no token: every local process and every task on the host network can "
        "read and change the cluster; set [scheduler] api_token to close it")

    caplog.clear()
    sched = engine.config.scheduler.model_copy(update={"api_token": TOKEN})
    api = await start_api(engine, sched, bind="127.0.0.1:0")
    await api.stop()
    assert any("API serving on" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if "has no token" in r.getMessage()]

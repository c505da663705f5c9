"""Header, handshake and body timeouts of pacer's HTTP servers (engine.serving), on 127.0.0.1.

Issue #19: 3,000 partial requests were held for 40 s and more (uvicorn times out idle
keep-alive connections only). Each test bounds its own wait; none sleeps and asserts.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from engine.agentd.config import AgentServerConfig
from engine.agentd.server import start_agent
from engine.serving import HEADER_TIMEOUT, EmbeddedServer, bind_socket
from tests.agent.support import TOKEN, CertFactory, FakeBackend

MARGIN = 3.0
"""Seconds allowed beyond a timeout for the server to act and the test to see it (2 shared CPUs)."""


async def _ping(request: Request) -> Response:
    return PlainTextResponse("pong")


async def _echo(request: Request) -> Response:
    return PlainTextResponse(str(len(await request.body())))


async def _stream(request: Request) -> Response:
    async def ticks() -> AsyncIterator[bytes]:
        for n in range(6):
            yield f"tick {n}\n".encode()
            await asyncio.sleep(0.5)

    return StreamingResponse(ticks(), media_type="text/plain")


APP = Starlette(routes=[Route("/ping", _ping), Route("/echo", _echo, methods=["POST"]), Route("/stream", _stream)])


async def _serve(**kwargs: Any) -> EmbeddedServer:
    sock = bind_socket("127.0.0.1", 0, source="test", field="listen")
    return await EmbeddedServer.start(APP, sock, name="test-server", source="test", tls_field="tls",
                                      listen_field="listen", **kwargs)


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    running = await _serve(header_timeout=1.0, body_idle_timeout=1.0)
    yield running
    await running.stop()


async def _closed_at(reader: asyncio.StreamReader, deadline: float) -> tuple[float, bytes]:
    """(when the server closed the connection, what it sent before); AssertionError past `deadline`."""
    received = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the server still holds the connection (received {received[:60]!r})")
        try:
            chunk = await asyncio.wait_for(reader.read(4096), left)
        except ConnectionResetError:
            return time.monotonic(), received
        except asyncio.TimeoutError:
            continue
        if not chunk:
            return time.monotonic(), received
        received += chunk


async def _trickle(writer: asyncio.StreamWriter, data: bytes, every: float, stop: asyncio.Event) -> None:
    """Slowloris: one byte every `every` seconds, until the server closes or `stop`."""
    for byte in data:
        if stop.is_set() or writer.is_closing():
            return
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except (ConnectionError, OSError):
            return
        await asyncio.sleep(every)


async def _partial_connections(port: int, count: int) -> list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]]:
    """`count` connections that never finish a request: nothing, half a request line, headers without their end,
    and a complete request followed by half of the next one (on the same keep-alive connection)."""
    parts = [b"", b"GET /pi", b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n",
             b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHo"]

    async def one(n: int) -> tuple[float, asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        opened = time.monotonic()
        if parts[n % len(parts)]:
            writer.write(parts[n % len(parts)])
            await writer.drain()
        return opened, reader, writer

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def _quick_get(url: str, **kwargs: Any) -> float:
    """Seconds a plain request takes while the partial connections are held."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=5, **kwargs) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    return time.monotonic() - started


async def _all_cut(conns: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]], timeout: float,
                   quick: Callable[[], Awaitable[float]]) -> list[tuple[float, bytes]]:
    """Wait (bounded) until the server closed every connection; check a normal request meanwhile."""
    deadline = max(opened for opened, _, _ in conns) + timeout + MARGIN
    waits = [asyncio.ensure_future(_closed_at(reader, deadline)) for _, reader, _ in conns]
    try:
        assert await quick() < 1.0  # the server still answers at once
        results = await asyncio.gather(*waits)
    finally:
        for wait in waits:
            wait.cancel()
        for _, _, writer in conns:
            writer.close()
    return [(closed - opened, data) for (opened, _, _), (closed, data) in zip(conns, results)]


async def test_partial_requests_are_cut_at_the_header_deadline(server: EmbeddedServer) -> None:
    conns = await _partial_connections(server.port, 120)
    stop = asyncio.Event()
    slow = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(4)]
    opened = time.monotonic()
    # Bytes keep coming (one every 0.1 s, for 4 s): only a fixed deadline cuts these.
    trickles = [asyncio.ensure_future(_trickle(w, b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 40, 0.1,
                                               stop)) for _, w in slow]
    try:
        held = await _all_cut(conns + [(opened, r, w) for r, w in slow], 1.0,
                              lambda: _quick_get(f"http://127.0.0.1:{server.port}/ping"))
    finally:
        stop.set()
        await asyncio.gather(*trickles)
    for seconds, data in held:
        assert 0.9 <= seconds <= 1.0 + MARGIN, seconds
        # a complete request on the connection was answered; the unfinished one gets 408
        assert data.count(b"HTTP/1.1 408 Request Timeout") == 1 and data.count(b"pong") <= 1


async def test_a_stalled_body_is_cut_and_a_whole_one_answered(server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.post(f"http://127.0.0.1:{server.port}/echo", content=b"x" * 100_000)
    assert answer.text == "100000"
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    opened = time.monotonic()
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    await writer.drain()
    try:
        closed, data = await _closed_at(reader, opened + 1.0 + MARGIN)
    finally:
        writer.close()
    assert closed - opened >= 0.9 and b"HTTP/1.1 200" not in data


async def test_streamed_answers_outlast_the_header_timeout(server: EmbeddedServer) -> None:
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(f"http://127.0.0.1:{server.port}/stream")
    assert answer.text == "".join(f"tick {n}\n" for n in range(6))
    assert time.monotonic() - started >= 2.5  # longer than the 1 s header timeout and the body idle timeout


async def test_tls_handshake_has_a_deadline(tmp_path: Path) -> None:
    ca = CertFactory(tmp_path / "ca")
    pem = ca.issue("server")
    running = await _serve(header_timeout=1.0, ssl_certfile=str(pem.cert), ssl_keyfile=str(pem.key))
    try:
        conns = []
        for _ in range(20):  # TCP connections that never start (or never finish) a TLS handshake
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            conns.append((time.monotonic(), reader, writer))
        context = ssl.create_default_context(cafile=str(ca.ca_file))
        held = await _all_cut(conns, 1.0, lambda: _quick_get(f"https://127.0.0.1:{running.port}/ping",
                                                               verify=context))
        assert all(0.9 <= seconds <= 1.0 + MARGIN for seconds, _ in held), held
    finally:
        await running.stop()


async def test_agent_server_cuts_300_partial_requests(tmp_path: Path) -> None:
    """The figures of issue #19 on the real agent server, at its default timeout (HEADER_TIMEOUT)."""
    config = AgentServerConfig(listen="127.0.0.1:0", token=TOKEN, state_dir=str(tmp_path / "st"), name="edge")
    agent = await start_agent(config, backend=FakeBackend())
    try:
        conns = await _partial_connections(agent.port, 300)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        held = await _all_cut(conns, HEADER_TIMEOUT,
                              lambda: _quick_get(f"http://127.0.0.1:{agent.port}/v1/info", headers=auth))
        assert len(held) == 300
        assert all(HEADER_TIMEOUT - 0.1 <= seconds <= HEADER_TIMEOUT + MARGIN for seconds, _ in held)
    finally:
        await agent.stop()

"""A raw HTTP/1.1 SSE reader for tests: sees the chunk boundaries that httpx hides."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawStream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: int
    headers: dict[str, str] = field(default_factory=dict)

    async def chunk(self, timeout: float = 10.0) -> bytes:
        """The next HTTP chunk's payload; b"" at the end of the stream."""
        size_line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not size_line:
            return b""
        size = int(size_line.split(b";")[0].strip(), 16)
        data = await asyncio.wait_for(self.reader.readexactly(size + 2), timeout)
        return data[:-2]

    async def event(self, timeout: float = 10.0, *, skip_heartbeats: bool = True) -> tuple[str, dict[str, Any]]:
        """The next frame, checked to be exactly one event in one chunk."""
        while True:
            payload = await self.chunk(timeout)
            if payload == b"":
                raise EOFError("stream ended")
            if skip_heartbeats and payload == b":\n\n":
                continue
            return parse_frame(payload)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


def parse_frame(payload: bytes) -> tuple[str, dict[str, Any]]:
    text = payload.decode("utf-8")
    assert text.endswith("\n\n"), f"a frame ends with a blank line: {text!r}"
    lines = text[:-2].split("\n")
    assert len(lines) == 2, f"one event line and one data line per chunk: {text!r}"
    assert lines[0].startswith("event: ") and lines[1].startswith("data: "), text
    kind = lines[0][len("event: "):]
    data = json.loads(lines[1][len("data: "):])
    assert data["eventType"] == kind
    return kind, data


async def open_stream(host: str, port: int, path: str, *, headers: dict[str, str] | None = None,
                      rcvbuf: int | None = None) -> RawStream:
    if rcvbuf is not None:
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
    else:
        reader, writer = await asyncio.open_connection(host, port, limit=2**20)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: text/event-stream"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    status = int(status_line.split()[1])
    found: dict[str, str] = {}
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        if line in (b"\r\n", b""):
            break
        key, _, value = line.decode().partition(":")
        found[key.strip().lower()] = value.strip()
    return RawStream(reader, writer, status, found)

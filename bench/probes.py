"""Health probe throughput: pacer's prober against a bare asyncio probe loop, same endpoints, same run.

200 tiny HTTP endpoints on 127.0.0.1 are served by a separate process, so the
measuring process (pacer's prober, one core) only probes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import time
from typing import Any

from engine.health import Prober
from engine.model import HealthCheck
from engine.scheduler.state import Resources, TaskRecord, TaskState

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def _serve(ports: list[int], ready: Any, stop: Any) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = [await asyncio.start_server(handle, "127.0.0.1", port, backlog=512) for port in ports]
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for server in servers:
            server.close()

    asyncio.run(main())


def _free_ports(n: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


async def _bare_probe(port: int, timeout: float) -> bool:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        line = await asyncio.wait_for(reader.readline(), timeout)
        return line.split()[1:2] == [b"200"]
    finally:
        writer.close()


class _ProbeEngine:
    """Just what Prober needs from an engine: the agent driver's kind and the probe host."""

    class _Driver:
        kind = "docker"

        def simulated_health(self, container_id: str | None) -> bool | None:
            return None  # a real container: probe it

    def driver(self, agent: str) -> "_ProbeEngine._Driver":
        return self._Driver()

    def probe_host(self, agent: str) -> str:
        return "127.0.0.1"


async def _measure(ports: list[int], seconds: float, concurrency: int, use_pacer: bool) -> tuple[int, int]:
    prober = Prober(_ProbeEngine()) if use_pacer else None  # type: ignore[arg-type]
    check = HealthCheck(protocol="HTTP", path="/", port_index=0, timeout_seconds=5)
    tasks = [TaskRecord(task_id=f"t{i}", app_id="/probe", agent="local", version="v", config_version="v",
                        state=TaskState.RUNNING, resources=Resources(), host_ports=(port,)) for i, port in enumerate(ports)]
    ok = failed = 0
    deadline = time.perf_counter() + seconds

    async def loop(worker: int) -> None:
        nonlocal ok, failed
        i = worker
        while time.perf_counter() < deadline:
            task = tasks[i % len(tasks)]
            i += concurrency
            if prober is not None:
                passed = (await prober.probe(task, check)).ok
            else:
                try:
                    passed = await _bare_probe(task.host_ports[0], 5)
                except (OSError, asyncio.TimeoutError):
                    passed = False
            if passed:
                ok += 1
            else:
                failed += 1

    await asyncio.gather(*(loop(w) for w in range(concurrency)))
    if prober is not None:
        await prober.close()
    return ok, failed


def run(endpoints: int = 200, seconds: float = 5.0, concurrency: int = 200) -> dict[str, Any]:
    ports = _free_ports(endpoints)
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    server = ctx.Process(target=_serve, args=(ports, ready, stop), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("probe endpoints did not start")
        bare_ok, bare_failed = asyncio.run(_measure(ports, seconds, concurrency, use_pacer=False))
        pacer_ok, pacer_failed = asyncio.run(_measure(ports, seconds, concurrency, use_pacer=True))
    finally:
        stop.set()
        server.join(10)
    return {
        "scenario": f"HTTP health probes against {endpoints} loopback endpoints for {seconds:g}s, {concurrency} in flight",
        "pacer_probes_per_second": pacer_ok / seconds,
        "pacer_failed_probes": pacer_failed,
        "bare_asyncio_probes_per_second": bare_ok / seconds,
        "bare_failed_probes": bare_failed,
        "pacer_vs_bare": (pacer_ok / seconds) / max(bare_ok / seconds, 1e-9),
        "goal_pacer_probes_per_second": 2_000,
    }

"""API load: GET /v2/apps for 100 apps and 1,000 tasks against a bare Starlette app, same size, same run.

    from bench.api_load import run
    result = run(apps=100, tasks_per_app=10, requests=3000, connections=8)

This process hosts the engine (sim agents) and the API on one event loop, as
`pacer --serve` does; the engine keeps reconciling throughout. The baseline is
a bare Starlette app returning a static JSON body of the same size, served by
uvicorn with the same settings in a separate process. The load comes from a
third process: keep-alive HTTP/1.1 over loopback, a fixed number of requests
over a fixed number of connections, first to one target, then the other,
then both again (the better figure of each counts, so a noisy moment hurts
neither side).

Result keys: pacer_rps, bare_rps, ratio (pacer/bare, the figure the issue
asks to be >= 0.5), the same with suffix ``_tasks`` for ``embed=apps.tasks``
(about 5x larger) and ``_uncached`` for plain ``/v2/apps`` with the API's
response cache switched off (every answer built anew: the cost of a cache
miss), body sizes,
latencies, and the engine's reconcile rounds and round durations during each
pacer load.

Run alone: ``python -m bench.api_load [--requests N] [--connections C]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent


# -- the load generator (runs in its own process) -----------------------------------------


async def _one_connection(host: str, port: int, path: str, count: int, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection(host, port, limit=2**22)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n".encode()
    size = 0
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            if not status_line.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer {status_line!r}")
            length = -1
            while True:
                line = await reader.readline()
                if line == b"\r\n":
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length < 0:
                raise RuntimeError("no content-length")
            await reader.readexactly(length)
            size = length
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()
    return size


async def _load(url: str, path: str, requests: int, connections: int) -> dict[str, Any]:
    host, _, port = url.split("://", 1)[1].rpartition(":")
    per = [requests // connections + (1 if i < requests % connections else 0) for i in range(connections)]
    latencies: list[float] = []
    # warm up: one request per connection's worth, not timed
    await _one_connection(host, int(port), path, 5, [])
    started = time.perf_counter()
    sizes = await asyncio.gather(*(_one_connection(host, int(port), path, n, latencies) for n in per if n))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": requests,
        "seconds": elapsed,
        "rps": requests / elapsed,
        "bytes": max(sizes),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def _client_main(argv: list[str]) -> int:
    url, path, requests, connections = argv[0], argv[1], int(argv[2]), int(argv[3])
    print(json.dumps(asyncio.run(_load(url, path, requests, connections))))
    return 0


# -- the bare baseline (runs in its own process) ------------------------------------------


def _bare_main(argv: list[str]) -> int:
    """Serve files given as PATH FILE pairs as static JSON, on an ephemeral port printed to stdout."""
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    bodies: dict[str, bytes] = {}
    for path, file in zip(argv[::2], argv[1::2]):
        bodies[path] = Path(file).read_bytes()

    async def static(request: Request) -> Response:
        query = request.scope["query_string"].decode()
        return Response(bodies[request.scope["path"] + ("?" + query if query else "")], media_type="application/json")

    app = Starlette(routes=[Route("/v2/apps", static)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, server_header=False,
                            http="h11", ws="none")
    uvicorn.Server(config).run(sockets=[sock])
    return 0


# -- the run ---------------------------------------------------------------------------------


def _subprocess(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.api_load", *args]


def _drive(url: str, path: str, requests: int, connections: int) -> dict[str, Any]:
    out = subprocess.run(_subprocess("--client", url, path, str(requests), str(connections)),
                         capture_output=True, text=True, check=True, cwd=_HERE.parent, timeout=600)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


async def _run(apps: int, tasks_per_app: int, requests: int, connections: int, rounds: int) -> dict[str, Any]:
    import httpx

    from engine import Engine
    from engine.agents.sim import SimAgent
    from engine.api import start_api
    from engine.config import PacerConfig, SchedulerConfig

    total_tasks = apps * tasks_per_app
    n_agents = 10
    cpus_per_agent = max(8.0, total_tasks * 0.1 / n_agents * 1.5)
    drivers = {f"sim-{i}": SimAgent(f"sim-{i}", cpus=cpus_per_agent, mem_mib=cpus_per_agent * 1024,
                                    attributes={"rack": f"r{i % 3}"})
               for i in range(n_agents)}
    with tempfile.TemporaryDirectory() as tmp:
        config = PacerConfig(scheduler=SchedulerConfig(state=str(Path(tmp) / "state.db"), default_image="busybox",
                                                       cluster_id="bench-api", reconcile_interval=1.0))
        engine = Engine(config, drivers=drivers)
        await engine.start()
        server = await start_api(engine, config, bind="127.0.0.1:0")
        bare: subprocess.Popen[str] | None = None
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
                for i in range(apps):
                    body = {"id": f"/bench/app-{i:03d}", "cmd": "serve", "cpus": 0.1, "mem": 16,
                            "instances": tasks_per_app, "labels": {"team": f"t{i % 7}"},
                            "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}}
                    r = await c.post("/v2/apps", json=body)
                    r.raise_for_status()
                deadline = time.monotonic() + 120
                while (len(engine.tasks) < total_tasks or engine.deployments) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                if len(engine.tasks) != total_tasks:
                    raise RuntimeError(f"only {len(engine.tasks)} of {total_tasks} tasks started")
                paths = {"plain": "/v2/apps", "tasks": "/v2/apps?embed=apps.tasks", "uncached": "/v2/apps"}
                files = {}
                for name, path in paths.items():
                    body_bytes = (await c.get(path)).content
                    file = Path(tmp) / f"{name}.json"
                    file.write_bytes(body_bytes)
                    files[name] = (path, file, len(body_bytes))
            bare = subprocess.Popen(_subprocess("--bare", *(x for p, f, _ in files.values() for x in (p, str(f)))),
                                    stdout=subprocess.PIPE, text=True, cwd=_HERE.parent)
            assert bare.stdout is not None
            bare_url = f"http://127.0.0.1:{int(bare.stdout.readline())}"
            result: dict[str, Any] = {"apps": apps, "tasks": len(engine.tasks), "requests": requests,
                                      "connections": connections}
            for name, (path, _, size) in files.items():
                best_pacer: dict[str, Any] | None = None
                best_bare: dict[str, Any] | None = None
                rounds_before = engine.stats.rounds
                durations_before = len(engine.stats.round_durations)
                load_seconds = 0.0
                server.state.responses.enabled = name != "uncached"
                for _ in range(rounds):
                    started = time.monotonic()
                    p = await asyncio.to_thread(_drive, server.url, path, requests, connections)
                    load_seconds += time.monotonic() - started
                    b = await asyncio.to_thread(_drive, bare_url, path, requests, connections)
                    if best_pacer is None or p["rps"] > best_pacer["rps"]:
                        best_pacer = p
                    if best_bare is None or b["rps"] > best_bare["rps"]:
                        best_bare = b
                assert best_pacer is not None and best_bare is not None
                suffix = "" if name == "plain" else f"_{name}"
                result[f"pacer_rps{suffix}"] = best_pacer["rps"]
                result[f"bare_rps{suffix}"] = best_bare["rps"]
                result[f"ratio{suffix}"] = best_pacer["rps"] / best_bare["rps"]
                result[f"bytes{suffix}"] = size
                result[f"bare_bytes{suffix}"] = best_bare["bytes"]
                result[f"pacer_p99_ms{suffix}"] = best_pacer["p99_ms"]
                result[f"bare_p99_ms{suffix}"] = best_bare["p99_ms"]
                rounds_during = engine.stats.rounds - rounds_before
                durations = engine.stats.round_durations[durations_before:] or [0.0]
                result[f"reconcile_rounds_during_load{suffix}"] = rounds_during
                result[f"reconcile_rounds_per_s_during_load{suffix}"] = rounds_during / max(load_seconds, 1e-9)
                result[f"reconcile_round_max_ms{suffix}"] = 1000 * max(durations)
                result[f"reconcile_round_median_ms{suffix}"] = 1000 * statistics.median(durations)
            result["engine_reconciled_during_load"] = result["reconcile_rounds_during_load"] > 0
            result["passed"] = result["ratio"] >= 0.5 and result["engine_reconciled_during_load"]
            return result
        finally:
            if bare is not None:
                bare.terminate()
                bare.wait(10)
                if bare.stdout is not None:
                    bare.stdout.close()
            await server.stop()
            await engine.stop()


def run(apps: int = 100, tasks_per_app: int = 10, requests: int = 3000, connections: int = 8,
        rounds: int = 2) -> dict[str, Any]:
    """Measure; returns the figures (see the module docstring). Bounded: 2 x rounds x requests per target."""
    return asyncio.run(_run(apps, tasks_per_app, requests, connections, rounds))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--client":
        return _client_main(argv[1:])
    if argv and argv[0] == "--bare":
        return _bare_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.api_load")
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--tasks-per-app", type=int, default=10)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    result = run(args.apps, args.tasks_per_app, args.requests, args.connections, args.rounds)
    for key, value in result.items():
        print(f"{key:40} {value:.3f}" if isinstance(value, float) else f"{key:40} {value}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

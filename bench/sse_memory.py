"""SSE memory: a `pacer --serve` process while N clients hold /v2/events open and never read.

    from bench.sse_memory import run
    result = run(clients=300, apps=4, app_kb=200, updates=40)

The server runs in its own process (``python -m cli.main --serve --demo``), so the resident memory
read from /proc/PID/status is the server's alone. Its apps carry ~`app_kb` KB of labels each, so the
events of every change (``api_post_event``, ``deployment_info`` and the rest, whose plan holds the
original and the target app) are 200-400 KB of JSON each.

The run, on one server:

1. baseline: the apps created and deployed, no client connected: RSS (`baseline_rss_mb`);
2. idle: `updates` forced PUTs (one changed label each, round robin over the apps) with no event
   stream open, /ping sampled throughout: peak RSS above the baseline (`idle_rss_above_mb`) and
   /ping latency (`idle_ping_p99_ms`);
3. loaded: `clients` raw sockets connect to /v2/events, send the request and never read a byte
   (loopback); the same updates: `loaded_rss_above_mb` (peak) and `loaded_ping_p99_ms`;
4. after: the clients close; once the server reports no open stream (``pacer_sse_streams`` on
   /metrics/prometheus) and its RSS stops falling, `after_close_rss_above_mb`.

A run whose server passes `abort_rss_mb` of RSS stops its updates (``aborted``) and its waiting
early: the figures are then the ones seen until that moment.

Run alone: ``python -m bench.sse_memory [--clients N] [--apps A] [--app-kb K] [--updates U]``.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    """The process's resident set (VmRSS), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


class Server:
    """`pacer --serve --demo --api 127.0.0.1:0` in its own process; stderr kept (its tail) for errors."""

    def __init__(self, folder: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "--serve", "--demo", "--api", "127.0.0.1:0",
             "--state", str(folder / "state.db")],
            cwd=_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.tail: collections.deque[str] = collections.deque(maxlen=50)
        found = threading.Event()
        self.port = 0

        def drain() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.tail.append(line.rstrip())
                if not found.is_set():
                    m = re.search(r"API serving on http://127\.0\.0\.1:(\d+)", line)
                    if m:
                        self.port = int(m.group(1))
                        found.set()

        self._log = threading.Thread(target=drain, name="sse-bench-server-log", daemon=True)
        self._log.start()
        if not found.wait(30):
            self.stop()
            raise RuntimeError("the server did not start: " + "\n".join(self.tail))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.join(5)  # it reads stderr to its end
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def app_body(app_id: str, app_kb: int, rev: int) -> bytes:
    """An app whose definition is about `app_kb` KB: labels of 1 KB each, one of them changed by `rev`."""
    labels = {f"bench.label-{i:04d}": f"{i:04d}" + "v" * 1020 for i in range(app_kb)}
    labels["bench.rev"] = str(rev)
    return json.dumps({"id": app_id, "cmd": "sleep 1000", "cpus": 0.05, "mem": 16, "instances": 1,
                       "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}},
                       "labels": labels}).encode()


def _wait(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {seconds:.0f}s waiting for {what}")
        time.sleep(0.1)


def _no_deployments(server: Server) -> bool:
    conn = server.connection()
    try:
        status, body = _request(conn, "GET", "/v2/deployments")
        return status == 200 and json.loads(body) == []
    finally:
        conn.close()


def open_streams(server: Server, timeout: float = 30) -> int:
    """Open /v2/events streams, as the server reports them (its pacer_sse_streams gauge)."""
    conn = server.connection(timeout)
    try:
        status, body = _request(conn, "GET", "/metrics/prometheus")
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"/metrics/prometheus answered {status}")
    m = re.search(rb"^pacer_sse_streams (\d+)", body, re.M)
    if m is None:
        raise RuntimeError("no pacer_sse_streams gauge")
    return int(m.group(1))


class Sampler:
    """RSS of the server every 50 ms and /ping every 10 ms, from two threads, per phase."""

    def __init__(self, server: Server, abort_rss_mb: float) -> None:
        self.server = server
        self.abort_rss_mb = abort_rss_mb
        self.peak_rss = 0.0
        self.pings: list[float] = []
        self.ping_errors = 0
        self.over = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def during(cls, server: Server, abort_rss_mb: float) -> "_SamplerContext":
        return _SamplerContext(cls(server, abort_rss_mb))

    def _rss(self) -> None:
        while not self._stop.is_set():
            rss = rss_mb(self.server.pid)
            self.peak_rss = max(self.peak_rss, rss)
            if rss > self.abort_rss_mb:
                self.over.set()
            self._stop.wait(0.05)

    def _ping(self) -> None:
        conn = self.server.connection(timeout=30)
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    status, _ = _request(conn, "GET", "/ping")
                    if status != 200:
                        raise OSError(f"/ping answered {status}")
                except (OSError, http.client.HTTPException):
                    self.ping_errors += 1
                    conn.close()
                    conn = self.server.connection(timeout=30)
                    continue
                self.pings.append(time.perf_counter() - started)
                self._stop.wait(0.01)
        finally:
            conn.close()

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._rss, daemon=True),
                         threading.Thread(target=self._ping, daemon=True)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


class _SamplerContext:
    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def __enter__(self) -> Sampler:
        self.sampler.start()
        return self.sampler

    def __exit__(self, *exc: object) -> None:
        self.sampler.stop()


def _updates(server: Server, app_ids: list[str], app_kb: int, updates: int, first_rev: int,
             sampler: Sampler) -> int:
    """Forced PUTs of the apps, round robin, each changing one label; stops early past the RSS limit."""
    bodies = [app_body(app_ids[i % len(app_ids)], app_kb, first_rev + i) for i in range(updates)]
    conn = server.connection(timeout=60)
    done = 0
    try:
        for i, body in enumerate(bodies):
            if sampler.over.is_set():
                break
            status, answer = _request(conn, "PUT", f"/v2/apps{app_ids[i % len(app_ids)]}?force=true", body)
            if status not in (200, 201):
                raise RuntimeError(f"PUT answered {status}: {answer[:300]!r}")
            done += 1
            time.sleep(0.05)
    finally:
        conn.close()
    deadline = time.monotonic() + 60
    while not sampler.over.is_set() and not _no_deployments(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    return done



class Clients:
    """`n` loopback sockets that ask for /v2/events and never read."""

    def __init__(self, port: int, n: int) -> None:
        self.socks: list[socket.socket] = []
        request = (f"GET /v2/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                   "Accept: text/event-stream\r\n\r\n").encode()
        try:
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(request)
                self.socks.append(s)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.socks.clear()


def _settled_rss(pid: int, seconds: float) -> float:
    """The server's RSS once it stops falling (sampled every 0.25 s, for at most `seconds`)."""
    lowest = rss_mb(pid)
    last_drop = time.monotonic()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and time.monotonic() - last_drop < 2.0:
        time.sleep(0.25)
        now = rss_mb(pid)
        if now < lowest - 1:
            last_drop = time.monotonic()
        lowest = min(lowest, now)
    return lowest


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _phase(result: dict[str, Any], name: str, sampler: Sampler, baseline: float, cpu: float, pid: int) -> None:
    result[f"{name}_rss_above_mb"] = sampler.peak_rss - baseline
    result[f"{name}_ping_p50_ms"] = 1000 * percentile(sampler.pings, 0.50)
    result[f"{name}_ping_p99_ms"] = 1000 * percentile(sampler.pings, 0.99)
    result[f"{name}_ping_max_ms"] = 1000 * max(sampler.pings, default=float("nan"))
    result[f"{name}_pings"] = len(sampler.pings)
    result[f"{name}_ping_errors"] = sampler.ping_errors
    result[f"{name}_server_cpu_s"] = cpu_seconds(pid) - cpu


def _streams_or_none(server: Server) -> int | None:
    try:
        return open_streams(server, timeout=5)
    except (OSError, http.client.HTTPException, RuntimeError):
        return None  # the server did not answer in time


def run(clients: int = 300, apps: int = 4, app_kb: int = 200, updates: int = 40,
        abort_rss_mb: float = 4000) -> dict[str, Any]:
    """Measure; returns the figures (see the module docstring). Bounded in count and time.

    Failures after the load (streams that never close, a server that no longer answers) are
    figures too: `streams_after_close` is None when the server did not answer.
    """
    result: dict[str, Any] = {"clients": clients, "apps": apps, "app_kb": app_kb, "updates": updates}
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        try:
            app_ids = [f"/bench/sse-{i}" for i in range(apps)]
            conn = server.connection(timeout=60)
            try:
                for app_id in app_ids:
                    status, answer = _request(conn, "POST", "/v2/apps", app_body(app_id, app_kb, 0))
                    if status != 201:
                        raise RuntimeError(f"POST answered {status}: {answer[:300]!r}")
            finally:
                conn.close()
            _wait(lambda: _no_deployments(server), 60, "the apps to deploy")
            result["app_definition_bytes"] = len(app_body(app_ids[0], app_kb, 0))
            baseline = _settled_rss(server.pid, 10)
            result["baseline_rss_mb"] = baseline

            cpu = cpu_seconds(server.pid)
            with Sampler.during(server, abort_rss_mb) as idle:
                _updates(server, app_ids, app_kb, updates, 1, idle)
            _phase(result, "idle", idle, baseline, cpu, server.pid)

            streams = Clients(server.port, clients)
            try:
                _wait(lambda: open_streams(server) >= clients, 60, f"{clients} open streams")
                cpu = cpu_seconds(server.pid)
                with Sampler.during(server, abort_rss_mb) as loaded:
                    result["loaded_updates_done"] = _updates(server, app_ids, app_kb, updates, 1 + updates, loaded)
                result["aborted"] = loaded.over.is_set()
                _phase(result, "loaded", loaded, baseline, cpu, server.pid)
            finally:
                streams.close()
            deadline = time.monotonic() + 30
            left = _streams_or_none(server)
            while left != 0 and time.monotonic() < deadline and rss_mb(server.pid) < abort_rss_mb:
                time.sleep(0.2)
                left = _streams_or_none(server)
            result["streams_after_close"] = left
            settle = 20 if rss_mb(server.pid) < abort_rss_mb else 0
            result["after_close_rss_above_mb"] = _settled_rss(server.pid, settle) - baseline
        finally:
            server.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sse_memory")
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--apps", type=int, default=4)
    parser.add_argument("--app-kb", type=int, default=200)
    parser.add_argument("--updates", type=int, default=40)
    args = parser.parse_args(argv)
    result = run(args.clients, args.apps, args.app_kb, args.updates)
    for key, value in result.items():
        print(f"{key:40} {value:.3f}" if isinstance(value, float) else f"{key:40} {value}")
    return 0 if result["streams_after_close"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

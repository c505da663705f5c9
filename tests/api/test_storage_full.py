"""A state storage that fills up: writes answer 503 with the reason and change nothing, the engine says it is
degraded, and everything resumes by itself once there is space again (no restart).

The state lives on a small tmpfs mounted for the test (root only: skipped with the reason otherwise)."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import AsyncIterator, Iterator

import httpx
import pytest

from engine import Engine
from engine.agents.sim import SimAgent
from engine.api import ApiSettings, build_app
from tests.api.conftest import app_body, sim_config
from tests.conftest import wait_until


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of its own."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    target = tmp_path / "small"
    target.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(target)],
                             capture_output=True, text=True, timeout=30)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


class Filler:
    """Takes every free byte of a file system, and gives it back."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "ballast"
        self.fd: int | None = None

    def fill(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        chunk = b"\0" * 65536
        for _ in range(10_000):  # 640 MiB at most: far more than the tmpfs holds
            try:
                os.write(self.fd, chunk)
            except OSError:
                break
        for _ in range(100):  # then the last bytes, a block at a time
            try:
                os.write(self.fd, b"\0" * 512)
            except OSError:
                break
        assert os.statvfs(self.path.parent).f_bavail == 0

    def free(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.path.unlink(missing_ok=True)


@pytest.fixture
def filler(small_fs: Path) -> Iterator[Filler]:
    f = Filler(small_fs)
    try:
        yield f
    finally:
        f.free()


@pytest.fixture
async def full_engine(small_fs: Path, filler: Filler) -> AsyncIterator[Engine]:
    agents = {"s1": SimAgent("s1", cpus=8, mem_mib=8192)}
    engine = Engine(sim_config(small_fs), drivers=agents)
    await engine.start()
    try:
        yield engine
    finally:
        filler.free()  # stop() flushes what is pending
        await engine.stop()


@pytest.fixture
async def api(full_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(full_engine, ApiSettings(leader="127.0.0.1:8080"))
    transport = httpx.ASGITransport(app, client=("127.0.0.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://pacer.test") as c:
        yield c


async def test_full_storage_refuses_writes_honestly_and_recovers_without_restart(
        full_engine: Engine, api: httpx.AsyncClient, filler: Filler, small_fs: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    engine = full_engine
    caplog.set_level(logging.INFO)
    assert (await api.post("/v2/apps", json=app_body("/before", instances=1))).status_code == 201
    await wait_until(lambda: engine.running_count("/before") == 1 and not engine.deployments, 15,
                     message="/before running")
    ready = await api.get("/pacer/v1/health")
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    (task,) = engine.tasks_of("/before")

    filler.fill()

    # A write: 503 with the reason, and nothing changed, on disk or in memory.
    refused = await api.post("/v2/apps", json=app_body("/during", instances=1))
    assert refused.status_code == 503, refused.text
    message = refused.json()["message"]
    assert message.startswith("state storage is full: ") and f"free on {small_fs}" in message, message
    assert "(database or disk is full)" in message and refused.headers["retry-after"] == "5"
    assert "/during" not in engine.apps
    assert (await api.get("/v2/apps/during")).status_code == 404
    # Killing a task cannot be recorded either: refused, and the task is still shown as it is (running).
    kill = await api.delete(f"/v2/apps/before/tasks/{task.task_id}")
    assert kill.status_code == 503 and kill.json()["message"].startswith("state storage is full"), kill.text
    assert engine.tasks_of("/before")[0].state.value == "TASK_RUNNING"
    assert any(r.name == "pacer.store" and "state storage is full" in r.getMessage() for r in caplog.records)

    # Readiness says so, with the reason; liveness still answers; /v2/info carries it in a header.
    degraded = await api.get("/pacer/v1/health")
    assert degraded.status_code == 503, degraded.text
    body = degraded.json()
    store = next(p for p in body["parts"] if p["name"] == "store")
    assert body["status"] == "degraded" and store["status"] == "degraded"
    assert store["reason"].startswith("state storage is full") and store["since"].endswith("Z")
    assert any(p.startswith("store: state storage is full") for p in body["problems"])
    assert (await api.get("/ping")).text == "pong"
    info = await api.get("/v2/info")
    assert info.status_code == 200 and info.headers["x-pacer-health"] == "degraded"
    assert "store: state storage is full" in info.headers["x-pacer-health-reason"]
    # The loop notices too (it tries the storage before acting) and says why it waits.
    await wait_until(lambda: any(r.name == "pacer.supervisor" and "state storage is full" in r.getMessage()
                                 for r in caplog.records), 15, message="the loop logging the cause")

    filler.free()

    # No restart: readiness comes back by itself, and the next app launches.
    await wait_until(lambda: engine.health_status().ready, 30, message="ready again")
    created = await api.post("/v2/apps", json=app_body("/after", instances=2))
    assert created.status_code == 201, created.text
    await wait_until(lambda: engine.running_count("/after") == 2, 15, message="/after running")
    assert (await api.get("/pacer/v1/health")).status_code == 200
    assert engine.running_count("/before") == 1


async def test_health_lists_every_part_and_each_agent(client: httpx.AsyncClient, engine: Engine,
                                                      agents: dict[str, SimAgent]) -> None:
    await wait_until(lambda: engine.stats.rounds >= 1, 10, message="a round")
    r = await client.get("/pacer/v1/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready" and body["problems"] == []
    assert [p["name"] for p in body["parts"]] == ["loop", "store", "executor", "health monitor", "autoscaler",
                                                  "agent watchers", "agents"]
    assert all(p["status"] == "ok" and p["since"].endswith("Z") for p in body["parts"])
    assert [(a["name"], a["status"]) for a in body["agents"]] == [("s1", "reachable"), ("s2", "reachable")]
    assert (await client.get("/v2/info")).headers["x-pacer-health"] == "ready"

    # One agent down: listed with its reason; the engine still works with the other.
    agents["s1"].reachable = False
    engine.wake()
    await wait_until(lambda: any(a.state == "unreachable" for a in engine.health_status().agents), 10,
                     message="s1 seen unreachable")
    body = (await client.get("/pacer/v1/health")).json()
    s1 = next(a for a in body["agents"] if a["name"] == "s1")
    assert s1["status"] == "unreachable" and "simulated outage" in s1["reason"]
    assert body["status"] == "ready"
    assert next(p for p in body["parts"] if p["name"] == "agents")["reason"] == "1 of 2 unreachable: s1"

    # Every agent down: nothing can run, so the engine is degraded, and says why.
    agents["s2"].reachable = False
    engine.wake()
    await wait_until(lambda: not engine.health_status().ready, 10, message="degraded")
    r = await client.get("/pacer/v1/health")
    assert r.status_code == 503 and r.json()["problems"][0].startswith("agents: no agent reachable: s1 (")
    prometheus = (await client.get("/metrics/prometheus")).text
    assert "pacer_ready 0" in prometheus and 'pacer_part_degraded{part="agents"} 1' in prometheus

"""API test fixtures: a sim-agent engine, the ASGI app over httpx, a real uvicorn server on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest

from engine import Engine
from engine.agents.sim import SimAgent
from engine.api import ApiServer, ApiSettings, build_app, start_api
from engine.config import PacerConfig, SchedulerConfig


def sim_config(tmp_path: Path, **scheduler: Any) -> PacerConfig:
    base: dict[str, Any] = dict(state=str(tmp_path / "state.db"), default_image="busybox:latest",
                                cluster_id="apitest", reconcile_interval=0.2, orphan_grace_seconds=0.5)
    base.update(scheduler)
    return PacerConfig(scheduler=SchedulerConfig(**base))


def app_body(app_id: str = "/web", instances: int = 2, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": app_id, "cmd": "sleep 1000", "cpus": 0.25, "mem": 32, "instances": instances,
                            "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}}
    body.update(kw)
    return body


@pytest.fixture
def agents() -> dict[str, SimAgent]:
    return {f"s{i}": SimAgent(f"s{i}", cpus=4, mem_mib=4096, attributes={"rack": f"r{i}"}) for i in (1, 2)}


@pytest.fixture
async def engine(tmp_path: Path, agents: dict[str, SimAgent]) -> AsyncIterator[Engine]:
    e = Engine(sim_config(tmp_path), drivers=agents)
    await e.start()
    try:
        yield e
    finally:
        await e.stop()


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(engine, ApiSettings(leader="127.0.0.1:8080"))
    transport = httpx.ASGITransport(app, client=("127.0.0.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://pacer.test") as c:
        yield c


@pytest.fixture
async def server(engine: Engine, tmp_path: Path) -> AsyncIterator[ApiServer]:
    api = await start_api(engine, engine.config, bind="127.0.0.1:0",
                          settings=ApiSettings(sse_queue=200, sse_heartbeat=5.0, sse_send_timeout=5.0))
    try:
        yield api
    finally:
        await api.stop()

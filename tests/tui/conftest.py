"""Console tests: the real app on a sim-backed engine (its own thread), driven by Pilot.

Tests assert what the engine did (its apps, instances, versions, deployments),
and wait for conditions with deadlines, never for fixed times.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

from engine import Engine
from engine.agents.sim import SimAgent
from engine.config import PacerConfig, SchedulerConfig
from tui.app import PacerApp, make_app

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_apps"


@pytest.fixture(autouse=True)
def console_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch ~/.config in tests."""
    path = tmp_path / "console.json"
    monkeypatch.setenv("PACER_CONSOLE_SETTINGS", str(path))
    return path


def web_app(app_id: str = "/web", instances: int = 2, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": app_id, "cmd": "serve", "cpus": 0.5, "mem": 64, "instances": instances,
                            "container": {"type": "DOCKER", "docker": {"image": "img:1"}}}
    body.update(extra)
    return body


@pytest.fixture
def sim_agents() -> dict[str, SimAgent]:
    agents = {f"sim-{i}": SimAgent(f"sim-{i}", cpus=4, mem_mib=4096, attributes={"zone": f"z{i}"}) for i in (1, 2, 3)}
    for agent in agents.values():
        agent.log_interval = 0.05
    return agents


@pytest.fixture
def engine(tmp_path: Path, sim_agents: dict[str, SimAgent]) -> Engine:
    config = PacerConfig(scheduler=SchedulerConfig(
        state=str(tmp_path / "state.db"), default_image="busybox:latest", cluster_id="tui-test",
        reconcile_interval=0.2, orphan_grace_seconds=0.5))
    return Engine(config, drivers=sim_agents)


@pytest.fixture
def console(engine: Engine, console_settings: Path) -> PacerApp:
    return make_app(engine=engine, settings_file=console_settings, samples_dir=SAMPLES, feed_interval=0.05)


async def until(pilot: Any, predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0,
                message: str = "condition") -> None:
    """Let the app run until `predicate` holds; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await pilot.pause(0.02)


async def started(pilot: Any) -> None:
    app = pilot.app
    await until(pilot, lambda: app.main.view is not None, message="the first engine view")


async def deployed(pilot: Any, data: dict[str, Any]) -> None:
    """Create an app through the engine and wait until it runs and the console shows it."""
    app = pilot.app
    engine = app.host.engine
    await app.host.call(engine.create_app, data)
    app_id = data["id"]
    await until(pilot, lambda: engine.converged(app_id) and not any(
        d.app_id == app_id for d in engine.deployments.values()), message=f"{app_id} running")
    await until(pilot, lambda: app.main.view is not None and app_id in app.main.view.apps
                and app.main.view.apps[app_id].running == data["instances"], message=f"{app_id} shown")

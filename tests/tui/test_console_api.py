"""The console with `--api`: the API it serves takes the config's token, and the console says when it has none."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from engine import Engine
from engine.agents.sim import SimAgent
from engine.config import PacerConfig, SchedulerConfig
from tests.tui.conftest import started, until
from tui.app import make_app

TOKEN = "console-api-token-8c2f71"


@pytest.mark.parametrize("token", [None, TOKEN])
async def test_console_api_uses_the_config_token_and_warns_without_one(
        tmp_path: Path, sim_agents: dict[str, SimAgent], console_settings: Path, token: str | None) -> None:
    config = PacerConfig(scheduler=SchedulerConfig(
        state=str(tmp_path / "state.db"), default_image="busybox:latest", cluster_id="tui-api",
        reconcile_interval=0.2, api="127.0.0.1:0", api_token=token))
    console = make_app(engine=Engine(config, drivers=sim_agents), settings_file=console_settings,
                       feed_interval=0.05)
    async with console.run_test() as pilot:
        await started(pilot)
        await until(pilot, lambda: any(n.title == "api" for n in console._notifications), 30,
                    message="the API notification")
        note = next(n for n in console._notifications if n.title == "api")
        found = re.search(r"http://127\.0\.0\.1:\d+", note.message)
        assert found, note.message
        async with httpx.AsyncClient(base_url=found.group(0), timeout=10) as client:
            if token is None:
                assert note.severity == "warning" and "has no token" in note.message and "api_token" in note.message
                assert (await client.get("/v2/apps")).status_code == 200
            else:
                assert note.severity == "information" and "token required" in note.message
                assert TOKEN not in note.message
                assert (await client.get("/v2/apps")).status_code == 401
                r = await client.get("/v2/apps", headers={"Authorization": f"Bearer {TOKEN}"})
                assert r.status_code == 200

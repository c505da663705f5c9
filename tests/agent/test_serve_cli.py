"""`pacer --serve --config FILE` with an `[agent]` table: the agent alone, or the agent and the engine."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agent.support import TOKEN, free_port
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "cli.main", "--serve", "--config", str(config)],
                                cwd=ROOT, stdout=out, stderr=out, stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


async def test_config_with_only_an_agent_table_serves_the_agent(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "pacer.toml"
    config.write_text(textwrap.dedent(f"""
        [agent]
        listen = "127.0.0.1:{port}"
        token = "{TOKEN}"
        name = "only-agent"
    """))
    proc = start(config, tmp_path / "out.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async def answers() -> bool:
                try:
                    r = await client.get("/v1/info", headers={"Authorization": f"Bearer {TOKEN}"})
                except httpx.TransportError:
                    return False
                return r.status_code == 200 and r.json()["name"] == "only-agent"

            await wait_until(answers, 30, message="the agent answering")
        assert stop(proc) == 0
        out = (tmp_path / "out.log").read_text()
        assert "engine started" not in out and TOKEN not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.docker
async def test_agent_and_engine_in_one_process(tmp_path: Path, docker_url: str, docker_client: Any,
                                               cleanup_cluster: str) -> None:
    """The engine uses the same process's agent through pacer+http on loopback."""
    port = free_port()
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "web.json").write_text(json.dumps({
        "id": "/both/web", "cmd": "exec sleep 600", "cpus": 0.05, "mem": 16, "instances": 2,
        "networks": [{"mode": "container/bridge"}],
        "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}},
    }))
    config = tmp_path / "pacer.toml"
    config.write_text(textwrap.dedent(f"""
        [agent]
        listen = "127.0.0.1:{port}"
        docker_url = "{docker_url}"
        token = "{TOKEN}"

        [scheduler]
        state = "state/state.db"
        apps_dir = "apps"
        cluster_id = "{cleanup_cluster}"
        reconcile_interval = 0.5

        [[agents]]
        name = "self"
        url = "pacer+http://127.0.0.1:{port}"
        token = "{TOKEN}"
    """))
    proc = start(config, tmp_path / "out.log")
    try:
        def running() -> int:
            return len(docker_client.containers.list(filters={"label": f"pacer.cluster={cleanup_cluster}"}))

        await wait_until(lambda: running() == 2 or proc.poll() is not None, 60, message="2 containers via the agent")
        assert proc.poll() is None, (tmp_path / "out.log").read_text()
        assert stop(proc) == 0
        out = (tmp_path / "out.log").read_text()
        assert "engine started" in out and "launched task" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

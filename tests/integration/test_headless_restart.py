"""kill -9 of a headless engine: containers are adopted, acknowledged apps survive."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, cluster_id: str, docker_url: str, apps: list[dict[str, Any]]) -> Path:
    apps_dir = tmp_path / "apps"
    apps_dir.mkdir()
    for app in apps:
        (apps_dir / f"{app['id'].strip('/').replace('/', '_')}.json").write_text(json.dumps(app))
    config = tmp_path / "pacer.toml"
    config.write_text(textwrap.dedent(f"""
        [scheduler]
        state = "state/state.db"
        apps_dir = "apps"
        default_image = "busybox:latest"
        cluster_id = "{cluster_id}"
        reconcile_interval = 0.5

        [[agents]]
        name = "local"
        url = "{docker_url}"
    """))
    return config


class Headless:
    """`pacer --serve` as a child process. Every start appends to one log (so a failure shows what each run
    did); `output()` is the current run's part."""

    def __init__(self, config: Path, log: Path, *, log_level: str = "INFO") -> None:
        self.config, self.log, self.log_level = config, log, log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self._run_starts_at = 0
        self._runs = 0

    def start(self) -> None:
        self._runs += 1
        with self.log.open("ab") as log:
            log.write(f"==== run {self._runs}\n".encode())
            log.flush()
            self._run_starts_at = log.tell()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "--serve", "--config", str(self.config),
                 "--log-level", self.log_level],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
            )

    def output(self) -> str:
        with self.log.open("rb") as log:
            log.seek(self._run_starts_at)
            return log.read().decode(errors="replace")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        # Captured output: pytest shows it only when the test failed.
        print(f"---- tail of {self.log}:\n{self.log.read_text(errors='replace')[-30000:]}")

    def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(30)


def container_ids(client: Any, cluster_id: str) -> set[str]:
    return {c.id for c in client.containers.list(filters={"label": f"pacer.cluster={cluster_id}", "status": "running"})}


async def test_kill9_then_restart_adopts_the_same_containers(tmp_path: Path, docker_url: str, docker_client: Any,
                                                             cleanup_cluster: str) -> None:
    app = {"id": "/keep/me", "cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 5,
           "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}}
    headless = Headless(write_config(tmp_path, cleanup_cluster, docker_url, [app]), tmp_path / "pacer.log")
    headless.start()
    try:
        await wait_until(lambda: len(container_ids(docker_client, cleanup_cluster)) == 5, 60,
                         message="5 running containers")
        before = container_ids(docker_client, cleanup_cluster)
        headless.kill9()
        headless.start()
        await wait_until(lambda: "first reconcile round" in headless.output(), 30, message="restarted engine")
        # Sample for several reconcile rounds (0.5 s each): nothing may be launched or killed.
        for _ in range(16):
            assert container_ids(docker_client, cleanup_cluster) == before
            await asyncio.sleep(0.25)
        after_restart = headless.output().split("first reconcile round", 1)[1]
        assert "0 launches, 0 kills" in after_restart.splitlines()[0]
        assert "reconcile:" not in after_restart, after_restart
        assert headless.terminate() == 0
        assert container_ids(docker_client, cleanup_cluster) == before, "SIGTERM stops the engine, not the tasks"
    finally:
        headless.cleanup()


ACK_SCRIPT = """
import asyncio, sys
from engine import Engine, load_config

async def main():
    engine = Engine(load_config(sys.argv[1]))
    await engine.start()
    await engine.create_app({"id": "/acked", "cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 0})
    print("ACK", flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


async def test_acknowledged_app_survives_kill9(tmp_path: Path, docker_url: str, cleanup_cluster: str) -> None:
    from engine import Engine, load_config

    config = write_config(tmp_path, cleanup_cluster, docker_url, [])
    with subprocess.Popen([sys.executable, "-c", ACK_SCRIPT, str(config)], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert line.strip() == b"ACK"
    engine = Engine(load_config(config))
    await engine.start()
    try:
        assert engine.get_app("/acked").instances == 0
    finally:
        await engine.stop()

"""The console against a real dockerd: deploy the seed from the picker, + to 3, logs, delete with the typed id."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Log

from engine import AppNotFound, TaskState
from tests.tui.conftest import until
from tui.app import make_app
from tui.screens.deploy import DeployScreen
from tui.screens.dialogs import TypeToConfirmScreen
from tui.widgets.log_viewer import LogViewer

pytestmark = pytest.mark.docker

SAMPLES = Path(__file__).resolve().parents[2] / "sample_apps"


def running_containers(client: Any, cluster_id: str) -> list[Any]:
    return client.containers.list(sparse=True, filters={"label": [f"pacer.cluster={cluster_id}", "pacer.app=/example-app"],
                                           "status": "running"})


def poke(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def test_console_deploys_scales_follows_and_deletes_on_dockerd(
        docker_config: Any, docker_client: Any, cluster_id: str, tmp_path: Path) -> None:
    app = make_app(docker_config, samples_dir=SAMPLES, settings_file=tmp_path / "console.json", feed_interval=0.1)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await until(pilot, lambda: app.main.view is not None, 30, message="the engine on dockerd")
        engine = app.host.engine
        assert engine is not None

        await pilot.press("n")
        assert isinstance(app.screen, DeployScreen)
        await pilot.press("enter")  # the seed, example-app.json, is first in the picker
        await until(pilot, lambda: "/example-app" in engine.apps, 30, message="the seed created")
        await until(pilot, lambda: app.main.selected_app == "/example-app", 30, message="the seed selected")
        await until(pilot, lambda: engine.running_count("/example-app") == 2, 120, message="2 tasks running")

        await pilot.press("plus")
        await until(pilot, lambda: engine.get_app("/example-app").instances == 3, 30, message="scaled to 3")
        await until(pilot, lambda: engine.running_count("/example-app") == 3, 120, message="3 tasks running")
        await until(pilot, lambda: len(running_containers(docker_client, cluster_id)) == 3, 60,
                    message="3 containers on dockerd")
        tasks = app.main.tasks
        await until(pilot, lambda: tasks.row_count == 3 and all(
            tasks.get_cell(k, "state").plain == "running" for k in tasks.keys), 30, message="3 running in the pane")
        ports = [t.host_ports[0] for t in engine.tasks_of("/example-app") if t.state == TaskState.RUNNING]
        await until(pilot, lambda: all(poke(p) for p in ports), 60, message="every task answers HTTP")

        await pilot.press("l")
        log = app.main.query_one(LogViewer).query_one(Log)
        for port in ports:
            poke(port)
        await until(pilot, lambda: sum(1 for line in log.lines if "GET / HTTP" in line) >= 3, 60,
                    message="access log lines of the tasks in the logs pane")

        await pilot.press("1", "d")
        assert isinstance(app.screen, TypeToConfirmScreen)
        await pilot.press(*"/example-app", "enter")
        await until(pilot, lambda: "/example-app" not in engine.apps, 30, message="deleted")
        with pytest.raises(AppNotFound):
            engine.get_app("/example-app")
        await until(pilot, lambda: not running_containers(docker_client, cluster_id), 60,
                    message="its containers gone")
        assert not [n for n in app._notifications if n.severity == "error"]

"""(1) kill -9 of a headless engine (`pacer --serve`, API on) during deployments, then a restart.

Apps are created through the API while the engine is killed: every app whose POST was acknowledged
(201) exists after the restart, and every app ends at exactly its instances on the extra daemons,
without duplicates or orphans. A rolling upgrade interrupted by kill -9 finishes after the restart.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chaos.conftest import (
    Agent,
    ApiView,
    config_toml,
    inventory,
    running_on,
    sleeper,
    wait_exact,
)
from tests.conftest import wait_until
from tests.integration.test_headless_restart import Headless

pytestmark = pytest.mark.docker

CHAOS_AGENTS = ("plain", "plain", "plain")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def api_up(view: ApiView, timeout: float = 30) -> None:
    def ping() -> bool:
        try:
            return httpx.get(view.base + "/ping", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    async def answers() -> bool:
        return await asyncio.to_thread(ping)

    await wait_until(answers, timeout, interval=0.2, message="the API of the restarted engine")


class Poster(threading.Thread):
    """POSTs apps one after another; remembers which the engine acknowledged (201)."""

    def __init__(self, base: str, apps: list[dict[str, Any]], spacing: float) -> None:
        super().__init__(daemon=True)
        self.base, self.apps, self.spacing = base, apps, spacing
        self.acked: list[str] = []
        self.refused: list[str] = []

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            for app in self.apps:
                try:
                    ok = client.post(self.base + "/v2/apps", json=app).status_code == 201
                except httpx.HTTPError:
                    ok = False
                (self.acked if ok else self.refused).append(app["id"])
                time.sleep(self.spacing)


async def test_kill9_during_deployments_then_restart(tmp_path: Path, agents: list[Agent], chaos_cluster: str,
                                                     record_recovery: Any) -> None:
    api = f"127.0.0.1:{free_port()}"
    view = ApiView(f"http://{api}")
    config = config_toml(tmp_path, chaos_cluster, agents, api=api)
    headless = Headless(config, tmp_path / "pacer.log", log_level="DEBUG")
    apps = [sleeper(f"/k9/app-{i}", 2) for i in range(5)]

    def containers() -> list[Any]:
        return inventory(agents, chaos_cluster)

    headless.start()
    try:
        await api_up(view)
        poster = Poster(view.base, apps, spacing=0.15)
        poster.start()
        # kill -9 once three apps are acknowledged and containers run, while the engine reports a deployment
        # under way; more POSTs are coming.
        under_way: list[Any] = []

        def mid_deployment() -> bool:
            if len(poster.acked) < 3 or not containers():
                return False
            try:
                under_way[:] = view.get("/v2/deployments")
            except httpx.HTTPError:
                return False
            return bool(under_way)

        await wait_until(mid_deployment, 60, interval=0.02, message="three acknowledged apps, a deployment running")
        headless.kill9()
        killed_with = len(containers())
        await asyncio.to_thread(poster.join, 30)

        restart = time.monotonic()
        headless.start()
        await api_up(view)
        present = await asyncio.to_thread(view.app_ids)
        assert set(poster.acked) <= present, f"acknowledged apps lost: {set(poster.acked) - present}"
        expected = {app_id: 2 for app_id in present}
        done = await wait_exact(view, agents, chaos_cluster, expected, timeout=90)
        record_recovery("(1) engine kill -9 during deployments: restart -> exact", done - restart,
                        acked=len(poster.acked), containers_at_kill=killed_with,
                        deployments_at_kill=len(under_way))

        # A rolling upgrade, interrupted by kill -9 while both versions run.
        target = "/k9/app-0" if "/k9/app-0" in present else min(present)
        old = {s.config_version for s in containers() if s.app_id == target}
        upgraded = dict(next(a for a in apps if a["id"] == target), cmd="exec sleep 3601")
        response = await asyncio.to_thread(
            lambda: httpx.put(f"{view.base}/v2/apps{target}", json=upgraded, timeout=10))
        assert response.status_code == 200, response.text

        def mid_upgrade() -> bool:
            versions = {s.config_version for s in containers() if s.app_id == target}
            return bool(versions - old)

        await wait_until(mid_upgrade, 60, interval=0.05, message="the upgrade under way")
        headless.kill9()
        restart = time.monotonic()
        headless.start()
        await api_up(view)
        done = await wait_exact(view, agents, chaos_cluster, expected, timeout=90)
        record_recovery("(1) engine kill -9 mid rolling upgrade: restart -> exact", done - restart)
        final = [s for s in containers() if s.app_id == target]
        assert len({s.config_version for s in final}) == 1 and not {s.config_version for s in final} & old
        for s in final:
            agent = next(a for a in agents if a.name == s.agent)
            assert agent.client.api.inspect_container(s.container_id)["Config"]["Cmd"][-1] == "exec sleep 3601"
        assert headless.terminate() == 0
    finally:
        headless.cleanup()


async def test_kill9_with_an_agent_down_then_restart(tmp_path: Path, agents: list[Agent], chaos_cluster: str,
                                                     record_recovery: Any) -> None:
    """The engine and an agent die together; the engine restarts while the agent is still down: the lost
    tasks (remembered in the store) are replaced after inactiveAfterSeconds, and cleaned up when it returns."""
    a1, a2, a3 = agents
    api = f"127.0.0.1:{free_port()}"
    view = ApiView(f"http://{api}")
    app_id = "/k9/with-agent"
    config = config_toml(tmp_path, chaos_cluster, agents, api=api, apps=[sleeper(app_id, 3, inactive=3)])
    headless = Headless(config, tmp_path / "pacer.log", log_level="DEBUG")
    headless.start()
    try:
        await api_up(view)
        await wait_exact(view, agents, chaos_cluster, {app_id: 3}, timeout=60)
        lost = {s.task_id for s in inventory([a1], chaos_cluster)}
        assert len(lost) == 1
        headless.kill9()
        await asyncio.to_thread(a1.kill)

        restart = time.monotonic()
        headless.start()
        await api_up(view)

        async def replaced() -> bool:
            return sum((await running_on([a2, a3], chaos_cluster, app_id)).values()) == 3

        await wait_until(replaced, 60, interval=0.2, message="the lost task replaced on a2/a3")
        record_recovery("(1) engine kill -9 + agent SIGKILL: restart -> replaced (inactive=3s)",
                        time.monotonic() - restart)
        tasks = {t["id"]: t["state"] for t in (await asyncio.to_thread(view.get, "/v2/tasks"))["tasks"]}
        assert tasks[lost.pop()] == "TASK_UNREACHABLE" and len(tasks) == 4

        back = time.monotonic()
        await asyncio.to_thread(a1.start)
        done = await wait_exact(view, agents, chaos_cluster, {app_id: 3}, timeout=60)
        record_recovery("(1) ... agent back: exact", done - back)
        assert headless.terminate() == 0
    finally:
        headless.cleanup()

"""A docker agent's listings never queue behind its other calls: however many launches, kills or probes are
stuck on the daemon (all of its action threads busy), the engine can still tell whether the daemon answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from engine.agents.base import TaskSpec
from engine.agents.docker_agent import DockerAgent
from tests.conftest import wait_until

pytestmark = pytest.mark.docker


async def test_listing_does_not_wait_for_busy_action_threads(docker_url: str, docker_client: Any,
                                                             cleanup_cluster: str) -> None:
    agent = DockerAgent("local", docker_url, workers=1)
    spec = TaskSpec(task_id="/lane.instance-1._app.1", app_id="/lane", version="v", config_version="v",
                    cluster_id=cleanup_cluster, name=f"pacer.lane.{cleanup_cluster}", image="busybox:latest",
                    entrypoint=None, command=("sleep", "600"), env={}, labels={}, cpus=0.1, mem_mib=16,
                    network_mode="bridge")
    try:
        await agent.connect()
        container = await agent.launch(spec)
        # The one action thread is held by a call that takes 8 s (as any call to a daemon that stopped answering).
        busy = asyncio.get_running_loop().create_task(agent.exec_check(container.container_id, "sleep 8"))
        await wait_until(lambda: bool(docker_client.api.inspect_container(container.container_id)["ExecIDs"]), 20,
                         message="the slow exec under way")
        began = time.monotonic()
        listed = await asyncio.wait_for(agent.list_containers(cleanup_cluster), 30)
        capacity = await asyncio.wait_for(agent.connect(), 30)
        took = time.monotonic() - began
        print(f"\nlisting and info with every action thread busy: {took:.2f} s")
        assert took < 3, f"the listing waited {took:.1f} s behind the busy action thread"
        assert not busy.done(), "the slow call ended before the listing: nothing was shown"
        assert [c.task_id for c in listed] == [spec.task_id] and capacity.cpus > 0
        assert await asyncio.wait_for(busy, 30) == (0, "")
    finally:
        await agent.close()

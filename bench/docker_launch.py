"""Launch N containers through pacer, the raw docker SDK and Docker Swarm, in the same run.

pacer's figure is wall time from the `create_app` call to N tasks running as
the engine observes them; the raw figure (the floor) is N create+start calls
with the same thread count as pacer's docker driver; Swarm's is `docker service
create --replicas N` to N tasks running, on the same daemon (swarm initialised
for the measurement and left afterwards). All use busybox:latest running
`sleep`, no published ports.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker

from engine import Engine
from engine.api.event_json import event_json
from engine.config import AgentConfig, PacerConfig, SchedulerConfig

IMAGE = "busybox:latest"
WORKERS = 16



def start_raw_container(client: Any, image: str, labels: dict[str, str], name: str) -> None:
    """The raw docker SDK baseline: create and start one container as pacer would (limits, init, no restart)."""
    api = client.api
    host_config = api.create_host_config(restart_policy={"Name": "no"}, nano_cpus=10_000_000,
                                         mem_limit=16 * 2**20, init=True)
    c = api.create_container(image, command=["sleep", "600"], labels=labels, host_config=host_config, name=name)
    api.start(c["Id"])

def _cleanup(client: docker.DockerClient, label: str) -> None:
    for c in client.containers.list(all=True, filters={"label": label}):
        c.remove(force=True)


def raw_sdk(client: docker.DockerClient, n: int) -> float:
    label = f"pacer-bench-raw={uuid.uuid4().hex[:8]}"
    key, value = label.split("=")

    def one(i: int) -> None:
        start_raw_container(client, IMAGE, {key: value}, f"bench-raw-{value}-{i}")

    started = time.perf_counter()
    try:
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(one, range(n)))
        return time.perf_counter() - started
    finally:
        _cleanup(client, label)


async def through_pacer(url: str, n: int) -> tuple[float, list[float]]:
    cluster = f"bench-{uuid.uuid4().hex[:8]}"
    client = docker.DockerClient(base_url=url)
    with tempfile.TemporaryDirectory() as tmp:
        config = PacerConfig(
            scheduler=SchedulerConfig(state=str(Path(tmp) / "state.db"), cluster_id=cluster,
                                      reconcile_interval=1.0, default_image=IMAGE),
            agents=[AgentConfig(name="local", url=url, reserve_mem=0)],
        )
        engine = Engine(config)
        await engine.start()
        ready: dict[str, float] = {}
        sub = engine.subscribe(event_types=frozenset({"status_update_event"}))

        async def watch() -> None:
            async for ev in sub:
                if event_json(ev)["taskStatus"] == "TASK_RUNNING":
                    ready.setdefault(event_json(ev)["taskId"], time.perf_counter())

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            app = {"id": "/bench/launch", "cmd": "sleep 600", "cpus": 0.01, "mem": 16, "instances": n,
                   "container": {"type": "DOCKER", "docker": {"image": IMAGE}}}
            started = time.perf_counter()
            await engine.create_app(app)
            acked = time.perf_counter()
            deadline = started + 300
            while engine.running_count("/bench/launch") < n:
                if time.perf_counter() > deadline:
                    raise TimeoutError("pacer did not start all containers in 300 s")
                await asyncio.sleep(0.01)
            wall = time.perf_counter() - started
            latencies = sorted(t - acked for t in ready.values())
            return wall, latencies
        finally:
            watcher.cancel()
            await engine.stop()
            _cleanup(client, f"pacer.cluster={cluster}")
            client.close()


def through_swarm(client: docker.DockerClient, n: int) -> float:
    client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
    try:
        started = time.perf_counter()
        service = client.services.create(
            IMAGE, command=["sleep", "600"], name=f"pacer-bench-{uuid.uuid4().hex[:8]}",
            mode=docker.types.ServiceMode("replicated", replicas=n),
            resources=docker.types.Resources(cpu_limit=10_000_000, mem_limit=16 * 2**20),
        )
        try:
            while True:
                tasks = service.tasks(filters={"desired-state": "running"})
                if sum(1 for t in tasks if t["Status"]["State"] == "running") >= n:
                    return time.perf_counter() - started
                if time.perf_counter() - started > 300:
                    raise TimeoutError("swarm did not start all replicas in 300 s")
                time.sleep(0.02)
        finally:
            service.remove()
    finally:
        client.swarm.leave(force=True)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return sorted(values)[k]


def run(n: int = 50, url: str = "unix:///var/run/docker.sock", rounds: int = 2, swarm: bool = True) -> dict[str, Any]:
    # The same connection pool size as pacer's driver, so the floor is not held back by pool waits.
    client = docker.DockerClient(base_url=url, max_pool_size=32)
    raw_times, pacer_times, swarm_times, latencies = [], [], [], []
    try:
        raw_sdk(client, min(n, 5))  # warm the daemon's image and layer caches
        for _ in range(rounds):
            raw_times.append(raw_sdk(client, n))
            wall, lat = asyncio.run(through_pacer(url, n))
            pacer_times.append(wall)
            latencies.extend(lat)
            if swarm:
                swarm_times.append(through_swarm(client, n))
    finally:
        client.close()
    raw, pacer = statistics.median(raw_times), statistics.median(pacer_times)
    swarm_seconds = statistics.median(swarm_times) if swarm_times else float("nan")
    return {
        "scenario": f"launch {n} containers on dockerd",
        "raw_sdk_seconds": raw,
        "pacer_seconds": pacer,
        "swarm_seconds": swarm_seconds,
        "ratio_pacer_to_raw": pacer / raw,
        "ratio_swarm_to_raw": swarm_seconds / raw,
        "goal_ratio": 1.10,
        "startup_p50_seconds": percentile(latencies, 50),
        "startup_p99_seconds": percentile(latencies, 99),
        "rounds": rounds,
    }

"""Run N tasks of an image the agent does not have yet: pacer against `docker pull` + the raw SDK, same run.

A registry (Debian's docker-registry, started here on 127.0.0.1 with its own storage) holds images made for
the measurement: busybox plus one layer of random bytes, so each is new content that must be downloaded. Each
round pushes two such images of the same size and removes them from the daemon, then:

- raw: `docker pull` (the SDK's streamed pull), then N create+start calls on 16 threads (docker_launch's floor);
- pacer: `create_app` with N instances of the other image, to N tasks running as the engine sees them (the
  agent pulls once, the N launches wait for that pull, then start).

The order alternates between rounds. Needs dockerd and the docker-registry package (tests/support/registry.py).
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

from bench.docker_launch import start_raw_container
from engine import Engine
from engine.config import AgentConfig, PacerConfig, SchedulerConfig

WORKERS = 16


def _cleanup(client: docker.DockerClient, label: str) -> None:
    for c in client.containers.list(all=True, sparse=True, filters={"label": label}):
        c.remove(force=True)


def _new_image(client: docker.DockerClient, registry: Any, size: int) -> tuple[str, str, str]:
    """(reference in the registry, repository, tag) of new content that exists only in the registry."""
    from tests.support.registry import remove_image, unique_image

    repository = f"pacer-bench/pull-{uuid.uuid4().hex[:10]}"
    local = f"{repository}:src"
    unique_image(client, local, size=size)
    try:
        registry.push(client, local, repository, "v1")
    finally:
        remove_image(client, local)
    return f"{registry.host}/{repository}:v1", repository, "v1"


def raw(client: docker.DockerClient, ref: str, n: int) -> float:
    label = f"pacer-bench-raw={uuid.uuid4().hex[:8]}"
    key, value = label.split("=")
    repository, tag = ref.rsplit(":", 1)

    def one(i: int) -> None:
        start_raw_container(client, ref, {key: value}, f"bench-pull-raw-{value}-{i}")

    started = time.perf_counter()
    try:
        for line in client.api.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in line:
                raise RuntimeError(f"docker pull {ref}: {line['error']}")
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(one, range(n)))
        return time.perf_counter() - started
    finally:
        _cleanup(client, label)


async def through_pacer(url: str, ref: str, n: int) -> float:
    cluster = f"bench-{uuid.uuid4().hex[:8]}"
    client = docker.DockerClient(base_url=url)
    with tempfile.TemporaryDirectory() as tmp:
        config = PacerConfig(
            scheduler=SchedulerConfig(state=str(Path(tmp) / "state.db"), cluster_id=cluster, reconcile_interval=1.0),
            agents=[AgentConfig(name="local", url=url, reserve_mem=0)],
        )
        engine = Engine(config)
        await engine.start()
        try:
            app = {"id": "/bench/pull", "cmd": "sleep 600", "cpus": 0.01, "mem": 16, "instances": n,
                   "container": {"type": "DOCKER", "docker": {"image": ref}}}
            started = time.perf_counter()
            await engine.create_app(app)
            deadline = started + 600
            while engine.running_count("/bench/pull") < n:
                if engine.failures.get("/bench/pull"):
                    raise RuntimeError(f"pacer: {engine.failures['/bench/pull']['message']}")
                if time.perf_counter() > deadline:
                    raise TimeoutError("pacer did not start all containers in 600 s")
                await asyncio.sleep(0.01)
            return time.perf_counter() - started
        finally:
            await engine.stop()
            _cleanup(client, f"pacer.cluster={cluster}")
            client.close()


def run(tasks: int = 10, size_mb: float = 50.0, rounds: int = 3, url: str = "unix:///var/run/docker.sock") -> dict[str, Any]:
    from tests.support.registry import Registry, remove_image

    client = docker.DockerClient(base_url=url, max_pool_size=32)
    raw_times: list[float] = []
    pacer_times: list[float] = []
    manifests: list[int] = []
    size = int(size_mb * 1_000_000)
    refs: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp, Registry(Path(tmp) / "registry") as registry:
            for round_ in range(rounds):
                raw_ref, _, _ = _new_image(client, registry, size)
                pacer_ref, repository, tag = _new_image(client, registry, size)
                refs += [raw_ref, pacer_ref]
                before = registry.manifest_requests(repository, tag)
                order = ("raw", "pacer") if round_ % 2 == 0 else ("pacer", "raw")
                for which in order:
                    if which == "raw":
                        raw_times.append(raw(client, raw_ref, tasks))
                    else:
                        pacer_times.append(asyncio.run(through_pacer(url, pacer_ref, tasks)))
                manifests.append(registry.manifest_requests(repository, tag) - before)
    finally:
        for ref in refs:
            remove_image(client, ref)
        client.close()
    raw_s, pacer_s = statistics.median(raw_times), statistics.median(pacer_times)
    return {
        "scenario": f"run {tasks} tasks of a {size_mb:g} MB image not yet on the agent (loopback registry)",
        "raw_pull_and_sdk_seconds": raw_s,
        "pacer_seconds": pacer_s,
        "ratio_pacer_to_raw": pacer_s / raw_s,
        "goal_ratio": 1.10,
        "pacer_pulls_per_round": max(manifests) if manifests else 0,
        "rounds": rounds,
    }

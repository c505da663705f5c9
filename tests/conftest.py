"""Shared fixtures: a real dockerd for integration tests, per-test clusters, waiting helpers."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import pytest
from hypothesis import settings

# CI runs the same examples every time: a property test fails on a change, not on a roll of the dice.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def drain(subscription: Any) -> list[Any]:
    """The events an engine bus subscription holds now, oldest first, without waiting."""
    events = []
    while not subscription.queue.empty():
        event = subscription.queue.get_nowait()
        assert event is not None, "the subscription was dropped"
        events.append(event)
    return events


async def wait_until(predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 30.0,
                     interval: float = 0.1, message: str = "condition") -> None:
    """Poll `predicate` until it holds; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result  # type: ignore[misc]
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


@pytest.fixture(scope="session")
def docker_url() -> str:
    """The local dockerd, started if none answers, with the sample images built."""
    from tests.support.dockerd import ensure_dockerd, ensure_images

    url = ensure_dockerd()
    ensure_images(url)
    return url


@pytest.fixture(scope="session")
def docker_client(docker_url: str) -> Iterator[Any]:
    import docker

    client = docker.DockerClient(base_url=docker_url)
    yield client
    client.close()


@pytest.fixture
def cluster_id() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cleanup_cluster(docker_client: Any, cluster_id: str) -> Iterator[str]:
    """Removes every container of this test's cluster afterwards.

    Listings in tests are sparse (no inspect per container): the engine may still be removing containers,
    and docker-py's full listing fails on one that vanished between the list and its inspect."""
    yield cluster_id
    for c in docker_client.containers.list(all=True, sparse=True, filters={"label": f"pacer.cluster={cluster_id}"}):
        try:
            c.remove(force=True)
        except Exception:  # noqa: BLE001 - best-effort cleanup; a vanished container is fine
            pass


@pytest.fixture
def docker_config(tmp_path: Path, docker_url: str, cleanup_cluster: str) -> Any:
    """A config for one local docker agent, fast timers, its own cluster id and state file."""
    from engine.config import AgentConfig, PacerConfig, SchedulerConfig

    return PacerConfig(
        scheduler=SchedulerConfig(
            state=str(tmp_path / "state.db"),
            default_image="busybox:latest",
            cluster_id=cleanup_cluster,
            reconcile_interval=0.5,
            orphan_grace_seconds=2.0,
        ),
        agents=[AgentConfig(name="local", url=docker_url, reserve_mem=256)],
    )


@pytest.fixture
async def docker_engine(docker_config: Any) -> AsyncIterator[Any]:
    from engine import Engine

    engine = Engine(docker_config)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


SAMPLE_REPOSITORIES = {"busybox:latest": ("samples/busybox", "latest"), "python:3": ("samples/python", "3")}
"""Where the registry fixtures put the sample images: HOST/samples/busybox:latest, HOST/samples/python:3."""
REGISTRY_USER = ("pacer-ci", "registry-secret-pw")


def _registry(root: Path, docker_client: Any, users: dict[str, str] | None) -> Iterator[Any]:
    from tests.support.registry import Registry, registry_available

    if not registry_available():
        pytest.fail("docker-registry is not installed: apt-get install -y docker-registry")
    with Registry(root, users=users) as reg:
        for image, (repository, tag) in SAMPLE_REPOSITORIES.items():
            reg.push(docker_client, image, repository, tag)
        yield reg


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[Any]:
    """An open distribution registry on 127.0.0.1 (a free port), holding the sample images."""
    yield from _registry(tmp_path_factory.mktemp("registry-open"), docker_client, None)


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[Any]:
    """A registry behind htpasswd (user REGISTRY_USER), holding the sample images."""
    yield from _registry(tmp_path_factory.mktemp("registry-auth"), docker_client, dict([REGISTRY_USER]))

"""The registry test support: real docker-registry processes, pushes, pulls, credentials, a slow proxy."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tests.conftest import REGISTRY_USER
from tests.support.registry import Registry, ThrottledProxy, remove_image, unique_image

pytestmark = pytest.mark.docker


def test_open_registry_serves_the_sample_images(registry: Any, docker_client: Any) -> None:
    status, _, body = registry.request("/v2/_catalog")
    assert status == 200
    assert b"samples/busybox" in body and b"samples/python" in body
    ref = f"{registry.host}/samples/busybox:latest"
    remove_image(docker_client, ref)
    try:
        pulled = docker_client.images.pull(ref)
        assert pulled.id == docker_client.images.get("busybox:latest").id
    finally:
        remove_image(docker_client, ref)


def test_auth_registry_wants_its_password(auth_registry: Any, docker_client: Any) -> None:
    assert auth_registry.request("/v2/_catalog")[0] == 200  # with the user's credentials
    user, password = REGISTRY_USER
    ref = f"{auth_registry.host}/samples/busybox"
    remove_image(docker_client, f"{ref}:latest")
    with pytest.raises(docker.errors.APIError, match="no basic auth credentials"):
        docker_client.api.pull(ref, tag="latest", auth_config={})
    with pytest.raises(docker.errors.APIError, match="unauthorized"):
        docker_client.api.pull(ref, tag="latest", auth_config={"username": user, "password": "wrong"})
    try:
        docker_client.api.pull(ref, tag="latest", auth_config={"username": user, "password": password})
        assert docker_client.images.get(f"{ref}:latest").id == docker_client.images.get("busybox:latest").id
    finally:
        remove_image(docker_client, f"{ref}:latest")


def test_registry_stops_and_removes_its_storage(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r").start()
    process = reg.process
    assert process is not None and reg._answers()
    reg.stop()
    assert process.poll() is not None and not (tmp_path / "r").exists()


def test_throttled_proxy_slows_a_pull(registry: Any, docker_client: Any) -> None:
    """A 3 MB layer through a 1 MB/s proxy takes about 3 s; directly it takes a fraction of that."""
    name = f"pacer-test/slow-{uuid.uuid4().hex[:8]}"
    unique_image(docker_client, f"{name}:src", size=3_000_000)
    try:
        registry.push(docker_client, f"{name}:src", name, "v1")
        remove_image(docker_client, f"{name}:src")  # its random layer now exists only in the registry
        with ThrottledProxy(registry.host, rate=1_000_000) as proxy:
            started = time.monotonic()
            docker_client.api.pull(f"{proxy.host}/{name}", tag="v1")
            took = time.monotonic() - started
            remove_image(docker_client, f"{proxy.host}/{name}:v1")
        assert took >= 2.0, f"the pull through the proxy took only {took:.2f}s"
    finally:
        remove_image(docker_client, f"{name}:src")

"""The real-daemon test support: sample images and extra dockerd processes.

Uses ``docker_url`` and ``docker_client`` from tests/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support import dockerd as support

RUN_ID = uuid.uuid4().hex[:10]
LABEL = "pacer.test"
# sh as PID 1 ignores SIGTERM unless it traps it; trap it so stops are quick
HTTPD_CMD = (
    "mkdir -p /www; echo {text} > /www/index.html; "
    "trap 'exit 0' TERM INT; httpd -f -p 8080 -h /www & wait"
)
EXTRA_INDEX = 7  # 127.0.0.8, pacerbr7: unlikely to collide with other tests' agents


def _remove_labelled(client, run_id: str) -> None:
    for container in client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL}={run_id}"}):
        container.remove(force=True)


def _host_port(container, deadline: float) -> int:
    while True:
        container.reload()
        bindings = (container.ports or {}).get("8080/tcp")
        if bindings:
            return int(bindings[0]["HostPort"])
        if container.status == "exited" or time.monotonic() > deadline:
            raise AssertionError(f"no host port for {container.name}: {container.status}, {container.logs()!r}")
        time.sleep(0.1)


def _get_until_ok(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    """GET ``url`` until it answers, polling with a deadline."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = exc
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s: {last!r}")


def test_docker_answers_is_false_where_nothing_listens(tmp_path: Path) -> None:
    started = time.monotonic()
    assert not support.docker_answers(f"unix://{tmp_path}/nothing.sock", timeout=1.0)
    assert not support.docker_answers("tcp://127.0.0.1:9", timeout=1.0)
    assert time.monotonic() - started < 5


@pytest.mark.docker
def test_sample_images_exist(docker_client) -> None:
    client = docker_client
    python = client.images.get("python:3")
    assert python.attrs["Config"]["Cmd"] == ["python3"]
    assert any(e.startswith("PATH=/usr/local/sbin:") for e in python.attrs["Config"]["Env"])
    busybox = client.images.get("busybox:latest")
    assert busybox.attrs["Config"]["Cmd"] == ["sh"]
    out = client.containers.run(
        "busybox:latest",
        ["sh", "-c", "id -u nobody && test -d /tmp && for a in httpd sleep wget; do command -v $a; done"],
        remove=True,
        labels={LABEL: RUN_ID},
        name=f"pacer-test-{RUN_ID}-bb",
    )
    lines = out.decode().split()
    assert lines[0] == "65534"
    assert len(lines) == 4


@pytest.mark.docker
def test_python_http_server_answers_on_a_published_port(docker_client) -> None:
    client = docker_client
    try:
        container = client.containers.run(
            "python:3",
            ["/bin/sh", "-c", "python3 -m http.server 8080"],  # as pacer runs an app's cmd
            detach=True,
            ports={"8080/tcp": ("127.0.0.1", None)},
            labels={LABEL: RUN_ID},
            name=f"pacer-test-{RUN_ID}-py",
        )
        port = _host_port(container, time.monotonic() + 10)
        status, body = _get_until_ok(f"http://127.0.0.1:{port}/")
        assert status == 200
        assert b"Directory listing" in body
    finally:
        _remove_labelled(client, RUN_ID)


@pytest.mark.docker
def test_ensure_cli_reports_the_daemon(docker_url: str) -> None:
    root = Path(support.__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.dockerd", "ensure"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == docker_url


def _bridge_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


@pytest.mark.docker
def test_extra_daemon_runs_survives_kill_and_cleans_up(docker_url: str, tmp_path: Path) -> None:
    agent = support.ExtraDaemon(EXTRA_INDEX, tmp_path / "agent")
    try:
        agent.start()
        assert agent.url == f"tcp://127.0.0.{EXTRA_INDEX + 1}:2375"
        assert _bridge_exists(agent.bridge)
        agent.load_image("busybox:latest", docker_url)
        agent.load_image("busybox:latest", docker_url)  # second time: same id, skipped

        c = agent.client()
        try:
            info = c.info()
            assert info["DockerRootDir"] == str(agent.data_root)
            container = c.containers.run(
                "busybox:latest",
                ["/bin/sh", "-c", HTTPD_CMD.format(text=f"agent-{RUN_ID}")],
                detach=True,
                ports={"8080/tcp": None},
                labels={LABEL: RUN_ID},
                name=f"pacer-test-{RUN_ID}-agent",
            )
            port = _host_port(container, time.monotonic() + 10)
            status, body = _get_until_ok(f"http://127.0.0.1:{port}/")
            assert (status, body.strip()) == (200, f"agent-{RUN_ID}".encode())
            container_id = container.id
        finally:
            c.close()

        # the main daemon is untouched by the extra one
        assert support.docker_answers(docker_url)
        assert _bridge_exists("docker0")

        agent.kill()
        assert not agent.is_running()
        assert not support.docker_answers(agent.url, timeout=1.0)

        agent.start()
        c = agent.client()
        try:
            container = c.containers.get(container_id)  # same dirs: the container persisted
            assert container.status != "running"  # no live-restore: stopped, as after a reboot
            container.start()
            port = _host_port(container, time.monotonic() + 10)
            status, _ = _get_until_ok(f"http://127.0.0.1:{port}/")
            assert status == 200
        finally:
            c.close()
    finally:
        agent.cleanup()

    assert not agent.is_running()
    assert not _bridge_exists(agent.bridge)
    assert not agent.data_root.exists()
    assert not agent.exec_root.exists()
    assert not support.docker_answers(agent.url, timeout=1.0)
    leftovers = [
        pid for pid in support._pids() if any(str(agent.exec_root) in a for a in support._cmdline(pid))
    ]
    assert leftovers == []

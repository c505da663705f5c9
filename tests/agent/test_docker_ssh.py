"""The `docker` driver over ssh://, as Docker users set it up (the system's ssh, `docker system dial-stdio`).

A private sshd on 127.0.0.1:<free port> with a generated host key and one
authorized client key; the engine's agent URL is ``ssh://root@127.0.0.1:PORT``.
The driver shells out to ``ssh``, which reads the user's ssh config; here a
wrapper first on PATH adds ``-F`` with this test's config (identity file,
known host, batch mode), which is what ``~/.ssh/config`` does for a user.

Skipped when sshd or ssh is not installed (Debian: openssh-server, openssh-client).
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine import AgentConfig, Engine, PacerConfig, SchedulerConfig
from tests.agent.support import free_port
from tests.conftest import wait_until

pytestmark = [
    pytest.mark.docker,
    # docker SDK 7.1's SSHSocket.close() terminates its ssh process without closing the pipes or
    # reaping it (and each SSHSocket opens an unused socket): ResourceWarnings at garbage collection
    # that are the SDK's, not ours. They are collected in the fixture's teardown, inside these tests.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

SSHD = shutil.which("sshd", path="/usr/sbin:/usr/local/sbin:" + os.environ.get("PATH", ""))
SSH = shutil.which("ssh")
DOCKER_CLI = shutil.which("docker")


@pytest.fixture
def sshd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if not (SSHD and SSH and DOCKER_CLI):
        pytest.skip("needs sshd, ssh and the docker CLI (apt-get install openssh-server openssh-client docker.io)")
    folder = tmp_path / "ssh"
    folder.mkdir(mode=0o700)
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(folder / name)],
                       check=True, capture_output=True)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    (folder / "authorized_keys").chmod(0o600)
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(textwrap.dedent(f"""
        ListenAddress 127.0.0.1
        Port {port}
        HostKey {folder / 'host_key'}
        PidFile {folder / 'sshd.pid'}
        AuthorizedKeysFile {folder / 'authorized_keys'}
        PermitRootLogin prohibit-password
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        StrictModes no
        AllowTcpForwarding no
        X11Forwarding no
    """))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    host_pub = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (folder / "ssh_config").write_text(textwrap.dedent(f"""
        Host 127.0.0.1
            IdentityFile {folder / 'client_key'}
            IdentitiesOnly yes
            UserKnownHostsFile {folder / 'known_hosts'}
            StrictHostKeyChecking yes
            BatchMode yes
            ConnectTimeout 10
    """))
    wrapper = folder / "bin"
    wrapper.mkdir()
    (wrapper / "ssh").write_text(f'#!/bin/sh\nexec {SSH} -F {folder / "ssh_config"} "$@"\n')
    (wrapper / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper}:{os.environ.get('PATH', '')}")
    log = (folder / "sshd.log").open("wb")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {(folder / 'sshd.log').read_text()}") from None
                time.sleep(0.05)
        yield f"ssh://root@127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        gc.collect()  # the SDK's leaked ssh sockets and pipes: collected here, not in a later test


async def test_engine_deploys_over_ssh(sshd: str, tmp_path: Path, cleanup_cluster: str, docker_client: Any) -> None:
    config = PacerConfig(
        scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), cluster_id=cleanup_cluster, reconcile_interval=0.5),
        agents=[AgentConfig(name="over-ssh", url=sshd)],
    )
    app = {"id": "/ssh/web", "cmd": "echo over ssh; exec sleep 600", "cpus": 0.05, "mem": 16, "instances": 2,
           "networks": [{"mode": "container/bridge"}],
           "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}}
    async with Engine(config) as engine:
        view = engine.snapshot().agents[0]
        assert view.reachable, view.error
        await engine.create_app(app)
        await wait_until(lambda: engine.converged("/ssh/web"), 60, message="2 tasks through ssh")
        ids = {t.container_id for t in engine.tasks_of("/ssh/web")}
        assert ids == {c.id for c in docker_client.containers.list(filters={"label": f"pacer.cluster={cleanup_cluster}"})}
        task = engine.tasks_of("/ssh/web")[0]
        assert "over ssh" in await engine.task_logs(task.task_id, 10)


async def test_ssh_refusal_is_unreachable(sshd: str, tmp_path: Path, cluster_id: str) -> None:
    wrong_user = sshd.replace("ssh://root@", "ssh://nobody@")
    config = PacerConfig(
        scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), cluster_id=cluster_id),
        agents=[AgentConfig(name="over-ssh", url=wrong_user)],
    )
    async with Engine(config) as engine:
        view = engine.snapshot().agents[0]
        assert not view.reachable and view.error

"""The `docker` driver over tcp:// with TLS client certificates, as Docker users set them up.

An extra dockerd listens on 127.0.0.N:2376 with ``--tlsverify --tlscacert
--tlscert --tlskey`` (CA, server and client certificates made here with
cryptography). An engine whose agent has ``tls_ca``, ``tls_cert`` and
``tls_key`` deploys through it; without a client certificate, or with one from
another CA, the daemon refuses the engine and the agent shows unreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from engine import AgentConfig, Engine, PacerConfig, SchedulerConfig
from engine.agent_pool import make_driver
from engine.errors import AgentError
from tests.agent.support import CertFactory, Pem
from tests.conftest import wait_until
from tests.support.dockerd import ExtraDaemon

pytestmark = pytest.mark.docker

INDEXES = range(24, 30)  # 127.0.0.25-30, pacerbr24-29: clear of the other suites' extra daemons


class TlsDaemon(ExtraDaemon):
    """An extra dockerd whose TCP listener is port 2376 with --tlsverify; readiness goes through its unix socket."""

    def __init__(self, index: int, root: Path, ca: CertFactory) -> None:
        super().__init__(index, root)
        self.tls_url = f"tcp://{self.host_ip}:2376"
        self.url = self.socket_url  # start() polls and cleanup() talks through the unix socket
        self.ca = ca
        self.server: Pem = ca.issue(f"dockerd-{index}", hosts=(self.host_ip, "localhost"))

    def argv(self, dockerd: str = "dockerd") -> list[str]:
        args = super().argv(dockerd)
        last = len(args) - 1 - args[::-1].index(self.socket_url)  # the second -H: make it the TLS listener
        args[last] = self.tls_url
        return args + ["--tlsverify", "--tlscacert", str(self.ca.ca_file),
                       "--tlscert", str(self.server.cert), "--tlskey", str(self.server.key)]


@pytest.fixture(scope="module")
def tls_daemon(tmp_path_factory: pytest.TempPathFactory, docker_url: str) -> Iterator[TlsDaemon]:
    root = tmp_path_factory.mktemp("tlsd")
    ca = CertFactory(root / "pki")
    last: Exception | None = None
    for index in INDEXES:
        daemon = TlsDaemon(index, root / f"d{index}", ca)
        try:
            daemon.start()
        except RuntimeError as exc:  # index in use by another live run: try the next
            daemon.cleanup()
            last = exc
            continue
        try:
            daemon.load_image("busybox:latest", from_url=docker_url)
            yield daemon
        finally:
            daemon.cleanup()
        return
    raise RuntimeError(f"no free extra dockerd index in {INDEXES}: {last}")


def agent_config(daemon: TlsDaemon, client: Pem | None, ca_file: Path) -> AgentConfig:
    return AgentConfig(name="tls", url=daemon.tls_url, tls_ca=str(ca_file),
                       tls_cert=str(client.cert) if client else None, tls_key=str(client.key) if client else None)


async def test_engine_deploys_through_dockerd_with_tls_client_certs(tls_daemon: TlsDaemon, tmp_path: Path,
                                                                    cluster_id: str) -> None:
    client = tls_daemon.ca.issue("engine", client=True)
    config = PacerConfig(
        scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), cluster_id=cluster_id, reconcile_interval=0.5),
        agents=[agent_config(tls_daemon, client, tls_daemon.ca.ca_file)],
    )
    app = {"id": "/tls/web", "cmd": "exec sleep 600", "cpus": 0.05, "mem": 16, "instances": 2,
           "networks": [{"mode": "container/bridge"}],
           "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}}
    docker = tls_daemon.client()
    try:
        async with Engine(config) as engine:
            view = engine.snapshot().agents[0]
            assert view.reachable, view.error
            await engine.create_app(app)
            await wait_until(lambda: engine.converged("/tls/web"), 60, message="2 tasks on the TLS daemon")
            containers = docker.containers.list(filters={"label": f"pacer.cluster={cluster_id}"})
            assert {c.id for c in containers} == {t.container_id for t in engine.tasks_of("/tls/web")}
            await engine.delete_app("/tls/web")
            await wait_until(lambda: not docker.containers.list(
                all=True, filters={"label": f"pacer.cluster={cluster_id}"}), 30, message="containers removed")
    finally:
        for c in docker.containers.list(all=True, sparse=True, filters={"label": f"pacer.cluster={cluster_id}"}):
            c.remove(force=True)
        docker.close()


@pytest.mark.parametrize("case", ["no client certificate", "client certificate of another CA",
                                  "expired client certificate", "daemon not signed by our CA"])
async def test_dockerd_tls_refusals(tls_daemon: TlsDaemon, tmp_path: Path, case: str) -> None:
    ca_file = tls_daemon.ca.ca_file
    client: Pem | None
    if case == "no client certificate":
        client = None
    elif case == "client certificate of another CA":
        client = CertFactory(tmp_path / "other", "another CA").issue("engine", client=True)
    elif case == "expired client certificate":
        client = tls_daemon.ca.issue("engine-old", client=True, expired=True)
    else:
        client = tls_daemon.ca.issue("engine", client=True)
        ca_file = CertFactory(tmp_path / "other", "another CA").ca_file
    driver = make_driver(agent_config(tls_daemon, client, ca_file))
    try:
        with pytest.raises(AgentError):
            await driver.connect()
    finally:
        await driver.close()

"""The `pacer` driver against an in-process agent over real TLS on 127.0.0.1 (fake backend, no docker).

Trust (pinned fingerprint, CA file, expired and foreign certificates), tokens,
client certificates, error mapping, backoff and the events stream, and an
Engine scheduling through the driver.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from engine import AgentConfig, Engine, PacerConfig, SchedulerConfig
from engine.agentd.config import AgentPolicy, AgentServerConfig
from engine.agentd.server import AgentServer, start_agent
from engine.agents.remote import RemoteAgent
from engine.errors import AgentError, AgentUnreachable, ConfigError
from tests.agent.support import TOKEN, CertFactory, FakeBackend, free_port, spec
from tests.conftest import wait_until


@pytest.fixture
def ca(tmp_path: Path) -> CertFactory:
    return CertFactory(tmp_path / "ca")


async def serve(tmp_path: Path, backend: FakeBackend | None = None, **settings: Any) -> AgentServer:
    fields: dict[str, Any] = {"listen": "127.0.0.1:0", "token": TOKEN, "state_dir": str(tmp_path / "agent-state"),
                              "name": "edge", "heartbeat": 0.5}
    fields.update(settings)
    return await start_agent(AgentServerConfig(**fields), backend=backend or FakeBackend())


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[AgentServer]:
    server = await serve(tmp_path, generate_tls=True, policy=AgentPolicy(image_allowlist=("busybox:*",)))
    yield server
    await server.stop()


BRIDGE = [{"mode": "container/bridge"}]  # Marathon's default is host networking, which the default policy refuses


def remote(agent: AgentServer, **kwargs: Any) -> RemoteAgent:
    kwargs.setdefault("token", TOKEN)
    if "ca_file" not in kwargs:
        kwargs.setdefault("fingerprint", agent.fingerprint)
    return RemoteAgent("edge", f"pacer+{agent.scheme}://127.0.0.1:{agent.port}", timeout=5, **kwargs)


async def test_pinned_fingerprint_speaks_the_whole_protocol(agent: AgentServer) -> None:
    driver = remote(agent)
    try:
        capacity = await driver.connect()
        assert capacity.kind == "pacer" and capacity.cpus == 8.0
        observed = await driver.launch(spec("t1"))
        assert observed.state == "running"
        backend = agent.backend
        assert isinstance(backend, FakeBackend)
        backend.foreign_ports = frozenset({31005, 8080})  # type: ignore[attr-defined]
        assert [c.task_id for c in await driver.list_containers("c1")] == ["t1"]
        assert driver.foreign_ports == {31005, 8080}
        assert await driver.tail_logs(observed.container_id, 10) == ["[sim] started t1 on fake"]
        assert await driver.exec_check(observed.container_id, "true") == (0, "")
        lines = driver.follow_logs(observed.container_id, 10)
        assert await lines.__anext__() == "[sim] started t1 on fake"
        await lines.aclose()  # type: ignore[attr-defined]
        assert (await driver.stats(observed.container_id))["memory_stats"] == {"usage": 1024}
        await driver.stop(observed.container_id, 1.0)
        await driver.remove(observed.container_id)
        await driver.remove(observed.container_id)  # gone already: fine, as with docker
        assert await driver.list_containers("c1") == []
        assert await driver.tail_logs("nothing", 5) == []
    finally:
        await driver.close()


async def test_policy_refusal_reaches_the_driver(agent: AgentServer) -> None:
    driver = remote(agent)
    try:
        with pytest.raises(AgentError) as info:
            await driver.launch(spec("t1", privileged=True))
        assert not isinstance(info.value, AgentUnreachable)
        assert info.value.message == "agent edge: policy: privileged mode is not allowed on this agent"
    finally:
        await driver.close()


async def test_wrong_fingerprint_is_refused(agent: AgentServer, ca: CertFactory) -> None:
    other = ca.issue("other", self_signed=True)
    driver = remote(agent, fingerprint=other.fingerprint)
    try:
        with pytest.raises(AgentUnreachable, match="TLS refused.*is not the pinned"):
            await driver.connect()
    finally:
        await driver.close()


@pytest.mark.parametrize("token", ["wrong-token-0000000000", TOKEN + "x"])
async def test_wrong_token_is_refused(agent: AgentServer, token: str) -> None:
    driver = remote(agent, token=token)
    try:
        with pytest.raises(AgentError, match="refused our token: unauthorized: wrong token"):
            await driver.connect()
    finally:
        await driver.close()


def test_driver_needs_a_token_and_https_off_loopback() -> None:
    with pytest.raises(ConfigError, match="token"):
        RemoteAgent("a", "pacer+https://127.0.0.1:1", token="")
    with pytest.raises(ConfigError, match="plain HTTP to agent a at '10.1.2.3' is refused"):
        RemoteAgent("a", "pacer+http://10.1.2.3:7443", token=TOKEN)
    with pytest.raises(ConfigError, match="not a SHA-256 fingerprint"):
        RemoteAgent("a", "pacer+https://10.1.2.3:7443", token=TOKEN, fingerprint="sha256:12")
    RemoteAgent("a", "pacer+http://127.0.0.1:7443", token=TOKEN)
    RemoteAgent("a", "pacer+https://10.1.2.3:7443", token=TOKEN)


async def test_ca_file_trust(tmp_path: Path, ca: CertFactory) -> None:
    good = ca.issue("agent")
    server = await serve(tmp_path, tls_cert=str(good.cert), tls_key=str(good.key))
    try:
        driver = remote(server, ca_file=str(ca.ca_file))
        assert (await driver.connect()).cpus == 8.0
        await driver.close()
        stranger = CertFactory(tmp_path / "other-ca", "another CA")
        driver = remote(server, ca_file=str(stranger.ca_file))
        with pytest.raises(AgentUnreachable, match="certificate verify failed"):
            await driver.connect()
        await driver.close()
    finally:
        await server.stop()


@pytest.mark.parametrize("trust", ["ca_file", "fingerprint"])
async def test_expired_agent_certificate_is_refused(tmp_path: Path, ca: CertFactory, trust: str) -> None:
    expired = ca.issue("expired", expired=True)
    server = await serve(tmp_path, tls_cert=str(expired.cert), tls_key=str(expired.key))
    try:
        if trust == "ca_file":
            driver = remote(server, ca_file=str(ca.ca_file))
            match = "certificate has expired"
        else:
            driver = remote(server, fingerprint=expired.fingerprint)
            match = "pinned certificate expired"
        with pytest.raises(AgentUnreachable, match=match):
            await driver.connect()
        await driver.close()
    finally:
        await server.stop()


async def test_client_certificates_when_the_agent_asks_for_them(tmp_path: Path, ca: CertFactory,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pacer.agentd")
    server_pem = ca.issue("agent")
    server = await serve(tmp_path, tls_cert=str(server_pem.cert), tls_key=str(server_pem.key),
                         client_ca=str(ca.ca_file))
    stranger = CertFactory(tmp_path / "other-ca", "another CA")
    cases = {
        "none": (None, False),
        "expired": (ca.issue("engine-old", client=True, expired=True), False),
        "other CA": (stranger.issue("engine-x", client=True), False),
        "valid": (ca.issue("engine", client=True), True),
    }
    try:
        for label, (pem, ok) in cases.items():
            kwargs: dict[str, Any] = {"ca_file": str(ca.ca_file)}
            if pem is not None:
                kwargs.update(client_cert=str(pem.cert), client_key=str(pem.key))
            driver = remote(server, **kwargs)
            try:
                if ok:
                    assert (await driver.connect()).cpus == 8.0, label
                else:
                    with pytest.raises(AgentUnreachable):
                        await driver.connect()
            finally:
                await driver.close()
    finally:
        await server.stop()
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused a TLS client")]
    assert any("sent no certificate" in m for m in refusals), refusals
    assert any("certificate has expired" in m for m in refusals), refusals
    assert any("unable to get local issuer certificate" in m for m in refusals), refusals


async def test_plain_http_on_loopback(tmp_path: Path) -> None:
    server = await serve(tmp_path)
    try:
        assert server.url.startswith("pacer+http://127.0.0.1:")
        driver = remote(server)
        assert (await driver.connect()).hostname == "fake"
        await driver.close()
    finally:
        await server.stop()


async def test_backoff_fails_fast_then_watch_reconnects(tmp_path: Path) -> None:
    port = free_port()
    driver = RemoteAgent("edge", f"pacer+http://127.0.0.1:{port}", token=TOKEN, timeout=2,
                         backoff_initial=0.2, backoff_max=0.8)
    changes: list[float] = []
    watcher: asyncio.Task[None] | None = None
    server: AgentServer | None = None
    try:
        with pytest.raises(AgentUnreachable, match="does not answer"):
            await driver.connect()
        assert driver.backoff_delay > 0
        with pytest.raises(AgentUnreachable, match="next attempt in"):
            await driver.list_containers("c1")  # fast: no connection attempted
        watcher = asyncio.get_running_loop().create_task(driver.watch("c1", lambda: changes.append(time.monotonic())))
        await wait_until(lambda: driver._failures >= 3, timeout=10, message="the watcher to keep retrying")
        assert driver.backoff_delay <= 0.8  # capped
        server = await serve(tmp_path, listen=f"127.0.0.1:{port}")
        before = len(changes)
        await wait_until(lambda: driver.backoff_delay == 0 and len(changes) > before, timeout=10,
                         message="the watcher to reconnect and wake the engine")
        assert (await driver.connect()).hostname == "fake"
    finally:
        if watcher is not None:
            watcher.cancel()
            with pytest.raises(asyncio.CancelledError):
                await watcher
        await driver.close()
        if server is not None:
            await server.stop()


async def test_watch_reports_changes(agent: AgentServer) -> None:
    backend = agent.backend
    assert isinstance(backend, FakeBackend)
    driver = remote(agent)
    changes: list[int] = []
    watcher = asyncio.get_running_loop().create_task(driver.watch("c1", lambda: changes.append(1)))
    try:
        await wait_until(lambda: len(changes) >= 1, timeout=10, message="the first (connected) hint")
        observed = await driver.launch(spec("t1"))
        before = len(changes)
        backend.crash(observed.container_id)
        await wait_until(lambda: len(changes) > before, timeout=10, message="a change hint after a crash")
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher
        await driver.close()


async def test_engine_schedules_through_a_pacer_agent(tmp_path: Path, agent: AgentServer) -> None:
    config = PacerConfig(
        scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), cluster_id="c-remote", reconcile_interval=0.3),
        agents=[AgentConfig(name="edge", url=f"pacer+https://127.0.0.1:{agent.port}",
                            token_file=str(agent.token_file) if agent.token_file else None, token=TOKEN,
                            tls_fingerprint=agent.fingerprint)],
    )
    async with Engine(config) as engine:
        await engine.create_app({"id": "/web", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "networks": BRIDGE, "instances": 2,
                                 "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}})
        await wait_until(lambda: engine.running_count("/web") == 2, timeout=15, message="2 tasks running")
        view = next(a for a in engine.snapshot().agents if a.name == "edge")
        assert view.reachable and view.kind == "pacer"
        await engine.create_app({"id": "/root", "cmd": "id", "cpus": 0.1, "mem": 16, "networks": BRIDGE,
                                 "container": {"type": "DOCKER", "docker": {"image": "busybox:latest",
                                                                            "privileged": True}}})
        await wait_until(lambda: "/root" in engine.failures, timeout=15, message="the policy refusal")
        assert "policy: privileged mode is not allowed on this agent" in engine.failures["/root"]["message"]
        await engine.create_app({"id": "/host", "cmd": "id", "cpus": 0.1, "mem": 16, "networks": BRIDGE,
                                 "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"},
                                               "volumes": [{"containerPath": "/h", "hostPath": "/etc", "mode": "RO"}]}})
        await wait_until(lambda: "/host" in engine.failures, timeout=15, message="the host path refusal")
        assert "policy: host path volumes are not allowed on this agent (/etc)" in engine.failures["/host"]["message"]
        assert engine.running_count("/root") == engine.running_count("/host") == 0


async def test_engine_started_before_its_agent_connects_when_it_comes(tmp_path: Path) -> None:
    port = free_port()
    config = PacerConfig(
        scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), cluster_id="c-late", reconcile_interval=0.2),
        agents=[AgentConfig(name="late", url=f"pacer+http://127.0.0.1:{port}", token=TOKEN)],
    )
    async with Engine(config) as engine:
        view = engine.snapshot().agents[0]
        assert not view.reachable and "does not answer" in (view.error or "")
        await engine.create_app({"id": "/late", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "networks": BRIDGE,
                                 "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}})
        server = await serve(tmp_path, listen=f"127.0.0.1:{port}")
        try:
            await wait_until(lambda: engine.running_count("/late") == 1, timeout=40, message="launched once the agent came")
            assert engine.snapshot().agents[0].reachable
        finally:
            await server.stop()

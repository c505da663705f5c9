"""Image pulls on the other kinds of agents: a second Docker daemon (tests/support/dockerd.py), and a pacer agent
(`pacer --serve --agent-config`) that pulls with its own credentials under its own policy."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine import Engine
from engine.config import AgentConfig, PacerConfig
from tests.agent.process import AgentProcess
from tests.conftest import REGISTRY_USER, wait_until
from tests.integration.test_image_pull_docker import RegistryImages, app, failure, image_of
from tests.support.dockerd import ExtraDaemon
from tests.support.registry import Registry, ThrottledProxy

pytestmark = pytest.mark.docker

INDEXES = range(14, 20)  # 127.0.0.15-20, pacerbr14-19: clear of the other suites' extra daemons


@pytest.fixture(scope="module")
def extra_daemon(tmp_path_factory: pytest.TempPathFactory, docker_url: str) -> Iterator[ExtraDaemon]:
    root = tmp_path_factory.mktemp("pull-agents")
    last: Exception | None = None
    for index in INDEXES:
        daemon = ExtraDaemon(index, root / f"d{index}")
        try:
            daemon.start()
        except RuntimeError as exc:  # index in use by another live run: try the next
            last = exc
            continue
        try:
            yield daemon
        finally:
            daemon.cleanup()
        return
    raise RuntimeError(f"no free extra dockerd index in {INDEXES}: {last}")


@pytest.fixture
def pushed_everywhere(docker_client: Any, extra_daemon: ExtraDaemon, cleanup_cluster: str) -> Iterator[RegistryImages]:
    made = RegistryImages(docker_client, cleanup_cluster)
    extra = extra_daemon.client()
    made.daemons.append(extra)
    yield made
    made.cleanup()
    extra.close()


async def test_a_second_daemon_pulls_too_once_per_agent(
        docker_config: PacerConfig, extra_daemon: ExtraDaemon, registry: Registry,
        pushed_everywhere: RegistryImages, docker_client: Any) -> None:
    image = pushed_everywhere.push_new(registry, size=2_000_000)
    extra_agent = AgentConfig(name="extra", url=extra_daemon.url, port_range=(20000 + 100 * extra_daemon.index,
                                                                              20099 + 100 * extra_daemon.index))
    config = docker_config.model_copy(update={"agents": [*docker_config.agents, extra_agent]})
    before = registry.manifest_requests(image.repository, image.tag)
    async with Engine(config) as engine:
        await engine.create_app(app("/pull/both", image.ref, instances=20))
        await wait_until(lambda: engine.running_count("/pull/both") == 20, 240, message="20 tasks running")
        by_agent = {t.agent for t in engine.tasks_of("/pull/both")}
        assert by_agent == {"local", "extra"}  # spread over both daemons
        extra = extra_daemon.client()
        try:
            ids = {extra.containers.get(t.container_id).attrs["Image"]
                   for t in engine.tasks_of("/pull/both") if t.agent == "extra"}
        finally:
            extra.close()
        assert ids == {image.image_id}
        local = {docker_client.containers.get(t.container_id).attrs["Image"]
                 for t in engine.tasks_of("/pull/both") if t.agent == "local"}
        assert local == {image.image_id}
    assert registry.manifest_requests(image.repository, image.tag) - before == 2  # one pull per agent


async def test_a_missing_tag_on_the_second_daemon_is_one_reason(
        docker_config: PacerConfig, extra_daemon: ExtraDaemon, registry: Registry,
        pushed_everywhere: RegistryImages) -> None:
    image = pushed_everywhere.push_new(registry)
    missing = f"{registry.host}/{image.repository}:gone"
    config = docker_config.model_copy(update={"agents": [AgentConfig(name="extra", url=extra_daemon.url)]})
    async with Engine(config) as engine:
        await engine.create_app(app("/pull/extra-missing", missing))
        await wait_until(lambda: "not found" in failure(engine, "/pull/extra-missing"), 60, message="failed")
        assert failure(engine, "/pull/extra-missing") == (
            f"launch failed: agent extra: image {missing} not found in registry {registry.host} "
            "(no such repository or tag)")


# -- a pacer agent -----------------------------------------------------------------------------------------


def pulling_agent(folder: Path, docker_url: str, allowed: list[str], registries: dict[str, tuple[str, str]]) -> AgentProcess:
    """A pacer agent that pulls from `allowed` registries only, with its own credentials for `registries`."""
    agent = AgentProcess(folder, docker_url)
    text = agent.config.read_text().replace('image_allowlist = ["busybox:*", "python:3"]',
                                            f"allowed_registries = {allowed!r}".replace("'", '"'))
    text = text.replace("[agent.policy]", "pull_timeout = 120\nmax_concurrent_pulls = 2\n\n[agent.policy]")
    for host, (user, password) in registries.items():
        text += textwrap.dedent(f"""
            [agent.registries."{host}"]
            username = "{user}"
            password = "{password}"
        """)
    agent.config.write_text(text)
    return agent


async def test_a_pacer_agent_pulls_with_its_credentials_under_its_policy(
        tmp_path: Path, docker_url: str, cleanup_cluster: str, registry: Registry, auth_registry: Registry,
        docker_client: Any) -> None:
    from tests.agent.test_agent_docker import remote_config

    made = RegistryImages(docker_client, cleanup_cluster)
    user, password = REGISTRY_USER
    private = made.push_new(auth_registry, size=5_000_000)
    public = made.push_new(registry)
    try:
        with ThrottledProxy(auth_registry.host, rate=1_000_000) as proxy:  # about 5 s for the layer
            ref = private.via(proxy.host)
            made.forget(ref)
            agent = pulling_agent(tmp_path / "agent", docker_url, allowed=[proxy.host, auth_registry.host],
                                  registries={proxy.host: (user, password), auth_registry.host: (user, password)})
            agent.start()
            try:
                async with Engine(remote_config(tmp_path, cleanup_cluster, agent)) as engine:
                    await engine.create_app(app("/remote/private", ref, instances=2))
                    # the engine follows the agent's pull while its launches wait
                    await wait_until(lambda: any(p.agent == "remote" and p.percent is not None and 0 < p.percent < 100
                                                 for p in engine.image_pulls()), 60, interval=0.2,
                                     message="the agent's pull, part downloaded, seen by the engine")
                    pull = next(p for p in engine.image_pulls() if p.agent == "remote")
                    assert pull.image == ref and pull.text.startswith(f"pulling {ref}: ")
                    assert set(pull.task_ids) <= {t.task_id for t in engine.tasks_of("/remote/private")}
                    await wait_until(lambda: engine.running_count("/remote/private") == 2, 120,
                                     message="both running on the pacer agent")
                    assert image_of(docker_client, engine, "/remote/private") == {private.image_id}
                    await wait_until(lambda: not engine.image_pulls(), 10, message="no pull left")

                    # a registry its policy does not allow: refused by the agent, with the reason
                    await engine.create_app(app("/remote/public", public.ref))
                    await wait_until(lambda: "policy:" in failure(engine, "/remote/public"), 60, message="refused")
                    assert failure(engine, "/remote/public") == (
                        f"launch failed: agent remote: policy: image '{public.ref}' comes from registry "
                        f"{registry.host}, which is not among this agent's allowed registries "
                        f"({proxy.host}, {auth_registry.host})")

                    # a missing tag: the agent's one-line reason reaches the app
                    missing = f"{auth_registry.host}/{private.repository}:gone"
                    await engine.create_app(app("/remote/missing", missing))
                    await wait_until(lambda: "not found" in failure(engine, "/remote/missing"), 60, message="failed")
                    assert failure(engine, "/remote/missing") == (
                        f"launch failed: agent remote: image {missing} not found in registry {auth_registry.host} "
                        "(no such repository or tag)")
                assert password not in agent.output()
            finally:
                agent.cleanup()
    finally:
        made.cleanup()

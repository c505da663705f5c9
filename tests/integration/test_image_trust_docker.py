"""Image trust against a real dockerd: signed images run; unsigned ones, ones signed by an untrusted key and
tags moved to other content are refused, each with a message naming the image and the reason.

Images are made locally (no registry): tags of busybox, and variants committed from it with an extra file,
each under a unique name; every image and container made here is removed at the end. Signing goes through
`pacer image sign` and the engine's API, as an operator would; the same checks run in a `pacer --serve` agent.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from engine import Engine
from engine.api import start_api
from engine.config import PacerConfig
from engine.policy import ClusterPolicy
from engine.trust import generate_key_pair, load_private_key, short_id, sign_image
from tests.agent.process import AgentProcess
from tests.conftest import wait_until

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = [{"mode": "container/bridge"}]


class Images:
    """Local images made for one test, all removed afterwards."""

    def __init__(self, docker_client: Any, prefix: str, cluster_id: str) -> None:
        self.client = docker_client
        self.prefix = prefix
        self.cluster_id = cluster_id
        self.tags: list[str] = []
        self.ids: list[str] = []

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}:v1"

    def tag(self, source: str, ref: str) -> str:
        """Point `ref` at `source`'s content; returns the content id."""
        image = self.client.images.get(source)
        repo, tag = ref.rsplit(":", 1)
        image.tag(repo, tag)
        self.tags.append(ref)
        return str(image.id)

    def variant(self, ref: str, text: str) -> str:
        """New content (busybox plus a file) under `ref`; returns its content id."""
        data = text.encode()
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo("variant")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        container = self.client.containers.create("busybox:latest", ["true"])
        try:
            container.put_archive("/", archive.getvalue())
            repo, tag = ref.rsplit(":", 1)
            image = container.commit(repository=repo, tag=tag)
        finally:
            container.remove(force=True)
        self.tags.append(ref)
        self.ids.append(str(image.id))
        return str(image.id)

    def cleanup(self) -> None:
        # The test's containers go first (before the cleanup_cluster fixture would): they hold the images.
        for c in self.client.containers.list(all=True, sparse=True, filters={"label": f"pacer.cluster={self.cluster_id}"}):
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        for ref in dict.fromkeys(reversed(self.tags)):
            try:
                self.client.images.remove(ref, noprune=False)
            except Exception:  # noqa: BLE001 - already gone, or moved to another id removed below
                pass
        for image_id in reversed(self.ids):
            try:
                self.client.images.remove(image_id, force=True)
            except Exception:  # noqa: BLE001 - removed with its tag already
                pass


@pytest.fixture
def images(docker_client: Any, cluster_id: str) -> Iterator[Images]:
    made = Images(docker_client, f"pacer-trust-{uuid.uuid4().hex[:8]}", cluster_id)
    yield made
    made.cleanup()


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in ("trusted", "stranger"):
        private, public, _ = generate_key_pair(tmp_path / "keys" / name)
        out[name], out[f"{name}.pub"] = private, public
    return out


def trusting(config: PacerConfig, public: Path) -> PacerConfig:
    policy = ClusterPolicy(require_signature=True, trusted_keys=(str(public),))
    (local,) = config.agents
    return config.model_copy(update={"agents": [local.model_copy(update={"policy": policy})]})


def app(app_id: str, image: str) -> dict[str, Any]:
    return {"id": app_id, "cmd": "exec sleep 600", "cpus": 0.05, "mem": 16, "instances": 1, "networks": BRIDGE,
            "container": {"type": "DOCKER", "docker": {"image": image}}}


async def pacer_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli.main", *args, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def refusal(engine: Engine, app_id: str) -> Callable[[], bool]:
    return lambda: app_id in engine.failures and "policy:" in engine.failures[app_id]["message"]


async def test_signed_runs_unsigned_untrusted_and_moved_are_refused(
        docker_config: PacerConfig, keys: dict[str, Path], images: Images, docker_client: Any,
        cleanup_cluster: str) -> None:
    signed, unsigned, foreign, moved = (images.name(w) for w in ("signed", "unsigned", "foreign", "moved"))
    signed_id = images.variant(signed, "signed\n")
    unsigned_id = images.variant(unsigned, "unsigned\n")
    foreign_id = images.variant(foreign, "foreign\n")
    old_id = images.variant(moved, "before\n")
    async with Engine(trusting(docker_config, keys["trusted.pub"])) as engine:
        api = await start_api(engine, engine.config, bind="127.0.0.1:0")
        try:
            # the operator signs through the API with `pacer image sign`
            code, out, err = await pacer_cli("image", "sign", signed, "--key", str(keys["trusted"]),
                                             "--url", api.url)
            assert code == 0, err
            assert f"signed {signed} ({short_id(signed_id)}) with ed25519:" in out
            code, out, err = await pacer_cli("image", "sign", moved, "--key", str(keys["trusted"]), "--url", api.url)
            assert code == 0, err
            code, out, err = await pacer_cli("image", "sign", foreign, "--key", str(keys["stranger"]),
                                             "--url", api.url)
            assert code == 0, err  # the engine keeps any valid signature; agents decide whom they trust
            code, out, _ = await pacer_cli("image", "signatures", "--url", api.url)
            assert code == 0 and out.count(images.prefix) == 3
        finally:
            await api.stop()
        # the tag moves to other content after it was signed
        new_id = images.variant(moved, "after\n")
        assert new_id != old_id

        for app_id, image in (("/trust/signed", signed), ("/trust/unsigned", unsigned),
                              ("/trust/foreign", foreign), ("/trust/moved", moved)):
            await engine.create_app(app(app_id, image))
        await wait_until(lambda: engine.running_count("/trust/signed") == 1, 60, message="the signed image running")
        for app_id in ("/trust/unsigned", "/trust/foreign", "/trust/moved"):
            await wait_until(refusal(engine, app_id), 60, message=f"{app_id} refused")

        # the signed image runs, from exactly the content that was checked
        (task,) = engine.tasks_of("/trust/signed")
        assert docker_client.containers.get(task.container_id).attrs["Image"] == signed_id

        messages = {a: engine.failures[a]["message"] for a in ("/trust/unsigned", "/trust/foreign", "/trust/moved")}
        stranger = sign_image(load_private_key(keys["stranger"]), foreign, foreign_id).key_id
        assert messages["/trust/unsigned"] == (
            f"launch failed: agent local: policy: image {unsigned} ({short_id(unsigned_id)}) is not signed")
        assert messages["/trust/foreign"] == (
            f"launch failed: agent local: policy: image {foreign} ({short_id(foreign_id)}) is signed by an "
            f"untrusted key ({stranger}), by none of this agent's trusted keys")
        assert messages["/trust/moved"] == (
            f"launch failed: agent local: policy: image {moved} changed: now {short_id(new_id)}, "
            f"signed {short_id(old_id)}")
        # ... and the apps say why they wait: delayed launches, the reason as their last failure
        for app_id in messages:
            assert engine.running_count(app_id) == 0
            await wait_until(lambda a=app_id: a in engine.waiting, 20, message=f"{app_id} waiting")
            view = next(v for v in engine.snapshot().apps if v.app.id == app_id)
            assert view.waiting is not None and view.last_failure is not None
            assert "policy: image" in view.last_failure["message"]

        # signing the new content lets the waiting app run at once (its launch backoff is reset)
        engine.add_signature(sign_image(load_private_key(keys["trusted"]), moved, new_id))
        await wait_until(lambda: engine.running_count("/trust/moved") == 1, 30, message="the re-signed image running")
    assert not docker_client.containers.list(all=True, sparse=True, filters={"label": f"pacer.cluster={cleanup_cluster}",
                                                                "status": "created"})


async def test_pinned_image_id_refuses_other_content(docker_engine: Engine, images: Images) -> None:
    """Pinning (label pacer.image-id) works without signatures: the tag must still name the pinned content."""
    ref = images.name("pinned")
    first = images.variant(ref, "first\n")
    body = app("/trust/pinned", ref)
    body["labels"] = {"pacer.image-id": first}
    await docker_engine.create_app(body)
    # Converged: running and its create deployment finished, so the restart below is not a conflict.
    await wait_until(lambda: docker_engine.converged("/trust/pinned"), 60, message="the pinned image")
    second = images.variant(ref, "second\n")
    await docker_engine.restart_app("/trust/pinned")
    await wait_until(refusal(docker_engine, "/trust/pinned"), 60, message="the moved tag refused")
    assert docker_engine.failures["/trust/pinned"]["message"] == (
        f"launch failed: agent local: policy: image {ref} changed: now {short_id(second)}, pinned {short_id(first)}")
    assert docker_engine.running_count("/trust/pinned") == 1  # the old task keeps running; nothing is killed blind


async def test_a_pacer_agent_checks_signatures_with_its_own_keys(
        tmp_path: Path, docker_url: str, keys: dict[str, Path], images: Images, cleanup_cluster: str) -> None:
    from tests.agent.test_agent_docker import remote_config

    # the agent's allowlist (tests/agent/process.py) admits busybox:* only
    signed, unsigned = "busybox:" + images.prefix + "-signed", "busybox:" + images.prefix + "-unsigned"
    signed_id = images.variant(signed, "remote signed\n")
    unsigned_id = images.variant(unsigned, "remote unsigned\n")
    agent = AgentProcess(tmp_path / "agent", docker_url,
                         policy=f'require_signature = true\ntrusted_keys = ["{keys["trusted.pub"]}"]\n')
    agent.start()
    try:
        async with Engine(remote_config(tmp_path, cleanup_cluster, agent)) as engine:
            engine.add_signature(sign_image(load_private_key(keys["trusted"]), signed, signed_id))
            await engine.create_app(app("/remote/signed", signed))
            await engine.create_app(app("/remote/unsigned", unsigned))
            await wait_until(lambda: engine.running_count("/remote/signed") == 1, 60, message="signed, remotely")
            await wait_until(refusal(engine, "/remote/unsigned"), 60, message="unsigned refused remotely")
            assert engine.failures["/remote/unsigned"]["message"] == (
                f"launch failed: agent remote: policy: image {unsigned} ({short_id(unsigned_id)}) is not signed")
        assert "refused task" in agent.output() and "is not signed" in agent.output()
    finally:
        agent.cleanup()

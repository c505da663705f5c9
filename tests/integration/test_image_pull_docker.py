"""Image pulls on a real dockerd from a real registry (docker-registry on 127.0.0.1, tests/support/registry.py).

Every image here is made for its test (busybox plus a layer of random bytes), pushed to a registry and then
removed from the daemon, so it exists only in the registry: a launch must pull it. Every image and container
made here is removed at the end.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from engine import Engine
from engine.api import start_api
from engine.config import AgentConfig, PacerConfig
from engine.events import ImagePullProgressed, TaskStatusChanged
from engine.scheduler.state import TaskState
from tests.conftest import REGISTRY_USER, drain, wait_until
from tests.support.registry import Registry, ThrottledProxy, remove_image, unique_image

pytestmark = pytest.mark.docker

BRIDGE = [{"mode": "container/bridge"}]


@dataclass(frozen=True)
class Pushed:
    registry: Registry
    repository: str
    tag: str
    image_id: str

    @property
    def ref(self) -> str:
        return f"{self.registry.host}/{self.repository}:{self.tag}"

    def via(self, host: str) -> str:
        """The same image named through another host (a proxy in front of the registry)."""
        return f"{host}/{self.repository}:{self.tag}"


class RegistryImages:
    """Images made for one test, pushed to a registry and gone from the daemons; all removed at the end."""

    def __init__(self, client: Any, cluster_id: str) -> None:
        self.client = client
        self.cluster_id = cluster_id
        self.refs: list[str] = []
        self.ids: list[str] = []
        self.daemons: list[Any] = [client]

    def push_new(self, registry: Registry, *, size: int = 64 * 1024, tag: str = "v1",
                 repository: str | None = None) -> Pushed:
        """New content pushed as REGISTRY/repository:tag (a new repository unless given), then removed locally.
        Pushed as localhost:PORT, so a REGISTRY/repository:tag the daemon pulled before stays as it was."""
        repository = repository or f"pacer-test/pull-{uuid.uuid4().hex[:10]}"
        local = f"pacer-test/src-{uuid.uuid4().hex[:10]}:v1"
        image_id = unique_image(self.client, local, size=size)
        try:
            registry.push(self.client, local, repository, tag, as_host=f"localhost:{registry.port}")
        finally:
            remove_image(self.client, local)  # its random layer now exists only in the registry
        self.refs.append(f"{registry.host}/{repository}:{tag}")
        self.ids.append(image_id)
        return Pushed(registry, repository, tag, image_id)

    def forget(self, ref: str) -> None:
        self.refs.append(ref)

    def cleanup(self) -> None:
        for client in self.daemons:
            for c in client.containers.list(all=True, sparse=True,
                                            filters={"label": f"pacer.cluster={self.cluster_id}"}):
                try:
                    c.remove(force=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
            for ref in dict.fromkeys(self.refs):
                remove_image(client, ref)
            for image_id in self.ids:  # content pulled by digest, or whose tag moved on, has no tag left
                remove_image(client, image_id)


@pytest.fixture
def pushed(docker_client: Any, cleanup_cluster: str) -> Iterator[RegistryImages]:
    made = RegistryImages(docker_client, cleanup_cluster)
    yield made
    made.cleanup()


def app(app_id: str, image: str, *, instances: int = 1, force_pull: bool = False, **extra: Any) -> dict[str, Any]:
    body = {"id": app_id, "cmd": "exec sleep 600", "cpus": 0.01, "mem": 8, "instances": instances,
            "networks": BRIDGE, "backoffSeconds": 1, "backoffFactor": 2, "maxLaunchDelaySeconds": 30,
            "container": {"type": "DOCKER", "docker": {"image": image, "forcePullImage": force_pull}}}
    body.update(extra)
    return body


def with_pulls(config: PacerConfig, state: str | None = None, **options: Any) -> PacerConfig:
    """`config` with pull options on its agent (validated as a config file's would be), and its own state file."""
    (local,) = config.agents
    agent = AgentConfig.model_validate({**local.model_dump(), **options})
    scheduler = config.scheduler.model_copy(update={"state": state or config.scheduler.state})
    return config.model_copy(update={"agents": [agent], "scheduler": scheduler})


def image_of(docker_client: Any, engine: Engine, app_id: str) -> set[str]:
    return {docker_client.containers.get(t.container_id).attrs["Image"] for t in engine.tasks_of(app_id)
            if t.container_id}


def failure(engine: Engine, app_id: str) -> str:
    return str((engine.failures.get(app_id) or {}).get("message", ""))


# -- a missing image is pulled, and the pull is visible -------------------------------------------------


async def test_an_image_only_in_the_registry_is_pulled_and_its_progress_shown(
        docker_config: PacerConfig, registry: Registry, pushed: RegistryImages, docker_client: Any) -> None:
    image = pushed.push_new(registry, size=6_000_000)
    with ThrottledProxy(registry.host, rate=1_500_000) as proxy:  # about 4 s for the 6 MB layer
        ref = image.via(proxy.host)
        pushed.forget(ref)
        async with Engine(docker_config) as engine:
            api = await start_api(engine, engine.config, bind="127.0.0.1:0")
            events = engine.subscribe(event_types=frozenset({ImagePullProgressed.event_type}))
            try:
                async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
                    created = await http.post("/v2/apps", json=app("/pull/new", ref, instances=2))
                    assert created.status_code == 201, created.text
                    seen: list[dict[str, Any]] = []

                    async def downloading() -> bool:
                        pulls = (await http.get("/pacer/v1/pulls")).json()["pulls"]
                        seen.extend(pulls)
                        return any(p["status"] == "pulling" and p["percent"] is not None and 0 < p["percent"] < 100
                                   for p in pulls)

                    await wait_until(downloading, 60, interval=0.2, message="a pull under way, part downloaded")
                    pull = next(p for p in reversed(seen) if p["percent"] is not None and 0 < p["percent"] < 100)
                    assert pull["agent"] == "local" and pull["image"] == ref
                    assert pull["message"] == f"pulling {ref}: {pull['percent']}% of 6.0 MB"
                    assert 6_000_000 <= pull["totalBytes"] < 6_100_000  # the layer: 6 MB of random bytes, gzipped
                    assert 0 < pull["downloadedBytes"] < pull["totalBytes"]
                    tasks = {t.task_id for t in engine.tasks_of("/pull/new")}
                    assert len(tasks) == 2 and set(pull["taskIds"]) <= tasks and pull["taskIds"]
                    # the app's explanation says the same, and its tasks are staging meanwhile
                    explain = (await http.get("/pacer/v1/apps/pull/new/explain")).json()
                    assert explain["tasksStaged"] == 2
                    assert [p["image"] for p in explain["pulls"]] == [ref]
                    assert all(t.state == TaskState.STAGING for t in engine.tasks_of("/pull/new"))

                    await wait_until(lambda: engine.running_count("/pull/new") == 2, 120, message="both running")
                    assert (await http.get("/pacer/v1/pulls")).json() == {"pulls": []}
            finally:
                await api.stop()
            assert image_of(docker_client, engine, "/pull/new") == {image.image_id}
            statuses = [e.status for e in drain(events) if isinstance(e, ImagePullProgressed)]
            assert statuses[0] == "pulling" and statuses[-1] == "done" and statuses.count("done") == 1
            assert "pulling" in statuses[1:-1]  # progress in between


async def test_twenty_tasks_of_a_new_image_pull_it_once(
        docker_config: PacerConfig, registry: Registry, pushed: RegistryImages, docker_client: Any) -> None:
    image = pushed.push_new(registry, size=2_000_000)
    before = registry.manifest_requests(image.repository, image.tag)
    async with Engine(docker_config) as engine:
        await engine.create_app(app("/pull/many", image.ref, instances=20))
        await wait_until(lambda: engine.running_count("/pull/many") == 20, 180, message="20 tasks running")
        assert image_of(docker_client, engine, "/pull/many") == {image.image_id}
        assert not engine.failures.get("/pull/many")
    assert registry.manifest_requests(image.repository, image.tag) - before == 1


async def test_digest_references_are_pulled(
        docker_config: PacerConfig, registry: Registry, pushed: RegistryImages, docker_client: Any) -> None:
    image = pushed.push_new(registry)
    digest = registry.digest_of(image.repository, image.tag)
    ref = f"{registry.host}/{image.repository}@{digest}"
    pushed.forget(ref)
    async with Engine(docker_config) as engine:
        await engine.create_app(app("/pull/digest", ref))
        await wait_until(lambda: engine.running_count("/pull/digest") == 1, 120, message="the pinned image running")
        assert image_of(docker_client, engine, "/pull/digest") == {image.image_id}
    assert registry.manifest_requests(image.repository, digest) >= 1


# -- forcePullImage ---------------------------------------------------------------------------------------


async def test_force_pull_picks_up_a_moved_tag(
        docker_config: PacerConfig, registry: Registry, pushed: RegistryImages, docker_client: Any) -> None:
    first = pushed.push_new(registry)
    async with Engine(docker_config) as engine:
        await engine.create_app(app("/pull/forced", first.ref, force_pull=True))
        await engine.create_app(app("/pull/cached", first.ref))
        for app_id in ("/pull/forced", "/pull/cached"):
            await wait_until(lambda a=app_id: engine.converged(a), 120, message=f"{app_id} running")
            assert image_of(docker_client, engine, app_id) == {first.image_id}
        # the tag moves to other content in the registry
        second = pushed.push_new(registry, repository=first.repository, tag=first.tag)
        assert second.image_id != first.image_id
        # without forcePullImage a restart runs the daemon's copy (as docker does); with it, a restart pulls
        for app_id, expected in (("/pull/cached", first.image_id), ("/pull/forced", second.image_id)):
            old = {t.task_id for t in engine.tasks_of(app_id)}
            await engine.restart_app(app_id)
            await wait_until(lambda a=app_id, o=old: engine.converged(a) and not o & {
                t.task_id for t in engine.tasks_of(a)}, 120, message=f"{app_id} restarted")
            assert image_of(docker_client, engine, app_id) == {expected}, app_id


# -- failures are reasons, with the launch backoff ------------------------------------------------------------


async def _attempts(engine: Engine, app_id: str, seconds: float) -> list[float]:
    """The times of the app's failed launches during `seconds` (from its events)."""
    events = engine.subscribe(event_types=frozenset({TaskStatusChanged.event_type}))
    deadline = time.monotonic() + seconds
    times = []
    while time.monotonic() < deadline:
        await wait_until(lambda: time.monotonic() >= deadline or not events.queue.empty(), seconds + 1, interval=0.05)
        for e in drain(events):
            if isinstance(e, TaskStatusChanged) and e.app_id == app_id and e.state == TaskState.FAILED:
                times.append(time.monotonic())
    return times


async def test_a_missing_tag_is_one_reason_with_backoff(
        docker_config: PacerConfig, registry: Registry, pushed: RegistryImages) -> None:
    image = pushed.push_new(registry)
    missing = f"{registry.host}/{image.repository}:no-such-tag"
    unknown = f"{registry.host}/pacer-test/no-such-repo-{uuid.uuid4().hex[:6]}:v1"
    async with Engine(docker_config) as engine:
        await engine.create_app(app("/pull/missing", missing))
        await engine.create_app(app("/pull/unknown", unknown))
        for app_id, ref in (("/pull/missing", missing), ("/pull/unknown", unknown)):
            await wait_until(lambda a=app_id: "not found" in failure(engine, a), 60, message=f"{app_id} failed")
            assert failure(engine, app_id) == (
                f"launch failed: agent local: image {ref} not found in registry {registry.host} "
                "(no such repository or tag)")
        times = await _attempts(engine, "/pull/missing", 7.0)
        # backoff 1 s, doubling: at most 1, 2, 4 s apart within 7 s, never a loop
        assert 1 <= len(times) <= 4, times
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(g >= 0.9 for g in gaps), gaps
        assert engine.running_count("/pull/missing") == 0
        # the app waits for its next attempt (delayed), its last failure saying why
        await wait_until(lambda: "/pull/missing" in engine.waiting, 20, message="waiting for its next attempt")
        assert engine.waiting["/pull/missing"].delay_until is not None


async def test_registry_credentials_wrong_missing_and_right(
        docker_config: PacerConfig, auth_registry: Registry, pushed: RegistryImages, docker_client: Any,
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    image = pushed.push_new(auth_registry)
    user, password = REGISTRY_USER
    host = auth_registry.host
    # no credentials for that registry
    async with Engine(docker_config) as engine:
        await engine.create_app(app("/pull/anon", image.ref))
        await wait_until(lambda: "requires credentials" in failure(engine, "/pull/anon"), 60, message="refused")
        assert failure(engine, "/pull/anon") == (
            f"launch failed: agent local: registry {host} requires credentials for {image.ref}, and agent local "
            f'has none for it (registries."{host}" in its config)')
    # a wrong password
    wrong = with_pulls(docker_config, str(tmp_path / "wrong.db"),
                       registries={host: {"username": user, "password": "wrong-password"}})
    async with Engine(wrong) as engine:
        await engine.create_app(app("/pull/wrong", image.ref))
        await wait_until(lambda: "refused the credentials" in failure(engine, "/pull/wrong"), 60, message="refused")
        assert failure(engine, "/pull/wrong") == (
            f"launch failed: agent local: registry {host} refused the credentials for {image.ref} "
            "(authentication failed)")
        times = await _attempts(engine, "/pull/wrong", 6.0)
        assert 1 <= len(times) <= 4, times
        assert "wrong-password" not in repr(engine.config) and "wrong-password" not in str(engine.failures)
    # the right one, from a password file
    secret = tmp_path / "registry.pass"
    secret.write_text(password + "\n")
    right = with_pulls(docker_config, str(tmp_path / "right.db"),
                       registries={host: {"username": user, "password_file": str(secret)}})
    async with Engine(right) as engine:
        await engine.create_app(app("/pull/right", image.ref))
        await wait_until(lambda: engine.running_count("/pull/right") == 1, 120, message="pulled with credentials")
        assert image_of(docker_client, engine, "/pull/right") == {image.image_id}
        snapshot = repr(engine.snapshot()) + repr(engine.failures) + repr(engine.config)
    # credentials never show: not in the logs (debug included), the config's repr, failures or the snapshot
    for secret_text in (password, "wrong-password"):
        assert secret_text not in caplog.text and secret_text not in snapshot


async def test_an_unreachable_registry_is_one_reason(docker_config: PacerConfig, pushed: RegistryImages) -> None:
    from tests.support.registry import free_port

    port = free_port()  # nothing listens there
    ref = f"127.0.0.1:{port}/pacer-test/nowhere:v1"
    async with Engine(docker_config) as engine:
        await engine.create_app(app("/pull/nowhere", ref))
        await wait_until(lambda: "unreachable" in failure(engine, "/pull/nowhere"), 60, message="unreachable")
        assert failure(engine, "/pull/nowhere") == (
            f"launch failed: agent local: registry 127.0.0.1:{port} is unreachable while pulling {ref}: "
            f"dial tcp 127.0.0.1:{port}: connect: connection refused")


async def test_a_pull_that_takes_too_long_times_out(
        docker_config: PacerConfig, registry: Registry, pushed: RegistryImages) -> None:
    image = pushed.push_new(registry, size=4_000_000)
    with ThrottledProxy(registry.host, rate=200_000) as proxy:  # 20 s for the layer
        ref = image.via(proxy.host)
        pushed.forget(ref)
        async with Engine(with_pulls(docker_config, pull_timeout=2.0)) as engine:
            await engine.create_app(app("/pull/slow", ref))
            await wait_until(lambda: "timed out" in failure(engine, "/pull/slow"), 30, message="timed out")
            assert failure(engine, "/pull/slow").startswith(
                f"launch failed: agent local: pull of {ref} timed out after 2s (")
            assert engine.running_count("/pull/slow") == 0


# -- the console -----------------------------------------------------------------------------------------------


async def test_the_console_shows_the_pull_in_the_tasks_and_queue_panes(
        docker_config: PacerConfig, registry: Registry, pushed: RegistryImages, tmp_path: Path) -> None:
    from tests.tui.conftest import until
    from tui.app import make_app
    from tui.widgets.app_detail import AppDetail
    from tui.widgets.queue_view import QueueView

    image = pushed.push_new(registry, size=6_000_000)
    with ThrottledProxy(registry.host, rate=1_000_000) as proxy:  # about 6 s for the layer
        ref = image.via(proxy.host)
        pushed.forget(ref)
        console = make_app(docker_config, settings_file=tmp_path / "console.json", feed_interval=0.1)
        async with console.run_test(size=(160, 45)) as pilot:
            await until(pilot, lambda: console.main.view is not None, 30, message="the engine on dockerd")
            engine = console.host.engine
            assert engine is not None
            await console.host.call(engine.create_app, app("/pull/console", ref, instances=2))
            await until(pilot, lambda: console.main.selected_app == "/pull/console", 30, message="the app selected")
            tasks = console.main.tasks

            def states() -> list[str]:
                return [tasks.get_cell(k, "state").plain for k in tasks.keys]

            await until(pilot, lambda: len(states()) == 2 and all(
                s.startswith("pull ") and s != "pull 100%" for s in states()), 60,
                message="both tasks shown pulling, part downloaded")
            detail = console.main.query_one(AppDetail)
            assert f"pulling {ref}: " in detail.describe(console.main.view, "/pull/console").plain
            assert "% of 6.0 MB on local (2 task(s) wait for it)" in detail.describe(
                console.main.view, "/pull/console").plain
            await pilot.press("5")
            queue = console.main.query_one(QueueView)
            await until(pilot, lambda: f"pulling {ref}: " in queue.describe(console.main.view).plain, 10,
                        message="the pull in the queue pane")
            await pilot.press("1")
            await until(pilot, lambda: states() == ["running", "running"], 120, message="both shown running")


async def test_pacer_deploy_shows_the_pull(
        docker_config: PacerConfig, registry: Registry, pushed: RegistryImages, tmp_path: Path) -> None:
    import asyncio
    import json
    import sys

    image = pushed.push_new(registry, size=5_000_000)
    with ThrottledProxy(registry.host, rate=1_000_000) as proxy:  # about 5 s for the layer
        ref = image.via(proxy.host)
        pushed.forget(ref)
        path = tmp_path / "app.json"
        path.write_text(json.dumps(app("/pull/cli", ref)))
        async with Engine(docker_config) as engine:
            api = await start_api(engine, engine.config, bind="127.0.0.1:0")
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "cli.main", "deploy", str(path), "--url", api.url, "--timeout", "120",
                    cwd=Path(__file__).resolve().parents[2], stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE)
                out, err = await asyncio.wait_for(proc.communicate(), 150)
            finally:
                await api.stop()
            assert proc.returncode == 0, err.decode()
            lines = err.decode().splitlines()  # not a terminal: one line per change
            shown = [line for line in lines if f" - pulling {ref}: " in line]
            assert shown, lines
            assert any("% of 5.0 MB on local" in line for line in shown), shown
            assert engine.running_count("/pull/cli") == 1


# -- signatures are checked on what was pulled ------------------------------------------------------------------


async def test_a_signed_image_pulled_runs_and_a_moved_tag_is_refused_after_the_pull(
        docker_config: PacerConfig, registry: Registry, pushed: RegistryImages, docker_client: Any,
        tmp_path: Path) -> None:
    from engine.policy import ClusterPolicy
    from engine.trust import generate_key_pair, load_private_key, short_id, sign_image

    private, public, _ = generate_key_pair(tmp_path / "keys" / "release")
    signed = pushed.push_new(registry)
    policy = ClusterPolicy(require_signature=True, trusted_keys=(str(public),))
    config = with_pulls(docker_config, policy=policy)
    async with Engine(config) as engine:
        engine.add_signature(sign_image(load_private_key(private), signed.ref, signed.image_id))
        await engine.create_app(app("/pull/signed", signed.ref, force_pull=True))
        await wait_until(lambda: engine.converged("/pull/signed"), 120, message="the signed image pulled and running")
        assert image_of(docker_client, engine, "/pull/signed") == {signed.image_id}

        # the same tag, pushed again with other content: pulled (forcePullImage), then refused
        moved = pushed.push_new(registry, repository=signed.repository, tag=signed.tag)
        old = {t.task_id for t in engine.tasks_of("/pull/signed")}
        await engine.restart_app("/pull/signed")
        await wait_until(lambda: "policy:" in failure(engine, "/pull/signed"), 120, message="the moved tag refused")
        assert failure(engine, "/pull/signed") == (
            f"launch failed: agent local: policy: image {signed.ref} changed: now {short_id(moved.image_id)}, "
            f"signed {short_id(signed.image_id)}")
        assert docker_client.images.get(signed.ref).id == moved.image_id  # it was pulled, then refused
        # the old task keeps running: the new version's tasks cannot start, so the old one is not replaced
        assert {t.task_id for t in engine.tasks_of("/pull/signed") if t.container_id} & old


# -- image GC ----------------------------------------------------------------------------------------------


async def test_image_gc_removes_what_pacer_pulled_once_unused(
        docker_config: PacerConfig, registry: Registry, pushed: RegistryImages, docker_client: Any,
        tmp_path: Path) -> None:
    import docker.errors

    image = pushed.push_new(registry)
    kept = pushed.push_new(registry)
    config = with_pulls(docker_config, image_gc=2.0)  # a GC pass every second
    async with Engine(config) as engine:
        images = engine._agents.driver("local").images  # type: ignore[attr-defined]
        await engine.create_app(app("/gc/short", image.ref))
        await engine.create_app(app("/gc/long", kept.ref))
        for app_id in ("/gc/short", "/gc/long"):
            await wait_until(lambda a=app_id: engine.running_count(a) == 1, 120, message=f"{app_id} running")
        # while their tasks run, pass after pass keeps both images, though both were pulled over 2 s ago
        passes = images.gc_passes
        await wait_until(lambda: images.gc_passes >= passes + 3, 30, message="three GC passes")
        for ref in (image.ref, kept.ref):
            assert docker_client.images.get(ref)
        # the app goes: its image goes after image_gc seconds unused; the other app's stays
        await engine.delete_app("/gc/short")

        def removed() -> bool:
            try:
                docker_client.images.get(image.ref)
            except docker.errors.ImageNotFound:
                return True
            return False

        await wait_until(removed, 60, message="the unused image removed")
        assert docker_client.images.get(kept.ref).id == kept.image_id
        assert docker_client.images.get("busybox:latest")  # never pulled by pacer: never touched

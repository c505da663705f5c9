"""Image pulls without a daemon: progress from docker's stream, failure reasons, credentials, config keys."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from pydantic import ValidationError

from engine.agents.base import ImagePull, format_bytes
from engine.agents.images import ImagePuller, ImagePullFailed, PullProgress, classify_failure
from engine.config import AgentConfig, load_config
from engine.errors import ConfigError
from engine.policy import AgentPolicy, refusals
from engine.registries import CredentialsError, PullOptions, RegistryCredentials, auth_config, normalize_registry


def _layer(status: str, layer: str, current: int | None = None, total: int | None = None) -> dict[str, object]:
    detail = {"current": current, "total": total} if current is not None else {}
    return {"status": status, "id": layer, "progressDetail": detail}


def test_progress_sums_layers_from_dockers_stream() -> None:
    p = PullProgress()
    for line in (
        {"status": "Pulling from team/app", "id": "v1"},
        _layer("Already exists", "base"),
        _layer("Pulling fs layer", "a"),
        _layer("Pulling fs layer", "b"),
        _layer("Downloading", "a", 40_000_000, 100_000_000),
        _layer("Downloading", "b", 1_000_000, 112_000_000),
    ):
        p.feed(line)
    assert p.summary() == (41_000_000, 212_000_000, 2, 0)
    pull = ImagePull("local", "reg:5000/team/app:v1", "pulling", *p.summary()[:2], layers=2)
    assert pull.text == "pulling reg:5000/team/app:v1: 19% of 212 MB"
    assert pull.short == "pull 19%"
    for line in (_layer("Download complete", "a"), _layer("Pull complete", "a"),
                 _layer("Downloading", "b", 112_000_000, 112_000_000), _layer("Extracting", "b", 5, 112_000_000)):
        p.feed(line)
    downloaded, total, layers, done = p.summary()
    assert (downloaded, total, layers, done) == (212_000_000, 212_000_000, 2, 1)
    extracting = ImagePull("local", "app", "pulling", downloaded, total, layers, done)
    assert extracting.text == "pulling app: 100% of 212 MB, extracting (1/2 layers)"
    p.feed({"status": "Digest: sha256:abc"})
    p.feed({"status": "Status: Downloaded newer image for app"})
    assert p.summary() == (212_000_000, 212_000_000, 2, 1)


def test_pull_lines_before_sizes_are_known() -> None:
    assert ImagePull("local", "app", "pulling").text == "pulling app: starting"
    assert ImagePull("local", "app", "pulling").percent is None
    assert ImagePull("edge", "app", "queued").text == "waiting to pull app (other pulls on edge first)"
    assert ImagePull("edge", "app", "failed", message="agent edge: why").text == "agent edge: why"


@pytest.mark.parametrize(("n", "text"), [(0, "0 B"), (999, "999 B"), (1_500, "1.5 kB"), (740_000, "740 kB"),
                                          (1_990_000, "2.0 MB"), (212_000_000, "212 MB"), (3_400_000_000, "3.4 GB")])
def test_sizes_read_like_dockers(n: int, text: str) -> None:
    assert format_bytes(n) == text


@pytest.mark.parametrize(("detail", "creds", "kind", "words"), [
    ("manifest for 127.0.0.1:5000/a:v9 not found: manifest unknown: manifest unknown", False, "not-found",
     "image IMG not found in registry REG (no such repository or tag)"),
    ("unauthorized: authentication required", True, "auth", "registry REG refused the credentials for IMG"),
    ('Head "http://REG/v2/a/manifests/v1": no basic auth credentials', False, "auth",
     'registry REG requires credentials for IMG, and agent local has none for it (registries."REG" in its config)'),
    ('Get "http://REG/v2/": dial tcp 127.0.0.1:1: connect: connection refused', False, "unreachable",
     "registry REG is unreachable while pulling IMG: dial tcp 127.0.0.1:1: connect: connection refused"),
    ("write /var/lib/docker/tmp/x: no space left on device", False, "disk-full", "disk full while pulling IMG"),
    ("pull access denied for nope, repository does not exist or may require 'docker login': denied", False,
     "not-found", "image IMG not found in registry REG, or it needs credentials; agent local has no credentials"),
    ("something odd\nhappened", False, "other", "pull of IMG failed: something odd happened"),
])
def test_failures_are_one_line_reasons(detail: str, creds: bool, kind: str, words: str) -> None:
    failed = classify_failure(detail.replace("REG", "127.0.0.1:5000"), agent="local", image="IMG",
                              registry="REG", with_credentials=creds)
    assert failed.kind == kind
    assert failed.message.startswith("agent local: ")
    assert words in failed.message and "\n" not in failed.message


def test_credentials_from_a_password_a_file_or_a_docker_config(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    docker_config = tmp_path / "config.json"
    docker_config.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {
        "auth": base64.b64encode(b"hubuser:hubpass").decode()}}}))
    registries = {
        "Registry.Example.com:5000": RegistryCredentials(username="u", password="p"),
        "127.0.0.1:5000": RegistryCredentials(username="ci", password_file=str(pw)),
        "docker.io": RegistryCredentials(docker_config=str(docker_config)),
    }
    assert auth_config(registries, "registry.example.com:5000") == {
        "username": "u", "password": "p", "serveraddress": "registry.example.com:5000"}
    assert auth_config(registries, "127.0.0.1:5000")["password"] == "s3cret"
    hub = auth_config(registries, "docker.io")
    assert hub is not None and (hub["username"], hub["password"]) == ("hubuser", "hubpass")
    assert auth_config(registries, "elsewhere:5000") is None  # anonymous
    missing = {"r:1": RegistryCredentials(username="u", password_file=str(tmp_path / "nope"))}
    with pytest.raises(CredentialsError, match=r"credentials for registry r:1: cannot read .*nope"):
        auth_config(missing, "r:1")
    assert normalize_registry("https://index.docker.io/v1/") == "docker.io"


def test_credentials_are_one_way_and_never_shown() -> None:
    creds = RegistryCredentials(username="u", password="hunter2")
    assert "hunter2" not in repr(creds) and "hunter2" not in str(creds.model_dump())
    assert "hunter2" not in creds.model_dump_json()
    for bad in ({"username": "u"}, {"password": "p"}, {"username": "u", "password": "p", "password_file": "f"},
                {"docker_config": "c", "username": "u"}):
        with pytest.raises(ValidationError):
            RegistryCredentials.model_validate(bad)


def test_pull_keys_in_a_config_file(tmp_path: Path) -> None:
    (tmp_path / "reg.pass").write_text("pw\n")
    path = tmp_path / "pacer.toml"
    path.write_text(
        '[[agents]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\npull_timeout = 120\n'
        'max_concurrent_pulls = 2\nimage_gc = 3600\n'
        '[agents.registries."127.0.0.1:5000"]\nusername = "ci"\npassword_file = "reg.pass"\n')
    (agent,) = load_config(path).agents
    assert (agent.pull_timeout, agent.max_concurrent_pulls, agent.image_gc) == (120, 2, 3600)
    assert AgentConfig(name="a", url="unix:///x").image_gc is None  # image GC is off by default
    assert agent.registries["127.0.0.1:5000"].password_file == str(tmp_path / "reg.pass")
    path.write_text('[[agents]]\nname = "local"\nurl = "unix:///x"\n[agents.registries."r:1"]\nusername = "ci"\n')
    with pytest.raises(ConfigError, match="password or password_file"):
        load_config(path)
    with pytest.raises(ValidationError):
        AgentConfig(name="a", url="unix:///x", max_concurrent_pulls=0)


def test_a_policy_names_the_registries_it_pulls_from() -> None:
    policy = AgentPolicy(allowed_registries=("127.0.0.1:*", "docker.io"))
    ok = [s for s in ("127.0.0.1:5000/team/app:v1", "busybox", "mesosphere/inky") if not refusals(_spec(s), policy)]
    assert ok == ["127.0.0.1:5000/team/app:v1", "busybox", "mesosphere/inky"]
    (problem,) = refusals(_spec("ghcr.io/team/app:v1"), policy)
    assert problem == ("image 'ghcr.io/team/app:v1' comes from registry ghcr.io, which is not among this agent's "
                       "allowed registries (127.0.0.1:*, docker.io)")
    assert not refusals(_spec("ghcr.io/team/app:v1"), AgentPolicy())  # no list: any registry


def _spec(image: str) -> object:
    from engine.agents.base import TaskSpec

    return TaskSpec(task_id="t", app_id="/a", version="v", config_version="v", cluster_id="c", name="n",
                    image=image, entrypoint=None, command=None, env={}, labels={}, cpus=0.1, mem_mib=8,
                    network_mode="bridge")


# -- the puller against a fake daemon ------------------------------------------------------------------------


class FakeResponse:
    def __init__(self, lines: list[dict[str, object]], gate: "threading.Event", status: int = 200) -> None:
        self.lines = lines
        self.gate = gate
        self.status_code = status
        self.closed = threading.Event()

    def iter_lines(self) -> Iterator[bytes]:
        for i, line in enumerate(self.lines):
            if i == 2:  # two lines at once, the rest when the test opens the gate (or the pull is closed)
                while not (self.gate.is_set() or self.closed.is_set()):
                    time.sleep(0.005)
                if self.closed.is_set():
                    return
            yield json.dumps(line).encode()

    def json(self) -> object:
        return self.lines[0] if self.lines else {}

    def close(self) -> None:
        self.closed.set()


class FakeApi:
    """docker's APIClient as the puller uses it: base_url, api_version, post(...) of /images/create."""

    base_url = "http+docker://localhost"
    api_version = "1.41"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.responses: list[FakeResponse] = []
        self.gates: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def gate(self, repository: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(repository, threading.Event())

    def post(self, url: str, *, params: dict[str, str], headers: dict[str, str], stream: bool,
             timeout: object) -> FakeResponse:
        assert url == "http+docker://localhost/v1.41/images/create" and stream
        with self.lock:
            self.calls.append((params["fromImage"], params["tag"], dict(headers)))
        layer = {"status": "Downloading", "id": "l1", "progressDetail": {"current": 50, "total": 100}}
        response = FakeResponse([{"status": "Pulling from x", "id": params["tag"]}, layer,
                                 {"status": "Pull complete", "id": "l1"}], self.gate(params["fromImage"]))
        self.responses.append(response)
        return response


def _puller(api: FakeApi, **options: object) -> ImagePuller:
    return ImagePuller("local", lambda: api, PullOptions.model_validate(options))


async def test_launches_of_one_image_share_one_pull() -> None:
    api = FakeApi()
    puller = _puller(api)
    seen: list[ImagePull] = []
    puller.on_change = seen.append
    waiting = [asyncio.ensure_future(puller.pull("reg:5000/team/app:v1", f"task-{i}")) for i in range(5)]
    await _until(lambda: len(api.calls) == 1 and len(puller.pulls()) == 1 and len(puller.pulls()[0].task_ids) == 5)
    api.gate("reg:5000/team/app").set()
    await asyncio.gather(*waiting)
    assert [c[:2] for c in api.calls] == [("reg:5000/team/app", "v1")]
    assert puller.pulls() == () and puller.pulls_started == 1
    assert seen[-1].status == "done" and seen[-1].text.startswith("pulled reg:5000/team/app:v1 (100 B) in ")
    # a launch that began before that pull ended does not pull again; a later forced one does
    await puller.pull("reg:5000/team/app:v1", "late", after=time.monotonic() - 60)
    assert len(api.calls) == 1
    await puller.close()


async def test_pulls_beyond_the_cap_wait_their_turn() -> None:
    api = FakeApi()
    puller = _puller(api, max_concurrent_pulls=1)
    first = asyncio.ensure_future(puller.pull("reg:5000/a:v1", "ta"))
    await _until(lambda: len(api.calls) == 1)
    second = asyncio.ensure_future(puller.pull("reg:5000/b:v1", "tb"))
    await _until(lambda: len(puller.pulls()) == 2)
    statuses = {p.image: p.status for p in puller.pulls()}
    assert statuses == {"reg:5000/a:v1": "pulling", "reg:5000/b:v1": "queued"}
    assert [p.text for p in puller.pulls() if p.status == "queued"] == [
        "waiting to pull reg:5000/b:v1 (other pulls on local first)"]
    assert len(api.calls) == 1  # b waits for a slot
    api.gate("reg:5000/a").set()
    api.gate("reg:5000/b").set()
    await asyncio.gather(first, second)
    assert [c[0] for c in api.calls] == ["reg:5000/a", "reg:5000/b"]
    await puller.close()


async def test_a_pull_that_takes_too_long_fails_and_closes_its_stream() -> None:
    api = FakeApi()
    puller = _puller(api, pull_timeout=0.3)
    with pytest.raises(ImagePullFailed) as failed:
        await puller.pull("reg:5000/slow:v1", "t")
    assert failed.value.kind == "timeout"
    assert failed.value.message == "agent local: pull of reg:5000/slow:v1 timed out after 0.3s (50 B of 100 B downloaded)"
    assert puller.pulls() == ()
    await _until(lambda: api.responses[0].closed.is_set())  # the daemon's stream is closed: the pull stops there
    await puller.close()


async def test_credentials_travel_only_in_the_registry_auth_header() -> None:
    api = FakeApi()
    puller = _puller(api, registries={"reg:5000": {"username": "ci", "password": "hunter2"}})
    api.gate("reg:5000/app").set()
    api.gate("other:5000/app").set()
    await puller.pull("reg:5000/app@sha256:" + "ab" * 32)
    await puller.pull("other:5000/app:v1")
    (repo, tag, headers), (_, _, anonymous) = api.calls
    assert (repo, tag) == ("reg:5000/app", "sha256:" + "ab" * 32)  # a digest is pulled by digest
    header = headers["X-Registry-Auth"]
    sent = json.loads(base64.urlsafe_b64decode(header + (b"==" if isinstance(header, bytes) else "==")))
    assert sent == {"username": "ci", "password": "hunter2", "serveraddress": "reg:5000"}
    assert anonymous == {}
    await puller.close()


async def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_pull_events_as_clients_read_them() -> None:
    from engine.api.event_json import event_json
    from engine.events import EVENT_TYPES, ImagePullProgressed

    event = ImagePullProgressed(agent="local", image="reg:5000/app:v1", status="pulling", downloaded=41,
                                total=100, task_ids=("t1",), text="pulling reg:5000/app:v1: 41% of 100 B", first=True)
    assert event.event_type in EVENT_TYPES and not event.marathon  # only to clients that ask for pacer_image_pull
    body = event_json(event)
    assert {k: body[k] for k in ("eventType", "agentId", "image", "status", "percent", "taskIds", "message")} == {
        "eventType": "pacer_image_pull", "agentId": "local", "image": "reg:5000/app:v1", "status": "pulling",
        "percent": 41, "taskIds": ["t1"], "message": "pulling reg:5000/app:v1: 41% of 100 B"}


def test_force_pull_and_pulls_cross_the_agent_wire() -> None:
    from dataclasses import replace

    from engine.agentd.wire import pull_from_json, pull_to_json, spec_from_json, spec_to_json

    forced = replace(_spec("reg:5000/app:v1"), force_pull=True)
    assert spec_from_json(json.loads(json.dumps(spec_to_json(forced)))) == forced
    assert spec_from_json({k: v for k, v in spec_to_json(forced).items() if k != "force_pull"}).force_pull is False
    pull = ImagePull("edge", "reg:5000/app:v1", "pulling", 41, 100, 2, 1, 1.5, ("t1", "t2"), "")
    assert pull_from_json(json.loads(json.dumps(pull_to_json(pull)))) == pull

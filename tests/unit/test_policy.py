"""engine.policy: the shared agent policy model, the hardened container profile, refusals, config, placement."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine import Engine
from engine.agentd.config import load_agent_config
from engine.agentd.wire import spec_from_json, spec_to_json
from engine.agents.base import TaskSpec, VolumeMount
from engine.agents.sim import SimAgent
from engine.config import AgentConfig, PacerConfig, SchedulerConfig, load_config
from engine.errors import AppValidationError, ConfigError
from engine.model import parse_app
from engine.model.isolation_labels import Isolation, isolation_of
from engine.policy import (
    DEFAULT_CAPABILITIES,
    AgentPolicy,
    ClusterPolicy,
    PolicyRefusal,
    app_requirements,
    capabilities_of_mask,
    capability_mask,
    container_profile,
    image_allowed,
    image_refusals,
    merge_policies,
    refusals,
)
from engine.scheduler.state import Resources, TaskRecord, TaskState
from engine.specs import task_spec
from engine.trust import generate_key_pair, inline_key, sign_image
from tests.conftest import wait_until

ID_A = "sha256:" + "ab" * 32
ID_B = "sha256:" + "cd" * 32


def spec(**changes: Any) -> TaskSpec:
    base: dict[str, Any] = dict(
        task_id="t1", app_id="/a", version="v1", config_version="v1", cluster_id="c", name="pacer.a.1",
        image="busybox:latest", entrypoint=None, command=None, env={}, labels={}, cpus=0.1, mem_mib=32,
        network_mode="bridge",
    )
    base.update(changes)
    return TaskSpec(**base)


# -- the profile ------------------------------------------------------------------------


def test_default_profile_is_hardened() -> None:
    profile = container_profile(spec(), AgentPolicy())
    kwargs = profile.host_config_kwargs()
    assert kwargs["cap_drop"] == ["ALL"]
    assert sorted(kwargs["cap_add"]) == sorted(DEFAULT_CAPABILITIES)
    assert kwargs["security_opt"] == ["no-new-privileges:true"]
    assert kwargs["pids_limit"] == 256
    assert kwargs["privileged"] is False
    assert kwargs["read_only"] is None and kwargs["tmpfs"] is None
    # what /proc/self/status will show: bits of exactly these capabilities
    assert capabilities_of_mask(capability_mask(DEFAULT_CAPABILITIES)) == set(DEFAULT_CAPABILITIES)
    assert capability_mask(DEFAULT_CAPABILITIES) == 0x4FB


def test_profile_follows_the_app_within_the_policy() -> None:
    policy = AgentPolicy(allow_capabilities=("NET_RAW",), pids_limit=100)
    p = container_profile(spec(cap_add=("NET_RAW",), cap_drop=("CHOWN",), pids_limit=50, read_only=True,
                               tmpfs=("/run",)), policy)
    assert "NET_RAW" in p.cap_add and "CHOWN" not in p.cap_add
    assert p.pids_limit == 50
    assert p.read_only and dict(p.tmpfs) == {"/tmp": "rw,nosuid,nodev,size=64m", "/run": "rw,nosuid,nodev,size=64m"}
    assert container_profile(spec(cap_drop=("ALL",)), AgentPolicy()).cap_add == ()
    forced = container_profile(spec(), AgentPolicy(read_only_rootfs=True, pids_limit=0, no_new_privileges=False))
    assert forced.read_only and forced.pids_limit is None and forced.security_opt == ()
    privileged = container_profile(spec(privileged=True), AgentPolicy(allow_privileged=True)).host_config_kwargs()
    assert privileged["privileged"] is True and "cap_drop" not in privileged


# -- what an app asks for -----------------------------------------------------------------


def test_isolation_from_labels_and_parameters() -> None:
    iso = isolation_of(
        {"pacer.read-only": "true", "pacer.cap-add": "net_raw, CAP_SYS_TIME", "pacer.pids-limit": "64",
         "pacer.image-id": ID_A, "pacer.tmpfs": "/run,/var/cache"},
        [("cap-add", "NET_RAW"), ("cap-drop", "ALL"), ("log-driver", "none")],
    )
    assert iso == Isolation(True, ("NET_RAW", "SYS_TIME"), ("ALL",), 64, ("/run", "/var/cache"), ID_A, log_driver="none")
    assert isolation_of({}, [("read-only", "true"), ("pids-limit", "10")]) == Isolation(read_only=True, pids_limit=10)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"pacer.read-only": "maybe"}, "label pacer.read-only: must be true or false"),
        ({"pacer.pids-limit": "lots"}, "label pacer.pids-limit: must be a whole number"),
        ({"pacer.pids-limit": "0"}, "label pacer.pids-limit: must be at least 1"),
        ({"pacer.cap-add": "NET_HACKER"}, "label pacer.cap-add: 'NET_HACKER' is not a Linux capability"),
        ({"pacer.cap-add": "ALL"}, "label pacer.cap-add: ALL is not accepted"),
        ({"pacer.image-id": "latest"}, "label pacer.image-id: must be an image id"),
        ({"pacer.tmpfs": "run"}, "label pacer.tmpfs: 'run' is not an absolute path"),
    ],
)
def test_bad_isolation_labels_name_the_label(labels: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        isolation_of(labels)


def _app(**fields: Any) -> Any:
    body: dict[str, Any] = {"id": "/a", "cmd": "sleep 1", "cpus": 0.1, "mem": 16,
                            "networks": [{"mode": "container/bridge"}]}
    body.update(fields)
    return parse_app(body, default_image="busybox:latest")


def test_task_spec_carries_isolation() -> None:
    app = _app(user="1000:1000", labels={"pacer.read-only": "true", "pacer.cap-add": "NET_RAW"},
               container={"type": "DOCKER", "docker": {"image": "busybox:latest", "privileged": True}})
    task = TaskRecord("/a.instance-1._app.1", "/a", "local", "v", "v", TaskState.STAGING, Resources(0.1, 16, 0), ())
    s = task_spec(app, task, cluster_id="c", default_image=None, hostname="h")
    assert (s.read_only, s.cap_add, s.user, s.privileged) == (True, ("NET_RAW",), "1000:1000", True)
    assert spec_from_json(spec_to_json(s)) == s
    req = app_requirements(app, None)
    assert (req.privileged, req.cap_add, req.network_mode, req.image) == (True, ("NET_RAW",), "bridge", "busybox:latest")
    bad = _app().model_copy(update={"labels": {"pacer.pids-limit": "x"}})  # stored before the rule existed
    with pytest.raises(ValueError, match="app /a: label pacer.pids-limit"):
        task_spec(bad, task, cluster_id="c", default_image="busybox:latest", hostname="h")


def test_docker_parameters_travel_in_the_spec_and_the_agents_policy_judges_them() -> None:
    parameters = [{"key": k, "value": v} for k, v in (
        ("add-host", "db:10.0.0.1"), ("hostname", "h1"), ("workdir", "/srv"), ("ulimit", "nofile=10:20"),
        ("log-driver", "json-file"), ("log-opt", "max-size=1m"), ("shm-size", "1g"), ("memory-swap", "-1"),
        ("sysctl", "net.core.somaxconn=64"), ("security-opt", "seccomp=unconfined"), ("device", "/dev/fuse"),
        ("--user", "nobody"), ("e", "A=1"), ("label", "k=v"))]
    app = _app(container={"type": "DOCKER", "docker": {"image": "busybox:latest", "parameters": parameters}})
    task = TaskRecord("/a.instance-1._app.1", "/a", "local", "v", "v", TaskState.STAGING, Resources(0.1, 16, 0), ())
    s = task_spec(app, task, cluster_id="c", default_image=None, hostname="h")
    assert (s.add_hosts, s.hostname, s.workdir, s.ulimits) == (("db:10.0.0.1",), "h1", "/srv", (("nofile", 10, 20),))
    assert (s.log_driver, s.log_opts, s.shm_size, s.memory_swap) == ("json-file", {"max-size": "1m"}, 2**30, -1)
    assert (s.sysctls, s.security_opts, s.devices) == ({"net.core.somaxconn": "64"}, ("seccomp=unconfined",),
                                                       ("/dev/fuse",))
    assert (s.user, s.env["A"], s.labels["k"]) == ("nobody", "1", "v")
    assert spec_from_json(spec_to_json(s)) == s
    problems = refusals(spec_from_json(spec_to_json(s)), AgentPolicy())
    assert problems == [
        "sysctl net.core.somaxconn is not allowed on this agent (policy allow_sysctls: none)",
        "security-opt seccomp=unconfined is not allowed on this agent (policy allow_security_opts: none)",
        "device /dev/fuse is not allowed on this agent (policy allow_devices: none)",
    ]
    allowing = AgentPolicy(allow_sysctls=("net.*",), allow_security_opts=("seccomp=*",), allow_devices=("/dev/fuse",))
    assert refusals(s, allowing) == [] and refusals(app_requirements(app, None), allowing) == []
    assert len(refusals(app_requirements(app, None), AgentPolicy())) == 3


@pytest.mark.parametrize(("key", "value", "path", "message"), [
    ("net", "host", "/container/docker/parameters/0/key", "'net' is not a docker parameter pacer supports "
     "(supported: read-only, cap-add"),
    ("env", "NOVALUE", "/container/docker/parameters/0/value", "must be NAME=VALUE"),
    ("label", "pacer.app=/x", "/container/docker/parameters/0/value", "pacer.* container labels are pacer's own"),
    ("add-host", "db:not-an-ip", "/container/docker/parameters/0/value", "is not an IP address"),
    ("ulimit", "nofile=20:10", "/container/docker/parameters/0/value", "soft limit 20 is above the hard limit 10"),
    ("ulimit", "rtprio=99", "/container/docker/parameters/0/value", "rtprio is not accepted: it would let the task"),
    ("ulimit", "files=1", "/container/docker/parameters/0/value", "'files' is not a ulimit"),
    ("shm-size", "lots", "/container/docker/parameters/0/value", "must be a size such as 64m"),
    ("workdir", "srv", "/container/docker/parameters/0/value", "is not an absolute path"),
])
def test_unsupported_or_malformed_docker_parameters_are_a_422(key: str, value: str, path: str, message: str) -> None:
    from engine.errors import AppValidationError

    body = {"id": "/a", "cmd": "x", "container": {"type": "DOCKER", "docker": {
        "image": "busybox:latest", "parameters": [{"key": key, "value": value}]}}}
    with pytest.raises(AppValidationError) as info:
        parse_app(body, default_image="busybox:latest")
    assert message in str(info.value) and path in str(info.value), str(info.value)


def test_old_engines_specs_still_decode() -> None:
    data = spec_to_json(spec())
    for key in ("read_only", "cap_add", "cap_drop", "pids_limit", "tmpfs", "image_id", "signatures"):
        data.pop(key)
    assert spec_from_json(data) == spec()


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "policy", "expected"),
    [
        ({"cap_add": ("NET_ADMIN",)}, AgentPolicy(),
         ["capabilities NET_ADMIN are not allowed on this agent (an app may add: none)"]),
        ({"cap_add": ("NET_ADMIN",)}, AgentPolicy(allow_capabilities=("NET_ADMIN",)), []),
        ({"cap_add": ("KILL",)}, AgentPolicy(), []),  # already in the default set
        ({"pids_limit": 1000}, AgentPolicy(), ["a pids limit of 1000 is above this agent's limit (256)"]),
        ({"pids_limit": 1000}, AgentPolicy(pids_limit=0), []),
        ({"user": "root"}, AgentPolicy(allow_root_user=False),
         ["user 'root' is root: containers must run as a non-root user on this agent"]),
        ({"user": "0:0"}, AgentPolicy(allow_root_user=False),
         ["user '0:0' is root: containers must run as a non-root user on this agent"]),
        ({"user": "1000"}, AgentPolicy(allow_root_user=False), []),
        ({"volumes": (VolumeMount("/srv/data/../../etc", "/x"),)},
         AgentPolicy(allow_host_volumes=True, host_paths=("/srv/data/*",)),
         ["host path /srv/data/../../etc is not among this agent's allowed host paths (/srv/data/*)"]),
        ({"volumes": (VolumeMount("/srv/data/app", "/x"),)},
         AgentPolicy(allow_host_volumes=True, host_paths=("/srv/data/*",)), []),
        ({}, AgentPolicy(require_pinned_image=True),
         ["image 'busybox:latest' is not pinned: this agent runs only images pinned by content "
          "(label pacer.image-id or NAME@sha256:DIGEST)"]),
        ({"image_id": ID_A}, AgentPolicy(require_pinned_image=True), []),
        ({"network_mode": "host"}, ClusterPolicy(), []),  # the engine's default: Marathon's default network
    ],
)
def test_refusals(changes: dict[str, Any], policy: AgentPolicy, expected: list[str]) -> None:
    assert refusals(spec(**changes), policy) == expected


def test_allowlist_names_repositories_too() -> None:
    assert image_allowed("busybox:1.36", ("busybox",))
    assert image_allowed("docker.io/library/busybox:latest", ("busybox:*",))
    assert not image_allowed("evil/busybox:1", ("busybox",))


def test_image_refusals_pin_root_and_signatures(tmp_path: Path) -> None:
    _, _, public = generate_key_pair(tmp_path / "k")
    from engine.trust import load_private_key

    key = load_private_key(tmp_path / "k")
    policy = AgentPolicy(require_signature=True, trusted_keys=(inline_key(public),), allow_root_user=False)
    signed = sign_image(key, "busybox:latest", ID_A).to_wire()
    ok = spec(signatures=(signed,), user="1000")
    assert image_refusals(ok, policy, image_id=ID_A) == []
    assert image_refusals(spec(signatures=(signed,)), policy, image_id=ID_A, image_user="nobody") == []
    assert image_refusals(spec(signatures=(signed,)), policy, image_id=ID_A) == [
        "image busybox:latest runs as root (set the app's user): containers must run as a non-root user on this agent"]
    assert image_refusals(ok, policy, image_id=ID_B) == [
        f"image busybox:latest changed: now sha256:{'cd' * 6}, signed sha256:{'ab' * 6}"]
    pinned = spec(image_id=ID_A[:19], user="1000", signatures=(signed,))
    assert image_refusals(pinned, policy.model_copy(update={"require_signature": False}), image_id=ID_B) == [
        f"image busybox:latest changed: now sha256:{'cd' * 6}, pinned sha256:{'ab' * 6}"]


def test_refusal_message_names_the_agent() -> None:
    exc = PolicyRefusal("edge", ["privileged mode is not allowed on this agent", "host networking is not allowed"])
    assert exc.message == ("agent edge: policy: privileged mode is not allowed on this agent; "
                           "host networking is not allowed")
    assert exc.problems[0].startswith("privileged")


# -- config ------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "pacer.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_cluster_policy_with_agent_overrides(tmp_path: Path) -> None:
    _, public, _ = generate_key_pair(tmp_path / "keys" / "release.key")
    path = _write(tmp_path, """
        [policy]
        pids_limit = 128
        image_allowlist = ["busybox:*"]
        require_signature = true
        trusted_keys = ["keys/release.key.pub"]

        [[agents]]
        name = "a"
        url = "unix:///var/run/docker.sock"

        [[agents]]
        name = "b"
        url = "unix:///var/run/docker.sock"
        policy = { allow_privileged = true, pids_limit = 512 }

        [[agents]]
        name = "edge"
        url = "pacer+http://127.0.0.1:7443"
        token = "0123456789abcdef"
    """)
    config = load_config(path)
    a, b, edge = (config.policy_for(x) for x in config.agents)
    assert a is not None and b is not None and edge is not None
    assert (a.pids_limit, a.allow_privileged, a.trusted_keys) == (128, False, (str(public),))
    assert (b.pids_limit, b.allow_privileged, b.require_signature, b.image_allowlist) == (512, True, True, ("busybox:*",))
    assert edge.pids_limit == 128  # an explicit [policy] applies to pacer agents too (as well as their own)


def test_without_policy_tables_docker_agents_get_the_defaults_and_pacer_agents_their_own() -> None:
    config = PacerConfig(agents=[AgentConfig(name="d", url="unix:///x.sock"),
                                 AgentConfig(name="p", url="pacer+http://127.0.0.1:1", token="t")])
    docker, pacer = (config.policy_for(a) for a in config.agents)
    assert docker == ClusterPolicy() and docker.allow_host_network and not docker.allow_privileged
    assert pacer is None
    assert merge_policies(ClusterPolicy(), AgentPolicy(allow_host_network=False)).allow_host_network is False


@pytest.mark.parametrize(
    ("body", "line", "field", "message"),
    [
        ('[policy]\nrequire_signature = true\n', 2, "policy.require_signature", "needs trusted_keys"),
        ('[policy]\ntrusted_keys = ["nope.pub"]\n', 2, "policy.trusted_keys", "cannot read trusted key"),
        ('[policy]\npids_limit = -1\n', 2, "policy.pids_limit", "greater than or equal to 0"),
        ('[policy]\ncapabilities = ["CHOWN", "WIZARDRY"]\n', 2, "policy.capabilities", "not a Linux capability"),
        ('[[agents]]\nname = "a"\nurl = "unix:///x"\npolicy = { allow_privilegd = true }\n', 4,
         "agents[0].policy.allow_privilegd", "Extra inputs"),
        ('[[agents]]\nname = "a"\nurl = "unix:///x"\npolicy = { require_signature = true }\n', 4,
         "agents[0].policy.require_signature", "needs trusted_keys"),
    ],
)
def test_bad_policy_config_names_file_line_field(tmp_path: Path, body: str, line: int, field: str,
                                                 message: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert (info.value.line, info.value.field) == (line, field)


def test_agent_policy_keeps_its_keys_and_learns_the_new_ones(tmp_path: Path) -> None:
    generate_key_pair(tmp_path / "rel.key")
    path = _write(tmp_path, """
        [agent]
        token = "0123456789abcdef0123"

        [agent.policy]
        allow_privileged = true
        allow_host_volumes = true
        image_allowlist = ["busybox:*"]
        pids_limit = 64
        allow_capabilities = ["net_raw"]
        require_signature = true
        trusted_keys = ["rel.key.pub"]
    """, "agent.toml")
    config = load_agent_config(path)
    assert config is not None
    p = config.policy
    assert (p.allow_privileged, p.allow_host_volumes, p.allow_host_network) == (True, True, False)
    assert (p.pids_limit, p.allow_capabilities, p.trusted_keys) == (64, ("NET_RAW",), (str(tmp_path / "rel.key.pub"),))
    bad = _write(tmp_path, '[agent]\ntoken = "0123456789abcdef0123"\n\n[agent.policy]\nrequire_signature = true\n',
                 "bad.toml")
    with pytest.raises(ConfigError, match="needs trusted_keys") as info:
        load_agent_config(bad)
    assert (info.value.line, info.value.field) == (5, "agent.policy.require_signature")


# -- placement -------------------------------------------------------------------------------


async def test_placement_rejects_agents_whose_policy_forbids_the_app(tmp_path: Path) -> None:
    config = PacerConfig(
        scheduler=SchedulerConfig(state=str(tmp_path / "s.db"), cluster_id="pol", reconcile_interval=0.1,
                                  default_image="busybox:latest"),
        agents=[AgentConfig(name="plain", url="sim://", cpus=4, mem=4096),
                AgentConfig(name="lab", url="sim://", cpus=4, mem=4096, policy=ClusterPolicy(allow_privileged=True))],
    )
    drivers = {"plain": SimAgent("plain", cpus=4, mem_mib=4096), "lab": SimAgent("lab", cpus=4, mem_mib=4096)}
    async with Engine(config, drivers=drivers) as engine:
        root = {"id": "/root", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "instances": 2,
                "container": {"type": "DOCKER", "docker": {"image": "busybox:latest", "privileged": True}}}
        await engine.create_app(root)
        await wait_until(lambda: engine.running_count("/root") == 2, 10, message="privileged tasks on lab")
        assert {t.agent for t in engine.tasks_of("/root")} == {"lab"}
        host = {"id": "/host", "cmd": "sleep 100", "cpus": 0.1, "mem": 16,
                "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"},
                              "volumes": [{"hostPath": "/etc", "containerPath": "/x", "mode": "RO"}]}}
        await engine.create_app(host)
        await wait_until(lambda: "/host" in engine.waiting, 10, message="the host-path app waiting")
        waiting = engine.waiting["/host"]
        assert "policy: 2 agent(s)" in waiting.reason
        assert {name: r.reason for name, r in waiting.rejections.items()} == {
            a: "policy: host path volumes are not allowed on this agent (/etc)" for a in ("plain", "lab")}
        assert engine.running_count("/host") == 0
        bad = {"id": "/bad", "cmd": "sleep 1", "cpus": 0.1, "mem": 16, "labels": {"pacer.cap-add": "WIZARDRY"}}
        with pytest.raises(AppValidationError) as info:
            await engine.create_app(bad)
        assert [(e.path, e.message) for e in info.value.errors] == [
            ("/labels/pacer.cap-add", "'WIZARDRY' is not a Linux capability")]


def test_isolation_labels_are_checked_when_an_app_is_submitted() -> None:
    with pytest.raises(AppValidationError) as info:
        _app(labels={"pacer.read-only": "sometimes", "pacer.pids-limit": "0"},
             container={"type": "DOCKER", "docker": {"image": "busybox", "parameters": [
                 {"key": "log-driver", "value": "none"}, {"key": "cap-add", "value": "ALL"}]}})
    assert sorted((e.path, e.message) for e in info.value.errors) == [
        ("/container/docker/parameters/1/value", "ALL is not accepted here: name the capabilities"),
        ("/labels/pacer.pids-limit", "must be at least 1, got 0"),
        ("/labels/pacer.read-only", "must be true or false, got 'sometimes'"),
    ]


def test_relative_host_paths_stay_in_the_sandbox_of_a_local_daemon(tmp_path: Path) -> None:
    from engine.agents.docker_agent import DockerAgent

    rel = spec(volumes=(VolumeMount("data", "/data"),))
    remote = DockerAgent("far", "tcp://127.0.0.1:2375")
    local = DockerAgent("near", "unix:///var/run/docker.sock", sandbox_root=str(tmp_path))
    assert remote.sandbox_dir("c", "t1") is None
    assert local.sandbox_dir("c", "/a.instance-1._app.1") == str(tmp_path / "c" / "_a.instance-1._app.1")
    (why,) = remote._sandbox_refusals(rel)
    assert "need a sandbox directory, which only a docker daemon on the scheduler's host" in why
    assert local._sandbox_refusals(rel) == []
    # a spec from the wire is not trusted to stay inside
    (escape,) = local._sandbox_refusals(spec(volumes=(VolumeMount("a/../../etc", "/x"),)))
    assert escape == "relative hostPath a/../../etc leaves the task's sandbox"
    assert refusals(rel, AgentPolicy()) == []  # not a host path volume
    assert refusals(spec(volumes=(VolumeMount("/etc", "/x"),)), AgentPolicy()) == [
        "host path volumes are not allowed on this agent (/etc)"]

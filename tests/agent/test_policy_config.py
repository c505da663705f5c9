"""The agent's local policy and its `[agent]` config: pure checks, file/line/field errors, exit code 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.agentd.config import AgentPolicy, AgentServerConfig, load_agent_config
from engine.agentd.policy import image_allowed, refusals
from engine.agentd.server import check_listen
from engine.agentd.tls import generate_self_signed, normalize_fingerprint, prepare_credentials
from engine.agentd.wire import WireError, spec_from_json, spec_to_json
from engine.agents.base import PortBinding, VolumeMount
from engine.errors import ConfigError
from tests.agent.support import spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("changes", "policy", "expected"),
    [
        ({}, AgentPolicy(), []),
        ({"privileged": True}, AgentPolicy(), ["privileged mode is not allowed on this agent"]),
        ({"privileged": True}, AgentPolicy(allow_privileged=True), []),
        ({"volumes": (VolumeMount("/etc", "/host-etc", "RO"),)}, AgentPolicy(),
         ["host path volumes are not allowed on this agent (/etc)"]),
        ({"volumes": (VolumeMount("/data", "/data"),)}, AgentPolicy(allow_host_volumes=True), []),
        ({"network_mode": "host"}, AgentPolicy(), ["host networking is not allowed on this agent"]),
        ({"image": "evil/miner:1"}, AgentPolicy(image_allowlist=("busybox:*", "python:3")),
         ["image 'evil/miner:1' is not in this agent's image allowlist (busybox:*, python:3)"]),
        ({"image": "python:3"}, AgentPolicy(image_allowlist=("busybox:*", "python:3")), []),
        ({"privileged": True, "network_mode": "host"}, AgentPolicy(),
         ["privileged mode is not allowed on this agent", "host networking is not allowed on this agent"]),
    ],
)
def test_refusals(changes: dict, policy: AgentPolicy, expected: list[str]) -> None:
    assert refusals(spec(**changes), policy) == expected


@pytest.mark.parametrize(
    ("image", "allow", "ok"),
    [
        ("busybox", ("busybox:*",), True),  # busybox is busybox:latest
        ("busybox:latest", ("busybox:*",), True),
        ("registry.example/busybox:latest", ("busybox:*",), False),
        ("python:3.12", ("python:3",), False),
        ("anything", (), True),
    ],
)
def test_image_allowlist(image: str, allow: tuple[str, ...], ok: bool) -> None:
    assert image_allowed(image, allow) is ok


def test_spec_round_trips_through_json() -> None:
    s = spec(privileged=True, volumes=(VolumeMount("/a", "/b", "RO"),), ports=(PortBinding(80, 31000),), user="1:1")
    assert spec_from_json(spec_to_json(s)) == s


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("image"), "image: is required"),
        (lambda d: d.update(cpus="x"), "cpus: must be float"),
        (lambda d: d.update(network_mode="container:x"), "network_mode: must be bridge, host or none"),
        (lambda d: d.update(volumes=[{"host_path": "/", "container_path": "/x", "mode": "rw"}]), "volumes[0].mode"),
        (lambda d: d.update(env={"A": 1}), "env: must map strings to strings"),
    ],
)
def test_bad_spec_names_the_field(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = spec_to_json(spec())
    mutate(data)
    with pytest.raises(WireError, match=message.replace("[", r"\[").replace("]", r"\]")):
        spec_from_json(data)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_good_agent_config_resolves_paths(tmp_path: Path) -> None:
    path = write(tmp_path, """
        [agent]
        listen = "127.0.0.1:7443"
        token_file = "secrets/token"
        state_dir = "st"
        attributes = { rack = "r1" }

        [agent.policy]
        allow_privileged = false
        image_allowlist = ["busybox:*"]
    """)
    config = load_agent_config(path)
    assert config is not None
    assert config.token_file == str(tmp_path / "secrets" / "token")
    assert config.state_dir == str(tmp_path / "st")
    assert config.policy.image_allowlist == ("busybox:*",)
    assert config.attributes == {"rack": "r1"}


@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        ('[agent]\nlisten = "nope"\n', 2, "agent.listen"),
        ('[agent]\nlisten = "127.0.0.1:1"\ncpus = -1\n', 3, "agent.cpus"),
        ('[agent]\nlistn = "127.0.0.1:1"\n', 2, "agent.listn"),
        ('[agent]\nname = "a"\n\n[agent.policy]\nallow_privileged = "yes please"\n', 5, "agent.policy.allow_privileged"),
        ('[agent]\ndocker_url = "http://x"\n', 2, "agent.docker_url"),
        ('[agent]\ntoken = "short"\n', 2, "agent.token"),
    ],
)
def test_bad_agent_config_names_file_line_field(tmp_path: Path, body: str, line: int, field: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    assert (info.value.file, info.value.line, info.value.field) == (str(path), line, field)


def test_plain_http_only_on_loopback() -> None:
    check_listen(AgentServerConfig(listen="127.0.0.1:7443"))
    check_listen(AgentServerConfig(listen="[::1]:7443"))
    check_listen(AgentServerConfig(listen="0.0.0.0:7443", generate_tls=True))
    with pytest.raises(ConfigError, match="non-loopback address '0.0.0.0' without TLS"):
        check_listen(AgentServerConfig(listen="0.0.0.0:7443"))
    with pytest.raises(ConfigError, match="without TLS"):
        check_listen(AgentServerConfig(listen="10.1.2.3:7443"))


def test_agent_without_tls_on_non_loopback_exits_2_before_binding(tmp_path: Path) -> None:
    path = write(tmp_path, f"""
        [agent]
        listen = "0.0.0.0:7443"
        token = "0123456789abcdef0123"
        state_dir = "{tmp_path / 'state'}"
    """)
    proc = subprocess.run([sys.executable, "-m", "cli.main", "--serve", "--agent-config", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "without TLS" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "state").exists()  # refused before generating or binding anything


def test_generated_credentials_are_created_once(tmp_path: Path) -> None:
    config = AgentServerConfig(listen="127.0.0.1:7443", generate_tls=True, state_dir=str(tmp_path / "st"))
    first = prepare_credentials(config)
    assert set(first.generated) == {str(tmp_path / "st" / n) for n in ("agent.crt", "agent.key", "token")}
    assert (tmp_path / "st" / "agent.key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "st" / "token").stat().st_mode & 0o077 == 0
    assert first.fingerprint and first.fingerprint.startswith("sha256:") and len(first.token) >= 32
    again = prepare_credentials(config)
    assert again.generated == () and again.fingerprint == first.fingerprint and again.token == first.token


def test_missing_token_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a token"):
        prepare_credentials(AgentServerConfig(state_dir=str(tmp_path)))


def test_fingerprint_forms() -> None:
    hexa = "ab" * 32
    assert normalize_fingerprint(f"sha256:{hexa.upper()}") == hexa
    assert normalize_fingerprint(":".join(["AB"] * 32)) == hexa
    with pytest.raises(ValueError):
        normalize_fingerprint("sha256:1234")


def test_self_signed_names_hosts(tmp_path: Path) -> None:
    from cryptography import x509

    generate_self_signed(tmp_path / "c.pem", tmp_path / "k.pem", ["10.0.0.5", "edge-1", "127.0.0.1"])
    cert = x509.load_pem_x509_certificate((tmp_path / "c.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"10.0.0.5", "127.0.0.1"}
    assert san.get_values_for_type(x509.DNSName) == ["edge-1"]


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ('url = "pacer+http://10.0.0.5:7443"\ntoken = "0123456789abcdef"', "plain HTTP to agent host '10.0.0.5' is refused"),
        ('url = "pacer+https://10.0.0.5:7443"', "a pacer agent needs token or token_file"),
        ('url = "pacer+https://10.0.0.5:7443"\ntoken = "x"\ntls_fingerprint = "sha256:12"', "String should match"),
    ],
)
def test_engine_side_pacer_agent_config_errors(tmp_path: Path, agent: str, message: str) -> None:
    from engine.config import load_config

    path = tmp_path / "pacer.toml"
    path.write_text(f'[scheduler]\nstate = "s.db"\n\n[[agents]]\nname = "edge"\n{agent}\n')
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert info.value.line is not None and info.value.field.startswith("agents[0]")


def test_engine_side_pacer_agent_config_loads(tmp_path: Path) -> None:
    from engine.config import load_config

    path = tmp_path / "pacer.toml"
    path.write_text('[[agents]]\nname = "edge"\nurl = "pacer+http://127.0.0.1:7443"\ntoken_file = "tok"\n'
                    f'[[agents]]\nname = "far"\nurl = "pacer+https://[2001:db8::1]:7443"\ntoken = "t"\n'
                    f'tls_fingerprint = "sha256:{"ab" * 32}"\n')
    config = load_config(path)
    assert [a.kind for a in config.agents] == ["pacer", "pacer"]
    assert config.agents[0].token_file == str(tmp_path / "tok")


# -- tokens, plain tcp to docker, clusters (issue #19) -----------------------------------------------------


@pytest.mark.parametrize("token", ["x", "0123456789abcde", " " * 24])
def test_short_agent_token_names_its_line(tmp_path: Path, token: str) -> None:
    path = write(tmp_path, f'[agent]\nname = "edge-1"\ntoken = "{token}"\n')
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), 3, "agent.token")
    assert err.problem.startswith("must have at least 16 characters, got ")


def test_short_token_file_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("abc123\n")
    path = write(tmp_path, '[agent]\nname = "edge-1"\n\ntoken_file = "token"\n')
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), 4, "agent.token_file")
    assert err.problem.startswith(f"{tmp_path / 'token'}: the token must have at least 16 characters, got 6")


def test_cli_short_agent_token_exits_2_before_binding(tmp_path: Path) -> None:
    path = write(tmp_path, f'[agent]\nlisten = "127.0.0.1:0"\nstate_dir = "{tmp_path / "state"}"\ntoken = "tiny"\n')
    proc = subprocess.run([sys.executable, "-m", "cli.main", "--serve", "--agent-config", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:4: agent.token: must have at least 16 characters, got 4" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "state").exists()


@pytest.mark.parametrize(("url", "refused"), [
    ("tcp://10.0.0.7:2375", True), ("tcp://docker.example:2375", True), ("tcp://127.0.0.1:2375", False),
    ("tcp://[::1]:2375", False), ("unix:///var/run/docker.sock", False), ("ssh://admin@10.0.0.7", False),
])
def test_agent_docker_url_plain_tcp_only_on_loopback(tmp_path: Path, url: str, refused: bool) -> None:
    path = write(tmp_path, f'[agent]\nname = "edge-1"\ndocker_url = "{url}"\n')
    if not refused:
        config = load_agent_config(path)
        assert config is not None and not config.insecure_docker
        return
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    assert (info.value.line, info.value.field) == (3, "agent.docker_url")
    assert "plain tcp:// to the Docker daemon at" in info.value.problem
    config = load_agent_config(write(tmp_path, f'[agent]\nname = "edge-1"\ndocker_url = "{url}"\ninsecure_tcp = true\n'))
    assert config is not None and config.insecure_docker


@pytest.mark.parametrize(("clusters", "loaded"), [
    ('["prod", "staging"]', ("prod", "staging")), ('["prod", "prod"]', ("prod",)), ("[]", ()),
])
def test_agent_clusters(tmp_path: Path, clusters: str, loaded: tuple[str, ...]) -> None:
    config = load_agent_config(write(tmp_path, f'[agent]\nname = "edge-1"\nclusters = {clusters}\n'))
    assert config is not None and config.clusters == loaded


@pytest.mark.parametrize(("clusters", "field", "problem"), [
    ('[""]', "agent.clusters", "'' is not a cluster id (letters, digits, '_', '.', '-')"),
    ('["a b"]', "agent.clusters", "'a b' is not a cluster id (letters, digits, '_', '.', '-')"),
    ('"prod"', "agent.clusters", "Input should be a valid tuple"),
])
def test_bad_agent_clusters(tmp_path: Path, clusters: str, field: str, problem: str) -> None:
    path = write(tmp_path, f'[agent]\nname = "edge-1"\nclusters = {clusters}\n')
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    assert (info.value.line, info.value.field, info.value.problem) == (3, field, problem)


@pytest.mark.parametrize("pids", [-1, 0])
def test_a_pids_limit_that_is_no_limit_is_refused_by_the_policy(pids: int) -> None:
    """Behind the wire's 400: a TaskSpec built in-process (the engine's own docker driver) is refused too."""
    for policy in (AgentPolicy(), AgentPolicy(pids_limit=0)):
        assert refusals(spec(pids_limit=pids), policy) == [
            f"a pids limit of {pids} would be no limit at all: it must be at least 1"]
    assert refusals(spec(pids_limit=1), AgentPolicy()) == []


async def test_agent_start_warns_of_plain_tcp_to_docker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.agentd.server import start_agent
    from tests.agent.support import TOKEN, FakeBackend

    config = AgentServerConfig(listen="127.0.0.1:0", token=TOKEN, state_dir=str(tmp_path / "st"), name="edge-1",
                               docker_url="tcp://10.0.0.7:2375", insecure_tcp=True)
    agent = await start_agent(config, backend=FakeBackend())
    await agent.stop()
    assert ("pacer agent: warning: docker at tcp://10.0.0.7:2375 is reached over plain tcp:// without TLS "
            "(insecure_tcp = true)") in capsys.readouterr().err

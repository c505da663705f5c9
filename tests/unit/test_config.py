"""Config files: good ones load, bad ones name file, line and field; the CLI exits 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ConfigError

GOOD = """
[scheduler]
state = "st/state.db"
apps_dir = "apps"
default_image = "busybox:latest"

[[agents]]
name = "local"
url = "unix:///var/run/docker.sock"

[[agents]]
name = "sim-1"
url = "sim://"
cpus = 4
mem = 2048
attributes = { rack = "r1" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pacer.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_config_resolves_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.scheduler.state == str(tmp_path / "st" / "state.db")
    assert config.scheduler.apps_dir == str(tmp_path / "apps")
    assert [a.name for a in config.agents] == ["local", "sim-1"]
    assert config.agents[1].kind == "sim" and config.agents[1].attributes == {"rack": "r1"}


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (GOOD.replace('url = "sim://"', 'url = "ftp://x"'), 13, "agents[1].url"),
        (GOOD.replace("cpus = 4", "cpus = -4"), 14, "agents[1].cpus"),
        (GOOD.replace('default_image = "busybox:latest"', 'default_imag = "x"'), 5, "scheduler.default_imag"),
        (GOOD.replace("[[agents]]\nname = \"local\"", "[[agents]]\nnme = \"local\""), 7, "agents[0].name"),
        ('[scheduler]\nstate = "x"\nbroken = \n', 3, "syntax"),
    ],
)
def test_bad_config_names_file_line_field(tmp_path: Path, text: str, line: int, field: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), line, field), err.message


def test_cli_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("cpus = 4", 'cpus = "four"'))
    proc = subprocess.run([sys.executable, "-m", "cli.main", "--serve", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2
    assert f"{path}:14: agents[1].cpus" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert info.value.field == "file"


# -- tokens and plain tcp agents (issue #19) ------------------------------------------------------------


@pytest.mark.parametrize("token", ["x", "0123456789abcde", " " * 20, "  short-token   "])
def test_short_api_token_is_refused_with_its_line(tmp_path: Path, token: str) -> None:
    path = write(tmp_path, f'[scheduler]\napi = "127.0.0.1:8080"\napi_token = "{token}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), 3, "scheduler.api_token")
    assert err.problem.startswith("must have at least 16 characters, got ")
    enough = load_config(write(tmp_path, '[scheduler]\napi_token = "0123456789abcdef"\n'))  # 16 will do
    assert enough.scheduler.api_token == "0123456789abcdef"


def test_cli_short_api_token_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, '[scheduler]\napi = "10.0.0.1:8443"\napi_token = "x"\n'
                           'api_tls_cert = "c.pem"\napi_tls_key = "k.pem"\n')
    proc = subprocess.run([sys.executable, "-m", "cli.main", "--serve", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:3: scheduler.api_token: must have at least 16 characters, got 1" in proc.stderr
    assert "Traceback" not in proc.stderr


AGENT = '[[agents]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\n\n[[agents]]\nname = "gpu-1"\n'


@pytest.mark.parametrize("url", ["tcp://10.0.0.7:2375", "tcp://gpu-1.example:2375", "tcp://0.0.0.0:2375",
                                 "tcp://[2001:db8::7]:2375", "http://10.0.0.7:2375"])
def test_plain_tcp_agent_off_loopback_is_refused(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, AGENT + f'url = "{url}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), 7, "agents[1].url"), err.message
    assert "plain tcp:// to the Docker daemon at" in err.problem and "insecure_tcp = true" in err.problem


@pytest.mark.parametrize("url", ["tcp://127.0.0.1:2375", "tcp://127.0.0.2:2375", "tcp://[::1]:2375",
                                 "tcp://localhost:2375"])
def test_plain_tcp_agent_on_loopback_is_fine(tmp_path: Path, url: str, caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(write(tmp_path, AGENT + f'url = "{url}"\n'))
    assert config.agents[1].url == url and not config.agents[1].insecure
    assert "insecure_tcp" not in caplog.text


@pytest.mark.parametrize("tls", ['tls_ca = "ca.pem"', 'tls_cert = "cert.pem"\ntls_key = "key.pem"'])
def test_tcp_agent_with_tls_is_fine(tmp_path: Path, tls: str, caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(write(tmp_path, AGENT + f'url = "tcp://10.0.0.7:2376"\n{tls}\n'))
    assert not config.agents[1].insecure and "insecure_tcp" not in caplog.text


def test_insecure_tcp_accepts_a_plain_tcp_agent_with_a_warning(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, AGENT + 'url = "tcp://10.0.0.7:2375"\ninsecure_tcp = true\n')
    config = load_config(path)
    assert config.agents[1].insecure_tcp and config.agents[1].insecure
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"{path}: agent gpu-1: plain tcp:// to tcp://10.0.0.7:2375 without TLS (insecure_tcp = true): "
                        "anyone on the path can drive that Docker daemon"]


def test_cli_plain_tcp_agent_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, AGENT + 'url = "tcp://10.0.0.7:2375"\n')
    proc = subprocess.run([sys.executable, "-m", "cli.main", "--serve", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:7: agents[1].url: plain tcp:// to the Docker daemon at '10.0.0.7' is refused" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_local_docker_agents_keep_sandboxes_beside_the_state_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[scheduler]\nstate = "st/state.db"\n\n' + AGENT + 'url = "tcp://127.0.0.1:2375"\n'
                               '\n[[agents]]\nname = "own"\nurl = "unix:///run/docker.sock"\nsandbox_root = "boxes"\n'))
    local, remote, own = config.agents
    assert local.sandbox_root == str(tmp_path / "st" / "sandboxes" / "local")
    assert remote.sandbox_root is None  # a daemon elsewhere: anonymous docker volumes
    assert own.sandbox_root == str(tmp_path / "boxes")


def test_sandbox_root_on_a_remote_docker_agent_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, AGENT + 'url = "tcp://127.0.0.1:2375"\nsandbox_root = "/srv/boxes"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == "agents[1].sandbox_root"
    assert "anonymous docker volume" in info.value.problem

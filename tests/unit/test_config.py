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

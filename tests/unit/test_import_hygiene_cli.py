"""cli/ (the `pacer` command) imports neither Textual nor Rich: only opening the console imports tui.

Each check runs in a fresh interpreter (cwd is this tree), so modules the test session already holds
do not count.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREEN = ("textual", "rich", "tui")
REQUIRED = ["cli", "cli.main", "cli.client", "cli.serve", "cli.image_cmd", "cli.errors"]
# these and every other module of cli/ (a new one is checked too), but not __main__, which runs the command
MODULES = sorted(set(REQUIRED) | {f"cli.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "cli")])
                                  if m.name != "__main__"})

# Prints which of SCREEN's packages the interpreter has imported, as a JSON list.
REPORT = f"import json, sys; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(SCREEN)!r})))"


def screen_modules_after(code: str) -> list[str]:
    """Run `code` in a fresh interpreter in this tree; the SCREEN packages imported by then."""
    proc = subprocess.run([sys.executable, "-c", f"{code}\n{REPORT}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", MODULES)
def test_importing_cli_module_imports_no_screen(module: str) -> None:
    assert screen_modules_after(f"import {module}") == []


@pytest.mark.parametrize("entry", ["cli.main", "cli"])
def test_pacer_help_imports_no_screen(entry: str) -> None:
    """`python -m cli.main --help` (and `python -m cli --help`) as run, then which packages it imported."""
    code = ("import runpy, sys\n"
            "sys.argv = ['pacer', '--help']\n"
            "try:\n"
            f"    runpy.run_module({entry!r}, run_name='__main__', alter_sys=True)\n"
            "except SystemExit as exc:\n"
            "    assert exc.code == 0, exc.code\n")
    assert screen_modules_after(code) == []


@pytest.mark.parametrize("argv", [
    ["apps", "--help"],
    ["image", "verify", "--help"],
    ["--serve", "--config", "/nonexistent/pacer.toml"],  # the --serve path up to the config (exit 2)
])
def test_pacer_commands_import_no_screen(argv: list[str]) -> None:
    code = ("import contextlib, io, sys\n"
            "from cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    try:\n"
            f"        main({argv!r})\n"
            "    except SystemExit:\n"
            "        pass\n")
    assert screen_modules_after(code) == []


def test_the_check_sees_the_console() -> None:
    """The probe itself works: opening the console's module imports Textual and Rich."""
    assert screen_modules_after("import tui.app") == sorted(SCREEN)

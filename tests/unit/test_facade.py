"""The API, the console and the command line use the engine's facade only: `Engine` members named in engine.ENGINE_FACADE.

Every attribute read on an expression that holds the engine (a name `engine` or `_engine`, an attribute
`.engine`/`._engine`, or a call `self._engine()`) in engine/api/, tui/ and cli/ must be a facade member.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import engine
from engine import ENGINE_FACADE, Engine

ROOT = Path(__file__).resolve().parents[2]
READERS = sorted([*(ROOT / "engine" / "api").rglob("*.py"), *(ROOT / "tui").rglob("*.py"), *(ROOT / "cli").rglob("*.py")])
ENGINE_NAMES = {"engine", "_engine", "docker_engine"}


def _holds_engine(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ENGINE_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in ENGINE_NAMES
    if isinstance(node, ast.Call):
        return _holds_engine(node.func)
    return False


def engine_members_used(source: str) -> set[tuple[int, str]]:
    used = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _holds_engine(node.value):
            used.add((node.lineno, node.attr))
    return used


@pytest.mark.parametrize("path", READERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_readers_use_only_the_facade(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    outside = sorted((line, name) for line, name in engine_members_used(source) if name not in ENGINE_FACADE
                     and not (path.name == "__init__.py" and name in engine.__all__))
    # `engine.<module>` in an import statement names a package module, not an Engine member.
    modules = {n.module.split(".")[1] for n in ast.walk(ast.parse(source))
               if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("engine.")}
    outside = [(line, name) for line, name in outside if name not in modules]
    assert not outside, f"{path.relative_to(ROOT)} reads engine members outside the facade: {outside}"


def test_every_facade_member_exists_and_is_public() -> None:
    members = {name for name, _ in inspect.getmembers(Engine)} | set(Engine.__init__.__code__.co_names)
    missing = sorted(n for n in ENGINE_FACADE if n not in members)
    assert not missing, f"ENGINE_FACADE names what Engine lacks: {missing}"
    assert not [n for n in ENGINE_FACADE if n.startswith("_")]


def test_the_check_catches_a_private_read() -> None:
    used = engine_members_used("x = self.engine._registry.apps\ny = engine.apps\nz = self._engine().bus")
    assert {name for _, name in used} == {"_registry", "apps", "bus"}

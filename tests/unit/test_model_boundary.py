"""engine.model stands alone: it imports nothing of the engine but itself and engine.errors."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

MODEL = Path(__file__).resolve().parents[2] / "engine" / "model"


def _engine_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, "." * node.level + (node.module or "")))
            elif node.module == "engine":
                found += [(node.lineno, f"engine.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module or ""))
    return [(line, name) for line, name in found if name.startswith(".") or name.split(".")[0] == "engine"]


def test_model_imports_only_itself_and_errors() -> None:
    outside = [
        f"{path.name}:{line}: {name}"
        for path in sorted(MODEL.rglob("*.py"))
        for line, name in _engine_imports(path)
        if not (name == "engine.errors" or name == "engine.model" or name.startswith("engine.model."))
    ]
    assert outside == []


def test_importing_the_model_loads_no_runtime_part() -> None:
    code = "import sys, engine.model; print(' '.join(m for m in sys.modules if m.startswith('engine')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=MODEL.parents[1]).stdout.split()
    assert "engine.model" in out
    assert [m for m in out if m != "engine" and m != "engine.errors" and not m.startswith("engine.model")] == []

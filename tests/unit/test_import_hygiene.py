"""The house rules of the engine's imports (README "Where things live").

- `engine` imports no Textual, no Rich, nothing from tui/ or cli/ (checked in a fresh interpreter);
- engine/model/ imports nothing outside model/ but engine.errors; engine/scheduler/ nothing outside
  scheduler/ and model/ but engine.errors: the app model stands alone and the pure core sees only the model;
- no import circle among the engine's modules, and no import from a lower layer to a higher one
  (LAYERS, lowest first). TYPE_CHECKING imports count: a type that points up is a dependency too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("engine.errors", "engine.netaddr"),
    ("engine.model",),
    ("engine.scheduler",),
    ("engine.trust", "engine.events", "engine.agents.base", "engine.supervisor"),
    ("engine.registries",),
    ("engine.policy", "engine.config", "engine.serving"),
    ("engine.agentd.config", "engine.agentd.policy", "engine.agentd.tls", "engine.agentd.wire"),
    ("engine.agents",),
    ("engine.store", "engine.specs", "engine.views"),
    ("engine.app_registry", "engine.task_ledger", "engine.agent_pool", "engine.executor", "engine.health",
     "engine.readiness",
     "engine.image_signatures", "engine.image_pulls", "engine.policy_gate", "engine.deployment_watcher"),
    ("engine.commands", "engine.autoscaler"),
    ("engine.ports",),
    ("engine.core",),
    ("engine", "engine.api", "engine.agentd"),
)
"""Each module belongs to the layer of its longest matching prefix; it may import its own layer and below."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ENGINE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The engine modules a module imports (`from pkg import submodule` names the submodule)."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            found.update(subs or [base])
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def layer_of(name: str) -> int:
    best, rank = -1, -1
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank >= 0, f"{name} is in no layer: add it to LAYERS in {__file__}"
    return rank


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


def test_no_import_goes_up_a_layer() -> None:
    upward = sorted(f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
                    for m, deps in GRAPH.items() for d in deps if layer_of(d) > layer_of(m))
    assert not upward, "\n".join(upward)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle() -> None:
    assert cycles(GRAPH) == []


def test_the_circle_check_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(("package", "allowed"), [
    ("engine.model", ("engine.model", "engine.errors")),
    ("engine.scheduler", ("engine.scheduler", "engine.model", "engine.errors")),
])
def test_model_and_scheduler_import_nothing_above_them(package: str, allowed: tuple[str, ...]) -> None:
    outside = sorted(f"{m} imports {d}" for m, deps in GRAPH.items() if m == package or m.startswith(package + ".")
                     for d in deps if not any(d == a or d.startswith(a + ".") for a in allowed))
    assert not outside, "\n".join(outside)


def _loaded_after(modules: list[str]) -> list[str]:
    """Console packages (textual, rich, tui, cli) in sys.modules after importing `modules` in a fresh interpreter.
    Rich loaded by httpx's own command line (httpx/_main.py, imported whenever rich is installed) is httpx's
    choice, not ours, and is left out; `headless` below proves the engine proper never needs it."""
    script = ("import importlib, sys\n"
              f"for m in {modules!r}: importlib.import_module(m)\n"
              "via_httpx = 'httpx._main' in sys.modules\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui', 'cli')\n"
              "             or (m.split('.')[0] == 'rich' and not via_httpx)))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return list(ast.literal_eval(out.stdout.strip()))


def test_engine_loads_no_console_code() -> None:
    modules = sorted(m for m in MODULES if m != "engine.agentd.__main__")
    assert _loaded_after(modules) == []


def test_headless_engine_loads_no_rich_at_all() -> None:
    headless = ["engine", "engine.core", "engine.api", "engine.agentd.server"]
    script = ("import importlib, sys\n"
              f"for m in {headless!r}: importlib.import_module(m)\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'tui', 'cli')))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_largest_engine_file_is_under_700_lines() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    assert max(sizes.values()) < 700, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]

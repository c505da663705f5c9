"""Run pacer's benchmarks: `python -m bench [--size tiny|full] [--only NAME ...]`.

Prints a table and writes JSON to bench/results/latest.json. Figures are
compared with baselines measured in the same run, never with fixed times.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "placement": {"agents": 50, "apps": 10, "instances": 10, "naive_sample": 50},
        "growth": {"sizes": ((10, 100), (50, 500)), "samples": 3},
        "restart": {"agents": 50, "tasks": 500},
        "memory": {"agents": 50, "tasks": 500},
        "probes": {"endpoints": 10, "seconds": 0.5, "concurrency": 10},
        "docker_launch": {"n": 3, "rounds": 1, "swarm": False},
        "image_pull": {"tasks": 3, "size_mb": 1, "rounds": 1},
        "api_load": {"apps": 10, "tasks_per_app": 3, "requests": 300, "connections": 2, "rounds": 1},
        "console": {"agents": 20, "tasks": 100, "seconds": 1.0},
        "sse_memory": {"clients": 5, "apps": 1, "app_kb": 20, "updates": 3},
    },
    "full": {
        "placement": {},
        "growth": {},
        "restart": {},
        "memory": {},
        "probes": {},
        "docker_launch": {"n": 50, "rounds": 2},
        "image_pull": {"tasks": 10, "size_mb": 50, "rounds": 3},
        "api_load": {"apps": 100, "tasks_per_app": 10, "requests": 3000, "connections": 8, "rounds": 3},
        "console": {"agents": 1000, "tasks": 10_000, "seconds": 20.0},
        "sse_memory": {"clients": 300, "apps": 4, "app_kb": 200, "updates": 40},
    },
}


def _lazy(module: str, function: str = "run") -> Callable[..., dict[str, Any]]:
    def call(**kw: Any) -> dict[str, Any]:
        return getattr(importlib.import_module(module), function)(**kw)  # type: ignore[no-any-return]

    return call


def _in_subprocess(module: str, function: str) -> Callable[..., dict[str, Any]]:
    """Run a scenario in a fresh interpreter, so memory figures are its own."""

    def call(**kw: Any) -> dict[str, Any]:
        code = (f"import json, sys; from {module} import {function}; "
                f"print(json.dumps({function}(**json.loads(sys.argv[1]))))")
        out = subprocess.run([sys.executable, "-c", code, json.dumps(kw)], check=True, capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parents[1])
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    return call


BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "placement": _lazy("bench.scale", "placement"),
    "growth": _lazy("bench.scale", "growth"),
    "restart": _in_subprocess("bench.scale", "restart"),
    "memory": _in_subprocess("bench.scale", "memory"),
    "probes": _lazy("bench.probes"),
    "docker_launch": _lazy("bench.docker_launch"),
    "image_pull": _lazy("bench.image_pull"),
    "api_load": _lazy("bench.api_load"),
    "console": _lazy("bench.console"),
    "sse_memory": _lazy("bench.sse_memory"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "latest.json"))
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    for name in args.only or list(BENCHMARKS):
        started = time.perf_counter()
        print(f"running {name} ({args.size})...", file=sys.stderr, flush=True)
        result = BENCHMARKS[name](**SIZES[args.size][name])
        result["benchmark"] = name
        result["elapsed_seconds"] = time.perf_counter() - started
        results.append(result)
        print(f"{name}:")
        for key, value in result.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"  {key:40} {shown}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "size": args.size, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run pacer's benchmarks: `python -m bench [--size tiny|full] [--only NAME ...]`.

Prints a table and writes JSON to bench/results/latest.json. Figures are
compared with baselines measured in the same run, never with fixed times.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {"docker_launch": {"n": 3, "rounds": 1}},
    "full": {"docker_launch": {"n": 50, "rounds": 2}},
}


def _docker_launch(**kw: Any) -> dict[str, Any]:
    from bench.docker_launch import run

    return run(**kw)


BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {"docker_launch": _docker_launch}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "latest.json"))
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    for name in args.only or list(BENCHMARKS):
        started = time.perf_counter()
        result = BENCHMARKS[name](**SIZES[args.size][name])
        result["benchmark"] = name
        result["elapsed_seconds"] = time.perf_counter() - started
        results.append(result)
        print(f"{name}:", file=sys.stderr)
        for key, value in result.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"  {key:28} {shown}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "size": args.size, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

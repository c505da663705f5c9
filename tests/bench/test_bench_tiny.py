"""Every benchmark runs at a tiny size, so none of them rots. Timings are never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS, SIZES

ROOT = Path(__file__).resolve().parents[2]
SIM_ONLY = ["placement", "growth", "restart", "memory", "probes", "console", "sse_memory"]


@pytest.mark.parametrize("name", SIM_ONLY)
def test_sim_benchmark_runs_at_tiny_size(name: str) -> None:
    result = BENCHMARKS[name](**SIZES["tiny"][name])
    assert result["scenario"] if "scenario" in result else result
    numbers = [v for v in result.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert numbers and all(v == v for v in numbers), f"{name} reported NaN: {result}"


def test_placement_tiny_places_everything() -> None:
    result = BENCHMARKS["placement"](**SIZES["tiny"]["placement"])
    assert result["tasks_placed_end_to_end"] == 100 and result["tasks_waiting"] == 0


def test_restart_tiny_relaunches_nothing() -> None:
    result = BENCHMARKS["restart"](**SIZES["tiny"]["restart"])
    assert result["tasks_relaunched"] == 0 and result["tasks_killed"] == 0


@pytest.mark.docker
def test_docker_benchmarks_run_at_tiny_size(docker_url: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--size", "tiny", "--only", "docker_launch", "api_load",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = {r["benchmark"]: r for r in json.loads(out.read_text())["results"]}
    assert results["docker_launch"]["pacer_seconds"] > 0 and results["docker_launch"]["raw_sdk_seconds"] > 0
    assert results["api_load"]["pacer_rps"] > 0


def test_sse_memory_tiny_measures_both_phases_and_closes_every_stream() -> None:
    result = BENCHMARKS["sse_memory"](**SIZES["tiny"]["sse_memory"])
    assert result["idle_pings"] > 0 and result["loaded_pings"] > 0
    assert result["loaded_updates_done"] == SIZES["tiny"]["sse_memory"]["updates"]
    assert result["baseline_rss_mb"] > 0
    assert result["streams_after_close"] == 0


def test_console_tiny_shows_every_key_and_defers_full_collections() -> None:
    result = BENCHMARKS["console"](**SIZES["tiny"]["console"])
    assert result["key_presses"] >= 5
    assert result["key_to_screen_max_ms"] < 5000, "a key press never reached the screen"
    assert result["log_lines_per_second"] > 0 and result["events_per_second"] > 0
    assert result["full_gc_during_keys"] == 0, "a full collection ran while keys were being pressed"
    assert 0 <= result["engine_held_for_console_share"] <= 0.5 + 0.05, "the console took over half the engine's time"


@pytest.mark.docker
def test_image_pull_benchmark_runs_at_tiny_size(docker_url: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--size", "tiny", "--only", "image_pull", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (result,) = json.loads(out.read_text())["results"]
    assert result["pacer_seconds"] > 0 and result["raw_pull_and_sdk_seconds"] > 0
    assert result["pacer_pulls_per_round"] == 1  # the agent pulled the image once for all its tasks

"""The API load benchmark runs end to end (tiny size). Its figures are read in bench/, never asserted here."""

from __future__ import annotations

from bench.api_load import run


def test_api_load_bench_runs_and_engine_keeps_reconciling() -> None:
    result = run(apps=10, tasks_per_app=3, requests=200, connections=2, rounds=1)
    assert result["tasks"] == 30
    for suffix in ("", "_tasks", "_uncached"):
        assert result[f"pacer_rps{suffix}"] > 0 and result[f"bare_rps{suffix}"] > 0
        assert result[f"bytes{suffix}"] == result[f"bare_bytes{suffix}"], "the baseline serves the same size"
    assert result["engine_reconciled_during_load"] is True

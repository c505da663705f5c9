"""The console's header tells when the engine itself is degraded, and why."""

from __future__ import annotations

from dataclasses import replace

from textual.app import App, ComposeResult

from engine import EngineHealth, PartHealth
from tests.tui.frozen import NOW, frozen_view
from tui.widgets.cluster_summary import ClusterSummary

FULL = "state storage is full: 12 kB free on /var/lib/pacer (database or disk is full)"


class HeaderOnly(App[None]):
    def compose(self) -> ComposeResult:
        yield ClusterSummary(id="summary")


def health(*degraded: PartHealth) -> EngineHealth:
    names = {p.name for p in degraded}
    fine = tuple(PartHealth(n, "ok", None, NOW) for n in ("loop", "store", "executor") if n not in names)
    return EngineHealth(parts=(*degraded, *fine), agents=(), checked_at=NOW)


async def test_header_shows_degraded_with_the_reason_and_then_the_gauges_again() -> None:
    app = HeaderOnly()
    async with app.run_test(size=(160, 6)):
        summary = app.query_one(ClusterSummary)
        view = frozen_view()
        summary.show(replace(view, engine_health=health(PartHealth("store", "degraded", FULL, NOW - 30, 3))))
        line1, line2 = summary.describe().plain.split("\n")
        assert "agents" in line1, "the cluster's line stays"
        assert line2 == f" degraded: store: {FULL}"
        summary.show(replace(view, engine_health=health()))
        line2 = summary.describe().plain.split("\n")[1]
        assert "degraded" not in line2 and "CPU" in line2 and "MEM" in line2

"""The events pane's one-line summaries."""

from __future__ import annotations

from engine.events import AutoscaleDecided
from tui.widgets.event_log import summarize


def test_autoscale_decision_shows_the_measured_value_that_caused_it() -> None:
    event = AutoscaleDecided(app_id="/burn", record={"from": 1, "to": 2, "metric": "cpu", "measured": 91.5,
                                                     "target": 50.0, "reason": "cpu 91.5% above target 50%",
                                                     "deploymentId": "d"})
    assert summarize(event) == "/burn 1 -> 2 instances: cpu 91.5% against target 50.0% (cpu 91.5% above target 50%)"

"""The events pane's one-line summaries."""

from __future__ import annotations

from engine.events import AutoscaleDecided
from tui.widgets.event_log import summarize


def test_autoscale_decision_shows_the_measured_value_that_caused_it() -> None:
    event = AutoscaleDecided(app_id="/burn", record={"from": 1, "to": 2, "metric": "cpu", "measured": 91.5,
                                                     "target": 50.0, "reason": "cpu 91.5% above target 50%",
                                                     "deploymentId": "d"})
    assert summarize(event) == "/burn 1 -> 2 instances: cpu 91.5% against target 50.0% (cpu 91.5% above target 50%)"


def test_image_pulls_show_their_start_and_end_not_every_tick() -> None:
    from engine.events import ImagePullProgressed
    from tui.widgets.event_log import EventLog

    def pull(status: str, done: int, first: bool, text: str) -> ImagePullProgressed:
        return ImagePullProgressed(agent="local", image="reg/app:v1", status=status, downloaded=done, total=100,
                                   task_ids=("t",), text=text, first=first)

    events = [pull("pulling", 0, True, "pulling reg/app:v1: starting"),
              pull("pulling", 41, False, "pulling reg/app:v1: 41% of 100 B"),
              pull("pulling", 90, False, "pulling reg/app:v1: 90% of 100 B"),
              pull("done", 100, True, "pulled reg/app:v1 (100 B) in 2.0s")]
    log = EventLog()
    log.add(events)
    assert log.count == 2
    assert [summarize(e) for e in events if e.first] == ["local: pulling reg/app:v1: starting",
                                                         "local: pulled reg/app:v1 (100 B) in 2.0s"]

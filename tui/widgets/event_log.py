"""The events pane: the engine's events as they happen, one line each, capped, filterable."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import fields
from typing import Sequence

from textual.widgets import Log

from engine.events import (
    AgentDrainStarted,
    AgentLost,
    AgentResumed,
    AgentReturned,
    AppSubmitted,
    AppTerminated,
    AutoscaleDecided,
    DeploymentFailed,
    DeploymentStepStarted,
    DeploymentStepSucceeded,
    DeploymentSucceeded,
    EngineEvent,
    ImagePullProgressed,
    TaskStatusChanged,
)
from tui.render import matches, short_task_id

MAX_EVENTS = 5_000


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"


def summarize(event: EngineEvent) -> str:
    match event:
        case TaskStatusChanged():
            msg = f": {event.message}" if event.message else ""
            return f"{event.app_id} task {short_task_id(event.task_id)} " \
                   f"{event.state.value.removeprefix('TASK_')} on {event.agent}{msg}"
        case DeploymentStepStarted() | DeploymentStepSucceeded():
            actions = ", ".join(f"{a} {event.app_id}" for a in event.actions)
            return f"{str(event.plan.get('id', ''))[:8]} {actions}"
        case DeploymentSucceeded():
            return event.deployment_id[:8]
        case DeploymentFailed():
            return f"{event.deployment_id[:8]} ({event.reason})" if event.reason else event.deployment_id[:8]
        case AppSubmitted():
            return event.uri
        case AppTerminated():
            return event.app_id
        case AutoscaleDecided():
            r = event.record
            measured = r.get("measured")
            shown = f"{measured:g}%" if isinstance(measured, (int, float)) else "?"
            return (f"{event.app_id} {r.get('from')} -> {r.get('to')} instances: {r.get('metric')} {shown} "
                    f"against target {r.get('target')}% ({r.get('reason', '')})")
        case ImagePullProgressed():
            return f"{event.agent}: {event.text}"
        case AgentLost():
            return f"{event.agent}: {event.reason}" if event.reason else event.agent
        case AgentReturned() | AgentDrainStarted() | AgentResumed():
            return event.agent
    parts = [f"{f.name}={getattr(event, f.name)}" for f in fields(event)
             if f.name != "timestamp" and isinstance(getattr(event, f.name), (str, int, float, bool))]
    return " ".join(parts)[:200]


class EventLog(Log):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_EVENTS, highlight=False, auto_scroll=True)
        self._kept: deque[str] = deque(maxlen=MAX_EVENTS)
        self._unformatted: deque[EngineEvent | str] = deque(maxlen=MAX_EVENTS)
        self.filter = ""
        self.count = 0
        self.visible = False
        """Set by the screen: while the pane is hidden, events are kept as they came and formatted when shown."""

    def add(self, events: Sequence[EngineEvent], dropped: int = 0) -> None:
        if dropped:
            self.add_line(f"{_clock(time.time())} … {dropped} event(s) not shown (the console fell behind)")
        # A pull's progress ticks (twice a second) stay out of the log: its start, end or failure is kept.
        events = [e for e in events if not isinstance(e, ImagePullProgressed) or e.first]
        self._unformatted.extend(events)
        self.count += len(events)
        if self.visible:
            self.flush()

    def add_line(self, line: str) -> None:
        """A line that is not an engine event (a log record)."""
        self._unformatted.append(line)
        self.count += 1
        if self.visible:
            self.flush()

    def flush(self) -> None:
        if not self._unformatted:
            return
        lines = [e if isinstance(e, str) else f"{_clock(e.timestamp)} {e.event_type:<24} {summarize(e)}"
                 for e in self._unformatted]
        self._unformatted.clear()
        self._kept.extend(lines)
        shown = [line for line in lines[-MAX_EVENTS:] if matches(self.filter, line)]
        if shown:
            self.write_lines(shown)

    def set_filter(self, text: str) -> None:
        self.flush()
        self.filter = text
        self.clear()
        self.write_lines([line for line in self._kept if matches(text, line)])

"""The events pane: the engine's events as they happen, one line each, capped, filterable."""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Sequence

from textual.widgets import Log

from engine import Event
from tui.render import matches, short_task_id

MAX_EVENTS = 5_000


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"


def summarize(event: Event) -> str:
    f: dict[str, Any] = event.fields
    kind = event.event_type
    if kind == "status_update_event":
        msg = f": {f['message']}" if f.get("message") else ""
        return f"{f.get('appId', '')} task {short_task_id(str(f.get('taskId', '')))} " \
               f"{str(f.get('taskStatus', '')).removeprefix('TASK_')} on {f.get('slaveId', '?')}{msg}"
    if kind in ("deployment_info", "deployment_step_success", "deployment_step_failure"):
        plan = f.get("plan") or {}
        actions = ", ".join(f"{a.get('action')} {a.get('app')}" for a in (f.get("currentStep") or {}).get("actions", []))
        return f"{str(plan.get('id', ''))[:8]} {actions}"
    if kind in ("deployment_success", "deployment_failed"):
        reason = f" ({f['reason']})" if f.get("reason") else ""
        return f"{str(f.get('id', ''))[:8]}{reason}"
    if kind == "api_post_event":
        return str(f.get("uri", ""))
    if kind == "app_terminated_event":
        return str(f.get("appId", ""))
    if kind == "pacer_autoscale":
        measured = f.get("measured")
        shown = f"{measured:g}%" if isinstance(measured, (int, float)) else "?"
        return (f"{f.get('appId', '')} {f.get('from')} -> {f.get('to')} instances: {f.get('metric')} {shown} "
                f"against target {f.get('target')}% ({f.get('reason', '')})")
    if kind.startswith("pacer_agent"):
        reason = f": {f['reason']}" if f.get("reason") else ""
        return f"{f.get('agent', '')}{reason}"
    parts = [f"{k}={v}" for k, v in f.items() if isinstance(v, (str, int, float, bool))]
    return " ".join(parts)[:200]


class EventLog(Log):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_EVENTS, highlight=False, auto_scroll=True)
        self._kept: deque[str] = deque(maxlen=MAX_EVENTS)
        self._unformatted: deque[Event | str] = deque(maxlen=MAX_EVENTS)
        self.filter = ""
        self.count = 0
        self.visible = False
        """Set by the screen: while the pane is hidden, events are kept as they came and formatted when shown."""

    def add(self, events: Sequence[Event], dropped: int = 0) -> None:
        if dropped:
            self.add_line(f"{_clock(time.time())} … {dropped} event(s) not shown (the console fell behind)")
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

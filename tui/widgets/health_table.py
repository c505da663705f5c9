"""The health pane: tasks whose health checks fail or have not answered yet, and what the checks are.

The engine reports health per task as True/False/None (`engine.health`) and,
per check, the last probes' results (consecutive failures and the last cause).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Mapping

from engine import AppDefinition, HealthResult
from tui.engine_host import ConsoleView
from tui.render import health_text, matches, short_task_id
from tui.widgets.keyed_table import KeyedTable, Raw, cell, palette_of

MAX_ROWS = 500


def describe_check(app: AppDefinition) -> str:
    parts = []
    for hc in app.health_checks:
        target = hc.path if hc.protocol in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS") else ""
        if hc.protocol.endswith("COMMAND") and hc.command is not None:
            target = hc.command.value
        port = f"port {hc.port}" if hc.port else f"port #{hc.port_index or 0}"
        parts.append(f"{hc.protocol} {target} {port} every {hc.interval_seconds}s".replace("  ", " "))
    return "; ".join(parts)


def _hms(ts: Any) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if isinstance(ts, (int, float)) else "?"


def describe_results(results: Mapping[int, HealthResult], state: bool | None) -> str:
    """The last answers of each check: how many failures in a row and why, or when it last passed."""
    parts = []
    for index, r in sorted(results.items()):
        prefix = f"#{index}: " if len(results) > 1 else ""
        failures = r.consecutive_failures
        cause = r.last_failure_cause
        if r.probes == 0:
            parts.append(prefix + "no probe yet")
        elif failures or (cause and not r.alive):
            parts.append(prefix + f"failed {failures}x at {_hms(r.last_failure)}: {cause or '?'}")
        elif r.last_success:
            parts.append(prefix + f"ok at {_hms(r.last_success)}")
    if parts:
        return "; ".join(parts)
    return "failing" if state is False else "no answer yet"


class HealthTable(KeyedTable):
    COLUMNS: ClassVar = (
        ("app", "APP", 18),
        ("task", "TASK", 8),
        ("agent", "AGENT", 10),
        ("health", "HEALTH", 9),
        ("check", "CHECK", 22),
        ("result", "LAST RESULT", 38),
    )
    NARROW: ClassVar = {"app": 16, "task": 8, "agent": 10, "check": 20}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.filter = ""
        self._view: ConsoleView | None = None
        self.counts = (0, 0, 0)

    def show(self, view: ConsoleView) -> None:
        self._view = view
        rows: dict[str, Raw] = {}
        healthy = unhealthy = unknown = 0
        for app_view in view.snapshot.apps:
            app = app_view.app
            if not app.health_checks:
                continue
            check = describe_check(app)
            for t in view.snapshot.tasks.get(app.id, ()):
                state = view.health.get(t.task_id)
                if state is True:
                    healthy += 1
                    continue
                if state is False:
                    unhealthy += 1
                else:
                    unknown += 1
                if len(rows) < MAX_ROWS and (not self.filter or matches(self.filter, app.id, t.task_id, t.agent)):
                    rows[t.task_id] = (app.id, t.agent, state, check,
                                       describe_results(view.health_results.get(t.task_id, {}), state))
        self.counts = (healthy, unhealthy, unknown)
        self.sync(rows)
        shown = f" (filter: {self.filter})" if self.filter else ""
        self.border_title = f"Health: {unhealthy} unhealthy, {unknown} unknown, {healthy} healthy{shown}"

    def set_filter(self, text: str) -> None:
        self.filter = text
        if self._view is not None:
            self.show(self._view)

    def app_of(self, task_id: str) -> str | None:
        raw = self.raw(task_id)
        return None if raw is None else str(raw[0])

    def format_row(self, key: str, raw: Raw) -> tuple[Any, ...]:
        p = palette_of(self)
        app_id, agent, state, check, result = raw
        return (
            cell(app_id), cell(short_task_id(key)), cell(agent), health_text(state, True, p),  # type: ignore[arg-type]
            cell(check, p.muted), cell(result, p.bad if state is False else p.warn),
        )

"""The deployments pane: every running deployment with its steps, progress and why it is not done."""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from rich.text import Text

from tui.engine_host import ConsoleView
from tui.render import bar, deployment_words, fmt_duration, kind_of, matches
from tui.widgets.keyed_table import KeyedTable, Raw, cell, palette_of


class DeploymentsTable(KeyedTable):
    COLUMNS: ClassVar = (
        ("id", "DEPLOYMENT", 10),
        ("app", "APP", 20),
        ("kind", "KIND", 7),
        ("step", "STEP", 18),
        ("progress", "PROGRESS", 8),
        ("age", "AGE", 7),
        ("reason", "WHY NOT DONE", 60),
    )
    NARROW: ClassVar = {"id": 8, "app": 16, "step": 14, "age": 6}

    def __init__(self, *, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.filter = ""
        self._view: ConsoleView | None = None

    def show(self, view: ConsoleView) -> None:
        self._view = view
        now = self.clock()
        rows: dict[str, Raw] = {}
        for d in sorted(view.deployments, key=lambda d: (d.started_at, d.id)):
            if d.status != "running" or (self.filter and not matches(self.filter, d.app_id, d.id)):
                continue
            rows[d.id] = (d.app_id, kind_of(d), deployment_words([d]), d.current_step, d.total_steps,
                          int(now - d.started_at), d.reason or "", bool(d.rollback_of))
        self.sync(rows)

    def set_filter(self, text: str) -> None:
        self.filter = text
        if self._view is not None:
            self.show(self._view)

    def app_of(self, deployment_id: str) -> str | None:
        raw = self.raw(deployment_id)
        return None if raw is None else str(raw[0])

    def format_row(self, key: str, raw: Raw) -> tuple[Any, ...]:
        p = palette_of(self)
        app_id, kind, words, step, total, age, reason, rollback = raw
        progress = bar(float(step) - 1, float(total), 8, p)  # type: ignore[arg-type]
        return (
            cell(key[:8]), cell(app_id), cell(kind, p.warn if rollback else p.info), cell(words),
            progress, cell(fmt_duration(age), justify="right"),  # type: ignore[arg-type]
            Text(str(reason) or "-", style=p.warn if reason else p.muted, no_wrap=True, overflow="ellipsis", end=""),
        )

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
        ("app", "APP", 18),
        ("kind", "KIND", 7),
        ("step", "STEP", 15),
        ("progress", "PROGRESS", 8),
        ("age", "AGE", 6),
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
            if d.status != "running" or (self.filter and not matches(self.filter, d.app_id, d.public_id, d.id)):
                continue
            rows[d.id] = (d.app_id, kind_of(d), deployment_words([d]), d.current_step, d.total_steps,
                          int(now - d.started_at), d.reason or "", bool(d.rollback_of))
        self.sync(rows)

    def set_filter(self, text: str) -> None:
        self.filter = text
        if self._view is not None:
            self.show(self._view)

    def describe(self, deployment_id: str | None) -> Text:
        """Every step of the selected deployment (done, current, to do), why it is not done, versions."""
        p = palette_of(self)
        d = next((d for d in (self._view.deployments if self._view else ()) if d.id == deployment_id), None)
        if d is None:
            return Text("no deployment in progress" if not self.row_count else "", style=p.muted, end="")
        out = Text(f"{d.id}  {d.app_id}  ", end="")
        for index, step in enumerate(d.steps, start=1):
            done, current = index < d.current_step, index == d.current_step
            mark = "✓" if done else "▶" if current else "·"
            out.append(f"{mark} {index} {'+'.join(step)}  ", style=p.ok if done else p.info if current else p.muted)
        if d.group_id:
            # The API shows the parts of a change of several apps as one deployment, under this id.
            out.append(f"(one app of change {d.group_id[:8]})  ", style=p.muted)
        if d.rollback_of:
            out.append(f"(rolls back {d.rollback_of[:8]})", style=p.warn)
        target = (d.target or {}).get("version") if d.target else None
        out.append(f"\nversion {d.version}" + (f" → {target}" if target and target != d.version else ""), style=p.muted)
        if d.reason:
            out.append(f"\nwhy not done: {d.reason}", style=p.warn)
        return out

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

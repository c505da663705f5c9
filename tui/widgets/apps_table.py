"""The apps pane: one row per app, kept in place by app id; sortable and filterable.

A scale from the keyboard shows the new wanted count at once (marked with `*`)
and keeps showing it until a view taken after the engine accepted the change
arrives; then the row shows what the engine says again.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding

from engine import AppView
from tui.engine_host import ConsoleView
from tui.render import (
    deployment_words,
    first_line,
    fmt_cpus,
    fmt_mem,
    image_of,
    matches,
)
from tui.widgets.keyed_table import KeyedTable, Raw, cell, palette_of

SORTS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("wanted", "wanted instances"),
    ("running", "running instances"),
    ("cpus", "cpus"),
    ("mem", "memory"),
    ("image", "image"),
    ("deployment", "deployment"),
    ("failure", "last failure"),
)
_SORT_FIELD = {"id": 0, "running": 1, "wanted": 3, "cpus": 5, "mem": 6, "image": 7, "deployment": 8, "failure": 10}
_tokens = itertools.count(1)


@dataclass(slots=True)
class Pending:
    """A wanted count the operator asked for, shown before the engine confirms it."""

    instances: int
    token: int
    confirmed_after: int | None = None
    """Once the engine accepted it: the last view seq taken before; a later view replaces it."""


def raw_app(view: AppView, running_deployments: str, wanted: int, pending: bool) -> Raw:
    app = view.app
    failure = view.last_failure or {}
    has_checks = bool(app.health_checks)
    return (
        app.id, view.running, view.healthy if has_checks else None, wanted, pending,
        app.cpus, app.mem, image_of(app), running_deployments,
        view.waiting.count if view.waiting else 0,
        first_line(failure.get("message", "")), str(failure.get("timestamp", "")), str(failure.get("state", "")),
        view.staged,
    )


class AppsTable(KeyedTable):
    COLUMNS: ClassVar = (
        ("id", "ID", 22),
        ("tasks", "RUN/OK/WANT", 11),
        ("cpus", "CPUS", 5),
        ("mem", "MEM", 6),
        ("image", "IMAGE", 16),
        ("deployment", "DEPLOYMENT", 15),
        ("failure", "LAST FAILURE", 28),
    )
    NARROW: ClassVar = {"id": 16, "cpus": 4, "mem": 5, "image": 12, "deployment": 14}
    BINDINGS: ClassVar = [
        Binding("s", "cycle_sort", "Sort", id="apps.sort", tooltip="Sort apps by the next column"),
        Binding("S", "reverse_sort", "Reverse", id="apps.reverse", show=False,
                tooltip="Reverse the sort order of the apps"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pending: dict[str, Pending] = {}
        self.filter = ""
        self.sort_by = "id"
        self.sort_reverse = False
        self._view: ConsoleView | None = None

    # -- optimistic scaling ---------------------------------------------------------------

    def wanted(self, app_id: str) -> int | None:
        pending = self.pending.get(app_id)
        if pending is not None:
            return pending.instances
        raw = self.raw(app_id)
        return int(raw[3]) if raw is not None else None  # type: ignore[call-overload]

    def request(self, app_id: str, instances: int) -> int:
        """Show `instances` as wanted at once; returns a token for `confirm`/`forget`."""
        token = next(_tokens)
        self.pending[app_id] = Pending(instances, token)
        self._refresh_app(app_id)
        return token

    def confirm(self, app_id: str, token: int, after_seq: int) -> None:
        pending = self.pending.get(app_id)
        if pending is not None and pending.token == token:
            pending.confirmed_after = after_seq

    def forget(self, app_id: str, token: int) -> None:
        pending = self.pending.get(app_id)
        if pending is not None and pending.token == token:
            del self.pending[app_id]
            self._refresh_app(app_id)

    def _refresh_app(self, app_id: str) -> None:
        raw = self.raw(app_id)
        if raw is None:
            return
        pending = self.pending.get(app_id)
        view = self._view.apps.get(app_id) if self._view is not None else None
        wanted = pending.instances if pending else (view.app.instances if view else raw[3])
        self.update_row(app_id, raw[:3] + (wanted, pending is not None) + raw[5:])

    # -- showing ------------------------------------------------------------------------------

    def show(self, view: ConsoleView) -> None:
        self._view = view
        by_app: dict[str, str] = {}
        for d in view.deployments:
            if d.status == "running":
                by_app[d.app_id] = (by_app.get(d.app_id, "") + ", " if d.app_id in by_app else "") + deployment_words([d])
        for app_id, pending in list(self.pending.items()):
            if app_id not in view.apps or (pending.confirmed_after is not None and view.seq > pending.confirmed_after):
                del self.pending[app_id]
        rows: dict[str, Raw] = {}
        for app_view in view.snapshot.apps:
            app = app_view.app
            if self.filter and not matches(self.filter, app.id, image_of(app)):
                continue
            pending = self.pending.get(app.id)
            wanted = pending.instances if pending else app.instances
            rows[app.id] = raw_app(app_view, by_app.get(app.id, ""), wanted, pending is not None)
        changed_sort_values = any(
            self.raw(k) is None or self.raw(k)[_SORT_FIELD[self.sort_by]] != r[_SORT_FIELD[self.sort_by]]  # type: ignore[index]
            for k, r in rows.items()
        )
        structural = self.sync(rows)
        if structural or changed_sort_values:
            self.apply_sort()

    def set_filter(self, text: str) -> None:
        self.filter = text
        if self._view is not None:
            self.show(self._view)

    # -- sorting -----------------------------------------------------------------------------------

    def apply_sort(self) -> None:
        if self.row_count < 2:
            return
        field = _SORT_FIELD[self.sort_by]
        selected = self.selected_key

        def key(id_cell: Any) -> Any:
            raw = self.raw(str(id_cell.plain))
            value = raw[field] if raw is not None else ""
            return (value is None, value if value is not None else 0, str(id_cell.plain))

        self.sort("id", key=key, reverse=self.sort_reverse)
        if selected is not None:
            self.select_key(selected)

    def _label_sort(self) -> None:
        arrow = " ▼" if self.sort_reverse else " ▲"
        column_of = {"running": "tasks", "wanted": "tasks"}
        shown = column_of.get(self.sort_by, self.sort_by)
        for key, label, _ in self.COLUMNS:
            self.columns[key].label = Text(label + (arrow if key == shown else ""))  # type: ignore[index]
        self.refresh()

    def action_cycle_sort(self) -> None:
        names = [name for name, _ in SORTS]
        self.sort_by = names[(names.index(self.sort_by) + 1) % len(names)]
        self._label_sort()
        self.apply_sort()
        self.notify(f"apps sorted by {dict(SORTS)[self.sort_by]}", timeout=1.5)

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._label_sort()
        self.apply_sort()

    # -- cells ------------------------------------------------------------------------------------------

    def format_row(self, key: str, raw: Raw) -> tuple[Any, ...]:
        p = palette_of(self)
        (app_id, running, healthy, wanted, pending, cpus, mem, image, deploying, waiting,
         failure, failure_ts, failure_state, staged) = raw
        tone = p.ok if running == wanted else p.bad if running == 0 else p.warn
        tasks = Text(no_wrap=True, end="")
        tasks.append(str(running), style=tone)
        tasks.append("/")
        tasks.append("-" if healthy is None else str(healthy), style=p.muted if healthy is None else tone)
        tasks.append("/")
        tasks.append(f"{wanted}{'*' if pending else ''}", style="bold" if pending else "")
        if deploying:
            state = cell(deploying, p.info)
        elif waiting:
            state = cell(f"waiting {waiting}", p.warn)
        elif staged:
            state = cell(f"staging {staged}", p.warn)
        else:
            state = cell("-", p.muted)
        if failure:
            when = str(failure_ts)[11:19]
            fail = cell(f"{when} {failure}", p.bad)
        else:
            fail = cell("-", p.muted)
        return (
            cell(app_id), tasks, cell(fmt_cpus(float(cpus))), cell(fmt_mem(float(mem))),  # type: ignore[arg-type]
            cell(image), state, fail,
        )

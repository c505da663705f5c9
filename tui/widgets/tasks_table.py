"""The tasks pane: the selected app's tasks only (a table of every task of a big cluster is too slow).

Rows are instances, not task ids: a failed task's replacement is the next attempt of the same instance, so
its row stays where it is and RESTARTS (the attempt number in the task id, ``..._app.<n>``, minus one) goes
up, instead of a row going and another coming at the bottom."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping, Sequence

from engine import TaskRecord, TaskState
from engine.model import attempt_of, instance_of
from tui.render import fmt_duration, health_text, short_task_id, state_text
from tui.widgets.keyed_table import KeyedTable, Raw, cell, palette_of


class TasksTable(KeyedTable):
    COLUMNS: ClassVar = (
        ("task", "TASK", 8),
        ("agent", "AGENT", 12),
        ("ports", "HOST PORTS", 12),
        ("state", "STATE", 11),
        ("restarts", "RESTARTS", 8),
        ("health", "HEALTH", 9),
        ("uptime", "UPTIME", 8),
        ("version", "VERSION", 12),
    )
    NARROW: ClassVar = {"task": 8, "agent": 8, "ports": 10, "restarts": 3, "uptime": 6, "version": 8}
    NARROW_LABELS: ClassVar = {"restarts": "RST"}

    def __init__(self, *, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.app_id: str | None = None
        self._started: dict[str, float | None] = {}
        self.task_ids: dict[str, str] = {}
        """Row key (instance) -> the instance's current task id."""

    @property
    def selected_task(self) -> str | None:
        instance = self.selected_key
        return self.task_ids.get(instance) if instance is not None else None

    def show(self, app_id: str | None, tasks: Sequence[TaskRecord], health: Mapping[str, bool | None],
             has_checks: bool, current_config: str | None, pulls: Mapping[str, str] | None = None) -> None:
        """`pulls`: task id -> a short word for the image pull its launch waits for ("pull 41%"), shown as its
        state while it stages."""
        if app_id != self.app_id:
            self.reset()
            self.app_id = app_id
        now = self.clock()
        rows: dict[str, Raw] = {}
        self._started = {}
        self.task_ids = {}
        # Oldest first: the order new rows are added in, and a newer attempt of an instance (while the
        # older one is still being killed) takes the instance's row.
        for t in sorted(tasks, key=lambda t: (t.staged_at, t.task_id)):
            instance = instance_of(t.task_id)
            self.task_ids[instance] = t.task_id
            started = self._started[instance] = t.started_at
            pulling = pulls.get(t.task_id) if pulls and t.state == TaskState.STAGING else None
            rows[instance] = (
                t.task_id, t.agent, ",".join(str(p) for p in t.host_ports) or "-", pulling or t.state,
                attempt_of(t.task_id) - 1, health.get(t.task_id), has_checks,
                None if started is None else int(now - started), t.version, t.config_version == current_config,
            )
        self.sync(rows)

    def tick(self) -> None:
        """Advance the uptime column (once a second)."""
        if not self._raw:
            return
        now = self.clock()
        rows = {}
        for key, raw in self._raw.items():
            started = self._started.get(key)
            rows[key] = raw[:7] + (None if started is None else int(now - started),) + raw[8:]
        self.sync(rows)

    def format_row(self, key: str, raw: Raw) -> tuple[Any, ...]:
        p = palette_of(self)
        task_id, agent, ports, state, restarts, health, has_checks, uptime, version, current = raw
        return (
            cell(short_task_id(str(task_id))), cell(agent), cell(ports),
            state_text(state, p) if isinstance(state, TaskState) else cell(state, p.info),
            cell(restarts, p.warn if restarts else p.muted, justify="right"),
            health_text(health, bool(has_checks), p),  # type: ignore[arg-type]
            cell(fmt_duration(uptime), justify="right"),  # type: ignore[arg-type]
            cell(str(version)[11:19] + ("" if current else " old"), "" if current else p.warn),
        )

"""The resources pane: per agent CPU, memory and ports used against capacity, reachability, tasks."""

from __future__ import annotations

from typing import Any, ClassVar

from tui.engine_host import ConsoleView
from tui.render import fmt_cpus, fmt_mem, gauge, matches
from tui.widgets.keyed_table import KeyedTable, Raw, cell, palette_of

BAR = 8


class AgentsTable(KeyedTable):
    COLUMNS: ClassVar = (
        ("agent", "AGENT", 14),
        ("kind", "KIND", 6),
        ("state", "STATE", 11),
        ("cpu", "CPU", 19),
        ("mem", "MEMORY", 21),
        ("ports", "PORTS", 16),
        ("tasks", "TASKS", 5),
        ("attributes", "ATTRIBUTES", 30),
    )
    NARROW: ClassVar = {"agent": 12, "kind": 4}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.filter = ""
        self._view: ConsoleView | None = None

    def show(self, view: ConsoleView) -> None:
        self._view = view
        rows: dict[str, Raw] = {}
        for a in view.snapshot.agents:
            if self.filter and not matches(self.filter, a.name, a.hostname, *a.attributes.values()):
                continue
            lo, hi = a.port_range
            rows[a.name] = (
                a.kind, a.reachable, a.error or "", round(a.used.cpus, 3), a.capacity.cpus,
                round(a.used.mem, 1), a.capacity.mem, a.ports_used, hi - lo + 1, a.tasks,
                " ".join(f"{k}={v}" for k, v in sorted(a.attributes.items())),
                getattr(a, "draining", False),
            )
        self.sync(rows)
        agents = view.snapshot.agents
        up = sum(1 for a in agents if a.reachable)
        draining = sum(1 for a in agents if getattr(a, "draining", False))
        tasks = sum(a.tasks for a in agents)
        shown = f" (filter: {self.filter}, {len(rows)} shown)" if self.filter else ""
        self.border_title = (f"Agents: {up}/{len(agents)} up" + (f", {draining} draining" if draining else "")
                             + f", {tasks} tasks{shown}")

    def set_filter(self, text: str) -> None:
        self.filter = text
        if self._view is not None:
            self.show(self._view)

    def format_row(self, key: str, raw: Raw) -> tuple[Any, ...]:
        p = palette_of(self)
        kind, reachable, error, cpu_used, cpu_cap, mem_used, mem_cap, ports_used, ports_cap, tasks, attrs, drain = raw
        if not reachable:
            state = cell("unreachable", p.bad)
        elif drain:
            state = cell("draining", p.warn)
        else:
            state = cell("up", p.ok)
        return (
            cell(key), cell(kind, p.muted if kind == "sim" else ""), state,
            gauge(float(cpu_used), float(cpu_cap), BAR, p, f"{fmt_cpus(float(cpu_used))}/{fmt_cpus(float(cpu_cap))}"),  # type: ignore[arg-type]
            gauge(float(mem_used), float(mem_cap), BAR, p, f"{fmt_mem(float(mem_used))}/{fmt_mem(float(mem_cap))}"),  # type: ignore[arg-type]
            gauge(float(ports_used), float(ports_cap), 4, p, f"{ports_used}/{ports_cap}"),  # type: ignore[arg-type]
            cell(tasks, justify="right"), cell(attrs, p.muted),
        )

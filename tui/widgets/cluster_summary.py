"""The cluster at a glance: agents up, CPU/memory/ports used against capacity, tasks, apps, deployments.

When the engine itself is degraded (a store that cannot commit, a loop that keeps failing), the second line
says so instead of the gauges: "degraded: store: state storage is full: ..." (GET /pacer/v1/health has it all)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui.engine_host import ConsoleView
from tui.render import fmt_cpus, fmt_mem, gauge
from tui.widgets.keyed_table import palette_of


class ClusterSummary(Widget):
    DEFAULT_CSS = """
    ClusterSummary { height: 2; }
    """

    def __init__(self, *, agents_configured: int = 0, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: ConsoleView | None = None
        self.agents_configured = agents_configured
        self.status = "starting the engine"
        self._shown = Text()

    def show(self, view: ConsoleView) -> None:
        self.view = view
        self._update()

    def set_status(self, status: str) -> None:
        self.status = status
        self._update()

    def on_resize(self) -> None:
        self._update()

    def _update(self) -> None:
        """Build the text when what it shows changes (not on every repaint: it sums over every agent)."""
        text = self.describe()
        if text != self._shown:
            self._shown = text
            self.refresh()

    def render(self) -> Text:
        return self._shown if self._shown.plain else self.describe()

    def describe(self) -> Text:
        p = palette_of(self)
        view = self.view
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(" pacer ", style="bold reverse")
        if view is None:
            text.append(f"  {self.status} ({self.agents_configured} agent(s) configured)…", style=p.muted)
            return text
        snap = view.snapshot
        agents = snap.agents
        up = sum(1 for a in agents if a.reachable)
        cap_cpus = cap_mem = used_cpus = used_mem = 0.0
        ports_cap = ports_used = 0
        for a in agents:
            if a.reachable:
                cap_cpus += a.capacity.cpus
                cap_mem += a.capacity.mem
                lo, hi = a.port_range
                ports_cap += hi - lo + 1
            used_cpus += a.used.cpus
            used_mem += a.used.mem
            ports_used += a.ports_used
        running = sum(a.running for a in snap.apps)
        staging = sum(a.staged for a in snap.apps)
        waiting = sum(1 for a in snap.apps if a.waiting)
        deploying = sum(1 for d in view.deployments if d.status == "running")
        sim = bool(agents) and all(a.kind == "sim" for a in agents)
        text.append(f" {snap.cluster_id}", style="bold")
        if sim:
            text.append(" (simulated agents)", style=p.warn)
        text.append("  agents ")
        text.append(f"{up}/{len(agents)} up", style=p.ok if up == len(agents) else p.bad)
        text.append(f"  apps {len(snap.apps)}  tasks {running} running")
        if staging:
            text.append(f" {staging} staging", style=p.warn)
        if deploying:
            text.append(f"  deploying {deploying}", style=p.info)
        if waiting:
            text.append(f"  waiting {waiting}", style=p.warn)
        width = self.size.width or 120
        text.truncate(width, overflow="ellipsis")
        text.append("\n")
        engine_health = view.engine_health
        if engine_health is not None and not engine_health.ready:
            # What the engine cannot do matters more than how full the agents are.
            problem = Text(no_wrap=True, overflow="ellipsis", end="")
            problem.append(" degraded: ", style=f"bold {p.bad}")
            problem.append("; ".join(engine_health.problems), style=p.bad)
            problem.truncate(width, overflow="ellipsis")
            text.append_text(problem)
            return text
        bar = 10 if width >= 110 else 6
        line2 = Text(no_wrap=True, overflow="ellipsis", end="")
        line2.append(" CPU ", style="bold")
        line2.append_text(gauge(used_cpus, cap_cpus, bar, p, f"{fmt_cpus(round(used_cpus, 2))}/{fmt_cpus(cap_cpus)}"))
        line2.append("   MEM ", style="bold")
        line2.append_text(gauge(used_mem, cap_mem, bar, p, f"{fmt_mem(used_mem)}/{fmt_mem(cap_mem)}"))
        line2.append("   PORTS ", style="bold")
        line2.append_text(gauge(ports_used, ports_cap, max(3, bar // 2), p, f"{ports_used}/{ports_cap}"))
        line2.truncate(width, overflow="ellipsis")
        text.append_text(line2)
        return text

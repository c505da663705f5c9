"""Why the selected app is as it is: its deployment's progress, why it waits, its last failure, its checks."""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.widgets import Static

from tui.engine_host import ConsoleView
from tui.render import deployment_words, first_line, fmt_duration
from tui.widgets.keyed_table import palette_of

MAX_AGENT_REASONS = 3


class AppDetail(Static):
    DEFAULT_CSS = """
    AppDetail { height: auto; max-height: 5; }
    """

    def __init__(self, *, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self._shown = Text()
        self._lines = -1

    def show(self, view: ConsoleView | None, app_id: str | None) -> None:
        text = self.describe(view, app_id)
        if text != self._shown:
            height = sum(max(1, -(-len(line) // max(1, self.size.width - 2))) for line in text.plain.split("\n"))
            self.update(text, layout=height != self._lines)  # a new layout only when its height changes
            self._shown, self._lines = text, height

    def describe(self, view: ConsoleView | None, app_id: str | None) -> Text:
        p = palette_of(self)
        text = Text(end="")
        app_view = view.apps.get(app_id) if view is not None and app_id else None
        if view is None or app_view is None:
            text.append("no app selected: n deploys one", style=p.muted)
            return text
        app = app_view.app
        lines: list[Text] = []
        for d in view.deployments_of(app.id):
            line = Text(f"deploying {deployment_words([d])} for {fmt_duration(self.clock() - d.started_at)}",
                        style=p.info, end="")
            if d.reason:
                line.append(f": {d.reason}")
            lines.append(line)
        task_ids = {t.task_id for t in view.snapshot.tasks.get(app.id, ())}
        for pull in view.snapshot.pulls:
            waiters = task_ids.intersection(pull.task_ids)
            if waiters:
                lines.append(Text(f"{pull.text} on {pull.agent} ({len(waiters)} task(s) wait for it)",
                                  style=p.info, end=""))
        waiting = app_view.waiting
        if waiting is not None:
            line = Text(f"waiting: {waiting.count} instance(s): {waiting.reason}", style=p.warn, end="")
            if waiting.delay_until:
                line.append(f" (next launch in {fmt_duration(waiting.delay_until - self.clock())})")
            reasons = sorted(waiting.rejections.items())[:MAX_AGENT_REASONS]
            if reasons:
                line.append(" · " + "; ".join(f"{agent}: {r.reason}" for agent, r in reasons), style=p.muted)
                more = len(waiting.rejections) - len(reasons)
                if more > 0:
                    line.append(f" (+{more} agents, see Queue)", style=p.muted)
            lines.append(line)
        failure = app_view.last_failure
        if failure:
            ts = str(failure.get("timestamp", ""))
            lines.append(Text(
                f"last failure {ts[:10]} {ts[11:19]} {failure.get('state', '')} on {failure.get('host', '?')}: "
                f"{first_line(failure.get('message', ''))}", style=p.bad, end=""))
        if not lines:
            healthy = f", {app_view.healthy} healthy" if app.health_checks else ""
            lines.append(Text(f"{app.id}: {app_view.running} of {app.instances} running{healthy}; nothing to report",
                              style=p.muted, end=""))
        return Text("\n", end="").join(lines)

"""The placement explanation: for every waiting app, why each agent refused its tasks."""

from __future__ import annotations

from collections import Counter
from typing import Callable

from rich.text import Text
from textual.widgets import Static

from tui.engine_host import ConsoleView
from tui.render import fmt_duration, matches
from tui.widgets.keyed_table import palette_of

MAX_AGENTS_SHOWN = 12


class QueueView(Static, can_focus=True):
    DEFAULT_CSS = """
    QueueView { height: 1fr; overflow-y: auto; }
    """

    def __init__(self, *, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.filter = ""
        self._view: ConsoleView | None = None
        self.waiting_apps: list[str] = []
        self._shown = Text()
        self._lines = -1

    def show(self, view: ConsoleView) -> None:
        self._view = view
        text = self.describe(view)
        if text != self._shown:
            height = sum(max(1, -(-len(line) // max(1, self.size.width - 2))) for line in text.plain.split("\n"))
            self.update(text, layout=height != self._lines)
            self._shown, self._lines = text, height

    def set_filter(self, text: str) -> None:
        self.filter = text
        if self._view is not None:
            self.show(self._view)

    def describe(self, view: ConsoleView) -> Text:
        p = palette_of(self)
        out = Text(end="")
        waiting = [a for a in view.snapshot.apps if a.waiting is not None and matches(self.filter, a.app.id)]
        self.waiting_apps = [a.app.id for a in waiting]
        pulls = [pull for pull in view.snapshot.pulls if matches(self.filter, f"{pull.image} {pull.agent}")]
        if pulls:
            out.append("Images being pulled (their tasks stage until the pull ends)\n", style="bold")
            for pull in pulls:
                out.append(f"  {pull.agent:<16} ", style=p.info)
                out.append(pull.text)
                out.append(f"  {len(pull.task_ids)} task(s), for {fmt_duration(self.clock() - pull.started_at)}\n",
                           style=p.muted)
            out.append("\n")
        if not waiting:
            out.append("Nothing is waiting: every app's tasks are placed.", style=p.muted)
            return out
        for app_view in waiting:
            w = app_view.waiting
            assert w is not None
            out.append(f"{app_view.app.id}", style="bold")
            out.append(f"  {w.count} instance(s) waiting: ", style=p.warn)
            out.append(w.reason)
            if w.delay_until:
                out.append(f"  next launch in {fmt_duration(w.delay_until - self.clock())} (backoff)", style=p.warn)
            out.append("\n")
            if w.rejections:
                steps = Counter(r.step for r in w.rejections.values())
                out.append("  refused by: " + ", ".join(f"{step} ({n} agent(s))" for step, n in steps.most_common()),
                           style=p.muted)
                out.append("\n")
                for agent, r in sorted(w.rejections.items())[:MAX_AGENTS_SHOWN]:
                    out.append(f"    {agent:<16} ", style=p.info)
                    out.append(f"{r.step:<10} ", style=p.bad)
                    out.append(f"{r.reason.removeprefix(r.step + ': ')}\n")
                more = len(w.rejections) - MAX_AGENTS_SHOWN
                if more > 0:
                    out.append(f"    … and {more} more agent(s)\n", style=p.muted)
            out.append("\n")
        return out

"""The logs pane: output of one task or of a whole app, following, with search, pause, wrap and timestamps.

Lines arrive in batches from the engine thread (`LinesArrived`); the last
`MAX_LINES` are kept in memory and shown in a capped `Log`. Pausing keeps
collecting (still capped) and shows the backlog on resume. While the pane is
hidden (another tab is shown) lines are only kept: writing them into the Log
would make the whole screen lay out again for every batch.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Log, Static

from tui.engine_host import ConsoleHost
from tui.render import matches, short_task_id

MAX_LINES = 10_000


class LogViewer(Vertical):
    DEFAULT_CSS = """
    LogViewer { height: 1fr; }
    LogViewer > #log-status { height: 1; }
    LogViewer > Log { height: 1fr; }
    """
    BINDINGS: ClassVar = [
        Binding("p", "toggle_pause", "Pause", id="logs.pause", tooltip="Stop scrolling new lines in (they are kept)"),
        Binding("w", "toggle_wrap", "Wrap", id="logs.wrap", tooltip="Wrap long lines"),
        Binding("t", "toggle_timestamps", "Times", id="logs.timestamps", tooltip="Show when each line arrived"),
        Binding("c", "clear", "Clear", id="logs.clear", tooltip="Forget the lines shown so far"),
    ]

    class LinesArrived(Message):
        def __init__(self, lines: list[tuple[str, str]], stamp: float) -> None:
            super().__init__()
            self.lines = lines
            self.stamp = stamp

    def __init__(self, host: ConsoleHost, *, wrap: bool = False, timestamps: bool = False,
                 clock: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.host = host
        self.clock = clock
        self.wrap = wrap
        self.timestamps = timestamps
        self.paused = False
        self.search = ""
        self.app_id: str | None = None
        self.task_id: str | None = None
        self.received = 0
        self.backlog = 0
        self.unshown = 0
        """Lines kept while the pane was hidden, written when it is shown again."""
        self.visible = True
        """Set by the screen from the active tab."""
        self._kept: deque[tuple[float, str, str]] = deque(maxlen=MAX_LINES)
        self._last_status = ""

    def compose(self) -> ComposeResult:
        yield Static("no logs followed: select an app or a task and press l", id="log-status")
        yield Log(max_lines=MAX_LINES, highlight=False, auto_scroll=True, id="log-lines")

    @property
    def log_widget(self) -> Log:
        return self.query_one("#log-lines", Log)

    # -- following ------------------------------------------------------------------------

    def follow(self, app_id: str, task_id: str | None = None) -> None:
        self.app_id, self.task_id = app_id, task_id
        self._kept.clear()
        self.received = self.backlog = self.unshown = 0
        self.log_widget.clear()
        self.log_widget.border_title = f"Logs of {app_id}" + (f" task {short_task_id(task_id)}" if task_id else
                                                              " (every task)")
        self.app.run_worker(self._follow(app_id, task_id), name=f"logs of {task_id or app_id}", group="logs",
                            exclusive=True, exit_on_error=False)
        self._status()

    async def _follow(self, app_id: str, task_id: str | None) -> None:
        def sink(lines: list[tuple[str, str]]) -> None:
            self.post_message(self.LinesArrived(lines, self.clock()))

        await self.host.follow(app_id, task_id, sink)

    def on_log_viewer_lines_arrived(self, message: LinesArrived) -> None:
        message.stop()
        new = [(message.stamp, tid, line) for tid, line in message.lines]
        self.received += len(new)
        self._kept.extend(new)
        if self.paused:
            self.backlog += len(new)
        elif not self.visible:
            self.unshown = min(MAX_LINES, self.unshown + len(new))
        else:
            self._write(new)
        self._status()

    def show_unshown(self) -> None:
        """The pane is visible again: write what came while it was hidden (the last MAX_LINES at most)."""
        if self.unshown and not self.paused:
            self._write(list(self._kept)[-self.unshown:])
        self.unshown = 0

    # -- showing -------------------------------------------------------------------------

    def _format(self, stamp: float, task_id: str, line: str) -> str:
        prefix = ""
        if self.timestamps:
            prefix += time.strftime("%H:%M:%S ", time.localtime(stamp))
        if self.task_id is None:
            prefix += f"[{short_task_id(task_id)}] "
        return prefix + line

    def _write(self, entries: list[tuple[float, str, str]]) -> None:
        lines = [self._format(*e) for e in entries if matches(self.search, e[2])]
        if self.wrap:
            width = max(20, self.log_widget.scrollable_content_region.width - 1)
            lines = [chunk for line in lines for chunk in (line[i:i + width] for i in range(0, max(len(line), 1), width))]
        if lines:
            self.log_widget.write_lines(lines)

    def _redraw(self) -> None:
        self.log_widget.clear()
        self.backlog = self.unshown = 0
        self._write(list(self._kept))
        self._status()

    def _status(self) -> None:
        if self.app_id is None:
            return
        subject = f"task {short_task_id(self.task_id)} of {self.app_id}" if self.task_id else f"all tasks of {self.app_id}"
        flags = [name for name, on in (("wrap", self.wrap), ("timestamps", self.timestamps)) if on]
        state = f"PAUSED, {self.backlog} new line(s) waiting" if self.paused else "following"
        search = f"  search: {self.search!r}" if self.search else ""
        status = f"{subject}: {state}, {len(self._kept)} line(s) kept{search}  {' '.join(flags)}"
        if status != self._last_status:
            self._last_status = status
            self.query_one("#log-status", Static).update(Text(status), layout=False)

    # -- keys ---------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self.backlog:
            self._write(list(self._kept)[-self.backlog:])
            self.backlog = 0
        self._status()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self._remember(log_wrap=self.wrap)
        self._redraw()

    def action_toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self._remember(log_timestamps=self.timestamps)
        self._redraw()

    def _remember(self, **changes: object) -> None:
        remember = getattr(self.app, "remember", None)
        if remember is not None:
            remember(**changes)

    def action_clear(self) -> None:
        self._kept.clear()
        self._redraw()

    def set_filter(self, text: str) -> None:
        self.search = text
        self._redraw()

"""`?`: every key, where it works and what it does, read from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar, Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

NAVIGATION = (
    ("↑ ↓  PgUp PgDn  Home End", "Move in a table, a list or the logs"),
    ("Enter", "Choose (in lists and dialogs)"),
    ("Escape", "Close a dialog or the filter"),
)


def _bindings(source: Iterable[BindingType], ids: Iterable[str] | None = None) -> list[Binding]:
    found = [b for b in source if isinstance(b, Binding)]
    if ids is None:
        return found
    wanted = list(ids)
    by_id = {b.id: b for b in found}
    return [by_id[i] for i in wanted if i in by_id]


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("q", "close", "Close", id="help.q", show=False),
        Binding("question_mark", "close", "Close", id="help.question", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box help"):
            yield Label("pacer keys  (Escape closes; ↑ ↓ scroll)", classes="dialog-question")
            with VerticalScroll(id="help-scroll"):
                yield Static(self.render_keys(), id="help-keys")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def sections(self) -> list[tuple[str, list[Binding]]]:
        from tui.app import PacerApp
        from tui.screens.dialogs import ConfirmScreen
        from tui.screens.editor import EditorScreen
        from tui.screens.main import MainScreen
        from tui.widgets.apps_table import AppsTable
        from tui.widgets.filter_bar import FilterBar
        from tui.widgets.log_viewer import LogViewer

        main = MainScreen.BINDINGS
        return [
            ("Everywhere", _bindings(PacerApp.BINDINGS) + _bindings(
                main, ["next_pane", "previous_pane", *(f"pane_{t}" for t in
                                                       ("apps", "agents", "deployments", "health", "queue", "events",
                                                        "logs"))])),
            ("Apps and Tasks panes (the selected app)", _bindings(
                main, ["scale_up", "scale_down", "set_instances", "deploy", "edit", "restart", "delete",
                       "cancel_deployment", "versions", "logs", "kill_task", "filter"]) + _bindings(AppsTable.BINDINGS)),
            ("Deployments pane", _bindings(main, ["cancel_deployment", "filter"])),
            ("Agents pane", _bindings(main, ["drain_agent", "resume_agent", "filter"])),
            ("Logs pane", _bindings(LogViewer.BINDINGS) + _bindings(main, ["filter"])),
            ("Filter prompt", _bindings(FilterBar.BINDINGS)),
            ("App editor", _bindings(EditorScreen.BINDINGS)),
            ("Questions", _bindings(ConfirmScreen.BINDINGS)),
        ]

    def render_keys(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column("key", style="bold", no_wrap=True, min_width=9)
        table.add_column("what it does")
        for title, bindings in self.sections():
            table.add_row(Text(title, style="bold underline"), "")
            for binding in bindings:
                key = self.app.get_key_display(binding)
                if binding.id == "filter" and title == "Logs pane":
                    what = "Search the followed lines (only matching lines are shown)"
                elif binding.id == "cancel_deployment" and title == "Deployments pane":
                    what = "Cancel the selected deployment and roll back"
                else:
                    what = binding.tooltip or binding.description
                table.add_row(key, what)
            table.add_row("", "")
        table.add_row(Text("Moving around", style="bold underline"), "")
        for key, what in NAVIGATION:
            table.add_row(key, what)
        return table

    def action_close(self) -> None:
        self.dismiss(None)

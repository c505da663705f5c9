"""`?`: every key, where it works and what it does, read from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar, Iterable

from rich.console import Group
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

    def render_keys(self) -> Group:
        tables = []
        sections = [(title, [(self.app.get_key_display(b), self._what(title, b)) for b in bindings])
                    for title, bindings in self.sections()]
        sections.append(("Moving around", list(NAVIGATION)))
        for title, rows in sections:
            table = Table(title=Text(title, style="bold underline"), title_justify="left", show_header=False,
                          box=None, padding=(0, 1), expand=False)
            table.add_column("key", style="bold", no_wrap=True, min_width=10)
            table.add_column("what it does")
            for key, what in rows:
                table.add_row(key, what)
            tables.append(table)
            tables.append(Text(""))
        return Group(*tables)

    @staticmethod
    def _what(title: str, binding: Binding) -> str:
        if binding.id == "filter" and title == "Logs pane":
            return "Search the followed lines (only matching lines are shown)"
        if binding.id == "cancel_deployment" and title == "Deployments pane":
            return "Cancel the selected deployment and roll back"
        return binding.tooltip or binding.description

    def action_close(self) -> None:
        self.dismiss(None)

"""Pick an earlier version of an app to roll back to."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class VersionsScreen(ModalScreen["str | None"]):
    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel", id="versions.cancel")]

    def __init__(self, app_id: str, versions: list[str], current: str | None) -> None:
        super().__init__(classes="dialog")
        self.app_id = app_id
        self.versions = sorted(versions, reverse=True)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(Text(f"Roll {self.app_id} back to which version?"), classes="dialog-question")
            yield OptionList(
                *(Option(Text(f"{v}{'  (current)' if v == self.current else ''}"), id=v, disabled=v == self.current)
                  for v in self.versions),
                id="versions",
            )
            yield Label("Enter: roll back    Escape: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        for index, version in enumerate(self.versions):
            if version != self.current:
                options.highlighted = index
                break

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

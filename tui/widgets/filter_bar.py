"""The `/` prompt: filters the focused pane as you type; Enter keeps the filter, Escape clears it."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    BINDINGS: ClassVar = [
        Binding("escape", "cancel", "Clear filter", id="filter.cancel"),
    ]

    class Cancelled(Message):
        """The operator pressed Escape: clear the filter and go back to the pane."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, placeholder="filter…  (Enter keeps it, Escape clears it)")
        self.target: str | None = None

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())

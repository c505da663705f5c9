"""Small modal dialogs: yes/no, type-to-confirm, and a number prompt."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("enter", "answer(True)", "Yes", id="confirm.enter", show=False),
        Binding("n", "answer(False)", "No", id="confirm.no"),
        Binding("escape", "answer(False)", "No", id="confirm.escape", show=False),
    ]

    def __init__(self, question: str) -> None:
        super().__init__(classes="dialog")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(Text(self.question), classes="dialog-question")
            yield Label("y / Enter: yes    n / Escape: no", classes="dialog-hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TypeToConfirmScreen(ModalScreen[bool]):
    """Only typing the exact word (an app id) confirms."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel", id="typed.cancel")]

    def __init__(self, question: str, word: str) -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.word = word

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(Text(self.question), classes="dialog-question")
            yield Input(placeholder=self.word, id="typed")
            yield Label("Enter: confirm    Escape: cancel", classes="dialog-hint", id="typed-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        typed = event.value.strip()
        if typed == self.word or "/" + typed.lstrip("/") == self.word:
            self.dismiss(True)
        else:
            self.query_one("#typed-hint", Label).update(Text(f"type exactly {self.word} to confirm, or Escape to cancel"))

    def action_cancel(self) -> None:
        self.dismiss(False)


class PromptScreen(ModalScreen["int | None"]):
    """Ask for a whole number >= 0."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(Text(self.question), classes="dialog-question")
            yield Input(self.value, type="integer", id="number")
            yield Label("Enter: apply    Escape: cancel", classes="dialog-hint", id="prompt-hint")

    def on_mount(self) -> None:
        number = self.query_one("#number", Input)
        number.focus()
        number.action_select_all()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            value = int(event.value)
        except ValueError:
            value = -1
        if value < 0:
            self.query_one("#prompt-hint", Label).update("a whole number, 0 or more")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)

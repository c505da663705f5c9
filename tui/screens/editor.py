"""The in-console editor of an app definition: JSON in a text area, validated by the engine on save.

Every validation error is marked on the line of its field (found from its JSON
pointer) and listed below with its line; Enter on an error jumps to it.
ctrl+o hands the text to $EDITOR and takes back what it saved.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Awaitable, Callable, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from engine import AppValidationError, Deployment, FieldError
from tui.widgets.app_editor import AppEditor, locate

Submit = Callable[..., Awaitable[Deployment]]


class EditorScreen(ModalScreen["Deployment | None"]):
    BINDINGS: ClassVar = [
        Binding("ctrl+s", "save(False)", "Save", id="editor.save", priority=True,
                tooltip="Validate and apply the definition"),
        Binding("ctrl+f", "save(True)", "Save (force)", id="editor.force", priority=True,
                tooltip="Apply even if a deployment is in progress (it is replaced)"),
        Binding("ctrl+o", "external", "$EDITOR", id="editor.external", priority=True,
                tooltip="Edit in $EDITOR, then come back here"),
        Binding("escape", "cancel", "Cancel", id="editor.cancel", priority=True, tooltip="Close without applying"),
    ]

    def __init__(self, title: str, text: str, submit: Submit, *, errors: AppValidationError | None = None,
                 syntax_error: ValueError | None = None) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.text = text
        self.submit = submit
        self.initial_errors = errors
        self.initial_syntax_error = syntax_error
        self.saving = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box editor"):
            yield Label(Text(self.title_text), classes="dialog-question")
            yield AppEditor(self.text, id="app-json")
            yield OptionList(id="errors")
            yield Label("ctrl+s: save    ctrl+f: save (force)    ctrl+o: $EDITOR    Escape: cancel",
                        classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#errors", OptionList).display = False
        self.query_one(AppEditor).focus()
        if self.initial_errors is not None:
            self.show_errors(self.initial_errors.errors)
        elif self.initial_syntax_error is not None:
            self.show_syntax_error(self.initial_syntax_error)

    # -- errors ------------------------------------------------------------------------------------

    def show_errors(self, errors: list[FieldError]) -> None:
        editor = self.query_one(AppEditor)
        text = editor.text
        marks: dict[int, str] = {}
        options = []
        for index, error in enumerate(errors):
            line, column = locate(text, error.path)
            marks.setdefault(line, f"{error.path}: {error.message}")
            options.append(Option(Text(f"line {line + 1}: {error.path}: {error.message}"), id=f"{index}:{line}:{column}"))
        editor.mark_errors(marks)
        listing = self.query_one("#errors", OptionList)
        listing.clear_options()
        listing.add_options(options)
        listing.display = bool(options)
        if options:
            _, line, column = str(options[0].id).split(":")
            editor.move_cursor((int(line), int(column)), center=True)

    def show_syntax_error(self, error: ValueError) -> None:
        line = getattr(error, "lineno", 1) - 1
        column = getattr(error, "colno", 1) - 1
        self.query_one(AppEditor).mark_errors({line: str(error)})
        listing = self.query_one("#errors", OptionList)
        listing.clear_options()
        listing.add_option(Option(Text(f"line {line + 1}: not valid JSON: {getattr(error, 'msg', error)}"),
                                  id=f"0:{line}:{column}"))
        listing.display = True
        self.query_one(AppEditor).move_cursor((line, column), center=True)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        _, line, column = str(event.option.id).split(":")
        editor = self.query_one(AppEditor)
        editor.move_cursor((int(line), int(column)), center=True)
        editor.focus()

    # -- actions -----------------------------------------------------------------------------------

    def action_save(self, force: bool) -> None:
        if self.saving:
            return
        editor = self.query_one(AppEditor)
        try:
            data = editor.parse()
        except ValueError as exc:
            self.show_syntax_error(exc)
            self.notify(f"not valid JSON: {exc}", title="invalid app", severity="error")
            return
        self.saving = True
        self.app.run_worker(self._save(data, force), name=f"save {self.title_text}", group="commands",
                            exit_on_error=False)

    async def _save(self, data: Any, force: bool) -> None:
        try:
            deployment = await self.submit(data, force=force)
        except AppValidationError as exc:
            self.show_errors(exc.errors)
            raise
        finally:
            self.saving = False
        self.dismiss(deployment)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "external":
            return bool(os.environ.get("VISUAL") or os.environ.get("EDITOR"))
        return True

    def action_external(self) -> None:
        command = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not command:
            return
        editor = self.query_one(AppEditor)
        with tempfile.TemporaryDirectory(prefix="pacer-edit-") as folder:
            path = Path(folder) / "app.json"
            path.write_text(editor.text, encoding="utf-8")
            with self.app.suspend():
                subprocess.run([*shlex.split(command), str(path)], check=False)
            editor.load_text(path.read_text(encoding="utf-8"))
        editor.mark_errors({})
        self.query_one("#errors", OptionList).display = False

    def action_cancel(self) -> None:
        self.dismiss(None)


def pretty(data: Any) -> str:
    return json.dumps(data, indent=2)

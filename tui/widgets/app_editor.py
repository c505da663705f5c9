"""A JSON editor for an app definition that marks the lines of invalid fields.

`locate(text, "/container/docker/image")` finds where a field (or, when the
field is missing, its nearest parent) is written, so validation errors from the
engine, which carry JSON pointers, can be shown at their field.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.widgets import TextArea

from tui.widgets.keyed_table import palette_of


class _Scanner:
    """Records where each JSON path starts in the text; stops quietly at the first syntax error."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.positions: dict[tuple[str, ...], int] = {(): 0}

    def _ws(self) -> None:
        s, n = self.s, len(self.s)
        while self.i < n and s[self.i] in " \t\r\n":
            self.i += 1

    def _string(self) -> str:
        start = self.i
        if self.s[self.i] != '"':
            raise ValueError("string expected")
        self.i += 1
        while self.s[self.i] != '"':
            self.i += 2 if self.s[self.i] == "\\" else 1
        self.i += 1
        decoded: str = json.loads(self.s[start:self.i])
        return decoded

    def value(self, path: tuple[str, ...]) -> None:
        self._ws()
        c = self.s[self.i]
        if c == "{":
            self._object(path)
        elif c == "[":
            self._array(path)
        elif c == '"':
            self._string()
        else:
            while self.i < len(self.s) and self.s[self.i] not in ",]} \t\r\n":
                self.i += 1

    def _object(self, path: tuple[str, ...]) -> None:
        self.i += 1
        self._ws()
        if self.s[self.i] == "}":
            self.i += 1
            return
        while True:
            self._ws()
            start = self.i
            key = self._string()
            self.positions[path + (key,)] = start
            self._ws()
            if self.s[self.i] != ":":
                raise ValueError("':' expected")
            self.i += 1
            self.value(path + (key,))
            self._ws()
            c = self.s[self.i]
            self.i += 1
            if c == "}":
                return
            if c != ",":
                raise ValueError("',' expected")

    def _array(self, path: tuple[str, ...]) -> None:
        self.i += 1
        self._ws()
        if self.s[self.i] == "]":
            self.i += 1
            return
        index = 0
        while True:
            self._ws()
            self.positions[path + (str(index),)] = self.i
            self.value(path + (str(index),))
            self._ws()
            c = self.s[self.i]
            self.i += 1
            if c == "]":
                return
            if c != ",":
                raise ValueError("',' expected")
            index += 1


def locate(text: str, pointer: str) -> tuple[int, int]:
    """(line, column), 0-based, of the field at a JSON pointer, or of its nearest written parent."""
    scanner = _Scanner(text)
    try:
        scanner.value(())
    except (IndexError, ValueError):
        pass
    parts = tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer.strip().split("/")[1:] if p != "")
    while parts not in scanner.positions:
        parts = parts[:-1]
    offset = scanner.positions[parts]
    line = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return line, column


class AppEditor(TextArea):
    """TextArea for app JSON; lines in `error_lines` are marked."""

    def __init__(self, text: str, *, id: str | None = None) -> None:
        super().__init__(text, id=id, show_line_numbers=True, tab_behavior="indent", soft_wrap=False)
        self.error_lines: dict[int, str] = {}

    def mark_errors(self, errors: dict[int, str]) -> None:
        self.error_lines = dict(errors)
        cache = getattr(self, "_line_cache", None)  # rendered lines are cached; the marks change them
        if cache is not None:
            cache.clear()
        self.refresh()

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        if line_index in self.error_lines:
            line.stylize(f"bold underline {palette_of(self).bad}")
        return line

    def parse(self) -> Any:
        return json.loads(self.text)

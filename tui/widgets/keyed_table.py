"""A DataTable whose rows are keyed by id and kept in sync in place.

`sync(rows)` takes {key: raw values}; rows that appeared are added, rows that
went are removed, and in rows that changed only the changed cells are
updated. The table is never cleared and rebuilt, and the cursor stays on the
same key when rows come, go or move.
"""

from __future__ import annotations

from typing import Any, ClassVar, Hashable, Mapping, Sequence

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from tui.render import Palette

Raw = tuple[Hashable, ...]


def palette_of(widget: Any) -> Palette:
    return getattr(widget.app, "palette", None) or Palette()


def cell(value: object, style: str = "", *, justify: str = "left") -> Text:
    return Text(str(value), style=style, no_wrap=True, overflow="ellipsis", end="", justify=justify)  # type: ignore[arg-type]


class KeyedTable(DataTable[Any]):
    COLUMNS: ClassVar[Sequence[tuple[str, str, int | None]]] = ()
    """(column key, label, width or None for auto)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._raw: dict[str, Raw] = {}
        self._cells: dict[str, tuple[Any, ...]] = {}

    def on_mount(self) -> None:
        for key, label, width in self.COLUMNS:
            self.add_column(label, key=key, width=width)

    # -- to implement ----------------------------------------------------------------

    def format_row(self, key: str, raw: Raw) -> tuple[Any, ...]:
        return tuple(cell(v) for v in raw)

    # -- sync --------------------------------------------------------------------------

    @property
    def keys(self) -> list[str]:
        return list(self._raw)

    def raw(self, key: str) -> Raw | None:
        return self._raw.get(key)

    @property
    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            row_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        except Exception:  # noqa: BLE001 - CellDoesNotExist while rows are changing
            return None
        return None if row_key.value is None else str(row_key.value)

    def select_key(self, key: str) -> bool:
        if key not in self._raw:
            return False
        row = self.get_row_index(key)
        if row != self.cursor_row:
            self.move_cursor(row=row, animate=False)
        return True

    def sync(self, rows: Mapping[str, Raw]) -> bool:
        """Make the table show `rows`; returns whether rows were added or removed."""
        selected = self.selected_key
        structural = False
        for key in [k for k in self._raw if k not in rows]:
            self.remove_row(key)
            del self._raw[key]
            self._cells.pop(key, None)
            structural = True
        for key, raw in rows.items():
            old = self._raw.get(key)
            if old == raw:
                continue
            cells = self.format_row(key, raw)
            if old is None:
                self.add_row(*cells, key=key)
                structural = True
            else:
                previous = self._cells.get(key, ())
                for (column, _, _), new, before in zip(self.COLUMNS, cells, previous):
                    if new != before:
                        self.update_cell(key, column, new)
            self._raw[key] = raw
            self._cells[key] = cells
        if structural and selected is not None:
            self.select_key(selected)
        return structural

    def reset(self) -> None:
        """Forget every row (a different subject, such as another app's tasks)."""
        self.clear()
        self._raw.clear()
        self._cells.clear()

    def reformat(self) -> None:
        """Format every row again (the theme changed)."""
        for key, raw in self._raw.items():
            cells = self.format_row(key, raw)
            for (column, _, _), new in zip(self.COLUMNS, cells):
                self.update_cell(key, column, new)
            self._cells[key] = cells

"""A DataTable whose rows are keyed by id and kept in sync in place.

`sync(rows)` takes {key: raw values}; rows that appeared are added, rows that
went are removed, and in rows that changed only the changed cells are
updated. The table is never cleared and rebuilt, and the cursor stays on the
same key when rows come, go or move.
"""

from __future__ import annotations

from typing import Any, ClassVar, Hashable, Mapping, Sequence

from rich.segment import Segment
from rich.style import Style
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
    NARROW: ClassVar[Mapping[str, int]] = {}
    """Narrower widths for some columns when the terminal is under 100 columns wide."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._raw: dict[str, Raw] = {}
        self._cells: dict[str, tuple[Any, ...]] = {}

    def on_mount(self) -> None:
        # DataTable caches cell styles in one lru_cache per class, keyed by the table object (its id): a new
        # table at the address of a dead one (another app, another theme) would get its styles. Start clean.
        self._get_styles_to_render_cell.cache_clear()
        narrow = self.app.size.width < 100
        for key, label, width in self.COLUMNS:
            self.add_column(label, key=key, width=self.NARROW.get(key, width) if narrow else width)

    def on_resize(self) -> None:
        narrow = self.app.size.width < 100
        changed = False
        for key, _, width in self.COLUMNS:
            want = self.NARROW.get(key, width) if narrow else width
            column = self.columns.get(key)  # type: ignore[call-overload]
            if column is not None and want is not None and column.width != want:
                column.width = want
                changed = True
        if changed:
            self._require_update_dimensions = True  # DataTable recomputes its layout on the next refresh
            self.refresh(layout=True)

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

    def update_row(self, key: str, raw: Raw) -> None:
        """Change one existing row in place (cheaper than a `sync` of every row)."""
        old = self._raw.get(key)
        if old is None or old == raw:
            return
        cells = self.format_row(key, raw)
        for (column, _, _), new, before in zip(self.COLUMNS, cells, self._cells.get(key, ())):
            if new != before:
                self.update_cell(key, column, new)
        self._raw[key] = raw
        self._cells[key] = cells

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> Any:
        """DataTable's cell rendering, with a fast path for our one-line Text cells.

        The stock path renders every cell through Rich's Padding and Styled, and every update or focus
        change re-renders every visible cell; for one line of Text the same segments can be made directly.
        Anything else (the header, labels, other renderables) takes the stock path.
        """
        if row_index < 0 or column_index < 0 or self.cell_padding != 1:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        try:
            row_key = self._row_locations.get_key(row_index)
            column_key = self._column_locations.get_key(column_index)
            key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor, self._update_count,
                   self._pseudo_class_state)
            cached = self._cell_render_cache.get(key)
            if cached is not None:
                return cached
            value = self._data[row_key][column_key]
            fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        except (AttributeError, KeyError):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        if not isinstance(value, Text) or self.rows[row_key].height != 1 or "\n" in value.plain:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, fixed, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        inner = value.copy()
        room = max(0, width - 2)
        inner.truncate(room, overflow="ellipsis")
        gap = room - inner.cell_len
        if gap > 0:
            if value.justify == "right":
                inner.pad_left(gap)
            elif value.justify == "center":
                inner.pad_left(gap // 2)
                inner.pad_right(gap - gap // 2)
            else:
                inner.pad_right(gap)
        line = Text(" ", end="") + inner + Text(" ", end="")
        style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        segments = list(Segment.apply_style(line.render(self.app.console), style, post_style))
        lines = [segments]
        self._cell_render_cache[key] = lines
        return lines

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

"""A DataTable whose rows are keyed by id and kept in sync in place.

`sync(rows)` takes {key: raw values}; rows that appeared are added, rows that
went are removed, and in rows that changed only the changed cells are
updated. The table is never cleared and rebuilt, and the cursor stays on the
same key when rows come, go or move.

Rendering is cached per cell and per line by what each depends on (the row's
own version, whether the cursor is on it), where DataTable's own caches are
keyed by a table-wide update count and the cursor position: with those, one
changed cell or one cursor step re-renders every visible line.

Textual internals: the cached lines go through the public `render_line`, but
cells are drawn by overriding DataTable's private `_render_cell`, and a few
other private names are read (each is marked "Textual private" below, with
why there is no public way). tests/tui/test_keyed_table_internals.py fails
by name when a Textual upgrade removes or changes one of them; textual is
pinned to the tested minor version in pyproject.toml.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar, Hashable, Mapping, Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from tui.render import Palette

Raw = tuple[Hashable, ...]


def _value(key: Any) -> str:
    return str(key.value) if isinstance(key, (RowKey, ColumnKey)) else str(key)


def palette_of(widget: Any) -> Palette:
    return getattr(widget.app, "palette", None) or Palette()


def cell(value: object, style: str = "", *, justify: str = "left") -> Text:
    return Text(str(value), style=style, no_wrap=True, overflow="ellipsis", end="", justify=justify)  # type: ignore[arg-type]


class KeyedTable(DataTable[Any]):
    COLUMNS: ClassVar[Sequence[tuple[str, str, int | None]]] = ()
    """(column key, label, width or None for auto)."""
    NARROW: ClassVar[Mapping[str, int]] = {}
    """Narrower widths for some columns when the terminal is under 100 columns wide."""
    NARROW_LABELS: ClassVar[Mapping[str, str]] = {}
    """Shorter headers for those narrow columns."""

    _repaint_only_row: int | None = None
    """Set while `update_cell` runs: the row that DataTable's whole-table `refresh()` is narrowed to."""
    _in_pass: bool = False
    """Set while `render_lines` runs: rows and columns stay put, and the `_pass_*` values hold."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._raw: dict[str, Raw] = {}
        self._cells: dict[str, tuple[Any, ...]] = {}
        self._row_gen: dict[str, int] = {}
        self._cell_ver: dict[tuple[str, str], int] = {}
        self._row_ver: dict[str, int] = {}
        self._gens = itertools.count(1)
        self._shape = 0
        """Bumped by what changes every line: columns, sorting, clearing, resizing. A style change (focus
        moving, the theme) is not one: the styles a line is drawn with are part of its cache key."""
        self._pass_key: tuple[Any, ...] = ()
        self._pass_style = Style()
        self._pass_rows: list[Any] = []
        self._pass_columns: list[ColumnKey] = []
        self._pass_pseudo: Any = None
        self._pass_fixed_height = 0
        self._pass_header_height = 0
        self._one_line_rows = True
        """Every row is one line high (KeyedTable's always are), so line y shows row y - header height."""
        self._lines: LRUCache[tuple[Any, ...], Any] = LRUCache(300)
        # Caches sized for a screenful or two: every cached line is a Strip with a dozen objects the
        # garbage collector walks on each full collection, and a big table churns through new rows.
        self._fast_cells: LRUCache[tuple[Any, ...], list[list[Segment]]] = LRUCache(1500)
        """Our own cell cache: DataTable clears its own on every focus change."""
        # Textual private: DataTable's own caches (1,000 lines, 1,000 rows, 10,000 cells), used only when
        # ours miss and keyed by its update count, so mostly dead entries. Their sizes are not parameters.
        for name, size in (("_line_cache", 64), ("_row_render_cache", 64), ("_cell_render_cache", 500)):
            cache = getattr(self, name, None)
            if isinstance(cache, LRUCache):
                cache.maxsize = size

    def on_mount(self) -> None:
        # DataTable caches cell styles in one lru_cache per class, keyed by the table object (its id): a new
        # table at the address of a dead one (another app, another theme) would get its styles. Start clean.
        # (Textual private `_get_styles_to_render_cell`: see `_render_cell`.)
        self._get_styles_to_render_cell.cache_clear()
        narrow = self.app.size.width < 100
        for key, label, width in self.COLUMNS:
            self.add_column(self.NARROW_LABELS.get(key, label) if narrow else label, key=key,
                            width=self.NARROW.get(key, width) if narrow else width)

    def on_resize(self) -> None:
        # (Textual calls one handler per class, `_on_resize` before `on_resize`: this is the only one here.)
        self._shape += 1
        narrow = self.app.size.width < 100
        changed = False
        columns_width = sum(c.get_render_width(self) for c in self.columns.values())
        for key, label, width in self.COLUMNS:
            want = self.NARROW.get(key, width) if narrow else width
            column = self.columns.get(key)  # type: ignore[call-overload]
            if column is not None and want is not None and column.width != want:
                column.width = want
                column.label = Text(self.NARROW_LABELS.get(key, label) if narrow else label)
                changed = True
        if changed:
            # The scrollable width follows the columns: what DataTable recomputes when idle after its own
            # changes (no public call asks it to), done here by the change in the columns' width.
            width_change = sum(c.get_render_width(self) for c in self.columns.values()) - columns_width
            self.virtual_size = Size(max(0, self.virtual_size.width + width_change), self.virtual_size.height)
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

    # -- cheaper rendering ---------------------------------------------------------------------

    def add_row(self, *cells: Any, height: int | None = 1, key: str | None = None, label: Any = None) -> RowKey:
        row_key = super().add_row(*cells, height=height, key=key, label=label)
        if height != 1:
            self._one_line_rows = False  # lines no longer map to rows by arithmetic: stock line rendering
        if key is not None:
            self._row_gen[key] = next(self._gens)
        return row_key

    def update_cell(self, row_key: RowKey | str, column_key: ColumnKey | str, value: Any, *,
                    update_width: bool = False) -> None:
        row_key = RowKey(row_key) if isinstance(row_key, str) else row_key
        column_key = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        if update_width or row_key not in self.rows or column_key not in self.columns:
            super().update_cell(row_key, column_key, value, update_width=update_width)
        else:
            # DataTable's update_cell ends with a bare `refresh()` of the whole table; a changed cell needs
            # only its row repainted (see `refresh`).
            self._repaint_only_row = self.get_row_index(row_key)
            try:
                super().update_cell(row_key, column_key, value)
            finally:
                self._repaint_only_row = None
        row = _value(row_key)
        cell_id = (row, _value(column_key))
        self._cell_ver[cell_id] = self._cell_ver.get(cell_id, 0) + 1
        self._row_ver[row] = self._row_ver.get(row, 0) + 1
        if update_width:
            self._shape += 1

    def refresh(self, *regions: Any, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Any:
        """Widget's, except that the bare `refresh()` DataTable's `update_cell` ends with repaints one row."""
        row = self._repaint_only_row
        if row is not None and not regions and repaint and not layout and not recompose:
            self._repaint_only_row = None
            return self.refresh_row(row)  # which refreshes the row's region: back here, with a region
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def remove_row(self, row_key: RowKey | str) -> None:
        super().remove_row(row_key)
        row = _value(row_key)
        self._row_gen.pop(row, None)
        self._row_ver.pop(row, None)
        for column, _, _ in self.COLUMNS:
            self._cell_ver.pop((row, column), None)

    def add_column(self, label: Any, *, width: int | None = None, key: str | None = None,
                   default: Any = None) -> ColumnKey:
        self._shape += 1
        return super().add_column(label, width=width, key=key, default=default)

    def sort(self, *columns: Any, key: Any = None, reverse: bool = False) -> "KeyedTable":
        self._shape += 1
        return super().sort(*columns, key=key, reverse=reverse)  # type: ignore[return-value]

    def clear(self, columns: bool = False) -> "KeyedTable":
        self._shape += 1
        return super().clear(columns)  # type: ignore[return-value]

    @property
    def rich_style(self) -> Style:
        """The table's style, taken once per render pass: DataTable's `render_line` reads it for every line
        and each read walks the styles of every ancestor."""
        return self._pass_style if self._in_pass else super().rich_style

    def render_lines(self, crop: Any) -> Any:
        # What every line of this pass depends on, computed once per pass, not once per line.
        self._pass_style = super().rich_style
        self._pass_rows = self.ordered_rows
        columns = self.ordered_columns
        self._pass_columns = [column.key for column in columns]
        self._pass_pseudo = self.get_pseudo_class_state()  # what DataTable keys its caches on, the same way
        self._pass_header_height = self.header_height if self.show_header else 0
        fixed_rows = self.fixed_rows
        self._pass_fixed_height = self._pass_header_height + (
            sum(row.height for row in self._pass_rows[:fixed_rows]) if fixed_rows else 0)
        self._pass_key = (
            self._shape, self.size.width, tuple(c.get_render_width(self) for c in columns),
            # (Textual private `_show_hover_cursor`: see `_render_cell`.)
            self.cursor_type, self.show_cursor, self._show_hover_cursor, fixed_rows, self.fixed_columns,
            self._pass_header_height,
            self.get_component_styles("datatable--odd-row").rich_style,
            self.get_component_styles("datatable--even-row").rich_style,
        )
        self._in_pass = True
        try:
            return super().render_lines(crop)
        finally:
            self._in_pass = False

    def render_line(self, y: int) -> Any:
        """DataTable's line, cached by the row's version and whether the cursor is on it.

        The table's style and fixed height are taken once per pass (each costs a walk of the DOM's styles,
        and DataTable takes them for every line). The focus state (pseudo classes) only enters the key of
        the cursor, hover and header rows: the other rows look the same focused or not (the themes give
        tables no focus tint), so moving the focus between panes repaints two lines, not two tables."""
        if self.cursor_type != "row" or not self._one_line_rows:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        line = y + scroll_y if y >= self._pass_fixed_height else y
        x1 = scroll_x
        x2 = scroll_x + self.size.width
        row_index = line - self._pass_header_height
        if row_index < 0:  # the header: its labels change with no count of ours (a sort arrow)
            row_key: RowKey | None = None
            version: Any = tuple((c.label.plain, c.label.style, tuple(c.label.spans))
                                 for c in self.ordered_columns)
            row_index = -1
        elif row_index < len(self._pass_rows):
            row_key = self._pass_rows[row_index].key
            row = row_key.value or ""
            version = (self._row_gen.get(row, 0), self._row_ver.get(row, 0))
        else:
            return super().render_line(y)  # below the last row: blank
        cursor = self.cursor_coordinate.row == row_index
        hover = self.hover_coordinate.row == row_index
        key = (line, x1, x2, row_key, row_index, self._pass_style, self._pass_key, cursor, hover, version,
               self._pass_pseudo if row_key is None or cursor or hover else None)
        strip = self._lines.get(key)
        if strip is None:
            strip = super().render_line(y)
            self._lines[key] = strip
        return strip

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> Any:
        """DataTable's cell rendering, with a fast path for our one-line Text cells.

        The stock path renders every cell through Rich's Padding and Styled, and its cache is keyed by the
        table's update count and focus: one changed cell or a focus change re-renders every visible cell.
        Here a cell is cached by its own version (bumped by `update_cell`, and per row by `add_row`), so only
        changed cells, and the cursor row on a focus change, are rendered again; one line of Text is turned
        into segments directly. Anything else (the header, labels, other renderables) takes the stock path.
        """
        # Textual private: `_render_cell` is the only place a cell is drawn (called by DataTable's line
        # rendering); no public hook or renderable avoids its Rich Padding/Styled pass and its cache keyed
        # by the update count. The override keeps its signature, and defers to it for anything not ours.
        if row_index < 0 or column_index < 0 or self.cell_padding != 1:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        try:
            if self._in_pass and row_index < len(self._pass_rows) and column_index < len(self._pass_columns):
                row_key, column_key = self._pass_rows[row_index].key, self._pass_columns[column_index]
            else:
                row_key, column_key = self.coordinate_to_cell_key(Coordinate(row_index, column_index))
            row, column = row_key.value or "", column_key.value or ""
            # Textual private: `_show_hover_cursor` (the mouse hover highlight is shown) has no public reader.
            show_hover = self._show_hover_cursor
            key = (row_key, column_key, row_index, column_index, width, base_style, cursor, hover,
                   show_hover, self._row_gen.get(row, 0), self._cell_ver.get((row, column), 0),
                   self._pass_pseudo if cursor or hover else None)
            cached = self._fast_cells.get(key)
            if cached is not None:
                return cached
            value = self.get_cell(row_key, column_key)
            fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        except (CellDoesNotExist, KeyError):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        if not isinstance(value, Text) or self.rows[row_key].height != 1 or "\n" in value.plain:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        # Textual private: `_get_styles_to_render_cell` is DataTable's rule for the cursor and hover styles
        # of a cell (which components, which wins over the cell's own colours). The components are public,
        # the rule is not: calling it keeps our cells the same as the ones DataTable draws next to them
        # (the header, the filler after the last column).
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, fixed, hover, cursor, self.show_cursor, show_hover,
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
        self._fast_cells[key] = lines
        return lines

    def reset(self) -> None:
        """Forget every row (a different subject, such as another app's tasks)."""
        self.clear()
        self._raw.clear()
        self._cells.clear()
        self._row_gen.clear()
        self._cell_ver.clear()
        self._row_ver.clear()

    def reformat(self) -> None:
        """Format every row again (the theme changed)."""
        for key, raw in self._raw.items():
            cells = self.format_row(key, raw)
            for (column, _, _), new in zip(self.COLUMNS, cells):
                self.update_cell(key, column, new)
            self._cells[key] = cells

"""The Textual internals tui/widgets/keyed_table.py relies on, checked by name.

KeyedTable subclasses Textual's DataTable for speed: it overrides the private `_render_cell` and reads a
few other private names (each is marked "Textual private" in keyed_table.py, with why there is no public
way), and it leans on two things DataTable does without promising them. A Textual upgrade that removes or
changes any of these fails here with the name, rather than as a wrong or slow screen.

After a failure here: adapt keyed_table.py at the name given, check that the snapshots still pass
(tests/tui/test_snapshots.py, without --snapshot-update) and that `python -m bench --only console` has not
regressed, then widen the textual pin in pyproject.toml.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any, ClassVar

import pytest
import textual
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.cache import LRUCache
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import DataTable

from tui.widgets.keyed_table import KeyedTable, cell

UPGRADE = ("(textual {version}) - tui/widgets/keyed_table.py relies on it: see the 'Textual private' comments "
           "there and the docstring of tests/tui/test_keyed_table_internals.py")

# The private DataTable methods KeyedTable overrides or calls, with the parameters it passes.
PRIVATE_METHODS = {
    "_render_cell": ["self", "row_index", "column_index", "base_style", "width", "cursor", "hover"],
    "_get_styles_to_render_cell": [
        "self", "is_header_cell", "is_row_label_cell", "is_fixed_style_cell", "hover", "cursor", "show_cursor",
        "show_hover_cursor", "has_css_foreground_priority", "has_css_background_priority"],
}
# The private DataTable attributes KeyedTable reads or resizes, with their types.
PRIVATE_ATTRIBUTES = {
    "_show_hover_cursor": bool,
    "_line_cache": LRUCache,
    "_row_render_cache": LRUCache,
    "_cell_render_cache": LRUCache,
}
# KeyedTable's shrunken sizes for DataTable's caches (it skips a missing one silently: this makes it loud).
CACHE_SIZES = {"_line_cache": 64, "_row_render_cache": 64, "_cell_render_cache": 500}


def upgrade_problem(what: str) -> str:
    return f"{what} {UPGRADE.format(version=textual.__version__)}"


@pytest.mark.parametrize("name", sorted(PRIVATE_METHODS))
def test_private_datatable_methods_keep_their_parameters(name: str) -> None:
    method = getattr(DataTable, name, None)
    assert callable(method), upgrade_problem(f"DataTable.{name} is gone")
    parameters = list(inspect.signature(method).parameters)
    assert parameters == PRIVATE_METHODS[name], upgrade_problem(
        f"DataTable.{name} now takes {parameters}, not {PRIVATE_METHODS[name]}")


def test_the_render_cell_override_matches_datatables() -> None:
    ours = inspect.signature(KeyedTable._render_cell)
    theirs = inspect.signature(DataTable._render_cell)
    assert [(p.name, p.default) for p in ours.parameters.values()] == \
        [(p.name, p.default) for p in theirs.parameters.values()], upgrade_problem(
            f"DataTable._render_cell{theirs} no longer matches KeyedTable._render_cell{ours}")


def test_cell_styles_are_an_lru_cache_keyed_by_the_table() -> None:
    # KeyedTable clears it on mount (it is shared by every table of the class).
    assert callable(getattr(DataTable._get_styles_to_render_cell, "cache_clear", None)), upgrade_problem(
        "DataTable._get_styles_to_render_cell is no longer a functools.lru_cache")


@pytest.mark.parametrize("name", sorted(PRIVATE_ATTRIBUTES))
def test_private_datatable_attributes_exist(name: str) -> None:
    table = DataTable[Any]()
    assert hasattr(table, name), upgrade_problem(f"DataTable().{name} is gone")
    kind = PRIVATE_ATTRIBUTES[name]
    assert isinstance(getattr(table, name), kind), upgrade_problem(
        f"DataTable().{name} is a {type(getattr(table, name)).__name__}, not a {kind.__name__}")


def test_keyed_table_shrinks_datatables_own_caches() -> None:
    table = KeyedTable()
    sizes = {name: getattr(getattr(table, name, None), "maxsize", None) for name in CACHE_SIZES}
    assert sizes == CACHE_SIZES, upgrade_problem(f"DataTable's caches were not resized ({sizes})")


def test_keyed_tables_own_attributes_do_not_shadow_textuals() -> None:
    """KeyedTable keeps its state in private attributes too: a Textual that starts using one of the same
    names would have it overwritten without a word."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(KeyedTable.__init__)))
    own = {node.attr for node in ast.walk(tree)
           if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
           and isinstance(node.value, ast.Name) and node.value.id == "self"}
    own |= {name for name in vars(KeyedTable).get("__annotations__", {}) if name.startswith("_")}
    assert own, "found none of KeyedTable's attributes"
    stock = DataTable[Any]()
    clashes = sorted(name for name in own if hasattr(stock, name) or hasattr(DataTable, name))
    assert not clashes, upgrade_problem(f"DataTable now has attributes named like KeyedTable's own {clashes}")


class Table(KeyedTable):
    COLUMNS: ClassVar = (("a", "A", 6), ("b", "B", 10), ("c", "C", None))


class Tables(App[None]):
    def compose(self) -> ComposeResult:
        yield Table(id="keyed")
        yield DataTable[Any](id="stock", cursor_type="row")


ROWS = {"r1": ("x", "hello", "w"), "r2": ("longer than six", "b", "c"), "r3": ("", "right", "z")}


def chars(lines: list[Any]) -> list[list[tuple[str, Style | None]]]:
    return [[(ch, segment.style) for segment in line for ch in segment.text] for line in lines]


async def test_keyed_table_draws_what_datatable_draws() -> None:
    """The fast cell path (overriding `_render_cell`, with DataTable's `_get_styles_to_render_cell`) must give
    the same characters, colours and mouse metadata as DataTable's own, focused and not."""
    app = Tables()
    async with app.run_test(size=(60, 20)) as pilot:
        keyed = app.query_one(Table)
        stock = app.query_one("#stock", DataTable)
        for key, label, width in Table.COLUMNS:
            stock.add_column(label, key=key, width=width)
        keyed.sync(ROWS)
        for key, raw in ROWS.items():
            stock.add_row(*keyed.format_row(key, raw), key=key)
        for table in (keyed, stock):
            table.update_cell("r3", "b", cell("right", "bold red", justify="right"))
            table.move_cursor(row=1)
        await pilot.pause()
        for focused in (True, False):
            drawn = {}
            for table in (keyed, stock):
                if focused:
                    table.focus()
                else:
                    app.set_focus(None)
                await pilot.pause()
                drawn[table.id] = chars(table.render_lines(Region(0, 0, table.size.width, 5)))
            assert drawn["keyed"] == drawn["stock"], upgrade_problem(
                f"KeyedTable no longer draws what DataTable draws ({'focused' if focused else 'not focused'})")
        assert len(keyed._fast_cells) > 0, upgrade_problem("DataTable no longer calls _render_cell")


async def test_update_cell_repaints_only_its_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """DataTable.update_cell ends with a bare `refresh()` of the whole table; KeyedTable narrows that one to
    the row's region (no private name, but a reliance on what update_cell does)."""
    app = Tables()
    async with app.run_test(size=(60, 20)) as pilot:
        keyed = app.query_one(Table)
        keyed.sync(ROWS)
        await pilot.pause()
        refreshes: list[tuple[Any, ...]] = []
        widget_refresh = Widget.refresh

        def spy(self: Widget, *regions: Any, **options: Any) -> Any:
            if self is keyed:
                refreshes.append(regions)
            return widget_refresh(self, *regions, **options)

        monkeypatch.setattr(Widget, "refresh", spy)
        keyed.update_cell("r2", "b", cell("changed"))
        monkeypatch.undo()
        assert refreshes and all(refreshes), upgrade_problem(
            f"KeyedTable.update_cell repainted the whole table (refreshes: {refreshes})")
        await pilot.pause()
        row = keyed.render_lines(Region(0, 0, keyed.size.width, 3))[2]
        assert "changed" in "".join(segment.text for segment in row if isinstance(segment, Segment))

"""The footer: the keys that apply now, read from the active BINDINGS, in one cheap line.

Textual's Footer rebuilds a widget per key whenever bindings change (every focus
change); under load that costs tens of milliseconds a time. This renders the
same information as one line of text, redrawn in place. `?` comes first, so it
stays visible on a narrow terminal even when the line is cut.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.screen import Screen
from textual.widget import Widget

from tui.widgets.keyed_table import palette_of

FIRST = ("help", "palette")
LAST = ("quit",)


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        self.refresh()

    def render(self) -> RenderResult:
        p = palette_of(self)
        seen: set[str] = set()
        entries = []
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            entries.append((binding, active.enabled))

        def order(entry: tuple[object, bool]) -> int:
            ident = getattr(entry[0], "id", None) or ""
            return 0 if ident in FIRST else 2 if ident in LAST else 1

        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for binding, enabled in sorted(entries, key=order):
            key = self.app.get_key_display(binding)
            style = "" if enabled else p.muted
            text.append(f" {key} ", style=f"bold reverse {style}".strip())
            text.append(f"{binding.description} ", style=style)
        return text

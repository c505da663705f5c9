"""pacer's console themes: colours and layout as .tcss files.

`pacer.tcss` is the console's stylesheet (layout and which colour goes where).
Every other `*.tcss` file here is a colour theme named `pacer-<file stem>`: a
list of `$name: value;` lines. The names Textual knows (primary, background,
success, ...) become the theme's colours; the others (`$pacer-*`) become theme
variables that pacer.tcss and the widgets use.
"""

from __future__ import annotations

import re
from pathlib import Path

from textual.theme import Theme

HERE = Path(__file__).resolve().parent
STYLESHEET = HERE / "pacer.tcss"
DEFAULT_THEME = "pacer-dark"

_BASE = ("primary", "secondary", "warning", "error", "success", "accent", "foreground", "background",
         "surface", "panel", "boost")
_DECLARATION = re.compile(r"^\s*\$([A-Za-z0-9_-]+)\s*:\s*([^;]+?)\s*;", re.MULTILINE)
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)

# Fallbacks for pacer's own variables, so a stock Textual theme picked from the palette still works.
VARIABLE_DEFAULTS: dict[str, str] = {
    "pacer-ok": "#4caf50",
    "pacer-warn": "#e0a030",
    "pacer-bad": "#e05050",
    "pacer-muted": "#808080",
    "pacer-info": "#4a90d9",
    "pacer-bar-used": "#4a90d9",
    "pacer-bar-high": "#e0a030",
    "pacer-bar-full": "#e05050",
    "pacer-bar-free": "#404040",
}


def parse_theme(path: Path) -> Theme:
    """One colour theme from a `$name: value;` file."""
    text = _COMMENT.sub("", path.read_text(encoding="utf-8"))
    values = {name: value for name, value in _DECLARATION.findall(text)}
    if "primary" not in values:
        raise ValueError(f"{path}: a theme needs at least `$primary`")
    base = {key: values.pop(key) for key in _BASE if key in values}
    dark = values.pop("dark", "true").lower() != "false"
    return Theme(name=f"pacer-{path.stem}", dark=dark, variables=values, **base)


def load_themes(folder: Path = HERE) -> list[Theme]:
    return [parse_theme(p) for p in sorted(folder.glob("*.tcss")) if p != STYLESHEET]

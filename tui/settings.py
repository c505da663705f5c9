"""What the console remembers between runs (the theme), in a small JSON file.

The file is `$PACER_CONSOLE_SETTINGS` when set, else `~/.config/pacer/console.json`.
A missing or unreadable file gives the defaults; the console never fails to
start because of it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

log = logging.getLogger("pacer.console")

ENV_VAR = "PACER_CONSOLE_SETTINGS"


def settings_path() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".config" / "pacer" / "console.json"


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    theme: str = "pacer-dark"
    """A registered Textual theme: pacer-dark, pacer-light, or any stock theme."""
    log_wrap: bool = False
    """Wrap long log lines instead of scrolling sideways."""
    log_timestamps: bool = False
    """Show when each log line arrived."""

    def with_(self, **changes: object) -> "ConsoleSettings":
        return replace(self, **changes)  # type: ignore[arg-type]


def load_settings(path: Path | None = None) -> ConsoleSettings:
    path = path or settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ConsoleSettings()
    except (OSError, ValueError) as exc:
        log.warning("console settings %s ignored: %s", path, exc)
        return ConsoleSettings()
    if not isinstance(raw, dict):
        return ConsoleSettings()
    known = {f.name: f.type for f in fields(ConsoleSettings)}
    defaults = ConsoleSettings()
    values = {}
    for name in known:
        value = raw.get(name, getattr(defaults, name))
        if isinstance(value, type(getattr(defaults, name))):
            values[name] = value
    return ConsoleSettings(**values)


def save_settings(settings: ConsoleSettings, path: Path | None = None) -> None:
    path = path or settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(settings), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        log.warning("console settings not saved to %s: %s", path, exc)

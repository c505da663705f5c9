"""`n`: choose an app definition to deploy, from a file path or from the samples.

Returns (source, text); the main screen parses and validates it (and opens the
editor at the bad fields when it is not valid).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from engine.model.groups import absolute, is_group, read_group

SEED = "example-app.json"


def find_samples(folder: Path | None) -> list[Path]:
    """The seed (example-app.json) first, then the others by name."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(folder.glob("*.json"), key=lambda p: (p.name != SEED, p.name))


def describe_sample(path: Path) -> str:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{path.name}  (unreadable: {exc})"
    if not isinstance(data, dict):
        return path.name
    if is_group(data):
        read = read_group(data, absolute(data["id"], "/"))
        return f"{path.name:<22} group {absolute(data['id'], '/')}  {len(read.apps)} app(s)"
    docker = (data.get("container") or {}).get("docker") or {}
    image = docker.get("image") or "(cmd)"
    return f"{path.name:<22} {data.get('id', '?')}  ×{data.get('instances', 1)}  {image}"


class DeployScreen(ModalScreen["tuple[str, str] | None"]):
    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel", id="deploy.cancel")]

    def __init__(self, samples_dir: Path | None) -> None:
        super().__init__(classes="dialog")
        self.samples = find_samples(samples_dir)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide"):
            yield Label("Deploy: pick a sample, or type the path of a Marathon app or group file",
                        classes="dialog-question")
            yield OptionList(*(Option(Text(describe_sample(p)), id=str(p)) for p in self.samples), id="samples")
            yield Input(placeholder="path/to/app.json", id="path")
            yield Label("Enter: deploy    Tab: list / path    Escape: cancel", classes="dialog-hint", id="deploy-hint")

    def on_mount(self) -> None:
        samples = self.query_one("#samples", OptionList)
        if self.samples:
            samples.highlighted = 0
            samples.focus()
        else:
            samples.display = False
            self.query_one("#path", Input).focus()

    def _load(self, path: Path) -> None:
        try:
            text = path.expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            self.query_one("#deploy-hint", Label).update(Text(f"cannot read {path}: {exc.strerror or exc}"))
            return
        self.dismiss((path.name, text))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self._load(Path(event.option.id))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self._load(Path(event.value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)

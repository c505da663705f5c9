"""Snapshots of the main screens in both themes, from a frozen view (no engine, fixed clock and ids).

Regenerate after a deliberate change with `python -m pytest tests/tui/test_snapshots.py --snapshot-update`
and look at the SVGs before committing them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from textual.widgets import Input, TextArea

from engine import AppValidationError, FieldError
from tests.tui.conftest import SAMPLES, until
from tests.tui.frozen import NOW, FrozenHost
from tui.app import PacerApp, make_app
from tui.screens.editor import EditorScreen

THEMES = ["pacer-dark", "pacer-light"]
BIG = (120, 40)
SMALL = (80, 24)


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


def frozen_app(tmp_path: Path, theme: str) -> PacerApp:
    settings = tmp_path / f"{theme}.json"
    settings.write_text(f'{{"theme": "{theme}"}}')
    return make_app(host=FrozenHost(), settings_file=settings, samples_dir=SAMPLES, clock=lambda: NOW)


def no_blink(app: Any) -> None:
    for widget in app.screen.query("Input, TextArea"):
        assert isinstance(widget, (Input, TextArea))
        widget.cursor_blink = False


def before(*keys: str, then: Any = None) -> Any:
    async def run(pilot: Any) -> None:
        app = pilot.app
        await until(pilot, lambda: app.main.view is not None, message="the frozen view")
        if keys:
            await pilot.press(*keys)
        main = app.main
        await until(pilot, lambda: main.tasks.app_id == main.selected_app, message="the selected app's tasks")
        if then is not None:
            await then(pilot)
        no_blink(app)
        await pilot.pause()

    return run


@pytest.mark.parametrize("theme", THEMES)
def test_apps_pane(snap_compare: Any, tmp_path: Path, theme: str) -> None:
    assert snap_compare(frozen_app(tmp_path, theme), terminal_size=BIG, run_before=before())


@pytest.mark.parametrize("theme", THEMES)
def test_apps_pane_80x24(snap_compare: Any, tmp_path: Path, theme: str) -> None:
    assert snap_compare(frozen_app(tmp_path, theme), terminal_size=SMALL, run_before=before("down", "down", "down"))


@pytest.mark.parametrize("theme", THEMES)
def test_apps_pane_waiting_app_selected(snap_compare: Any, tmp_path: Path, theme: str) -> None:
    assert snap_compare(frozen_app(tmp_path, theme), terminal_size=BIG, run_before=before("down"))


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("pane", ["2", "3", "4", "5", "6"])
def test_other_panes(snap_compare: Any, tmp_path: Path, theme: str, pane: str) -> None:
    assert snap_compare(frozen_app(tmp_path, theme), terminal_size=BIG, run_before=before(pane))


@pytest.mark.parametrize("theme", THEMES)
def test_logs_pane(snap_compare: Any, tmp_path: Path, theme: str) -> None:
    async def lines(pilot: Any) -> None:
        from tui.widgets.log_viewer import LogViewer

        viewer = pilot.app.main.query_one(LogViewer)
        await until(pilot, lambda: viewer.received >= 13, message="the frozen log lines")
        await pilot.press("t", "w")

    assert snap_compare(frozen_app(tmp_path, theme), terminal_size=BIG,
                        run_before=before("down", "down", "down", "l", then=lines))


@pytest.mark.parametrize("theme", THEMES)
def test_help_screen(snap_compare: Any, tmp_path: Path, theme: str) -> None:
    assert snap_compare(frozen_app(tmp_path, theme), terminal_size=BIG, run_before=before("question_mark"))


@pytest.mark.parametrize("theme", THEMES)
def test_deploy_picker(snap_compare: Any, tmp_path: Path, theme: str) -> None:
    assert snap_compare(frozen_app(tmp_path, theme), terminal_size=BIG, run_before=before("n"))


@pytest.mark.parametrize("theme", THEMES)
def test_editor_shows_errors_at_their_fields(snap_compare: Any, tmp_path: Path, theme: str) -> None:
    text = '{\n  "id": "/web",\n  "cpus": -1,\n  "instances": 2,\n  "container": {\n    "docker": {\n' \
           '      "image": ""\n    }\n  }\n}'
    errors = AppValidationError([FieldError("/cpus", "must be >= 0"),
                                 FieldError("/container/docker/image", "must not be empty")])

    async def submit(data: Any, force: bool = False) -> Any:
        raise errors

    async def open_editor(pilot: Any) -> None:
        await pilot.app.push_screen(EditorScreen("Edit /web", text, submit, errors=errors))
        await pilot.pause()

    assert snap_compare(frozen_app(tmp_path, theme), terminal_size=BIG, run_before=before(then=open_editor))

"""Plain tests of the console's pure helpers: JSON field locations, settings, themes, formatting."""

from __future__ import annotations

from pathlib import Path

import pytest

from themes import VARIABLE_DEFAULTS, load_themes
from tui.render import Palette, fmt_cpus, fmt_duration, fmt_mem, short_task_id
from tui.settings import ConsoleSettings, load_settings, save_settings
from tui.widgets.app_editor import locate

APP = """{
  "id": "/web",
  "cpus": 0.5,
  "container": {
    "docker": {"image": "x"}
  },
  "healthChecks": [
    {"protocol": "HTTP", "portIndex": 3}
  ]
}"""


@pytest.mark.parametrize(("pointer", "where"), [
    ("/id", (1, 2)),
    ("/cpus", (2, 2)),
    ("/container/docker/image", (4, 15)),
    ("/container/docker/network", (4, 4)),  # missing: its parent
    ("/healthChecks/0/portIndex", (7, 25)),
    ("/healthChecks/5", (6, 2)),
    ("/", (0, 0)),
    ("/nope/deeper", (0, 0)),
])
def test_locate_finds_the_line_of_a_field_or_its_parent(pointer: str, where: tuple[int, int]) -> None:
    assert locate(APP, pointer) == where


def test_locate_survives_broken_json() -> None:
    assert locate('{\n  "id": "/web",\n  "cpus": ', "/cpus") == (2, 2)
    assert locate("not json", "/id") == (0, 0)


def test_settings_round_trip_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "console.json"
    assert load_settings(path) == ConsoleSettings()
    save_settings(ConsoleSettings(theme="pacer-light", log_wrap=True), path)
    assert load_settings(path) == ConsoleSettings(theme="pacer-light", log_wrap=True)
    path.write_text("{not json")
    assert load_settings(path) == ConsoleSettings()
    path.write_text('{"theme": 7, "log_wrap": true}')
    assert load_settings(path) == ConsoleSettings(log_wrap=True)


def test_both_themes_define_every_pacer_colour() -> None:
    themes = {t.name: t for t in load_themes()}
    assert {"pacer-dark", "pacer-light"} <= set(themes)
    assert themes["pacer-dark"].dark and not themes["pacer-light"].dark
    for theme in themes.values():
        assert set(VARIABLE_DEFAULTS) <= set(theme.variables), theme.name


def test_palette_keeps_defaults_for_missing_or_odd_colours() -> None:
    palette = Palette.from_variables({"pacer-ok": "#010203", "pacer-bad": "red 50%"})
    assert palette.ok == "#010203"
    assert palette.bad == Palette().bad


def test_formatting() -> None:
    assert [fmt_duration(s) for s in (None, 5, 75, 7_260, 90_000)] == ["-", "5s", "1m15s", "2h01m", "1d01h"]
    assert [fmt_mem(m) for m in (64, 1536, 262_144)] == ["64M", "1.5G", "256G"]
    assert [fmt_cpus(c) for c in (1, 0.25, 12.5)] == ["1", "0.25", "12.5"]
    assert short_task_id("shop_web.instance-0f1e2d3c-aaaa-4bbb._app.1") == "0f1e2d3c"

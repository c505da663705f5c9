"""Small pure helpers that turn engine data into short, coloured cell text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from rich.text import Text

from engine import AppDefinition, Deployment, TaskState

_STATE_WORDS = {
    TaskState.STAGING: ("staging", "warn"),
    TaskState.RUNNING: ("running", "ok"),
    TaskState.KILLING: ("killing", "warn"),
    TaskState.UNREACHABLE: ("unreachable", "bad"),
    TaskState.FINISHED: ("finished", "muted"),
    TaskState.FAILED: ("failed", "bad"),
    TaskState.KILLED: ("killed", "muted"),
    TaskState.GONE: ("gone", "bad"),
}

_ACTION_WORDS = {
    "StartApplication": "start",
    "ScaleApplication": "scale",
    "RestartApplication": "restart",
    "StopApplication": "stop",
}


@dataclass(frozen=True, slots=True)
class Palette:
    """Concrete colours of the current theme, for Rich text in table cells."""

    ok: str = "green"
    warn: str = "yellow"
    bad: str = "red"
    muted: str = "grey50"
    info: str = "blue"
    bar_used: str = "blue"
    bar_high: str = "yellow"
    bar_full: str = "red"
    bar_free: str = "grey23"

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> Palette:
        """From the theme's `$pacer-*` variables; anything missing or not a plain colour keeps its default."""
        defaults = cls()
        values = {}
        for name in ("ok", "warn", "bad", "muted", "info", "bar_used", "bar_high", "bar_full", "bar_free"):
            value = variables.get("pacer-" + name.replace("_", "-"), "")
            values[name] = value if value.startswith("#") else getattr(defaults, name)
        return cls(**values)

    def style(self, tone: str) -> str:
        return str(getattr(self, tone, ""))


def bar(used: float, capacity: float, width: int, palette: Palette) -> Text:
    """A horizontal gauge: filled cells coloured by how full it is."""
    if width <= 0:
        return Text()
    fraction = 0.0 if capacity <= 0 else max(0.0, min(1.0, used / capacity))
    filled = round(fraction * width)
    if used > 0 and filled == 0:
        filled = 1
    colour = palette.bar_used if fraction < 0.75 else palette.bar_high if fraction < 0.95 else palette.bar_full
    text = Text("█" * filled, style=colour, end="")
    text.append("█" * (width - filled), style=palette.bar_free)
    return text


def gauge(used: float, capacity: float, width: int, palette: Palette, label: str) -> Text:
    text = bar(used, capacity, width, palette)
    text.append(" " + label)
    return text


def fmt_cpus(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.1f}"


def fmt_mem(mib: float) -> str:
    if mib >= 1024:
        gib = mib / 1024
        return f"{gib:.1f}G" if gib < 100 else f"{gib:.0f}G"
    return f"{mib:.0f}M"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def short_task_id(task_id: str) -> str:
    """The instance uuid's first 8 characters: enough to tell tasks apart in one app."""
    marker = ".instance-"
    at = task_id.find(marker)
    if at >= 0:
        return task_id[at + len(marker):at + len(marker) + 8]
    return task_id[-12:]


def image_of(app: AppDefinition) -> str:
    container = app.container
    if container is not None and container.docker is not None:
        return container.docker.image
    return "(cmd)"


def state_text(state: TaskState, palette: Palette) -> Text:
    word, tone = _STATE_WORDS.get(state, (state.value, "muted"))
    return Text(word, style=palette.style(tone), end="")


def health_text(health: bool | None, has_checks: bool, palette: Palette) -> Text:
    if not has_checks:
        return Text("-", style=palette.muted, end="")
    if health is True:
        return Text("healthy", style=palette.ok, end="")
    if health is False:
        return Text("unhealthy", style=palette.bad, end="")
    return Text("unknown", style=palette.warn, end="")


def deployment_words(deployments: Iterable[Deployment]) -> str:
    """`restart 1/1` for the app's running deployment; empty when none."""
    words = []
    for d in deployments:
        actions = "+".join(_ACTION_WORDS.get(a, a) for a in d.current_actions) or "done"
        rollback = " (rollback)" if d.rollback_of else ""
        words.append(f"{actions} {d.current_step}/{d.total_steps}{rollback}")
    return ", ".join(words)


def kind_of(deployment: Deployment) -> str:
    actions = {a for step in deployment.steps for a in step}
    if "StopApplication" in actions:
        return "delete"
    if "StartApplication" in actions:
        return "create"
    if "RestartApplication" in actions:
        return "update"
    return "scale"


def first_line(text: Any, limit: int = 200) -> str:
    line = str(text or "").strip().splitlines()
    return line[0][:limit] if line else ""


def matches(query: str, *fields: str) -> bool:
    if not query:
        return True
    q = query.lower()
    return any(q in f.lower() for f in fields)

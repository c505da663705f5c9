"""The autoscaling policy an app carries in its labels: read and checked here, applied by engine.autoscaler.

The policy lives in the app's labels, so every Marathon client round-trips it
unchanged and it can be set from the console's editor or the API::

    "labels": {
      "pacer.autoscale.metric": "cpu",      # cpu | memory: percent of the app's cpus / mem limit
      "pacer.autoscale.target": "60",       # percent (a trailing % is allowed)
      "pacer.autoscale.min": "1",
      "pacer.autoscale.max": "5",
      "pacer.autoscale.step": "1",          # at most this many instances more or less per decision
      "pacer.autoscale.cooldown": "60",     # seconds after a change (any scaling) before the next one
      "pacer.autoscale.window": "30",       # seconds the whole signal must stay above/below the target band
      "pacer.autoscale.interval": "10",     # seconds between samples
      "pacer.autoscale.tolerance": "0.1",   # no change while within target * (1 +- tolerance)
      "pacer.autoscale.enabled": "true"     # false: keep the policy but make no decisions
    }

`policy_errors` is what parse_app reports for these labels (each at /labels/<key>).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from engine.errors import AppValidationError, FieldError

LABEL_PREFIX = "pacer.autoscale."
Metric = Literal["cpu", "memory"]
METRICS: tuple[Metric, ...] = ("cpu", "memory")

_KEYS = ("metric", "target", "min", "max", "step", "cooldown", "window", "interval", "tolerance", "enabled")
_REQUIRED = ("metric", "target", "min", "max")
MAX_INSTANCES = 10_000


@dataclass(frozen=True, slots=True)
class AutoscalePolicy:
    metric: Metric
    target: float
    """Percent of the app's cpus (cpu) or mem (memory) per task, averaged over its running tasks."""
    min: int
    max: int
    step: int = 1
    cooldown: float = 60.0
    window: float = 30.0
    interval: float = 10.0
    tolerance: float = 0.1
    enabled: bool = True

    @property
    def upper(self) -> float:
        return self.target * (1 + self.tolerance)

    @property
    def lower(self) -> float:
        return self.target * (1 - self.tolerance)

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "target": self.target, "min": self.min, "max": self.max, "step": self.step,
                "cooldownSeconds": self.cooldown, "windowSeconds": self.window, "intervalSeconds": self.interval,
                "tolerance": self.tolerance, "enabled": self.enabled}

    def to_labels(self) -> dict[str, str]:
        """The labels that carry this policy (for apps built in code and for tests)."""

        def num(v: float) -> str:
            return str(int(v)) if float(v).is_integer() else repr(float(v))

        return {
            f"{LABEL_PREFIX}metric": self.metric, f"{LABEL_PREFIX}target": num(self.target),
            f"{LABEL_PREFIX}min": str(self.min), f"{LABEL_PREFIX}max": str(self.max),
            f"{LABEL_PREFIX}step": str(self.step), f"{LABEL_PREFIX}cooldown": num(self.cooldown),
            f"{LABEL_PREFIX}window": num(self.window), f"{LABEL_PREFIX}interval": num(self.interval),
            f"{LABEL_PREFIX}tolerance": num(self.tolerance), f"{LABEL_PREFIX}enabled": str(self.enabled).lower(),
        }


def _path(key: str) -> str:
    return "/labels/" + key.replace("~", "~0").replace("/", "~1")


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _parse(labels: Mapping[str, Any]) -> tuple[AutoscalePolicy | None, list[FieldError]]:
    ours = {k[len(LABEL_PREFIX):]: v for k, v in labels.items() if isinstance(k, str) and k.startswith(LABEL_PREFIX)}
    if not ours:
        return None, []
    errors: list[FieldError] = []

    def err(key: str, message: str) -> None:
        errors.append(FieldError(_path(LABEL_PREFIX + key), message))

    for key in ours:
        if key not in _KEYS:
            close = difflib.get_close_matches(key, _KEYS, n=1)
            hint = f"; did you mean {LABEL_PREFIX}{close[0]}?" if close else f"; known: {', '.join(_KEYS)}"
            err(key, f"is not an autoscaling setting{hint}")
    for key in _REQUIRED:
        if key not in ours:
            err(key, f"is required when any {LABEL_PREFIX}* label is set")
    values: dict[str, Any] = {}
    for key, raw in ours.items():
        if key not in _KEYS:
            continue
        if not isinstance(raw, str):
            err(key, "must be a string")
            continue
        text = raw.strip()
        if key == "metric":
            if text.lower() not in METRICS:
                err(key, f"must be one of {', '.join(METRICS)}, got {raw!r}")
            else:
                values[key] = text.lower()
            continue
        if key == "enabled":
            if text.lower() not in ("true", "false"):
                err(key, f"must be true or false, got {raw!r}")
            else:
                values[key] = text.lower() == "true"
            continue
        if key == "target":
            text = text.removesuffix("%").strip()
        number = _number(text)
        if number is None:
            err(key, f"must be a number, got {raw!r}")
            continue
        if key in ("min", "max", "step"):
            if not number.is_integer():
                err(key, f"must be a whole number, got {raw!r}")
                continue
            low = 1
            if not low <= number <= MAX_INSTANCES:
                why = " (at 0 instances there is nothing to measure)" if key == "min" and number == 0 else ""
                err(key, f"must be between {low} and {MAX_INSTANCES}, got {raw!r}{why}")
                continue
            values[key] = int(number)
        elif key == "target":
            if not 0 < number <= 100:
                err(key, f"must be a percentage above 0 and at most 100, got {raw!r}")
                continue
            values[key] = number
        elif key == "tolerance":
            if not 0 <= number < 1:
                err(key, f"must be at least 0 and below 1 (a fraction of the target), got {raw!r}")
                continue
            values[key] = number
        elif key == "interval":
            if not 0.1 <= number <= 3600:
                err(key, f"must be between 0.1 and 3600 seconds, got {raw!r}")
                continue
            values[key] = number
        else:  # cooldown, window
            if not 0 <= number <= 86_400:
                err(key, f"must be between 0 and 86400 seconds, got {raw!r}")
                continue
            values[key] = number
    if "min" in values and "max" in values and values["min"] > values["max"]:
        err("max", f"must be >= {LABEL_PREFIX}min ({values['min']}), got {values['max']}")
    if errors:
        return None, errors
    return AutoscalePolicy(**values), []


def policy_errors(labels: object) -> list[FieldError]:
    """Every problem with an app's pacer.autoscale.* labels, each at /labels/<key>; [] when fine or absent."""
    if not isinstance(labels, Mapping):
        return []
    return _parse(labels)[1]


def parse_policy(labels: Mapping[str, Any]) -> AutoscalePolicy | None:
    """The app's policy, None without pacer.autoscale.* labels; AppValidationError when they are wrong."""
    policy, errors = _parse(labels)
    if errors:
        raise AppValidationError(errors)
    return policy


def policy_of(labels: Mapping[str, Any]) -> AutoscalePolicy | None:
    """Like parse_policy, but a broken policy (stored before a rule existed) is None rather than an error."""
    return _parse(labels)[0]

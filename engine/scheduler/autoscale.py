"""The autoscaling decision, pure (Kubernetes HPA-like), and the utilisation figures it decides on.

`decide`: desired = ceil(current * measured / target), limited to +-step per decision
and clamped to [min, max]; it scales up only when every sample of the stabilisation
window is above the tolerance band (and down only when every one is below), never
during the cooldown, and only on samples taken after the last change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence

from engine.model.autoscale_labels import AutoscalePolicy


class Sample(NamedTuple):
    at: float
    """When it was taken (the engine's clock)."""
    value: float
    """The app's utilisation in percent: mean over its measured tasks."""
    tasks: int = 0
    """How many tasks answered."""


@dataclass(frozen=True, slots=True)
class Decision:
    new_instances: int | None
    """The instance count to scale to, or None for no change."""
    reason: str
    measured: float | None
    """The value that decided (the window's minimum on the way up, its maximum on the way down; else the latest)."""

    def to_json(self) -> dict[str, Any]:
        return {"newInstances": self.new_instances, "reason": self.reason,
                "measured": None if self.measured is None else round(self.measured, 2)}


_EPS = 1e-9


def num_text(v: float) -> str:
    """A figure as people write it: 72.5, 60 (not 60.0)."""
    return f"{v:.1f}".rstrip("0").rstrip(".")


def decide(policy: AutoscalePolicy, samples: Sequence[Sample], current: int, last_scale_at: float | None,
           now: float) -> Decision:
    """What to do now, given the samples (oldest first), the app's instances and when it last changed."""
    latest = samples[-1].value if samples else None
    if not policy.enabled:
        return Decision(None, "disabled", latest)
    if last_scale_at is not None and now - last_scale_at < policy.cooldown - _EPS:
        left = policy.cooldown - (now - last_scale_at)
        return Decision(None, f"cooldown: {num_text(left)} s left", latest)
    if current < policy.min:
        return Decision(policy.min, f"below min {policy.min}", latest)
    if current > policy.max:
        return Decision(policy.max, f"above max {policy.max}", latest)
    fresh = [s for s in samples if last_scale_at is None or s.at >= last_scale_at - _EPS]
    fresh = [s for s in fresh if s.at <= now + _EPS]
    if not fresh:
        return Decision(None, "no measurements yet", latest)
    if policy.window > 0:
        start = now - policy.window
        # The window must be observed from its start: the last sample at or before it holds at its start.
        first = max((i for i, s in enumerate(fresh) if s.at <= start + _EPS), default=None)
        if first is None:
            observed = now - fresh[0].at
            return Decision(None, f"stabilising: {num_text(observed)} of {num_text(policy.window)} s observed", latest)
        window = fresh[first:]
    else:
        window = fresh[-1:]
    values = [s.value for s in window]
    if all(v > policy.upper for v in values):
        measured = min(values)
        desired = math.ceil(current * measured / policy.target - _EPS)
        new = min(desired, current + policy.step, policy.max)
        if new <= current:
            return Decision(None, f"at max {policy.max}", measured)
        return Decision(new, f"{num_text(measured)}% > target {num_text(policy.target)}% for {num_text(policy.window)} s", measured)
    if all(v < policy.lower for v in values):
        measured = max(values)
        desired = max(math.ceil(current * measured / policy.target - _EPS), 0)
        new = max(desired, current - policy.step, policy.min)
        if new >= current:
            if current <= policy.min:
                return Decision(None, f"at min {policy.min}", measured)
            return Decision(None, "fewer instances would exceed the target", measured)
        return Decision(new, f"{num_text(measured)}% < target {num_text(policy.target)}% for {num_text(policy.window)} s", measured)
    assert latest is not None
    if policy.lower <= latest <= policy.upper:
        return Decision(None, "within tolerance", latest)
    return Decision(None, "not steady over the window", latest)


# -- measuring ---------------------------------------------------------------------------------


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, Mapping):
            return None
        d = d.get(k)
    return d


def cpu_counters(stats: Mapping[str, Any], pre: bool = False) -> tuple[float, float, int] | None:
    """(container cpu ns, system cpu ns, online cpus) of one docker stats sample (or of its precpu part)."""
    part = stats.get("precpu_stats" if pre else "cpu_stats")
    total = _get(part, "cpu_usage", "total_usage")
    system = _get(part, "system_cpu_usage")
    if not isinstance(total, (int, float)) or not isinstance(system, (int, float)) or system <= 0:
        return None
    online = _get(part, "online_cpus") or len(_get(part, "cpu_usage", "percpu_usage") or []) or 1
    return float(total), float(system), int(online)


def cpu_percent(stats: Mapping[str, Any], app_cpus: float,
                previous: tuple[float, float, int] | None = None) -> float | None:
    """CPU use in percent of the app's cpus, from two counter readings (a previous sample or the precpu part)."""
    now = cpu_counters(stats)
    before = previous if previous is not None else cpu_counters(stats, pre=True)
    if now is None or before is None:
        return None
    d_total, d_system = now[0] - before[0], now[1] - before[1]
    if d_system <= 0 or d_total < 0:
        return None
    cores = d_total / d_system * now[2]
    return cores / (app_cpus if app_cpus > 0 else 1.0) * 100.0


def memory_percent(stats: Mapping[str, Any], app_mem_mib: float) -> float | None:
    """Memory use (less inactive page cache, as `docker stats` shows it) in percent of the app's mem."""
    mem = stats.get("memory_stats")
    usage = _get(mem, "usage")
    if not isinstance(usage, (int, float)):
        return None
    inner = _get(mem, "stats") or {}
    cache = inner.get("inactive_file", inner.get("total_inactive_file", 0)) if isinstance(inner, Mapping) else 0
    used = max(float(usage) - float(cache or 0), 0.0)
    limit = app_mem_mib * 2**20 if app_mem_mib > 0 else float(_get(mem, "limit") or 0)
    if limit <= 0:
        return None
    return used / limit * 100.0

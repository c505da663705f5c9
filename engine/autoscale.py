"""Autoscaling: a per-app policy carried as app labels, a pure decision, and the component that applies it.

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

`decide` is pure (Kubernetes HPA-like): desired = ceil(current * measured / target),
limited to +-step per decision and clamped to [min, max]; it scales up only when every
sample of the stabilisation window is above the tolerance band (and down only when
every one is below), never during the cooldown, and only on samples taken after the
last change.

`Autoscaler` samples docker stats of the running tasks of apps with a policy, keeps
a bounded window per app, calls `decide` and applies a change with `Engine.scale`
(the operator's path: a "scale" deployment), publishing `pacer_autoscale` events.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Sequence

from engine.errors import PacerError
from engine.model.autoscale_labels import LABEL_PREFIX, AutoscalePolicy, policy_of

if TYPE_CHECKING:
    from engine.core import Engine

log = logging.getLogger("pacer.autoscale")

EVENT_TYPE = "pacer_autoscale"

MAX_TASKS_PER_SAMPLE = 20
"""Tasks of one app measured per sample; a bigger app is estimated from a random subset."""
STATS_PER_AGENT = 4
"""Stats calls in flight per agent (a docker stats call holds one of the driver's threads for ~1 s)."""


# -- the pure decision --------------------------------------------------------------------------


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


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def decide(policy: AutoscalePolicy, samples: Sequence[Sample], current: int, last_scale_at: float | None,
           now: float) -> Decision:
    """What to do now, given the samples (oldest first), the app's instances and when it last changed."""
    latest = samples[-1].value if samples else None
    if not policy.enabled:
        return Decision(None, "disabled", latest)
    if last_scale_at is not None and now - last_scale_at < policy.cooldown - _EPS:
        left = policy.cooldown - (now - last_scale_at)
        return Decision(None, f"cooldown: {_num(left)} s left", latest)
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
            return Decision(None, f"stabilising: {_num(observed)} of {_num(policy.window)} s observed", latest)
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
        return Decision(new, f"{_num(measured)}% > target {_num(policy.target)}% for {_num(policy.window)} s", measured)
    if all(v < policy.lower for v in values):
        measured = max(values)
        desired = max(math.ceil(current * measured / policy.target - _EPS), 0)
        new = max(desired, current - policy.step, policy.min)
        if new >= current:
            if current <= policy.min:
                return Decision(None, f"at min {policy.min}", measured)
            return Decision(None, "fewer instances would exceed the target", measured)
        return Decision(new, f"{_num(measured)}% < target {_num(policy.target)}% for {_num(policy.window)} s", measured)
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


# -- the component ------------------------------------------------------------------------------


@dataclass(slots=True)
class _AppState:
    policy: AutoscalePolicy
    config_version: str
    samples: deque[Sample] = field(default_factory=lambda: deque(maxlen=10_000))
    next_due: float = 0.0
    """time.monotonic() of the next sample."""
    last_change_at: float | None = None
    last_sample: Sample | None = None
    last_decision: Decision | None = None
    last_error: str | None = None
    busy: bool = False
    counters: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))


class Autoscaler:
    """Samples apps with a policy and scales them. `status(app_id)` is what the console and the API show."""

    TICK_MAX = 1.0

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        self._apps: dict[str, _AppState] = {}
        self._task: asyncio.Task[None] | None = None
        self._sampling: set[asyncio.Task[None]] = set()
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._wake = asyncio.Event()
        self.decisions = 0
        """Scale changes applied since start."""

    # lifecycle

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pacer-autoscaler")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._sampling) if t is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        self._sampling.clear()

    def wake(self) -> None:
        self._wake.set()

    # views

    def policy(self, app_id: str) -> AutoscalePolicy | None:
        app = self.engine.apps.get(app_id)
        return policy_of(app.labels) if app is not None else None

    def status(self, app_id: str) -> dict[str, Any] | None:
        """Policy, last measured value, last decision, recent changes and when the next change may happen;
        None when the app has no (valid) policy."""
        from engine.model import format_ts, normalize_app_id

        app_id = normalize_app_id(app_id)
        app = self.engine.apps.get(app_id)
        policy = policy_of(app.labels) if app is not None else None
        if app is None or policy is None:
            return None
        state = self._apps.get(app_id)
        last_scale = self._last_scale_at(app_id, state)
        next_possible = None if last_scale is None else last_scale + policy.cooldown
        sample = state.last_sample if state else None
        decision = state.last_decision if state else None
        return {
            "appId": app_id,
            "policy": policy.to_json(),
            "instances": app.instances,
            "measured": None if sample is None else round(sample.value, 2),
            "measuredAt": None if sample is None else format_ts(sample.at),
            "tasksMeasured": None if sample is None else sample.tasks,
            "samplesInWindow": 0 if state is None else sum(
                1 for s in state.samples if s.at >= self.engine.clock() - policy.window),
            "lastDecision": None if decision is None else decision.to_json(),
            "lastError": state.last_error if state else None,
            "nextPossibleAt": None if next_possible is None else format_ts(next_possible),
            "recent": list(state.history) if state else [],
        }

    def summary(self, app_id: str) -> str | None:
        """One short line for a console cell, "cpu 72%/50% [1-3]" (measured/target [min-max]); None without a policy."""
        st = self.status(app_id)
        if st is None:
            return None
        p = st["policy"]
        measured = "?" if st["measured"] is None else _num(st["measured"])
        return f"{p['metric']} {measured}%/{_num(p['target'])}% [{p['min']}-{p['max']}]"

    # the loop

    def _last_scale_at(self, app_id: str, state: _AppState | None) -> float | None:
        from engine.model import parse_ts

        times: list[float] = []
        if state is not None and state.last_change_at is not None:
            times.append(state.last_change_at)
        app = self.engine.apps.get(app_id)
        stamp = (app.version_info or {}).get("lastScalingAt") if app is not None else None
        if isinstance(stamp, str):
            try:
                times.append(parse_ts(stamp))
            except (ValueError, PacerError):
                pass
        return max(times) if times else None

    def _refresh(self) -> None:
        """Follow the apps: a state per app with a policy, reset when its policy or config changes."""
        seen = set()
        for app_id, app in self.engine.apps.items():
            if not any(k.startswith(LABEL_PREFIX) for k in app.labels):
                continue
            policy = policy_of(app.labels)
            if policy is None:
                continue
            seen.add(app_id)
            cfg = self.engine.config_version_of(app_id) or ""
            state = self._apps.get(app_id)
            if state is None:
                self._apps[app_id] = _AppState(policy, cfg)
            elif state.policy != policy or state.config_version != cfg:
                state.policy, state.config_version = policy, cfg
                state.samples.clear()
                state.counters.clear()
        for app_id in list(self._apps):
            if app_id not in seen:
                del self._apps[app_id]

    def _deploying(self, app_id: str) -> bool:
        return any(d.app_id == app_id and d.status == "running" for d in self.engine.deployments.values())

    async def _run(self) -> None:
        while True:
            try:
                self._refresh()
            except Exception:  # noqa: BLE001 - a bug here must not stop autoscaling for good
                log.exception("autoscaler: refresh failed")
            mono = time.monotonic()
            for app_id, state in self._apps.items():
                if state.busy or state.next_due > mono:
                    continue
                state.busy = True
                state.next_due = mono + state.policy.interval
                task = asyncio.get_running_loop().create_task(self._round(app_id, state), name=f"autoscale {app_id}")
                self._sampling.add(task)
                task.add_done_callback(self._sampling.discard)
            nxt = min((s.next_due for s in self._apps.values()), default=mono + self.TICK_MAX)
            delay = min(max(nxt - time.monotonic(), 0.02), self.TICK_MAX)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    async def _round(self, app_id: str, state: _AppState) -> None:
        try:
            await self.evaluate(app_id, state)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one app's failure is reported, the loop goes on
            state.last_error = f"{exc.__class__.__name__}: {exc}"
            log.exception("autoscaler: %s failed", app_id)
        finally:
            state.busy = False
            self._wake.set()

    async def measure(self, app_id: str, state: _AppState) -> Sample | None:
        """One sample of the app: mean utilisation over its running tasks that answered."""
        from engine.scheduler.state import TaskState

        engine = self.engine
        app = engine.apps.get(app_id)
        if app is None:
            return None
        running = [t for t in engine.tasks_of(app_id) if t.state == TaskState.RUNNING and t.container_id]
        if not running:
            state.last_error = "no running tasks to measure"
            return None
        # A docker stats call holds a worker thread for about a second: big apps are estimated from a
        # random subset, and each agent answers only a few at a time so its other calls never starve.
        tasks = random.sample(running, MAX_TASKS_PER_SAMPLE) if len(running) > MAX_TASKS_PER_SAMPLE else running
        timeout = max(3.0, state.policy.interval)
        failures: list[str] = []

        async def one(agent: str, cid: str) -> Mapping[str, Any] | None:
            try:
                driver = engine.driver(agent)
                async with self._slots.setdefault(agent, asyncio.Semaphore(STATS_PER_AGENT)):
                    return await asyncio.wait_for(driver.stats(cid), timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a task that does not answer is left out of this sample
                failures.append(f"stats of {cid[:12]} on {agent}: {exc or exc.__class__.__name__}")
                return None

        results = await asyncio.gather(*(one(t.agent, t.container_id or "") for t in tasks))
        values: list[float] = []
        for t, stats in zip(tasks, results):
            if stats is None or t.container_id is None:
                continue
            if state.policy.metric == "cpu":
                value = cpu_percent(stats, app.cpus, state.counters.get(t.container_id))
                now_counters = cpu_counters(stats)
                if now_counters is not None:
                    state.counters[t.container_id] = now_counters
            else:
                value = memory_percent(stats, app.mem)
            if value is not None:
                values.append(value)
        alive = {t.container_id for t in running}
        state.counters = {cid: v for cid, v in state.counters.items() if cid in alive}
        if not values:
            state.last_error = failures[0] if failures else "no usable stats yet"
            return None
        state.last_error = f"{len(failures)} of {len(tasks)} tasks did not answer: {failures[0]}" if failures else None
        return Sample(engine.clock(), sum(values) / len(values), len(values))

    async def evaluate(self, app_id: str, state: _AppState) -> Decision | None:
        """Sample the app once and apply what `decide` says; None when nothing was decided."""
        engine = self.engine
        if self._deploying(app_id):
            state.last_decision = Decision(None, "deployment in progress", None)
            state.counters.clear()
            return None
        sample = await self.measure(app_id, state)
        app = engine.apps.get(app_id)
        if app is None or self._deploying(app_id):
            return None
        policy = state.policy
        now = engine.clock()
        if sample is not None:
            state.samples.append(sample)
            state.last_sample = sample
        keep = policy.window + 3 * policy.interval + 10.0
        while state.samples and state.samples[0].at < now - keep:
            state.samples.popleft()
        last_scale_at = self._last_scale_at(app_id, state)
        decision = decide(policy, list(state.samples), app.instances, last_scale_at, now)
        state.last_decision = decision
        if decision.new_instances is None or decision.new_instances == app.instances:
            return decision
        await self._apply(app_id, state, app.instances, decision)
        return decision

    async def _apply(self, app_id: str, state: _AppState, current: int, decision: Decision) -> None:
        from engine.errors import AppNotFound, DeploymentConflict
        from engine.model import format_ts

        assert decision.new_instances is not None
        engine = self.engine
        try:
            deployment = await engine.scale(app_id, decision.new_instances)
        except (DeploymentConflict, AppNotFound) as exc:
            state.last_decision = Decision(None, f"not applied: {exc}", decision.measured)
            return
        now = engine.clock()
        state.last_change_at = now
        state.samples.clear()
        state.counters.clear()
        self.decisions += 1
        policy = state.policy
        measured = None if decision.measured is None else round(decision.measured, 2)
        record = {"at": format_ts(now), "from": current, "to": decision.new_instances, "metric": policy.metric,
                  "measured": measured, "target": policy.target, "reason": decision.reason,
                  "deploymentId": deployment.id}
        state.history.append(record)
        engine.bus.publish(EVENT_TYPE, appId=app_id, **{k: v for k, v in record.items() if k != "at"})
        log.info("autoscale %s: %d -> %d (%s)", app_id, current, decision.new_instances, decision.reason)


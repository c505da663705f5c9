"""The autoscaler: samples the running tasks of apps with an autoscale policy and applies `decide`.

It samples docker stats of the running tasks of apps with a policy (engine/model/autoscale_labels.py), keeps
a bounded window per app, calls `decide` (engine/scheduler/autoscale.py) and applies a change with the
operator's path (a "scale" deployment), publishing `AutoscaleDecided` events.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from engine.agents.base import AgentDriver
from engine.errors import AppNotFound, DeploymentConflict, PacerError
from engine.events import AutoscaleDecided, EngineEvent
from engine.model import AppDefinition, format_ts, normalize_app_id, parse_ts
from engine.model.autoscale_labels import LABEL_PREFIX, AutoscalePolicy, policy_of
from engine.scheduler.autoscale import Decision, Sample, cpu_counters, cpu_percent, decide, memory_percent, num_text
from engine.scheduler.deployments import Deployment
from engine.scheduler.state import TaskRecord, TaskState
from engine.supervisor import Supervisor

log = logging.getLogger("pacer.autoscale")

MAX_TASKS_PER_SAMPLE = 20
"""Tasks of one app measured per sample; a bigger app is estimated from a random subset."""
STATS_PER_AGENT = 4
"""Stats calls in flight per agent (a docker stats call holds one of the driver's threads for ~1 s)."""


class AutoscaleHost(Protocol):
    """What the autoscaler reads and does: the apps and their tasks, stats through the agents, and scaling."""

    @property
    def apps(self) -> Mapping[str, AppDefinition]: ...

    def config_version_of(self, app_id: str) -> str | None: ...

    def tasks_of(self, app_id: str) -> list[TaskRecord]: ...

    def driver(self, agent: str) -> AgentDriver: ...

    def clock(self) -> float: ...

    def deploying(self, app_id: str) -> bool:
        """A deployment locks the app (no decision meanwhile)."""
        ...

    async def scale(self, app_id: str, instances: int) -> Deployment: ...

    def publish(self, event: EngineEvent) -> object: ...


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

    def __init__(self, host: AutoscaleHost, *, supervisor: Supervisor | None = None) -> None:
        self._host = host
        self._supervisor = supervisor or Supervisor()
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
            # Restarted with backoff if it crashes (a crash is logged at once with its traceback).
            self._task = self._supervisor.keep_running("autoscaler", self._run, "pacer-autoscaler")

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
        app = self._host.apps.get(app_id)
        return policy_of(app.labels) if app is not None else None

    def status(self, app_id: str) -> dict[str, Any] | None:
        """Policy, last measured value, last decision, recent changes and when the next change may happen;
        None when the app has no (valid) policy."""
        app_id = normalize_app_id(app_id)
        app = self._host.apps.get(app_id)
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
                1 for s in state.samples if s.at >= self._host.clock() - policy.window),
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
        measured = "?" if st["measured"] is None else num_text(st["measured"])
        return f"{p['metric']} {measured}%/{num_text(p['target'])}% [{p['min']}-{p['max']}]"

    # the loop

    def _last_scale_at(self, app_id: str, state: _AppState | None) -> float | None:
        times: list[float] = []
        if state is not None and state.last_change_at is not None:
            times.append(state.last_change_at)
        app = self._host.apps.get(app_id)
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
        for app_id, app in self._host.apps.items():
            if not any(k.startswith(LABEL_PREFIX) for k in app.labels):
                continue
            policy = policy_of(app.labels)
            if policy is None:
                continue
            seen.add(app_id)
            cfg = self._host.config_version_of(app_id) or ""
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
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives as the wait ends,
            # and stop() then waits for ever (seen in tests/unit/test_autoscale_sim.py, about 1 run in 46).
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
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
        engine = self._host
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
        engine = self._host
        if self._host.deploying(app_id):
            state.last_decision = Decision(None, "deployment in progress", None)
            state.counters.clear()
            return None
        sample = await self.measure(app_id, state)
        app = engine.apps.get(app_id)
        if app is None or self._host.deploying(app_id):
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
        assert decision.new_instances is not None
        engine = self._host
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
        engine.publish(AutoscaleDecided(app_id=app_id, record={k: v for k, v in record.items() if k != "at"}))
        log.info("autoscale %s: %d -> %d (%s)", app_id, current, decision.new_instances, decision.reason)

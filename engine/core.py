"""The engine: the parts composed behind one facade, and the reconcile loop that drives them.

    AgentPool          the agents: drivers, reachability, what each reports
    AppRegistry        the apps: definitions, what the core needs of each, service ports
    TaskLedger         task records, backoff, failures, health verdicts, waiting reasons; durable first
    DeploymentWatcher  the deployment lifecycle: locks, order of parts, progress, ends
    AppCommands        what operators ask: validate, commit, then change memory and wake the loop
    Executor           the only place that changes the world (launch, kill, remove)
    HealthMonitor      probes; Autoscaler: samples and scales
    Supervisor         every job and loop of the parts above: a crash is logged at once and restarted
    reconcile (pure)   desired + observed + now -> Plan, carried out by `_apply`

Each part gets a small Protocol of what it needs (engine/ports.py wires them). Commands
commit to the store and only then return; the loop, woken by every change, by docker events
and by a timer, makes the cluster match. A round that fails (a bug, or a store that cannot commit)
is logged and tried again with backoff; `health_status()` says which part is degraded and why.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, AsyncIterator, Callable, Iterable, Mapping, Sequence

from engine.agent_pool import AgentPool, make_driver
from engine.agents.base import AgentDriver, ImagePull
from engine.app_registry import AppRegistry
from engine.autoscaler import Autoscaler
from engine.commands import AppChange, AppCommands
from engine.config import AgentConfig, PacerConfig
from engine.deployment_watcher import DeploymentWatcher
from engine.errors import AppValidationError, FieldError, PacerError
from engine.events import EventBus, Subscription
from engine.executor import Executor
from engine.health import HealthMonitor, HealthResult
from engine.image_pulls import ImagePulls
from engine.image_signatures import ImageSignatures
from engine.model import AppDefinition, config_equal, instance_of, task_id_for
from engine.policy import AgentPolicy
from engine.policy_gate import PolicyGate
from engine.ports import AutoscalePort, DeploymentInputsPort, HealthPort, ReadinessPort
from engine.readiness import ReadinessMonitor, ReadinessResult
from engine.scheduler.deployments import Deployment
from engine.scheduler.reconcile import ClusterView, Plan, Waiting, reconcile
from engine.scheduler.state import BackoffState, DesiredApp, TaskRecord, TaskState
from engine.specs import TaskSpecs
from engine.store import Store
from engine.supervisor import PARTS, Backoff, EngineHealth, PartHealth, Supervisor, agent_parts, stuck_round
from engine.task_ledger import TaskLedger
from engine.trust import ImageSignature
from engine.views import ClusterSnapshot, EngineStats, app_view

log = logging.getLogger("pacer.engine")

_NO_RESULTS: Mapping[int, HealthResult] = MappingProxyType({})

ROUND_STUCK_SECONDS = 60.0
"""A round that runs longer than this (or ten reconcile intervals, if longer) makes the loop degraded."""


class Engine:
    """The scheduler. Use `async with Engine(config) as engine:` or start()/stop().

    Its public members are the facade that the API and the console use (engine/__init__.py lists them);
    everything else is private to the engine."""

    def __init__(
        self,
        config: PacerConfig,
        *,
        drivers: Mapping[str, AgentDriver] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self._bus = EventBus()
        self._store: Store | None = None
        self.cluster_id = ""
        self._drivers_given = dict(drivers or {})
        default_image = config.scheduler.default_image
        self._supervisor = Supervisor(clock)
        self._registry = AppRegistry(self._stored_version)
        self._agents = AgentPool(self._bus, self.wake_threadsafe, supervisor=self._supervisor)
        self._ledger = TaskLedger(self._bus, clock, self._registry.desired, self._agents.hostname_of)
        self._readiness = ReadinessMonitor(ReadinessPort(self._ledger, self._registry, self._agents, self.wake),
                                           supervisor=self._supervisor)
        self._watcher = DeploymentWatcher(self._bus, DeploymentInputsPort(self._registry, self._ledger, self.wake,
                                                                          lambda: self._readiness))
        self._signatures = ImageSignatures(self._bus, clock, self._registry.apps, default_image,
                                           self._retry_after_signature)
        self._policies = PolicyGate({}, self._registry.apps, default_image)
        specs = TaskSpecs(self._registry.apps, default_image, self._agents.hostname_of,
                          self._signatures.signatures_for, lambda: self.cluster_id)
        self._executor = Executor(self._agents, specs, self._ledger, self.wake, supervisor=self._supervisor)
        self._pulls = ImagePulls(self._bus, lambda: [slot.driver for slot in self._agents.slots.values()])
        self._health = HealthMonitor(HealthPort(self._ledger, self._registry, self._agents, self._bus, clock,
                                                self.wake, self._kill_unhealthy), supervisor=self._supervisor)
        self._commands = AppCommands(config, self._registry, self._ledger, self._watcher, self._agents,
                                     self._executor, self._bus, clock, self.wake, self._request_full_round)
        self._autoscaler = Autoscaler(AutoscalePort(self._registry, self._ledger, self._agents, self._watcher,
                                                    self._bus, clock, self._commands), supervisor=self._supervisor)
        self.pause_point: Callable[[], None] | None = None
        """Called between units of work in a round (phases, apps). An embedding host may block in it briefly to
        let its own thread run; the console does while someone waits for the screen (tui/console_turn.py)."""
        self._rounds = 0
        self._launches = 0
        self._kills = 0
        self._last_round_seconds = 0.0
        self._round_seconds_total = 0.0
        self._round_durations: tuple[float, ...] = ()
        """The last 1,000 rounds' durations (a tuple, so a stats read costs nothing)."""
        self._orphans_seen: dict[str, float] = {}
        self._dirty_apps: set[str] = set()
        self._dirty_agents: set[str] = set()
        self._full_requested = True
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._next_wakeup: float | None = None
        self._stopping = False
        self._round_done = asyncio.Condition()
        self._round_started: float | None = None
        """time.monotonic() when the round under way began (None between rounds)."""
        self._agent_seen: dict[str, tuple[bool, float]] = {}
        """Agent -> (reachable, since when), as the engine last saw it."""

    # -- lifecycle -------------------------------------------------------------

    async def __aenter__(self) -> "Engine":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        sched = self.config.scheduler
        store = self._store = Store(sched.state, max_versions=sched.max_versions)
        self.cluster_id = self._agents.cluster_id = store.cluster_id(sched.cluster_id)
        from engine.model import app_from_json

        for raw in store.load_apps().values():
            self._registry.set(app_from_json(raw))
        self._ledger.load(store)
        self._watcher.load(store)
        self._signatures.load(store)
        self._commands.store = store
        draining = set(store.draining_agents())
        for agent in self.config.agents:
            driver = self._drivers_given.get(agent.name) or make_driver(agent, self.config.policy_for(agent))
            self._agents.add(agent, driver, draining=agent.name in draining)
        for name, driver in self._drivers_given.items():
            if name not in self._agents:
                self._agents.add(AgentConfig(name=name, url="sim://"), driver, draining=name in draining)
        policies = {name: self.config.policy_for(cfg) for name, cfg in self._agents.configs().items()}
        self._policies.policies = {name: p for name, p in policies.items() if p is not None}
        self._pulls.attach()
        await self._agents.connect_all()
        if sched.apps_dir:
            await self._load_apps_dir(Path(sched.apps_dir))
        self._loop_task = self._supervisor.keep_running("loop", self._run, "pacer-reconcile")
        self._autoscaler.start()
        log.info("engine started: cluster %s, %d agents, %d apps, %d tasks",
                 self.cluster_id, len(self._agents), len(self._registry.apps), len(self._ledger.tasks))

    async def stop(self) -> None:
        self._stopping = True
        await self._autoscaler.stop()
        self.wake()
        if self._loop_task is not None:
            self._loop_task.cancel()
            try:
                await self._loop_task
            except asyncio.CancelledError:
                pass
        await self._executor.cancel_all()
        await self._health.close()
        await self._readiness.close()
        await self._agents.close()
        self._bus.close()
        if self._store is not None:
            self._ledger.flush()
            self._store.close()

    def _stored_version(self, app_id: str, version: str) -> dict[str, Any] | None:
        return self._store.app_version(app_id, version) if self._store is not None else None

    async def _load_apps_dir(self, folder: Path) -> None:
        """Apps declared as files: created when missing, updated when their definition changed."""
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.error("apps_dir: %s: %s", path, exc)
                continue
            try:
                if not isinstance(data, dict):
                    raise AppValidationError([FieldError("/", "an app must be a JSON object")])
                current = self._registry.apps.get(AppCommands.parse_id(data))
                app = self._commands.parse(data, current)  # service ports kept from the current definition
                if current is None or not config_equal(current, app) or current.instances != app.instances:
                    await self.put_app(data, partial=False, force=True)
            except PacerError as exc:
                log.error("apps_dir: %s: %s", path, exc.message)

    # -- the loop --------------------------------------------------------------

    def wake(self, app_id: str | None = None) -> None:
        """Something changed: reconcile soon (only `app_id`'s part, when given, unless a full round is due)."""
        if app_id is not None:
            self._dirty_apps.add(app_id)
        self._wake.set()

    def wake_threadsafe(self, agent: str | None = None) -> None:
        """An agent reports a change, from any thread: list it (None: every agent) soon."""
        loop = self._loop_task.get_loop() if self._loop_task else None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._agent_changed, agent)

    def _agent_changed(self, agent: str | None) -> None:
        if agent is None:
            self._full_requested = True
        else:
            self._dirty_agents.add(agent)
        self._wake.set()

    def _request_full_round(self) -> None:
        self._full_requested = True
        self._wake.set()

    async def _run(self) -> None:
        """Rounds until stopped. A round that fails, whatever the reason, is logged at once (a bug with its
        traceback) and tried again, as a full round, after a backoff; memory is as the last commit left it."""
        interval = self.config.scheduler.reconcile_interval
        last_full = -float("inf")
        backoff = Backoff(*self._supervisor.backoff)
        while not self._stopping:
            timeout = max(0.0, interval - (time.monotonic() - last_full))
            if self._next_wakeup is not None:
                timeout = max(0.0, min(timeout, self._next_wakeup - self.clock()))
            try:
                async with asyncio.timeout(timeout):  # not wait_for, which can swallow a cancel on 3.11
                    await self._wake.wait()
                # Coalesce a burst of changes (docker events come in flurries) into one round.
                await asyncio.sleep(0.02)
            except TimeoutError:
                pass
            self._wake.clear()
            due = self._next_wakeup is not None and self.clock() >= self._next_wakeup
            full = self._full_requested or due or time.monotonic() - last_full >= interval
            try:
                if self._store is not None and self._store.failure is not None:
                    # Nothing is carried out while the store cannot record it: wait until it commits again.
                    self._store.probe()
                await self.reconcile_once(full=full)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any failure of one round
                self._round_started = None
                self._full_requested = True  # what the failed round took off the dirty lists is looked at again
                delay = backoff.next()
                self._supervisor.failed("loop", exc, what="reconcile round failed", retry_in=delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            self._supervisor.recovered("loop")
            if full:
                last_full = time.monotonic()

    async def reconcile_once(self, *, full: bool = True) -> Plan:
        """One round. A full round lists every agent and looks at every app; otherwise only the agents
        that reported a change are listed, and only the apps touched since the last round are examined."""
        started = self._round_started = time.monotonic()
        ledger, registry = self._ledger, self._registry
        agent_names = list(self._agents.slots) if full else sorted(self._dirty_agents)
        self._dirty_agents.clear()
        self._full_requested = False
        dirty = set(self._dirty_apps)
        self._dirty_apps.clear()
        if not full and self.config.scheduler.preemption and any(
            (d := registry.desired.get(a)) is not None and d.priority > 0 for a in dirty | set(ledger.waiting)
        ):
            # Preemption weighs every task on every agent: it needs the whole cluster in view.
            full, agent_names = True, list(self._agents.slots)
        observed = await self._agents.observe(agent_names)
        self._agent_health()
        agents = self._agents.states()
        if full:
            apps: Mapping[str, DesiredApp] = registry.desired
            tasks: Mapping[str, TaskRecord] = ledger.tasks
            backoff: Mapping[str, BackoffState] = ledger.backoff
        else:
            scope = dirty | set(ledger.waiting)
            for name, containers in observed.items():
                scope.update(c.app_id for c in containers)
                scope.update(ledger.tasks.app_ids_on(name))
            for name, state in agents.items():
                if not state.reachable:
                    scope.update(ledger.tasks.app_ids_on(name))
            apps = {a: registry.desired[a] for a in scope if a in registry.desired}
            tasks = {t.task_id: t for a in scope for t in ledger.tasks.of_app(a)}
            backoff = {a: ledger.backoff[a] for a in scope if a in ledger.backoff}
        view = ClusterView(
            now=self.clock(),
            apps=apps,
            tasks=tasks,
            agents=agents,
            observed=observed,
            inflight=self._executor.busy_since(started),
            removing=self._executor.removing_since(started),
            backoff=backoff,
            health=ledger.health,
            relaunch={a: ledger.relaunch[a] for a in apps if a in ledger.relaunch},
            held=self._watcher.held_by_dependencies(),
            readiness=self._readiness.ready(self._watcher.readiness_gates()),
            orphans_seen=self._orphans_seen,
            orphan_grace_seconds=self.config.scheduler.orphan_grace_seconds,
            strategy=self.config.scheduler.strategy,
            usage=ledger.tasks.usage,
            policy_filter=self._policies.check if self._policies else None,
            preemption=self.config.scheduler.preemption,
            preemption_keeps_min_health=self.config.scheduler.preemption_keeps_min_health,
        )
        self._pause()
        plan = reconcile(view, self._new_task_id, between_apps=self.pause_point)
        self._pause()
        self._apply(plan, full=full, scope=apps)
        self._pause()
        if full:
            self._health.sync(ledger.tasks)
        else:
            self._health.sync(tasks, partial=True)
        self._pause()
        self._watcher.track()
        self._readiness.sync(self._watcher.readiness_gates())  # after track: an ended deployment's results go
        if self._rounds == 0:
            log.info("first reconcile round: %d tasks known, %d agents answered, %d launches, %d kills",
                     len(ledger.tasks), len(observed), len(plan.launches), len(plan.kills))
        elif not plan.empty:
            log.info("reconcile: %d launches, %d kills, %d ended, %d adopted",
                     len(plan.launches), len(plan.kills), len(plan.gone), len(plan.adopted))
        self._executor.forget_touched_before(started)
        elapsed = time.monotonic() - started
        self._round_started = None
        self._rounds += 1
        self._last_round_seconds = elapsed
        self._round_seconds_total += elapsed
        self._round_durations = (*self._round_durations[-999:], elapsed)
        async with self._round_done:
            self._round_done.notify_all()
        return plan

    def _pause(self) -> None:
        if self.pause_point is not None:
            self.pause_point()

    def _new_task_id(self, app_id: str) -> str:
        return task_id_for(app_id, str(uuid.uuid4()), 1)

    def _apply(self, plan: Plan, *, full: bool = True, scope: Mapping[str, Any] | None = None) -> None:
        """Carry out a plan: the ledger commits and records it, then its actions go to the executor."""
        for gone in self._ledger.record_plan(plan, full=full, scope=scope or {}):
            self._executor.collect(gone)
        if full:
            self._orphans_seen = dict(plan.orphans_seen)
            self._next_wakeup = plan.next_wakeup
        else:
            self._orphans_seen.update(plan.orphans_seen)
            if plan.next_wakeup is not None and (self._next_wakeup is None or plan.next_wakeup < self._next_wakeup):
                self._next_wakeup = plan.next_wakeup
        for kill in plan.kills:
            self._kills += 1
            self._executor.kill(replace(kill, task=self._ledger.tasks.get(kill.task.task_id) or kill.task))
        for launch in plan.launches:
            self._launches += 1
            self._executor.launch(launch)
        for removal in plan.removals:
            self._executor.remove(removal)

    def _kill_unhealthy(self, task: TaskRecord, reason: str) -> None:
        """A task failed its health check too often: kill it; it counts as a failure for backoff."""
        kill = self._ledger.mark_unhealthy(task, reason)
        if kill is not None:
            self._executor.kill(kill)
            log.warning("killing unhealthy task %s: %s", task.task_id, reason)

    def _retry_after_signature(self, app_ids: list[str]) -> None:
        """A new signature: apps of its repository that wait after failed launches try again at once."""
        waiting = [a for a in app_ids if a in self._ledger.backoff]
        self._ledger.reset_backoff(waiting)
        for app_id in waiting:
            self.wake(app_id)

    async def wait_for_round(self, timeout: float = 10.0) -> None:
        """Wait until one more reconcile round has finished."""
        async with self._round_done:
            await asyncio.wait_for(self._round_done.wait(), timeout)

    async def drain_actions(self, timeout: float = 30.0) -> None:
        """Wait for every launch, kill and removal under way (shutdown, tests)."""
        await self._executor.drain(timeout)

    # -- the read side (the facade) --------------------------------------------------

    @property
    def apps(self) -> Mapping[str, AppDefinition]:
        """App id -> its current definition. Read-only: change apps with the commands."""
        return self._registry.apps

    @property
    def tasks(self) -> Mapping[str, TaskRecord]:
        """Task id -> its record, every task the engine knows."""
        return self._ledger.tasks

    @property
    def deployments(self) -> Mapping[str, Deployment]:
        """Deployment id -> the deployments under way (a change of several apps has one per app)."""
        return self._watcher.deployments

    @property
    def waiting(self) -> Mapping[str, Waiting]:
        """App id -> why some of its instances are not placed, with the rejections per agent."""
        return self._ledger.waiting

    @property
    def backoff(self) -> Mapping[str, BackoffState]:
        """App id -> its launch delay after failures."""
        return self._ledger.backoff

    @property
    def failures(self) -> Mapping[str, Mapping[str, Any]]:
        """App id -> Marathon's lastTaskFailure."""
        return self._ledger.failures

    @property
    def health(self) -> Mapping[str, bool | None]:
        """Task id -> healthy (None: no verdict yet), for tasks of apps with health checks."""
        return self._ledger.health

    @property
    def signatures(self) -> tuple[ImageSignature, ...]:
        return self._signatures.signatures

    @property
    def stats(self) -> EngineStats:
        return EngineStats(rounds=self._rounds, last_round_seconds=self._last_round_seconds,
                           launches=self._launches, kills=self._kills, failures=self._ledger.failure_count,
                           round_durations=self._round_durations, round_seconds_total=self._round_seconds_total,
                           probes=self._health.probe_count, probe_failures=self._health.failure_count,
                           autoscale_decisions=self._autoscaler.decisions)

    @property
    def revision(self) -> int:
        """Goes up on every change of state the engine makes (each publishes an event): a cache key."""
        return self._bus.published + self._rounds

    def subscribe(self, *, maxsize: int = 10_000, event_types: frozenset[str] | None = None) -> Subscription:
        """Events as they happen, over a bounded queue (a subscriber that falls behind is dropped)."""
        return self._bus.subscribe(maxsize=maxsize, event_types=event_types)

    def health_status(self) -> EngineHealth:
        """Ready, or degraded with the reason per part (loop, store, executor, health monitor, autoscaler, agent
        watchers, agents) and since when; each agent reachable or not. What /pacer/v1/health and the console show."""
        parts = {name: self._supervisor.part(name) for name in PARTS}
        task, store = self._loop_task, self._store
        problem = ("stopping" if self._stopping else "not started" if task is None
                   else "not running" if task.done() else None)
        if problem is not None:
            parts["loop"] = PartHealth("loop", "degraded", problem)
        elif self._round_started is not None:
            limit = max(ROUND_STUCK_SECONDS, 10 * self.config.scheduler.reconcile_interval)
            parts["loop"] = stuck_round(parts["loop"], time.monotonic() - self._round_started, limit, self.clock())
        if store is None:
            parts["store"] = PartHealth("store", "degraded", "not open (the engine is not started)")
        elif store.failure is not None:
            parts["store"] = PartHealth("store", "degraded", store.failure.message, store.failing_since,
                                        store.failed_writes)
        return EngineHealth.of(parts, self._agent_health(), self.clock())

    def _agent_health(self) -> tuple[PartHealth, ...]:
        return agent_parts(((name, slot.reachable and slot.capacity is not None, slot.error)
                            for name, slot in self._agents.slots.items()), self._agent_seen, self.clock())

    def health_results(self, task_id: str) -> Mapping[int, HealthResult]:
        """Check index -> the last result of that health check of a task (checks not yet probed are absent)."""
        return self._health.results.get(task_id, _NO_RESULTS)

    def health_results_json(self, task_id: str) -> list[dict[str, Any]]:
        """Marathon's healthCheckResults of one task, one per health check probed."""
        instance_id = instance_of(task_id)
        results = self.health_results(task_id)
        return [results[i].to_json(instance_id) for i in sorted(results)]

    def tasks_of(self, app_id: str) -> list[TaskRecord]:
        return self._ledger.tasks.of_app(app_id)

    def readiness_results(self, app_id: str) -> list[ReadinessResult]:
        """The app's readiness check results during its deployment (empty when none runs), one per task probed."""
        return self._readiness.results_of(app_id)

    def readiness_results_json(self) -> dict[str, list[dict[str, Any]]]:
        """App id -> Marathon's readinessCheckResults, for every app whose deployment checks readiness now."""
        return {app_id: [r.to_json() for r in self._readiness.results_of(app_id)] for app_id in self._readiness.apps()}

    def locks(self, app_id: str) -> list[Deployment]:
        """The deployments under way that lock an app (a change is refused unless forced)."""
        return self._watcher.locks(app_id)

    def autoscale_status(self, app_id: str) -> dict[str, Any] | None:
        """The app's autoscaling: policy, last sample and decision, recent changes (None: no policy)."""
        return self._autoscaler.status(app_id)

    def autoscale_summary(self, app_id: str) -> str | None:
        """One short line for a console cell: "cpu 72%/50% [1-3]" (None: no policy)."""
        return self._autoscaler.summary(app_id)

    def image_pulls(self) -> tuple[ImagePull, ...]:
        """The image pulls under way or queued on every agent, oldest first ("pulling IMAGE: 41% of 212 MB")."""
        return self._pulls.current()

    def policy_of(self, agent: str) -> AgentPolicy | None:
        """The policy the engine knows an agent enforces."""
        return self._policies.policy_of(agent)

    def probe_host(self, agent: str) -> str:
        """Where an agent's published ports answer (health probes, the console's links)."""
        return self._agents.probe_host(agent)

    def hostname_of(self, agent: str) -> str:
        return self._agents.hostname_of(agent)

    def snapshot(self) -> ClusterSnapshot:
        """The cluster now, frozen: from the live indexes, so its cost follows apps and agents, not tasks."""
        ledger = self._ledger
        tasks = {app_id: ledger.tasks.frozen_of_app(app_id) for app_id in ledger.tasks.app_ids()}
        apps = tuple(app_view(app, tasks.get(app_id, ()), ledger.health, ledger.waiting.get(app_id),
                              ledger.failures.get(app_id))
                     for app_id, app in sorted(self._registry.apps.items()))
        return ClusterSnapshot(cluster_id=self.cluster_id, taken_at=self.clock(),
                               agents=self._agents.views(ledger.tasks.usage), apps=apps, tasks=tasks,
                               reconcile_rounds=self._rounds, deployments=tuple(self._watcher.deployments.values()),
                               pulls=self._pulls.current())

    def running_count(self, app_id: str) -> int:
        return sum(1 for t in self._ledger.tasks.of_app(app_id) if t.state == TaskState.RUNNING)

    def converged(self, app_id: str) -> bool:
        """The app runs exactly its instances of its current version, and no deployment is left for it."""
        if self._watcher.locks(app_id):
            return False
        app = self._registry.desired.get(app_id)
        if app is None:
            return not self._ledger.tasks.of_app(app_id)
        tasks = self.tasks_of(app_id)
        return (
            len(tasks) == app.instances
            and all(t.state == TaskState.RUNNING and t.config_version == app.config_version for t in tasks)
        )

    def get_app(self, app_id: str) -> AppDefinition:
        return self._registry.get(app_id)

    def app_versions(self, app_id: str) -> list[str]:
        return self._commands.app_versions(app_id)

    def app_at_version(self, app_id: str, version: str) -> AppDefinition:
        return self._commands.app_at_version(app_id, version)

    def group_id_problems(self, group_id: str) -> list[str]:
        """A group id follows the rules of app ids (the root aside) and is not an app's."""
        return self._commands.group_id_problems(group_id)

    def plan_changes(self, submitted: Sequence[tuple[str, object]], *, partial: bool = False,
                     delete: Iterable[str] = ()) -> list[AppChange]:
        """Several apps and deletions, validated as one change before any is made (see AppCommands)."""
        return self._commands.plan_changes(submitted, partial=partial, delete=delete)

    def plan_group(self, document: object, group_id: str, *, replace: bool) -> list[AppChange]:
        """A Marathon group document as one change (see AppCommands)."""
        return self._commands.plan_group(document, group_id, replace=replace)

    async def task_logs(self, task_id: str, lines: int = 200) -> list[str]:
        return await self._commands.task_logs(task_id, lines)

    def follow_task_logs(self, task_id: str, tail: int = 200) -> AsyncIterator[str]:
        """Output of one task: the last `tail` lines, then new lines until the task ends or the caller stops."""
        return self._commands.follow_task_logs(task_id, tail)

    # -- commands (the facade) ----------------------------------------------------------

    async def create_app(self, data: object, *, force: bool = False, client_ip: str | None = None,
                         uri: str | None = None) -> Deployment:
        return await self._commands.create_app(data, force=force, client_ip=client_ip, uri=uri)

    async def put_app(self, data: object, *, app_id: str | None = None, partial: bool = True, force: bool = False,
                      client_ip: str | None = None, uri: str | None = None) -> Deployment:
        """Create or update (Marathon's PUT): partial updates merge over the current definition."""
        return await self._commands.put_app(data, app_id=app_id, partial=partial, force=force, client_ip=client_ip,
                                            uri=uri)

    async def apply_changes(self, changes: Sequence[AppChange], *, force: bool = False, client_ip: str | None = None,
                            uri: str | None = None) -> list[Deployment]:
        """Commit a planned change of several apps: one deployment per app, one id for clients (`public_id`)."""
        return await self._commands.apply_changes(changes, force=force, client_ip=client_ip, uri=uri)

    async def put_group(self, document: object, *, force: bool = False) -> list[Deployment]:
        """Create or replace the group a document names (its `id`), as `PUT /v2/groups/{id}` does."""
        return await self._commands.put_group(document, force=force)

    async def scale(self, app_id: str, instances: int, *, force: bool = False,
                    supersede_scaling: bool = False) -> Deployment:
        return await self._commands.scale(app_id, instances, force=force, supersede_scaling=supersede_scaling)

    async def restart_app(self, app_id: str, *, force: bool = False) -> Deployment:
        return await self._commands.restart_app(app_id, force=force)

    async def delete_app(self, app_id: str, *, force: bool = True) -> Deployment:
        return await self._commands.delete_app(app_id, force=force)

    async def rollback_app(self, app_id: str, version: str, *, force: bool = False) -> Deployment:
        return await self._commands.rollback_app(app_id, version, force=force)

    async def cancel_deployment(self, deployment_id: str, *, rollback: bool = True) -> Deployment | None:
        return await self._commands.cancel_deployment(deployment_id, rollback=rollback)

    async def kill_tasks(self, task_ids: list[str], *, scale: bool = False, force: bool = False) -> list[TaskRecord]:
        return await self._commands.kill_tasks(task_ids, scale=scale, force=force)

    async def reset_delay(self, app_id: str) -> bool:
        return await self._commands.reset_delay(app_id)

    async def drain_agent(self, name: str, *, draining: bool = True) -> None:
        await self._commands.drain_agent(name, draining=draining)

    async def resume_agent(self, name: str) -> None:
        await self._commands.drain_agent(name, draining=False)

    def add_signature(self, sig: ImageSignature) -> ImageSignature:
        return self._signatures.add(sig)

    def remove_signatures(self, *, image_id: str | None = None, key_id: str | None = None,
                          image: str | None = None) -> list[ImageSignature]:
        return self._signatures.remove(image_id=image_id, key_id=key_id, image=image)

    def signatures_for(self, image: str, image_id: str | None = None) -> list[ImageSignature]:
        return self._signatures.signatures_for(image, image_id)


"""The engine: store, agents, reconcile loop and executor, behind one facade.

Commands (create, update, scale, delete, restart, kill) validate, commit to the
store and only then return; the reconcile loop, woken by every change, by docker
events and by a timer, makes the cluster match.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from engine.agents.base import AgentCapacity, AgentDriver
from engine.agents.docker_agent import DockerAgent
from engine.agents.sim import SimAgent
from engine.autoscale import Autoscaler
from engine.commands import AppCommands
from engine.config import AgentConfig, PacerConfig
from engine.errors import AgentError, AppValidationError, FieldError, PacerError
from engine.events import EventBus, Subscription
from engine.executor import Executor
from engine.health import HealthMonitor
from engine.model import (
    AppDefinition,
    app_from_json,
    config_equal,
    format_ts,
    instance_of,
    task_id_for,
)
from engine.policy import AgentPolicy, app_requirements, refusals
from engine.scheduler.deployments import Deployment
from engine.scheduler.placement import Rejection
from engine.scheduler.reconcile import ClusterView, Kill, Plan, TaskGone, Vacated, Waiting, next_backoff, reconcile
from engine.scheduler.state import (
    AgentState,
    BackoffState,
    DesiredApp,
    ObservedContainer,
    Resources,
    TaskRecord,
    TaskState,
)
from engine.scheduler.task_table import TaskTable
from engine.specs import task_spec
from engine.store import Store
from engine.trust import ImageSignature, normalize_ref, repository_of
from engine.views import AgentView, ClusterSnapshot, app_view, used_of

log = logging.getLogger("pacer.engine")


def make_driver(agent: AgentConfig, policy: AgentPolicy | None = None) -> AgentDriver:
    """The driver for one configured agent; a docker agent enforces `policy` (engine.policy) on its daemon."""
    if agent.kind == "sim":
        return SimAgent(
            agent.name,
            cpus=agent.cpus if agent.cpus is not None else 8.0,
            mem_mib=agent.mem if agent.mem is not None else 16384.0,
            disk_mib=agent.disk,
            attributes=agent.attributes,
            hostname=agent.hostname,
        )
    if agent.kind == "pacer":
        from engine.agents.remote import RemoteAgent

        return RemoteAgent.from_config(agent)
    tls = None
    if agent.tls_cert or agent.tls_ca:
        import docker.tls

        tls = docker.tls.TLSConfig(
            client_cert=(agent.tls_cert, agent.tls_key) if agent.tls_cert and agent.tls_key else None,
            ca_cert=agent.tls_ca,
            verify=bool(agent.tls_ca),
        )
    return DockerAgent(
        agent.name,
        agent.url,
        reserve_cpus=agent.reserve_cpus,
        reserve_mem_mib=agent.reserve_mem,
        cpus=agent.cpus,
        mem_mib=agent.mem,
        attributes=agent.attributes,
        tls=tls,
        policy=policy,
    )


@dataclass(slots=True)
class _AgentSlot:
    config: AgentConfig
    driver: AgentDriver
    capacity: AgentCapacity | None = None
    reachable: bool = False
    error: str | None = None
    watcher: asyncio.Task[None] | None = None
    draining: bool = False
    foreign_ports: frozenset[int] = frozenset()


@dataclass(slots=True)
class EngineStats:
    rounds: int = 0
    last_round_seconds: float = 0.0
    launches: int = 0
    kills: int = 0
    failures: int = 0
    round_durations: list[float] = field(default_factory=list)
    round_seconds_total: float = 0.0
    """Cumulative, with `rounds`: a true counter pair for Prometheus summaries."""


class Engine(AppCommands):
    """The scheduler. Use `async with Engine(config) as engine:` or start()/stop()."""

    def __init__(
        self,
        config: PacerConfig,
        *,
        drivers: Mapping[str, AgentDriver] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self.bus = EventBus()
        self.executor = Executor(self)
        self.health_monitor = HealthMonitor(self, self._kill_unhealthy)
        self.autoscaler = Autoscaler(self)
        self._version_cache: dict[tuple[str, str], AppDefinition] = {}
        self._pending_writes: dict[str, TaskRecord] = {}
        self._flush_scheduled = False
        self._dirty_apps: set[str] = set()
        self._dirty_agents: set[str] = set()
        self._full_requested = True
        self._agent_states_cache: dict[str, AgentState] | None = None
        self.stats = EngineStats()
        self._drivers_given = dict(drivers or {})
        self._agents: dict[str, _AgentSlot] = {}
        self.store: Store | None = None
        self.cluster_id = ""
        self.apps: dict[str, AppDefinition] = {}
        self._port_owner: dict[int, str] = {}
        """Service port -> the app holding it (kept by _set_app and _drop_service_ports)."""
        self._desired: dict[str, DesiredApp] = {}
        self.tasks = TaskTable()
        self.backoff: dict[str, BackoffState] = {}
        self.failures: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, Deployment] = {}
        self._group_failures: dict[str, str] = {}
        self.waiting: dict[str, Waiting] = {}
        self.health: dict[str, bool | None] = {}
        self._orphans_seen: dict[str, float] = {}
        self.pause_point: Callable[[], None] | None = None
        """Called between units of work in a round (phases, apps). An embedding host may block in it
        briefly to let its own thread run; the console does while someone waits for the screen
        (tui/console_turn.py)."""
        self._relaunch: dict[str, tuple[Vacated, ...]] = {}
        """Instances whose task failed, waiting for their next attempt (in memory: a restart forgets them)."""
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._next_wakeup: float | None = None
        self._stopping = False
        self._round_done = asyncio.Condition()

    # -- lifecycle -------------------------------------------------------------

    async def __aenter__(self) -> "Engine":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        sched = self.config.scheduler
        self.store = Store(sched.state)
        self.cluster_id = self.store.cluster_id(sched.cluster_id)
        for raw in self.store.load_apps().values():
            self._set_app(app_from_json(raw))
        self.tasks = TaskTable(self.store.load_tasks())
        self.backoff = self.store.load_backoff()
        self.failures = self.store.load_failures()
        self._relaunch = {app_id: tuple(Vacated(*v) for v in vacated)
                          for app_id, vacated in self.store.load_relaunch().items()}
        self.deployments = {d["id"]: Deployment.from_record(d) for d in self.store.load_deployments()}
        for agent in self.config.agents:
            driver = self._drivers_given.get(agent.name) or make_driver(agent, self.config.policy_for(agent))
            self._agents[agent.name] = _AgentSlot(agent, driver)
        for name, driver in self._drivers_given.items():
            if name not in self._agents:
                cfg = AgentConfig(name=name, url="sim://")
                self._agents[name] = _AgentSlot(cfg, driver)
        for name in self.store.draining_agents():
            if name in self._agents:
                self._agents[name].draining = True
        self._start_policies()
        await asyncio.gather(*(self._connect(slot) for slot in self._agents.values()))
        if sched.apps_dir:
            await self._load_apps_dir(Path(sched.apps_dir))
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="pacer-reconcile")
        self.autoscaler.start()
        log.info("engine started: cluster %s, %d agents, %d apps, %d tasks",
                 self.cluster_id, len(self._agents), len(self.apps), len(self.tasks))

    async def stop(self) -> None:
        self._stopping = True
        await self.autoscaler.stop()
        self.wake()
        if self._loop_task is not None:
            self._loop_task.cancel()
            try:
                await self._loop_task
            except asyncio.CancelledError:
                pass
        await self.executor.cancel_all()
        await self.health_monitor.close()
        watchers = [slot.watcher for slot in self._agents.values() if slot.watcher is not None]
        for watcher in watchers:
            watcher.cancel()
        if watchers:
            await asyncio.wait(watchers, timeout=5)
        for slot in self._agents.values():
            await slot.driver.close()
        self.bus.close()
        if self.store is not None:
            self._flush_pending()
            self.store.close()

    async def _connect(self, slot: _AgentSlot) -> None:
        try:
            slot.capacity = await slot.driver.connect()
        except AgentError as exc:
            slot.reachable, slot.error = False, exc.message
            log.warning("agent %s: %s", slot.config.name, exc.message)
            return
        # Capacity and reachability changed: an agent down when the engine started must not stay unreachable.
        self._agent_states_cache = None
        slot.reachable, slot.error = True, None
        if slot.watcher is None or slot.watcher.done():
            slot.watcher = asyncio.get_running_loop().create_task(
                slot.driver.watch(self.cluster_id, self._watch_callback(slot.config.name)),
                name=f"watch {slot.config.name}",
            )

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
                current = self.apps.get(self._parse_id(data))
                app = self._parse(data, current)  # service ports kept from the current definition
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
        loop = self._loop_task.get_loop() if self._loop_task else None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._agent_changed, agent)

    def _agent_changed(self, agent: str | None) -> None:
        if agent is None:
            self._full_requested = True
        else:
            self._dirty_agents.add(agent)
        self._wake.set()

    def _watch_callback(self, agent: str) -> Callable[[], None]:
        return lambda: self.wake_threadsafe(agent)

    async def _run(self) -> None:
        interval = self.config.scheduler.reconcile_interval
        last_full = -float("inf")
        while not self._stopping:
            timeout = max(0.0, interval - (time.monotonic() - last_full))
            if self._next_wakeup is not None:
                timeout = max(0.0, min(timeout, self._next_wakeup - self.clock()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
                # Coalesce a burst of changes (docker events come in flurries) into one round.
                await asyncio.sleep(0.02)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            due = self._next_wakeup is not None and self.clock() >= self._next_wakeup
            full = self._full_requested or due or time.monotonic() - last_full >= interval
            try:
                await self.reconcile_once(full=full)
            except asyncio.CancelledError:
                raise
            except PacerError as exc:
                log.error("reconcile round failed: %s", exc.message)
            if full:
                last_full = time.monotonic()

    async def _observe(self, names: Iterable[str]) -> dict[str, list[ObservedContainer]]:
        async def one(slot: _AgentSlot) -> tuple[str, list[ObservedContainer] | None]:
            if slot.capacity is None:
                await self._connect(slot)
                if slot.capacity is None:
                    return slot.config.name, None
            try:
                containers = await slot.driver.list_containers(self.cluster_id)
            except AgentError as exc:
                if slot.reachable:
                    log.warning("agent %s unreachable: %s", slot.config.name, exc.message)
                    self.bus.publish("pacer_agent_unreachable", agent=slot.config.name, reason=exc.message)
                    self._agent_states_cache = None
                slot.reachable, slot.error = False, exc.message
                return slot.config.name, None
            if not slot.reachable:
                self.bus.publish("pacer_agent_reachable", agent=slot.config.name)
                self._agent_states_cache = None
                if slot.watcher is None or slot.watcher.done():
                    await self._connect(slot)
            slot.reachable, slot.error = True, None
            foreign = getattr(slot.driver, "foreign_ports", frozenset())
            if foreign != slot.foreign_ports:
                slot.foreign_ports = foreign
                self._agent_states_cache = None
            return slot.config.name, containers

        slots = [self._agents[n] for n in names if n in self._agents]
        results = await asyncio.gather(*(one(s) for s in slots))
        return {name: containers for name, containers in results if containers is not None}

    def _agent_states(self) -> dict[str, AgentState]:
        if self._agent_states_cache is not None:
            return self._agent_states_cache
        states = {}
        for name, slot in self._agents.items():
            cap = slot.capacity
            states[name] = AgentState(
                name=name,
                capacity=Resources(cap.cpus, cap.mem_mib, cap.disk_mib) if cap else Resources(),
                hostname=(slot.config.hostname or (cap.hostname if cap else name)),
                attributes=dict(cap.attributes) if cap else dict(slot.config.attributes),
                port_range=slot.config.port_range,
                reachable=slot.reachable and cap is not None,
                draining=slot.draining,
                kind=slot.driver.kind,
                reserved_ports=slot.foreign_ports,
            )
        self._agent_states_cache = states
        return states

    async def reconcile_once(self, *, full: bool = True) -> Plan:
        """One round. A full round lists every agent and looks at every app; otherwise only the agents
        that reported a change are listed, and only the apps touched since the last round are examined."""
        started = time.monotonic()
        agent_names = list(self._agents) if full else sorted(self._dirty_agents)
        self._dirty_agents.clear()
        self._full_requested = False
        dirty = set(self._dirty_apps)
        self._dirty_apps.clear()
        if not full and self.config.scheduler.preemption and any(
            (d := self._desired.get(a)) is not None and d.priority > 0 for a in dirty | set(self.waiting)
        ):
            # Preemption weighs every task on every agent: it needs the whole cluster in view.
            full, agent_names = True, list(self._agents)
        observed = await self._observe(agent_names)
        agents = self._agent_states()
        if full:
            apps: Mapping[str, DesiredApp] = self._desired
            tasks: Mapping[str, TaskRecord] = self.tasks
            backoff: Mapping[str, BackoffState] = self.backoff
        else:
            scope = dirty | set(self.waiting)
            for name, containers in observed.items():
                scope.update(c.app_id for c in containers)
                scope.update(self.tasks.app_ids_on(name))
            for name, state in agents.items():
                if not state.reachable:
                    scope.update(self.tasks.app_ids_on(name))
            apps = {a: self._desired[a] for a in scope if a in self._desired}
            tasks = {t.task_id: t for a in scope for t in self.tasks.of_app(a)}
            backoff = {a: self.backoff[a] for a in scope if a in self.backoff}
        view = ClusterView(
            now=self.clock(),
            apps=apps,
            tasks=tasks,
            agents=agents,
            observed=observed,
            inflight=self.executor.busy_since(started),
            removing=self.executor.removing_since(started),
            backoff=backoff,
            health=self.health,
            relaunch={a: self._relaunch[a] for a in apps if a in self._relaunch},
            held=self.held_by_dependencies(),
            pause_point=self.pause_point,
            orphans_seen=self._orphans_seen,
            orphan_grace_seconds=self.config.scheduler.orphan_grace_seconds,
            strategy=self.config.scheduler.strategy,
            usage=self.tasks.usage,
            policy_filter=self._policy_filter if self._policies else None,
            preemption=self.config.scheduler.preemption,
            preemption_keeps_min_health=self.config.scheduler.preemption_keeps_min_health,
        )
        self._pause()
        plan = reconcile(view, self._new_task_id)
        self._pause()
        self._apply(plan, full=full, scope=apps)
        self._pause()
        if full:
            self.health_monitor.sync(self.tasks)
        else:
            self.health_monitor.sync(tasks, partial=True)
        self._pause()
        self._track_deployments()
        if self.stats.rounds == 0:
            log.info("first reconcile round: %d tasks known, %d agents answered, %d launches, %d kills",
                     len(self.tasks), len(observed), len(plan.launches), len(plan.kills))
        elif not plan.empty:
            log.info("reconcile: %d launches, %d kills, %d ended, %d adopted",
                     len(plan.launches), len(plan.kills), len(plan.gone), len(plan.adopted))
        self.executor.forget_touched_before(started)
        elapsed = time.monotonic() - started
        self.stats.rounds += 1
        self.stats.last_round_seconds = elapsed
        self.stats.round_seconds_total += elapsed
        self.stats.round_durations = (self.stats.round_durations + [elapsed])[-1000:]
        async with self._round_done:
            self._round_done.notify_all()
        return plan

    def _pause(self) -> None:
        if self.pause_point is not None:
            self.pause_point()

    def _new_task_id(self, app_id: str) -> str:
        return task_id_for(app_id, str(uuid.uuid4()), 1)

    def _apply(self, plan: Plan, *, full: bool = True, scope: Mapping[str, Any] | None = None) -> None:
        assert self.store is not None
        killing = [replace(k.task, state=TaskState.KILLING) for k in plan.kills if k.task.state != TaskState.KILLING]
        launching = [l.task for l in plan.launches]
        failures = {g.task.app_id: self._failure_json(g, []) for g in plan.gone if g.failed}
        relaunch = {} if full else dict(self._relaunch)
        for app_id, vacated in plan.relaunch.items():
            if vacated:
                relaunch[app_id] = vacated
            else:
                relaunch.pop(app_id, None)
        relaunch_changes = {
            app_id: ([(v.task_id, v.config_version) for v in relaunch[app_id]] if app_id in relaunch else None)
            for app_id in self._relaunch.keys() | relaunch.keys()
            if self._relaunch.get(app_id) != relaunch.get(app_id)
        }
        # Commit first: a launch is only started once its record is durable.
        self._persist(
            upsert=[*plan.updates, *plan.adopted, *killing, *launching],
            delete=[g.task.task_id for g in plan.gone],
            backoff=plan.backoff,
            failures=failures,
            relaunch=relaunch_changes,
        )
        reasons = {k.task.task_id: k.reason for k in plan.kills}
        reasons.update((l.task.task_id, l.reason) for l in plan.launches)
        for t in (*plan.updates, *plan.adopted, *killing, *launching):
            previous = self.tasks.get(t.task_id)
            self.tasks[t.task_id] = t
            if previous is None or previous.state != t.state:
                self._publish_status(t, reasons.get(t.task_id, ""))
        for g in plan.gone:
            self.tasks.pop(g.task.task_id, None)
            self.health.pop(g.task.task_id, None)
            self._publish_status(replace(g.task, state=g.state), g.message)
            if g.failed:
                self.stats.failures += 1
            if g.container_id or g.failed:
                self.executor.collect(g)
        for app_id, state in plan.backoff.items():
            if state is None:
                self.backoff.pop(app_id, None)
            else:
                self.backoff[app_id] = state
        self.failures.update(failures)
        self._relaunch = relaunch
        self.tasks.usage.cursor = plan.placement_cursor
        if full:
            self.waiting = dict(plan.waiting)
            self._orphans_seen = dict(plan.orphans_seen)
            self._next_wakeup = plan.next_wakeup
        else:
            for app_id in scope or {}:
                self.waiting.pop(app_id, None)
            self.waiting.update(plan.waiting)
            self._orphans_seen.update(plan.orphans_seen)
            if plan.next_wakeup is not None and (self._next_wakeup is None or plan.next_wakeup < self._next_wakeup):
                self._next_wakeup = plan.next_wakeup
        for a in plan.adopted:
            log.info("adopted running container %s as task %s", (a.container_id or "")[:12], a.task_id)
        if log.isEnabledFor(logging.DEBUG):
            self._log_plan(plan)
        for kill in plan.kills:
            self.stats.kills += 1
            self.executor.kill(replace(kill, task=self.tasks.get(kill.task.task_id, kill.task)))
        for launch in plan.launches:
            self.stats.launches += 1
            self.executor.launch(launch)
        for removal in plan.removals:
            self.executor.remove(removal)

    @staticmethod
    def _log_plan(plan: Plan) -> None:
        for g in plan.gone:
            log.debug("task %s ended as %s: %s", g.task.task_id, g.state.value, g.message)
        for k in plan.kills:
            log.debug("kill %s on %s: %s", k.task.task_id, k.task.agent, k.reason)
        for launch in plan.launches:
            log.debug("launch %s on %s: %s", launch.task.task_id, launch.task.agent, launch.reason)
        for u in plan.updates:
            log.debug("task %s is %s (container %s)", u.task_id, u.state.value, (u.container_id or "-")[:12])
        for r in plan.removals:
            log.debug("remove container %s on %s: %s", r.container_id[:12], r.agent, r.reason)

    def _persist(
        self,
        *,
        upsert: list[TaskRecord] | tuple[TaskRecord, ...] = (),
        delete: list[str] | tuple[str, ...] = (),
        backoff: Mapping[str, BackoffState | None] | None = None,
        failures: Mapping[str, dict[str, Any]] | None = None,
        relaunch: Mapping[str, list[tuple[str, str]] | None] | None = None,
        deferred: bool = False,
    ) -> None:
        """Write task state. `deferred` writes (launch outcomes, which reconcile can always rebuild from what
        agents report) are batched into one transaction per loop turn; every other write goes at once,
        together with whatever was pending, so no newer state is ever overwritten by an older one."""
        assert self.store is not None
        if deferred:
            for t in upsert:
                self._pending_writes[t.task_id] = t
            if not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush_pending)
            return
        pending, self._pending_writes = self._pending_writes, {}
        for task_id in delete:
            pending.pop(task_id, None)
        self.store.write(upsert=[*pending.values(), *upsert], delete=delete, backoff=backoff, failures=failures,
                         relaunch=relaunch)

    def _flush_pending(self) -> None:
        self._flush_scheduled = False
        if self._pending_writes and self.store is not None:
            self._persist()

    def _failure_json(self, gone: TaskGone, lines: list[str]) -> dict[str, Any]:
        message = gone.message
        if lines:
            message += "\n" + "\n".join(lines)
        return {
            "appId": gone.task.app_id,
            "host": self._hostname(gone.task.agent),
            "message": message,
            "state": gone.state.value,
            "taskId": gone.task.task_id,
            "timestamp": format_ts(self.clock()),
            "version": gone.task.version,
            "slaveId": gone.task.agent,
        }

    def _hostname(self, agent: str) -> str:
        slot = self._agents.get(agent)
        if slot is None:
            return agent
        return slot.config.hostname or (slot.capacity.hostname if slot.capacity else agent)

    def _publish_status(self, t: TaskRecord, message: str) -> None:
        self.bus.publish(
            "status_update_event",
            slaveId=t.agent,
            taskId=t.task_id,
            taskStatus=t.state.value,
            message=message,
            appId=t.app_id,
            host=self._hostname(t.agent),
            ipAddresses=[{"ipAddress": t.ip_address, "protocol": "IPv4"}] if t.ip_address else [],
            ports=list(t.host_ports),
            version=t.version,
        )

    # -- health -------------------------------------------------------------------

    def config_version_of(self, app_id: str) -> str | None:
        app = self._desired.get(app_id)
        return app.config_version if app else None

    def app_version_for_task(self, task: TaskRecord) -> AppDefinition | None:
        """The definition a task was launched with (kept for old tasks during an upgrade)."""
        key = (task.app_id, task.version)
        if key not in self._version_cache and self.store is not None:
            stored = self.store.app_version(task.app_id, task.version)
            if stored is None:
                return None
            self._version_cache[key] = app_from_json(stored)
        return self._version_cache.get(key)

    def probe_host(self, agent: str) -> str:
        """Where this agent's published ports answer, for health probes."""
        slot = self._agents.get(agent)
        if slot is None:
            return "127.0.0.1"
        if slot.config.probe_host:
            return slot.config.probe_host
        url = slot.config.url
        if url.startswith("unix://") or url.startswith("sim://"):
            return "127.0.0.1"
        host = url.split("://", 1)[1].split("@")[-1].split("/")[0].rsplit(":", 1)[0]
        return host.strip("[]") or "127.0.0.1"

    def hostname_of(self, agent: str) -> str:
        return self._hostname(agent)

    def _kill_unhealthy(self, task: TaskRecord, reason: str) -> None:
        """A task failed its health check too often: kill it; it counts as a failure for backoff."""
        current = self.tasks.get(task.task_id)
        if current is None or current.state != TaskState.RUNNING or self.store is None:
            return
        killing = replace(current, state=TaskState.KILLING)
        gone = TaskGone(current, TaskState.KILLED, True, reason)
        failure = self._failure_json(gone, [])
        app = self._desired.get(task.app_id)
        backoff: dict[str, BackoffState | None] = {}
        if app is not None and current.config_version == app.config_version:
            b = app.backoff
            backoff[app.app_id] = next_backoff(b.backoff_seconds, b.backoff_factor, b.max_launch_delay_seconds,
                                               self.backoff.get(app.app_id), self.clock())
        self._persist(upsert=[killing], backoff=backoff, failures={task.app_id: failure})
        self.tasks[task.task_id] = killing
        self.health[task.task_id] = False
        for app_id, state in backoff.items():
            if state is not None:
                self.backoff[app_id] = state
        self.failures[task.app_id] = failure
        self.stats.failures += 1
        self._publish_status(killing, reason)
        grace = app.kill_grace_seconds if app else 3.0
        self.executor.kill(Kill(killing, reason, grace))
        log.warning("killing unhealthy task %s: %s", task.task_id, reason)

    # -- executor callbacks ------------------------------------------------------

    def driver(self, agent: str) -> AgentDriver:
        slot = self._agents.get(agent)
        if slot is None:
            raise AgentError(f"no agent named {agent!r}")
        return slot.driver

    def task_spec_for(self, task: TaskRecord) -> Any:
        app = self.apps.get(task.app_id)
        if app is None:
            raise ValueError(f"app {task.app_id} was deleted before its task started")
        spec = task_spec(
            app, task, cluster_id=self.cluster_id, default_image=self.config.scheduler.default_image,
            hostname=self._hostname(task.agent),
        )
        signatures = self.signatures_for(spec.image, spec.image_id)
        return replace(spec, signatures=tuple(s.to_wire() for s in signatures)) if signatures else spec

    # -- policies and image signatures ------------------------------------------------

    _policies: Mapping[str, AgentPolicy] = {}
    """Per agent, the policy the engine knows it enforces (none for a pacer agent with only its own)."""
    signatures: tuple[ImageSignature, ...] = ()
    """Image signatures (`pacer image sign`), sent to agents with each task of a signed repository."""

    def _start_policies(self) -> None:
        assert self.store is not None
        policies = {name: self.config.policy_for(slot.config) for name, slot in self._agents.items()}
        self._policies = {name: p for name, p in policies.items() if p is not None}
        self._policy_verdicts: dict[tuple[str, str, str], Rejection | None] = {}
        self.signatures = tuple(self.store.load_signatures())

    def policy_of(self, agent: str) -> AgentPolicy | None:
        return self._policies.get(agent)

    def _policy_filter(self, app: DesiredApp, agent: AgentState) -> Rejection | None:
        """Placement: an agent whose policy forbids the app is rejected with the policy's reasons."""
        policy = self._policies.get(agent.name)
        if policy is None:
            return None
        key = (app.app_id, app.config_version, agent.name)
        if key in self._policy_verdicts:
            return self._policy_verdicts[key]
        definition = self.apps.get(app.app_id)
        verdict = None
        if definition is not None:
            try:
                problems = refusals(app_requirements(definition, self.config.scheduler.default_image), policy)
            except ValueError as exc:
                problems = [str(exc)]
            if problems:
                verdict = Rejection("policy", "policy: " + "; ".join(problems))
        if len(self._policy_verdicts) > 10_000:
            self._policy_verdicts.clear()
        self._policy_verdicts[key] = verdict
        return verdict

    def signatures_for(self, image: str, image_id: str | None = None) -> list[ImageSignature]:
        """The signatures an agent may need for `image`: those of its repository, and of a pinned id."""
        repo = repository_of(image)
        pinned = (image_id or "").lower().removeprefix("sha256:")
        return [s for s in self.signatures
                if repository_of(s.image) == repo or (len(pinned) >= 12 and s.image_id[7:].startswith(pinned))]

    def add_signature(self, sig: ImageSignature) -> ImageSignature:
        """Keep a signature (refused unless it verifies under its own key); apps of that repository that
        wait after failed launches try again at once."""
        problem = sig.problem()
        if problem is not None:
            path, _, message = problem.partition(": ")
            raise AppValidationError([FieldError(f"/{path}", message)])
        assert self.store is not None
        sig = replace(sig, image=normalize_ref(sig.image), signed_at=sig.signed_at or self.clock())
        self.store.add_signature(sig)
        self.signatures = tuple(
            s for s in self.signatures
            if (s.image_id, s.public_key, s.image) != (sig.image_id, sig.public_key, sig.image)) + (sig,)
        self.bus.publish("pacer_image_signed", image=sig.image, imageId=sig.image_id, keyId=sig.key_id)
        self._retry_repository(repository_of(sig.image))
        return sig

    def remove_signatures(self, *, image_id: str | None = None, key_id: str | None = None,
                          image: str | None = None) -> list[ImageSignature]:
        """Forget the signatures that match every filter given (at least one)."""
        if image_id is None and key_id is None and image is None:
            raise AppValidationError([FieldError("/", "name an imageId, keyId or image")])
        ref = normalize_ref(image) if image else None
        gone = [s for s in self.signatures
                if (image_id is None or s.image_id == image_id) and (key_id is None or s.key_id == key_id)
                and (ref is None or s.image == ref)]
        if gone:
            assert self.store is not None
            self.store.remove_signatures(gone)
            self.signatures = tuple(s for s in self.signatures if s not in gone)
            for s in gone:
                self.bus.publish("pacer_image_signature_removed", image=s.image, imageId=s.image_id, keyId=s.key_id)
        return gone

    def _retry_repository(self, repo: str) -> None:
        default = self.config.scheduler.default_image
        retry = [a for a in self.apps.values()
                 if a.id in self.backoff and repository_of(a.image or default or "") == repo]
        if retry:
            self._persist(backoff={a.id: None for a in retry})
            for a in retry:
                self.backoff.pop(a.id, None)
                self.wake(a.id)

    def report_launched(self, task: TaskRecord, observed: ObservedContainer) -> None:
        current = self.tasks.get(task.task_id)
        if current is None or self.store is None:
            return
        running = replace(
            current,
            state=TaskState.RUNNING if current.state == TaskState.STAGING else current.state,
            container_id=observed.container_id,
            started_at=self.clock(),
            ip_address=observed.ip_address,
        )
        self._persist(upsert=[running], deferred=True)
        self.tasks[task.task_id] = running
        if current.state != running.state:
            self._publish_status(running, "")

    def report_launch_failed(self, task: TaskRecord, message: str) -> None:
        if self.store is None:
            return
        gone = TaskGone(task, TaskState.FAILED, True, f"launch failed: {message}")
        failure = self._failure_json(gone, [])
        app = self._desired.get(task.app_id)
        backoff_change: dict[str, BackoffState | None] = {}
        if app is not None:
            b = app.backoff
            backoff_change[app.app_id] = next_backoff(
                b.backoff_seconds, b.backoff_factor, b.max_launch_delay_seconds, self.backoff.get(app.app_id), self.clock()
            )
        self._persist(delete=[task.task_id], backoff=backoff_change, failures={task.app_id: failure})
        self.tasks.pop(task.task_id, None)
        for app_id, state in backoff_change.items():
            if state is not None:
                self.backoff[app_id] = state
        self.failures[task.app_id] = failure
        self.stats.failures += 1
        log.warning("launch of %s on %s failed: %s", task.task_id, task.agent, message)
        self._publish_status(replace(task, state=TaskState.FAILED), gone.message)

    def report_killed(self, task: TaskRecord, reason: str) -> None:
        if self.store is None or task.task_id not in self.tasks:
            return
        self._persist(delete=[task.task_id])
        self.tasks.pop(task.task_id, None)
        self.health.pop(task.task_id, None)
        self._publish_status(replace(task, state=TaskState.KILLED), reason)

    def report_failure_logs(self, gone: TaskGone, lines: list[str]) -> None:
        if self.store is None or not lines:
            return
        failure = self._failure_json(gone, lines)
        current = self.failures.get(gone.task.app_id)
        if current is not None and current.get("taskId") != gone.task.task_id:
            return  # a newer failure already replaced this one
        self.failures[gone.task.app_id] = failure
        self._persist(failures={gone.task.app_id: failure})

    # -- read side -----------------------------------------------------------------

    def subscribe(self, *, maxsize: int = 10_000, event_types: frozenset[str] | None = None) -> Subscription:
        return self.bus.subscribe(maxsize=maxsize, event_types=event_types)

    @property
    def revision(self) -> int:
        """Goes up on every change of state the engine makes (each publishes an event): a cache key."""
        return self.bus.published + self.stats.rounds

    def health_results(self, task_id: str) -> list[dict[str, Any]]:
        """Marathon's healthCheckResults of one task, one per health check."""
        results = self.health_monitor.results.get(task_id, {})
        instance_id = instance_of(task_id)
        return [results[i].to_json(instance_id) for i in sorted(results)]

    def tasks_of(self, app_id: str) -> list[TaskRecord]:
        return self.tasks.of_app(app_id)

    def snapshot(self) -> ClusterSnapshot:
        """The cluster now, frozen: from the live indexes, so its cost follows apps and agents, not tasks."""
        usage = self.tasks.usage
        agents = []
        for name, slot in self._agents.items():
            cap = slot.capacity
            used, count, ports_used = used_of(usage.peek(name))
            agents.append(AgentView(
                name=name, kind=slot.driver.kind, hostname=self._hostname(name), reachable=slot.reachable,
                capacity=Resources(cap.cpus, cap.mem_mib, cap.disk_mib) if cap else Resources(),
                used=used, tasks=count, ports_used=ports_used, port_range=slot.config.port_range,
                attributes=dict(cap.attributes) if cap else dict(slot.config.attributes),
                error=slot.error, draining=slot.draining))
        tasks = {app_id: self.tasks.frozen_of_app(app_id) for app_id in self.tasks.app_ids()}
        apps = tuple(app_view(app, tasks.get(app_id, ()), self.health, self.waiting.get(app_id),
                              self.failures.get(app_id))
                     for app_id, app in sorted(self.apps.items()))
        return ClusterSnapshot(cluster_id=self.cluster_id, taken_at=self.clock(), agents=tuple(agents), apps=apps,
                               tasks=tasks, reconcile_rounds=self.stats.rounds)

    async def wait_for_round(self, timeout: float = 10.0) -> None:
        """Wait until one more reconcile round has finished."""
        async with self._round_done:
            await asyncio.wait_for(self._round_done.wait(), timeout)

    def running_count(self, app_id: str) -> int:
        return sum(1 for t in self.tasks.of_app(app_id) if t.state == TaskState.RUNNING)

    def converged(self, app_id: str) -> bool:
        """The app runs exactly its instances of its current version, and no deployment is left for it."""
        if self._locks(app_id):
            return False
        app = self._desired.get(app_id)
        if app is None:
            return not self.tasks.of_app(app_id)
        tasks = self.tasks_of(app_id)
        return (
            len(tasks) == app.instances
            and all(t.state == TaskState.RUNNING and t.config_version == app.config_version for t in tasks)
        )

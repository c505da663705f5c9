"""Reconcile: compare what should run with what runs, and say what to do.

Level-triggered and pure: given the desired apps, the task records, what the
agents report and the time, it returns a `Plan` of actions, each with a reason.
A lost docker event, a restarted engine or a restarted daemon all heal the same
way: the next call sees the difference. Delays (launch backoff, orphan grace,
unreachable timeouts) come back as `next_wakeup`, never as sleeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping, Sequence

from engine.model import next_attempt
from engine.scheduler.placement import ClusterUsage, Rejection, feasible, place
from engine.scheduler.state import AgentState, BackoffState, DesiredApp, ObservedContainer, TaskRecord, TaskState

_ALIVE_CONTAINER_STATES = ("running", "paused", "restarting")
STAGING_GRACE_SECONDS = 10.0
"""How long a task whose launch was interrupted may wait for its container to appear before it is replaced."""


@dataclass(frozen=True, slots=True)
class ClusterView:
    now: float
    apps: Mapping[str, DesiredApp]
    tasks: Mapping[str, TaskRecord]
    agents: Mapping[str, AgentState]
    observed: Mapping[str, Sequence[ObservedContainer]]
    """Containers per agent, for the agents that answered this round."""
    inflight: frozenset[str] = frozenset()
    """Task ids with a launch or kill under way: left alone this round."""
    removing: frozenset[str] = frozenset()
    """Container ids being removed (or removed since this round's listing began): on their way out, so
    neither adopted nor judged nor removed again, whatever state the listing caught them in."""
    backoff: Mapping[str, BackoffState] = field(default_factory=dict)
    health: Mapping[str, bool | None] = field(default_factory=dict)
    orphans_seen: Mapping[str, float] = field(default_factory=dict)
    orphan_grace_seconds: float = 30.0
    strategy: str = "spread"
    usage: ClusterUsage | None = None
    """Usage of every task the engine knows (kept current by the engine); None: built from `tasks`."""
    policy_filter: Callable[[DesiredApp, AgentState], Rejection | None] | None = None
    """Rejects an agent whose policy forbids an app (engine.policy), with the reason; None: no policies."""
    preemption: bool = False
    """Stop lower-priority tasks to place higher-priority ones (off by default)."""
    preemption_keeps_min_health: bool = True
    relaunch: Mapping[str, tuple[Vacated, ...]] = field(default_factory=dict)
    """Per app, instances whose task failed in an earlier round and that wait for their replacement."""
    readiness: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    """Per app whose running deployment checks readiness (Marathon checks it only then): task id -> ready. Such
    an app's new tasks count toward minimumHealthCapacity (so old tasks may be killed) only once ready."""
    held: Mapping[str, str] = field(default_factory=dict)
    """Apps whose part of a change waits for the apps they depend on (Marathon orders a deployment's steps by
    `dependencies`), or, being removed, for the apps that depend on them: app id -> why. Nothing is launched,
    replaced or stopped for them meanwhile; their running tasks stay."""


@dataclass(frozen=True, slots=True)
class Vacated:
    """An instance whose task failed: its replacement keeps the instance and counts one more attempt
    (``<app>.instance-<uuid>._app.<n+1>``), so an operator sees how often an instance restarted."""

    task_id: str
    config_version: str


@dataclass(frozen=True, slots=True)
class Launch:
    task: TaskRecord
    reason: str


@dataclass(frozen=True, slots=True)
class Kill:
    task: TaskRecord
    reason: str
    grace_seconds: float


@dataclass(frozen=True, slots=True)
class TaskGone:
    """A task ended. `failed` ones count for backoff and become lastTaskFailure."""

    task: TaskRecord
    state: TaskState
    failed: bool
    message: str
    exit_code: int | None = None
    container_id: str | None = None


@dataclass(frozen=True, slots=True)
class RemoveContainer:
    agent: str
    container_id: str
    reason: str
    stop_first: bool = False


@dataclass(frozen=True, slots=True)
class Waiting:
    app_id: str
    count: int
    reason: str
    rejections: Mapping[str, Rejection] = field(default_factory=dict)
    delay_until: float | None = None


@dataclass(slots=True)
class Plan:
    launches: list[Launch] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    updates: list[TaskRecord] = field(default_factory=list)
    gone: list[TaskGone] = field(default_factory=list)
    removals: list[RemoveContainer] = field(default_factory=list)
    adopted: list[TaskRecord] = field(default_factory=list)
    backoff: dict[str, BackoffState | None] = field(default_factory=dict)
    waiting: dict[str, Waiting] = field(default_factory=dict)
    orphans_seen: dict[str, float] = field(default_factory=dict)
    next_wakeup: float | None = None
    placement_cursor: int = 0
    relaunch: dict[str, tuple[Vacated, ...]] = field(default_factory=dict)
    """Per app this round looked at: instances still waiting for their replacement (empty: none)."""

    def wake_at(self, when: float) -> None:
        if self.next_wakeup is None or when < self.next_wakeup:
            self.next_wakeup = when

    @property
    def empty(self) -> bool:
        return not (self.launches or self.kills or self.updates or self.gone or self.removals or self.adopted)


def next_backoff(policy_seconds: float, factor: float, cap: float, previous: BackoffState | None, now: float) -> BackoffState:
    """Backoff after one more failure: backoffSeconds, then times backoffFactor, capped."""
    if previous is None:
        delay = policy_seconds
        failures = 1
    else:
        delay = min(previous.delay * factor, cap)
        failures = previous.failures + 1
    delay = min(delay, cap)
    return BackoffState(delay=delay, not_before=now + delay, last_failure_at=now, failures=failures)


def _kill_order(tasks: Iterable[TaskRecord], selection: str) -> list[TaskRecord]:
    """Victims first: unreachable, then staging, then by killSelection."""

    def started(t: TaskRecord) -> float:
        return t.started_at if t.started_at is not None else t.staged_at

    youngest_first = selection != "OLDEST_FIRST"
    rank = {TaskState.UNREACHABLE: 0, TaskState.STAGING: 1}
    return sorted(
        tasks,
        key=lambda t: (rank.get(t.state, 2), -started(t) if youngest_first else started(t), t.task_id),
    )


class _Reconciler:
    def __init__(self, view: ClusterView, new_task_id: Callable[[str], str],
                 between_apps: Callable[[], None] | None) -> None:
        self.view = view
        self.new_task_id = new_task_id
        self.between_apps = between_apps
        self.plan = Plan()
        self._vacated: dict[str, list[Vacated]] = {}
        self.records: dict[str, TaskRecord] = dict(view.tasks)
        self.by_container: dict[str, ObservedContainer] = {}
        self.container_agent: dict[str, str] = {}

    # -- observation ---------------------------------------------------------

    def observe(self) -> None:
        view = self.view
        for agent, containers in view.observed.items():
            for c in containers:
                if c.container_id in view.removing:
                    continue
                self.by_container[c.task_id] = c
                self.container_agent[c.task_id] = agent
        for task in list(self.records.values()):
            self._observe_task(task)
        for task_id, c in self.by_container.items():
            # A task killed while this round's observation was under way is not an unknown container.
            if task_id not in view.tasks and task_id not in view.inflight:
                self._unknown_container(self.container_agent[task_id], c)

    def _gone(self, task: TaskRecord, state: TaskState, failed: bool, message: str,
              exit_code: int | None = None, container_id: str | None = None) -> None:
        self.plan.gone.append(TaskGone(task, state, failed, message, exit_code, container_id))
        self.records.pop(task.task_id, None)

    def _update(self, task: TaskRecord) -> None:
        self.plan.updates.append(task)
        self.records[task.task_id] = task

    def _observe_task(self, task: TaskRecord) -> None:
        view = self.view
        now = view.now
        if task.task_id in view.inflight:
            return
        agent = view.agents.get(task.agent)
        if agent is None:
            self._gone(task, TaskState.GONE, False, f"agent {task.agent} is no longer configured")
            return
        if not agent.reachable:
            app = view.apps.get(task.app_id)
            since = task.unreachable_since if task.unreachable_since is not None else now
            expunge = app.expunge_after_seconds if app else 0.0
            if expunge is not None and now >= since + expunge:
                self._gone(task, TaskState.GONE, False, f"agent {task.agent} unreachable for {now - since:.0f}s: expunged")
                return
            if task.state in (TaskState.RUNNING, TaskState.STAGING):
                self._update(replace(task, state=TaskState.UNREACHABLE, unreachable_since=since))
            if expunge is not None:
                self.plan.wake_at(since + expunge)
            # Only a deadline still ahead: a past one would make the loop spin until the agent is back.
            if app and app.inactive_after_seconds is not None and now < since + app.inactive_after_seconds:
                self.plan.wake_at(since + app.inactive_after_seconds)
            return
        if task.agent not in view.observed:
            return  # reachable, but not listed this round: nothing new is known about this task
        c = self.by_container.get(task.task_id)
        if c is None:
            if task.state == TaskState.KILLING:
                self._gone(task, TaskState.KILLED, False, "killed")
            elif task.state == TaskState.STAGING:
                # A launch interrupted by an engine restart: a create the daemon already accepted may still
                # land, so wait a little before replacing the task (or the late container would be a twin).
                if view.now < task.staged_at + STAGING_GRACE_SECONDS:
                    self.plan.wake_at(task.staged_at + STAGING_GRACE_SECONDS)
                    return
                self._gone(task, TaskState.GONE, False, "container never appeared (launch interrupted)")
            else:
                self._gone(task, TaskState.GONE, True, "container disappeared from its agent")
            return
        if c.state in _ALIVE_CONTAINER_STATES:
            if task.state == TaskState.KILLING:
                self.plan.kills.append(Kill(task, "kill interrupted: trying again", self._grace(task)))
            elif task.state != TaskState.RUNNING or task.container_id != c.container_id:
                self._update(
                    replace(
                        task,
                        state=TaskState.RUNNING,
                        container_id=c.container_id,
                        started_at=task.started_at or c.started_at or now,
                        unreachable_since=None,
                        host_ports=c.host_ports or task.host_ports,
                        ip_address=c.ip_address or task.ip_address,
                    )
                )
            return
        if c.state == "created":
            # A launch interrupted between create and start (an engine restart). The dead engine's start may
            # still land: the forced removal wins, and while it runs the container is in `removing`, so a
            # listing that catches it running does not adopt it.
            self._gone(task, TaskState.GONE, False, "container created but never started", container_id=c.container_id)
            self.plan.removals.append(RemoveContainer(task.agent, c.container_id, "never started"))
            return
        # exited, dead or removing
        if task.state == TaskState.KILLING:
            self._gone(task, TaskState.KILLED, False, "killed", c.exit_code, c.container_id)
        elif task.state == TaskState.UNREACHABLE:
            # It ended while its agent was away (a daemon restarted without live-restore stops its containers):
            # the agent failed, not the app, so no launch backoff and no lastTaskFailure.
            self._gone(task, TaskState.GONE, False,
                       f"container ended while agent {task.agent} was unreachable (exit code {c.exit_code})",
                       c.exit_code, c.container_id)
        elif c.exit_code == 0:
            self._gone(task, TaskState.FINISHED, True, "exited with code 0", 0, c.container_id)
        else:
            why = "killed by the kernel: out of memory" if c.oom_killed else f"exited with code {c.exit_code}"
            self._gone(task, TaskState.FAILED, True, why, c.exit_code, c.container_id)

    def _grace(self, task: TaskRecord) -> float:
        app = self.view.apps.get(task.app_id)
        return app.kill_grace_seconds if app else 3.0

    def _unknown_container(self, agent: str, c: ObservedContainer) -> None:
        view, plan = self.view, self.plan
        app = view.apps.get(c.app_id)
        alive = c.state in _ALIVE_CONTAINER_STATES
        if not alive:
            plan.removals.append(RemoveContainer(agent, c.container_id, "stopped container without a task"))
            return
        if app is not None:
            # Ours, its app exists, the record was lost: adopt it rather than restart it.
            record = TaskRecord(
                task_id=c.task_id,
                app_id=c.app_id,
                agent=agent,
                version=c.version,
                config_version=c.config_version,
                state=TaskState.RUNNING,
                resources=app.resources,
                host_ports=c.host_ports,
                container_id=c.container_id,
                staged_at=c.started_at or view.now,
                started_at=c.started_at or view.now,
                ip_address=c.ip_address,
            )
            plan.adopted.append(record)
            self.records[record.task_id] = record
            return
        first_seen = view.orphans_seen.get(c.container_id, view.now)
        if view.now >= first_seen + view.orphan_grace_seconds:
            plan.removals.append(
                RemoveContainer(agent, c.container_id, f"orphan: app {c.app_id} unknown to this cluster", stop_first=True)
            )
        else:
            plan.orphans_seen[c.container_id] = first_seen
            plan.wake_at(first_seen + view.orphan_grace_seconds)

    # -- convergence ---------------------------------------------------------

    def converge(self) -> None:
        view, plan = self.view, self.plan
        by_app: dict[str, list[TaskRecord]] = {}
        for t in self.records.values():
            by_app.setdefault(t.app_id, []).append(t)
        if view.usage is not None:
            usage = view.usage.overlay()
            for g in plan.gone:
                usage.remove(g.task.agent, g.task.app_id, g.task.resources, g.task.host_ports)
            for a in plan.adopted:
                usage.add(a.agent, a.app_id, a.resources, a.host_ports)
        else:
            usage = ClusterUsage()
            for t in self.records.values():
                usage.add(t.agent, t.app_id, t.resources, t.host_ports)
        self._backoff(by_app)
        self._vacated = {k: list(v) for k, v in view.relaunch.items()}
        for g in plan.gone:
            if g.failed:
                self._vacated.setdefault(g.task.app_id, []).append(Vacated(g.task.task_id, g.task.config_version))
        agents = sorted(view.agents.values(), key=lambda a: a.name)
        for app_id, tasks in by_app.items():
            if app_id not in view.apps and app_id not in view.held:
                for t in tasks:
                    if t.state != TaskState.KILLING and t.task_id not in view.inflight:
                        self._kill(t, "app deleted")
        pause = self.between_apps
        for app in sorted(view.apps.values(), key=lambda a: (-a.priority, a.app_id)):
            held = view.held.get(app.app_id)
            if held is not None:
                current = sum(1 for t in by_app.get(app.app_id, []) if self._is_active(app, t)
                              and not self._outdated(app, t))
                plan.waiting[app.app_id] = Waiting(app.app_id, max(0, app.instances - current), held)
                continue
            self._converge_app(app, by_app.get(app.app_id, []), agents, usage)
            if pause is not None:
                pause()
        for app_id, vacated in self._vacated.items():
            its_app = view.apps.get(app_id)
            # Only the current version's instances wait, and never more of them than the app runs.
            keep = [v for v in vacated if its_app is not None and v.config_version == its_app.config_version]
            plan.relaunch[app_id] = tuple(keep[-its_app.instances:]) \
                if its_app is not None and its_app.instances > 0 else ()
        plan.placement_cursor = usage.cursor

    def _kill(self, task: TaskRecord, reason: str) -> None:
        self.plan.kills.append(Kill(task, reason, self._grace(task)))

    def _is_active(self, app: DesiredApp, t: TaskRecord) -> bool:
        if t.state in (TaskState.STAGING, TaskState.RUNNING):
            return True
        if t.state == TaskState.UNREACHABLE:
            inactive = app.inactive_after_seconds
            since = t.unreachable_since if t.unreachable_since is not None else self.view.now
            return inactive is None or self.view.now < since + inactive
        return False

    def _outdated(self, app: DesiredApp, t: TaskRecord) -> bool:
        if t.config_version != app.config_version:
            return True
        agent = self.view.agents.get(t.agent)
        return agent is not None and agent.draining

    def _replace_reason(self, app: DesiredApp, t: TaskRecord) -> str:
        if t.config_version != app.config_version:
            return "replaced by a new version"
        return f"moved off draining agent {t.agent}"

    def _healthy(self, app: DesiredApp, t: TaskRecord) -> bool:
        if t.state != TaskState.RUNNING:
            return False
        return not app.has_health_checks or self.view.health.get(t.task_id) is True

    def _converge_app(
        self, app: DesiredApp, tasks: list[TaskRecord], agents: Sequence[AgentState], usage: ClusterUsage
    ) -> None:
        inflight = self.view.inflight
        active = [t for t in tasks if self._is_active(app, t)]
        movable = [t for t in active if t.task_id not in inflight]
        # A task is outdated when it runs another version, or sits on an agent being drained:
        # both are replaced the same way, new ones first, within the upgrade strategy's bounds.
        current = [t for t in active if not self._outdated(app, t)]
        old = [t for t in active if self._outdated(app, t)]
        n = app.instances
        # Still replacing while an outdated task exists, even one being killed.
        if old or any(self._outdated(app, t) for t in tasks if t.state == TaskState.KILLING):
            min_healthy = math.ceil(n * app.upgrade.minimum_health_capacity)
            max_capacity = n + math.floor(n * app.upgrade.maximum_over_capacity)
            if n > 0 and max_capacity <= min_healthy:
                max_capacity = min_healthy + 1  # as Marathon: otherwise a 1.0/0.0 upgrade could never move
            ready = self.view.readiness.get(app.app_id)
            healthy = sum(1 for t in active if self._healthy(app, t)
                          and (ready is None or self._outdated(app, t) or ready.get(t.task_id) is True))
            old_movable = [t for t in old if t.task_id not in inflight]
            unhealthy_old = [t for t in old_movable if not self._healthy(app, t)]
            healthy_old = _kill_order((t for t in old_movable if self._healthy(app, t)), app.kill_selection)
            victims = unhealthy_old + healthy_old[: max(0, healthy - min_healthy)]
            if len(current) > n:
                victims += _kill_order(current, app.kill_selection)[: len(current) - n]
            for t in victims:
                self._kill(t, self._replace_reason(app, t) if t in old else "scaled down")
            # Tasks being killed still exist until their container is gone: they count against capacity.
            existing = sum(1 for t in tasks if t.state != TaskState.UNREACHABLE or self._is_active(app, t))
            room = max(0, min(n - len(current), max_capacity - existing))
            self._launch(app, room, agents, usage, "rolling upgrade")
            return
        if len(active) > n:
            victims = _kill_order(movable, app.kill_selection)[: len(active) - n]
            for t in victims:
                self._kill(t, "scaled down")
        elif len(active) < n:
            self._launch(app, n - len(active), agents, usage, "below instances")

    def _launch(self, app: DesiredApp, count: int, agents: Sequence[AgentState], usage: ClusterUsage, why: str) -> None:
        if count <= 0:
            return
        view, plan = self.view, self.plan
        backoff = plan.backoff[app.app_id] if app.app_id in plan.backoff else view.backoff.get(app.app_id)
        if backoff is not None and view.now < backoff.not_before:
            plan.waiting[app.app_id] = Waiting(
                app.app_id, count, f"launch delayed {backoff.not_before - view.now:.1f}s after {backoff.failures} failure(s)",
                delay_until=backoff.not_before,
            )
            plan.wake_at(backoff.not_before)
            return
        policy = view.policy_filter
        result = place(app, count, agents, usage, strategy=view.strategy,
                       extra_filter=(lambda agent: policy(app, agent)) if policy is not None else None)
        for p in result.placements:
            task = TaskRecord(
                task_id=self._task_id_for(app),
                app_id=app.app_id,
                agent=p.agent,
                version=app.version,
                config_version=app.config_version,
                state=TaskState.STAGING,
                resources=app.resources,
                host_ports=p.host_ports,
                staged_at=view.now,
            )
            plan.launches.append(Launch(task, why))
        if result.unplaced:
            counts = result.summary()
            summary = ", ".join(f"{k}: {v} agent(s)" for k, v in sorted(counts.items())) or "no agents"
            reason = f"no agent can take {result.unplaced} task(s) ({summary})"
            if view.preemption:
                preempted, pending = self._preempt(app, result.unplaced, agents, usage)
                if preempted or pending:
                    reason = (f"priority {app.priority}: waiting for {preempted + pending} lower-priority task(s) "
                              f"to stop ({preempted} preempted now); {reason}")
            plan.waiting[app.app_id] = Waiting(app.app_id, result.unplaced, reason, result.rejections)

    def _task_id_for(self, app: DesiredApp) -> str:
        """The next attempt of an instance whose task failed, else a new instance."""
        vacated = self._vacated.get(app.app_id)
        while vacated:
            v = vacated.pop(0)
            if v.config_version == app.config_version:
                task_id = next_attempt(v.task_id)
                if task_id is not None and task_id not in self.view.tasks:
                    return task_id
        return self.new_task_id(app.app_id)

    def _preempt(self, app: DesiredApp, needed: int, agents: Sequence[AgentState], usage: ClusterUsage) -> tuple[int, int]:
        """Make room for `needed` tasks of `app` by stopping tasks of lower-priority apps.

        Resources of tasks already being killed count as free, so a round never preempts twice for
        the same need. Victims: lowest priority first, then youngest. Unless configured otherwise, no
        app is taken below ceil(instances * minimumHealthCapacity) running tasks. Returns (tasks
        preempted now, tasks already on their way out that the app waits for).
        """
        view, plan = self.view, self.plan
        lower: dict[str, list[TaskRecord]] = {}
        freeing: dict[str, list[float]] = {}
        running_per_app: dict[str, int] = {}
        already = {k.task.task_id for k in plan.kills}
        for t in self.records.values():
            owner = view.apps.get(t.app_id)
            if t.state == TaskState.KILLING or t.task_id in already:
                spare = freeing.setdefault(t.agent, [0.0, 0.0, 0.0])
                spare[0] += t.resources.cpus
                spare[1] += t.resources.mem
                spare[2] += t.resources.disk
                continue
            if t.state == TaskState.RUNNING:
                running_per_app[t.app_id] = running_per_app.get(t.app_id, 0) + 1
            if owner is not None and owner.priority < app.priority and t.state in (TaskState.RUNNING, TaskState.STAGING):
                lower.setdefault(t.agent, []).append(t)
        budget: dict[str, int] = {}
        for app_id, running in running_per_app.items():
            owner = view.apps.get(app_id)
            if owner is None:
                continue
            keep = math.ceil(owner.instances * owner.upgrade.minimum_health_capacity) if view.preemption_keeps_min_health else 0
            budget[app_id] = max(0, running - keep)
        need = app.resources
        preempted = pending = 0
        for _ in range(needed):
            placed = False
            for agent in agents:
                rejection = feasible(app, agent, usage.of(agent.name), None, None)
                if rejection is not None and rejection.step not in ("cpus", "mem", "disk"):
                    continue
                spare = freeing.setdefault(agent.name, [0.0, 0.0, 0.0])
                agent_usage = usage.of(agent.name)

                def fits(extra: list[float]) -> bool:
                    cap = agent.capacity
                    return (need.cpus <= cap.cpus - agent_usage.cpus + extra[0] + 1e-9
                            and need.mem <= cap.mem - agent_usage.mem + extra[1] + 1e-9
                            and (need.disk <= 0 or cap.disk <= 0 or need.disk <= cap.disk - agent_usage.disk + extra[2] + 1e-9))

                if fits(spare):
                    # Room is already on its way: reserve it for this task.
                    spare[0] -= need.cpus
                    spare[1] -= need.mem
                    spare[2] -= need.disk
                    pending += 1
                    placed = True
                    break
                candidates = sorted(
                    (t for t in lower.get(agent.name, []) if budget.get(t.app_id, 0) > 0),
                    key=lambda t: (view.apps[t.app_id].priority, -(t.started_at or t.staged_at)),
                )
                chosen: list[TaskRecord] = []
                extra = list(spare)
                for t in candidates:
                    if fits(extra):
                        break
                    if budget.get(t.app_id, 0) - sum(1 for c in chosen if c.app_id == t.app_id) <= 0:
                        continue
                    chosen.append(t)
                    extra[0] += t.resources.cpus
                    extra[1] += t.resources.mem
                    extra[2] += t.resources.disk
                if not chosen or not fits(extra):
                    continue
                for t in chosen:
                    budget[t.app_id] -= 1
                    lower[agent.name].remove(t)
                    victim = view.apps[t.app_id]
                    plan.kills.append(Kill(t, f"preempted by {app.app_id} (priority {app.priority} > {victim.priority})",
                                           victim.kill_grace_seconds))
                    preempted += 1
                extra[0] -= need.cpus
                extra[1] -= need.mem
                extra[2] -= need.disk
                freeing[agent.name] = extra
                placed = True
                break
            if not placed:
                break
        return preempted, pending

    def _backoff(self, by_app: Mapping[str, list[TaskRecord]]) -> None:
        view, plan = self.view, self.plan
        for gone in plan.gone:
            app = view.apps.get(gone.task.app_id)
            if not gone.failed or app is None or gone.task.config_version != app.config_version:
                continue
            previous = plan.backoff.get(app.app_id) if app.app_id in plan.backoff else view.backoff.get(app.app_id)
            b = app.backoff
            plan.backoff[app.app_id] = next_backoff(b.backoff_seconds, b.backoff_factor, b.max_launch_delay_seconds, previous, view.now)
        for app_id, state in view.backoff.items():
            if app_id in plan.backoff:
                continue
            app = view.apps.get(app_id)
            if app is None:
                plan.backoff[app_id] = None
                continue
            # Marathon: the delay is forgotten after delay + maxLaunchDelaySeconds without a failure.
            forget_at = state.last_failure_at + state.delay + app.backoff.max_launch_delay_seconds
            if view.now >= forget_at:
                plan.backoff[app_id] = None
            else:
                plan.wake_at(forget_at)


def reconcile(view: ClusterView, new_task_id: Callable[[str], str], *,
              between_apps: Callable[[], None] | None = None) -> Plan:
    """What to do now so that what runs converges on what should run.

    `between_apps` is called between apps: a scheduling hook of whoever shares the interpreter (the console
    lets a key press reach the screen there). It must not touch engine state; the plan does not depend on it."""
    r = _Reconciler(view, new_task_id, between_apps)
    r.observe()
    r.converge()
    return r.plan

"""The task ledger: every task record, launch backoff, last failures and health, kept in memory and in the store.

Every change goes to the store first (a launch starts only once its record is
durable), then to memory, then out as a `TaskStatusChanged` event. Launch
outcomes, which reconcile can always rebuild from what agents report, are
batched into one transaction per loop turn.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, Callable, Mapping

from engine.errors import StorageUnavailable
from engine.events import EventBus, TaskStatusChanged
from engine.model import format_ts
from engine.scheduler.reconcile import Kill, Plan, TaskGone, Vacated, Waiting, next_backoff
from engine.scheduler.state import BackoffState, DesiredApp, TaskRecord, TaskState
from engine.scheduler.task_table import TaskTable
from engine.store import Store

log = logging.getLogger("pacer.engine")


class TaskLedger:
    def __init__(self, bus: EventBus, clock: Callable[[], float], desired: Mapping[str, DesiredApp],
                 hostname_of: Callable[[str], str]) -> None:
        self._bus = bus
        self._clock = clock
        self._desired = desired
        self._hostname_of = hostname_of
        self.store: Store | None = None
        self.tasks = TaskTable()
        self.backoff: dict[str, BackoffState] = {}
        self.failures: dict[str, dict[str, Any]] = {}
        """App id -> Marathon's lastTaskFailure."""
        self.health: dict[str, bool | None] = {}
        """Task id -> healthy (None: no verdict yet), for tasks with health checks."""
        self.relaunch: dict[str, tuple[Vacated, ...]] = {}
        """Instances whose task failed, waiting for their next attempt."""
        self.waiting: dict[str, Waiting] = {}
        """App id -> why some of its instances are not placed (from the last round that looked at it)."""
        self.failure_count = 0
        self._pending: dict[str, TaskRecord] = {}
        self._flush_scheduled = False

    def load(self, store: Store) -> None:
        self.store = store
        self.tasks = TaskTable(store.load_tasks())
        self.backoff = store.load_backoff()
        self.failures = store.load_failures()
        self.relaunch = {app_id: tuple(Vacated(*v) for v in vacated)
                         for app_id, vacated in store.load_relaunch().items()}

    # -- writing -------------------------------------------------------------------------------

    def persist(
        self,
        *,
        upsert: list[TaskRecord] | tuple[TaskRecord, ...] = (),
        delete: list[str] | tuple[str, ...] = (),
        backoff: Mapping[str, BackoffState | None] | None = None,
        failures: Mapping[str, dict[str, Any]] | None = None,
        relaunch: Mapping[str, list[tuple[str, str]] | None] | None = None,
        deferred: bool = False,
    ) -> None:
        """Write task state. `deferred` writes are batched into one transaction per loop turn; every other write
        goes at once, together with whatever was pending, so no newer state is ever overwritten by an older one."""
        assert self.store is not None
        if deferred:
            for t in upsert:
                self._pending[t.task_id] = t
            if not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self.flush)
            return
        gone = set(delete)
        pending = {t: r for t, r in self._pending.items() if t not in gone}
        self.store.write(upsert=[*pending.values(), *upsert], delete=delete, backoff=backoff, failures=failures,
                         relaunch=relaunch)
        self._pending = {}  # only once committed: a write the store refused leaves them to the next one

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._pending and self.store is not None:
            try:
                self.persist()
            except StorageUnavailable as exc:
                # Launch outcomes the agents keep reporting: they go with the next write that commits.
                log.warning("%d task update(s) not saved yet: %s", len(self._pending), exc.message)

    def set_backoff(self, changes: Mapping[str, BackoffState | None]) -> None:
        """Memory side of committed backoff changes (None: forgotten)."""
        for app_id, state in changes.items():
            if state is None:
                self.backoff.pop(app_id, None)
            else:
                self.backoff[app_id] = state

    def reset_backoff(self, app_ids: list[str]) -> None:
        """Forget the launch delay of these apps (committed first)."""
        if app_ids:
            self.persist(backoff={a: None for a in app_ids})
            self.set_backoff({a: None for a in app_ids})

    def forget_app(self, app_id: str) -> None:
        """Memory side of a deleted app (the store dropped its rows with it)."""
        self.backoff.pop(app_id, None)
        self.failures.pop(app_id, None)

    def _backoff_after_failure(self, task: TaskRecord, *, same_config_only: bool) -> dict[str, BackoffState | None]:
        app = self._desired.get(task.app_id)
        if app is None or (same_config_only and task.config_version != app.config_version):
            return {}
        b = app.backoff
        return {app.app_id: next_backoff(b.backoff_seconds, b.backoff_factor, b.max_launch_delay_seconds,
                                         self.backoff.get(app.app_id), self._clock())}

    def record_plan(self, plan: Plan, *, full: bool, scope: Mapping[str, object]) -> list[TaskGone]:
        """Commit a round's plan, then make memory match and announce each task's new state. `scope`: the apps
        a partial round looked at. Returns the ended tasks whose container (or last output) is to be collected."""
        killing = [replace(k.task, state=TaskState.KILLING) for k in plan.kills if k.task.state != TaskState.KILLING]
        launching = [launch.task for launch in plan.launches]
        failures = {g.task.app_id: self.failure_json(g, []) for g in plan.gone if g.failed}
        relaunch = {} if full else dict(self.relaunch)
        for app_id, vacated in plan.relaunch.items():
            if vacated:
                relaunch[app_id] = vacated
            else:
                relaunch.pop(app_id, None)
        relaunch_changes = {
            app_id: ([(v.task_id, v.config_version) for v in relaunch[app_id]] if app_id in relaunch else None)
            for app_id in self.relaunch.keys() | relaunch.keys()
            if self.relaunch.get(app_id) != relaunch.get(app_id)
        }
        # Commit first: a launch is only started once its record is durable.
        self.persist(
            upsert=[*plan.updates, *plan.adopted, *killing, *launching],
            delete=[g.task.task_id for g in plan.gone],
            backoff=plan.backoff,
            failures=failures,
            relaunch=relaunch_changes,
        )
        reasons = {k.task.task_id: k.reason for k in plan.kills}
        reasons.update((launch.task.task_id, launch.reason) for launch in plan.launches)
        for t in (*plan.updates, *plan.adopted, *killing, *launching):
            previous = self.tasks.get(t.task_id)
            self.tasks[t.task_id] = t
            if previous is None or previous.state != t.state:
                self.publish_status(t, reasons.get(t.task_id, ""))
        to_collect = []
        for g in plan.gone:
            self.tasks.pop(g.task.task_id, None)
            self.health.pop(g.task.task_id, None)
            self.publish_status(replace(g.task, state=g.state), g.message)
            if g.failed:
                self.failure_count += 1
            if g.container_id or g.failed:
                to_collect.append(g)
        self.set_backoff(plan.backoff)
        self.failures.update(failures)
        self.relaunch = relaunch
        self.tasks.usage.cursor = plan.placement_cursor
        if full:
            self.waiting = dict(plan.waiting)
        else:
            for app_id in scope:
                self.waiting.pop(app_id, None)
            self.waiting.update(plan.waiting)
        for a in plan.adopted:
            log.info("adopted running container %s as task %s", (a.container_id or "")[:12], a.task_id)
        if log.isEnabledFor(logging.DEBUG):
            _log_plan(plan)
        return to_collect

    # -- events ------------------------------------------------------------------------------

    def publish_status(self, t: TaskRecord, message: str) -> None:
        self._bus.publish(TaskStatusChanged(
            app_id=t.app_id, task_id=t.task_id, state=t.state, message=message, agent=t.agent,
            host=self._hostname_of(t.agent), ip_address=t.ip_address, ports=tuple(t.host_ports), version=t.version))

    def failure_json(self, gone: TaskGone, lines: list[str]) -> dict[str, Any]:
        """Marathon's lastTaskFailure for a task that ended (with the last lines of its output)."""
        message = gone.message
        if lines:
            message += "\n" + "\n".join(lines)
        return {
            "appId": gone.task.app_id,
            "host": self._hostname_of(gone.task.agent),
            "message": message,
            "state": gone.state.value,
            "taskId": gone.task.task_id,
            "timestamp": format_ts(self._clock()),
            "version": gone.task.version,
            "slaveId": gone.task.agent,
        }

    # -- outcomes of the executor's work -------------------------------------------------------------

    def report_launched(self, task: TaskRecord, container_id: str, ip_address: str | None) -> None:
        current = self.tasks.get(task.task_id)
        if current is None or self.store is None:
            return
        running = replace(
            current,
            state=TaskState.RUNNING if current.state == TaskState.STAGING else current.state,
            container_id=container_id,
            started_at=self._clock(),
            ip_address=ip_address,
        )
        self.persist(upsert=[running], deferred=True)
        self.tasks[task.task_id] = running
        if current.state != running.state:
            self.publish_status(running, "")

    def report_launch_failed(self, task: TaskRecord, message: str) -> None:
        if self.store is None:
            return
        gone = TaskGone(task, TaskState.FAILED, True, f"launch failed: {message}")
        failure = self.failure_json(gone, [])
        backoff = self._backoff_after_failure(task, same_config_only=False)
        self.persist(delete=[task.task_id], backoff=backoff, failures={task.app_id: failure})
        self.tasks.pop(task.task_id, None)
        self.set_backoff(backoff)
        self.failures[task.app_id] = failure
        self.failure_count += 1
        log.warning("launch of %s on %s failed: %s", task.task_id, task.agent, message)
        self.publish_status(replace(task, state=TaskState.FAILED), gone.message)

    def report_killed(self, task: TaskRecord, reason: str) -> None:
        if self.store is None or task.task_id not in self.tasks:
            return
        self.persist(delete=[task.task_id])
        self.tasks.pop(task.task_id, None)
        self.health.pop(task.task_id, None)
        self.publish_status(replace(task, state=TaskState.KILLED), reason)

    def report_failure_logs(self, gone: TaskGone, lines: list[str]) -> None:
        if self.store is None or not lines:
            return
        failure = self.failure_json(gone, lines)
        current = self.failures.get(gone.task.app_id)
        if current is not None and current.get("taskId") != gone.task.task_id:
            return  # a newer failure already replaced this one
        self.persist(failures={gone.task.app_id: failure})
        self.failures[gone.task.app_id] = failure

    def mark_unhealthy(self, task: TaskRecord, reason: str) -> Kill | None:
        """A task failed its health check too often: the kill to carry out (None: it is no longer running).
        It counts as a failure for backoff."""
        current = self.tasks.get(task.task_id)
        if current is None or current.state != TaskState.RUNNING or self.store is None:
            return None
        killing = replace(current, state=TaskState.KILLING)
        failure = self.failure_json(TaskGone(current, TaskState.KILLED, True, reason), [])
        backoff = self._backoff_after_failure(current, same_config_only=True)
        self.persist(upsert=[killing], backoff=backoff, failures={task.app_id: failure})
        self.tasks[task.task_id] = killing
        self.health[task.task_id] = False
        self.set_backoff({a: s for a, s in backoff.items() if s is not None})
        self.failures[task.app_id] = failure
        self.failure_count += 1
        self.publish_status(killing, reason)
        app = self._desired.get(task.app_id)
        return Kill(killing, reason, app.kill_grace_seconds if app else 3.0)

    def mark_killing(self, tasks: list[TaskRecord], reason: str) -> list[Kill]:
        """Tasks to kill by request: recorded as killing, with the kills to carry out."""
        marked = [replace(t, state=TaskState.KILLING) for t in tasks]
        self.persist(upsert=marked)
        kills = []
        for t in marked:
            self.tasks[t.task_id] = t
            self.publish_status(t, reason)
            app = self._desired.get(t.app_id)
            kills.append(Kill(t, reason, app.kill_grace_seconds if app else 3.0))
        return kills

    # -- reading -----------------------------------------------------------------------------

    def tasks_of(self, app_id: str) -> list[TaskRecord]:
        return self.tasks.of_app(app_id)


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

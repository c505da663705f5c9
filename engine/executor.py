"""The executor: the one place that changes the world.

It carries out a reconcile plan through the agent drivers: launches, kills and
container removals, each as its own asyncio task, so a slow daemon or a long
kill grace period never holds up the reconcile loop. Outcomes go back through
`TaskOutcomes` (the task ledger), which persists them and publishes events.

Each job runs under the supervisor: a job that crashes (a bug, or an outcome the store could not
record) is logged at once with its traceback; its task is no longer in flight and its app is woken,
so the next round sees the task as the agent reports it (adopted if it runs, replaced if it never
started).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Coroutine, Protocol

from engine.agents.base import AgentDriver, TaskSpec
from engine.errors import AgentError, PacerError
from engine.scheduler.reconcile import Kill, Launch, RemoveContainer, TaskGone
from engine.scheduler.state import TaskRecord
from engine.supervisor import Supervisor

log = logging.getLogger("pacer.executor")

FAILURE_LOG_LINES = 20


class Drivers(Protocol):
    def driver(self, agent: str) -> AgentDriver: ...


class TaskSpecs(Protocol):
    def task_spec_for(self, task: TaskRecord) -> TaskSpec:
        """Everything the agent needs to start the task (ValueError: it cannot be started)."""
        ...


class TaskOutcomes(Protocol):
    def report_launched(self, task: TaskRecord, container_id: str, ip_address: str | None) -> None: ...

    def report_launch_failed(self, task: TaskRecord, message: str) -> None: ...

    def report_killed(self, task: TaskRecord, reason: str) -> None: ...

    def report_failure_logs(self, gone: TaskGone, lines: list[str]) -> None: ...


class Executor:
    def __init__(self, drivers: Drivers, specs: TaskSpecs, outcomes: TaskOutcomes,
                 wake: Callable[[str], None], *, supervisor: Supervisor | None = None) -> None:
        """`wake(app_id)`: an action on one of the app's tasks finished, reconcile it soon."""
        self._supervisor = supervisor or Supervisor()
        self._drivers = drivers
        self._specs = specs
        self._outcomes = outcomes
        self._wake = wake
        self.inflight: set[str] = set()
        self.touched: dict[str, float] = {}
        """Task id -> monotonic time its launch or kill finished; older observations must not judge it."""
        self.removing: set[str] = set()
        """Container ids whose removal (without a task: orphans, leftovers, ended tasks) is under way."""
        self.removed: dict[str, float] = {}
        """Container id -> monotonic time its removal finished; older listings may still show it."""
        self._jobs: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        job = self._supervisor.spawn("executor", coro, name)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    def _finish(self, task_id: str, app_id: str) -> None:
        self.inflight.discard(task_id)
        self.touched[task_id] = time.monotonic()
        self._wake(app_id)

    def forget_touched_before(self, moment: float) -> None:
        for done in (self.touched, self.removed):
            for key, when in list(done.items()):
                if when < moment:
                    del done[key]

    def busy_since(self, moment: float) -> frozenset[str]:
        return frozenset(self.inflight) | frozenset(t for t, when in self.touched.items() if when >= moment)

    def removing_since(self, moment: float) -> frozenset[str]:
        """Containers a listing begun at `moment` may show but that are being, or have been, removed."""
        return frozenset(self.removing) | frozenset(c for c, when in self.removed.items() if when >= moment)

    def _removal_done(self, container_id: str) -> None:
        self.removing.discard(container_id)
        self.removed[container_id] = time.monotonic()

    # -- actions -------------------------------------------------------------

    def launch(self, action: Launch) -> None:
        self.inflight.add(action.task.task_id)
        self._spawn(self._launch(action), f"launch {action.task.task_id}")

    async def _launch(self, action: Launch) -> None:
        task = action.task
        try:
            driver = self._drivers.driver(task.agent)
            spec = self._specs.task_spec_for(task)
            observed = await driver.launch(spec)
        except (PacerError, ValueError) as exc:
            message = exc.message if isinstance(exc, PacerError) else str(exc)
            self._outcomes.report_launch_failed(task, message)
        else:
            log.debug("launched %s: container %s", task.task_id, (observed.container_id or "-")[:12])
            self._outcomes.report_launched(task, observed.container_id, observed.ip_address)
        finally:
            self._finish(task.task_id, task.app_id)

    def kill(self, action: Kill) -> None:
        self.inflight.add(action.task.task_id)
        self._spawn(self._kill(action), f"kill {action.task.task_id}")

    async def _kill(self, action: Kill) -> None:
        task = action.task
        try:
            if task.container_id:
                driver = self._drivers.driver(task.agent)
                await driver.stop(task.container_id, action.grace_seconds)
                await driver.remove(task.container_id)
        except AgentError as exc:
            # Stays KILLING; the next reconcile round tries again once the agent answers.
            log.warning("kill of %s on %s failed: %s", task.task_id, task.agent, exc.message)
        else:
            log.debug("killed %s (container %s)", task.task_id, (task.container_id or "-")[:12])
            self._outcomes.report_killed(task, action.reason)
        finally:
            self._finish(task.task_id, task.app_id)

    def collect(self, gone: TaskGone) -> None:
        """A task ended by itself: keep its last log lines as lastTaskFailure, then remove its container."""
        if gone.container_id:
            self.removing.add(gone.container_id)
        self._spawn(self._collect(gone), f"collect {gone.task.task_id}")

    async def _collect(self, gone: TaskGone) -> None:
        lines: list[str] = []
        if gone.container_id:
            try:
                driver = self._drivers.driver(gone.task.agent)
                if gone.failed:
                    lines = await driver.tail_logs(gone.container_id, FAILURE_LOG_LINES)
                await driver.remove(gone.container_id)
            except AgentError as exc:
                log.warning("cleanup of %s failed: %s", gone.task.task_id, exc.message)
            finally:
                self._removal_done(gone.container_id)
        if gone.failed:
            self._outcomes.report_failure_logs(gone, lines)

    def remove(self, action: RemoveContainer) -> None:
        self.removing.add(action.container_id)
        self._spawn(self._remove(action), f"remove {action.container_id[:12]}")

    async def _remove(self, action: RemoveContainer) -> None:
        try:
            driver = self._drivers.driver(action.agent)
            if action.stop_first:
                await driver.stop(action.container_id, 3.0)
            await driver.remove(action.container_id)
            log.info("removed container %s on %s: %s", action.container_id[:12], action.agent, action.reason)
        except AgentError as exc:
            log.warning("removing %s on %s failed: %s", action.container_id[:12], action.agent, exc.message)
        finally:
            self._removal_done(action.container_id)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for every action under way (used on shutdown and by tests)."""
        if self._jobs:
            await asyncio.wait(set(self._jobs), timeout=timeout)

    async def cancel_all(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        if self._jobs:
            await asyncio.wait(set(self._jobs), timeout=5.0)

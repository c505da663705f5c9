"""The deployment lifecycle in one place: which deployments run and lock their apps, how far each got,
in what order the parts of a change of several apps go (`dependencies`), and how each one ends.

Commands start deployments (`begin`) and end them early (`end`: replaced, cancelled, rolled back); after
every reconcile round `track` advances them and finishes those whose app reached its target.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Protocol

from engine.events import (
    DeploymentFailed,
    DeploymentStepStarted,
    DeploymentStepSucceeded,
    DeploymentSucceeded,
    EventBus,
)
from engine.model import AppDefinition
from engine.scheduler.deployments import Deployment, progress
from engine.scheduler.reconcile import Waiting
from engine.scheduler.state import DesiredApp, TaskRecord
from engine.store import Store

_COUNTS_ONLY = frozenset({"StartApplication", "ScaleApplication"})


class DeploymentInputs(Protocol):
    """What the watcher reads to judge a deployment's progress."""

    @property
    def apps(self) -> Mapping[str, AppDefinition]: ...

    @property
    def desired(self) -> Mapping[str, DesiredApp]: ...

    @property
    def failures(self) -> Mapping[str, Mapping[str, Any]]: ...

    @property
    def waiting(self) -> Mapping[str, Waiting]: ...

    @property
    def health(self) -> Mapping[str, bool | None]: ...

    def tasks_of(self, app_id: str) -> list[TaskRecord]: ...

    def readiness_of(self, app_id: str) -> tuple[Mapping[str, bool], str | None]:
        """Task id -> ready for the app's tasks probed during its deployment, and why the last probe that found
        one not ready did (None: none did)."""
        ...

    def wake(self, app_id: str | None = None) -> None: ...


class DeploymentWatcher:
    def __init__(self, bus: EventBus, inputs: DeploymentInputs) -> None:
        self._bus = bus
        self._in = inputs
        self.store: Store | None = None
        self.deployments: dict[str, Deployment] = {}
        self._group_failures: dict[str, str] = {}
        """Changes of several apps with a part that failed, until their last part ends (then announced)."""

    def load(self, store: Store) -> None:
        self.store = store
        self.deployments = {d["id"]: Deployment.from_record(d) for d in store.load_deployments()}

    # -- the rules ------------------------------------------------------------------------------

    def locks(self, app_id: str) -> list[Deployment]:
        """The deployments that lock an app: those still running for it. A second change is refused unless forced."""
        return [d for d in self.deployments.values() if d.app_id == app_id and d.status == "running"]

    def readiness_gates(self) -> dict[str, str]:
        """App id -> the config version its running deployment brings up, for apps with a readiness check:
        whose new tasks are probed for readiness now (Marathon checks readiness only during deployments)."""
        gates = {}
        for d in self.deployments.values():
            app = self._in.desired.get(d.app_id)
            if d.status == "running" and d.target is not None and app is not None and app.has_readiness_checks:
                gates[d.app_id] = app.config_version
        return gates

    def only_counts_lock(self, app_id: str) -> bool:
        """The app is locked only by deployments that start or scale it (no upgrade or restart under way)."""
        locks = self.locks(app_id)
        return bool(locks) and all({a for step in d.steps for a in step} <= _COUNTS_ONLY for d in locks)

    def held_by_dependencies(self) -> dict[str, str]:
        """Apps whose part of a change waits for the part of an app they depend on (`dependencies`), as
        Marathon orders a deployment's steps: app id -> why."""
        parts = {(d.group_id, d.app_id) for d in self.deployments.values()
                 if d.group_id is not None and d.status == "running" and d.target is not None}
        held: dict[str, str] = {}
        for group_id, app_id in parts:
            app = self._in.apps.get(app_id)
            first = [dep for dep in app.dependencies if (group_id, dep) in parts] if app is not None else []
            if first:
                held[app_id] = f"waiting for {', '.join(sorted(first))} to be deployed first (dependencies)"
        # Removals go the other way: an app stops after the apps of the change that depend on it.
        stopping = [d for d in self.deployments.values()
                    if d.group_id is not None and d.status == "running" and d.target is None]
        for d in stopping:
            dependents = sorted(o.app_id for o in stopping if o.group_id == d.group_id
                                and d.app_id in (o.original or {}).get("dependencies", ()))
            if dependents:
                held[d.app_id] = f"stopping after {', '.join(dependents)}, which depend on it"
        return held

    # -- beginnings and ends ----------------------------------------------------------------------

    def begin(self, deployment: Deployment) -> None:
        """A committed deployment starts (the store holds it already); `announce` tells its first step."""
        self.deployments[deployment.id] = deployment

    def announce(self, deployment: Deployment) -> None:
        self._bus.publish(DeploymentStepStarted(plan=deployment.plan_json(), app_id=deployment.app_id,
                                                actions=deployment.current_actions))

    def end(self, deployment: Deployment, failure: str) -> None:
        """A deployment ended before its target was reached (the store knows already)."""
        self.deployments.pop(deployment.id, None)
        self._part_ended(deployment, failure=failure)

    def _part_ended(self, d: Deployment, *, failure: str | None = None) -> None:
        """Announce a deployment's end. A change of several apps ends with its last part: DeploymentFailed (with
        the first failure's reason) if any part failed, else DeploymentSucceeded."""
        if d.group_id is not None:
            if failure is not None:
                self._group_failures.setdefault(d.group_id, failure)
            others = [o for o in self.deployments.values() if o.group_id == d.group_id]
            for o in others:
                self._in.wake(o.app_id)  # one that waited for this app (dependencies) may start now
            if others:
                return
            failure = self._group_failures.pop(d.group_id, None)
        if failure is None:
            self._bus.publish(DeploymentSucceeded(deployment_id=d.public_id, plan=d.plan_json()))
        else:
            self._bus.publish(DeploymentFailed(deployment_id=d.public_id, plan=d.plan_json(), reason=failure))

    def track(self) -> None:
        """After a round: advance running deployments, finish those whose app reached its target."""
        assert self.store is not None
        finished: list[Deployment] = []
        changed: list[Deployment] = []
        inputs = self._in
        for d in list(self.deployments.values()):
            if d.status != "running":
                continue
            app = inputs.desired.get(d.app_id)
            failure = inputs.failures.get(d.app_id)
            waiting = inputs.waiting.get(d.app_id)
            failed_at = str(failure.get("timestamp", "")) if failure else ""
            ready, cause = inputs.readiness_of(d.app_id) if app is not None and app.has_readiness_checks \
                else (None, None)
            p = progress(
                d, inputs.tasks_of(d.app_id),
                instances=app.instances if app else 0,
                config_version=app.config_version if app else None,
                healthy=inputs.health,
                has_health_checks=app.has_health_checks if app else False,
                waiting_reason=waiting.reason if waiting else None,
                last_failure=(str(failure.get("message", "")).splitlines() or [""])[0]
                if failure and failed_at >= d.version else None,
                readiness=ready, readiness_cause=cause,
            )
            if p.done:
                finished.append(d)
            elif p.step != d.current_step or p.reason != d.reason:
                changed.append(replace(d, current_step=max(d.current_step, p.step), reason=p.reason))
        if not finished and not changed:
            return
        self.store.put_apps([], deployments=[d.to_record() for d in changed],
                            finished_deployments=[d.id for d in finished])
        for d in changed:
            old = self.deployments[d.id]
            self.deployments[d.id] = d
            if d.current_step != old.current_step:
                self._bus.publish(DeploymentStepSucceeded(plan=d.plan_json(), app_id=d.app_id,
                                                          actions=old.current_actions))
                self._bus.publish(DeploymentStepStarted(plan=d.plan_json(), app_id=d.app_id,
                                                        actions=d.current_actions))
        for d in finished:
            self.deployments.pop(d.id, None)
            self._bus.publish(DeploymentStepSucceeded(plan=d.plan_json(), app_id=d.app_id, actions=d.current_actions))
            self._part_ended(d)

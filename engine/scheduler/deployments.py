"""Deployments: every change of an app, as Marathon's deployment plans.

A change (create, update, scale, restart, delete) becomes a `Deployment` with
Marathon's steps. It is kept in the store and finishes when reconcile has made
the cluster match its target; while it runs it locks its app, so a second change
is refused with a conflict unless forced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from engine.scheduler.state import TaskRecord, TaskState

Action = Literal["StartApplication", "ScaleApplication", "RestartApplication", "StopApplication"]
Status = Literal["running", "success", "failed", "cancelled"]


@dataclass(frozen=True, slots=True)
class Deployment:
    id: str
    version: str
    app_id: str
    steps: tuple[tuple[Action, ...], ...]
    current_step: int
    started_at: float
    original: Mapping[str, Any] | None
    """The app before the change (None when it created the app): what a rollback restores."""
    target: Mapping[str, Any] | None
    """The app after the change (None when it deleted the app)."""
    status: Status = "running"
    reason: str | None = None
    rollback_of: str | None = None
    group_id: str | None = None
    """Set when this is one app's part of a change of several apps (a group write, PUT /v2/apps with a list):
    the parts run and finish each on its own, and Marathon's API shows them as one deployment with this id."""

    @property
    def public_id(self) -> str:
        """The id clients see: the change's, for a part of a change of several apps."""
        return self.group_id or self.id

    @property
    def total_steps(self) -> int:
        return len(self.steps)

    @property
    def current_actions(self) -> tuple[Action, ...]:
        if 1 <= self.current_step <= len(self.steps):
            return self.steps[self.current_step - 1]
        return ()

    def to_json(self, readiness: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> dict[str, Any]:
        """Marathon's deployment; `readiness`: app id -> its readinessCheckResults (during this deployment)."""
        results = list((readiness or {}).get(self.app_id, ()))
        return {
            "id": self.public_id,
            "version": self.version,
            "affectedApps": [self.app_id],
            "affectedPods": [],
            "steps": [{"actions": [{"action": a, "app": self.app_id} for a in step]} for step in self.steps],
            "currentActions": [
                {"action": a, "app": self.app_id, "readinessCheckResults": [dict(r) for r in results]}
                for a in self.current_actions
            ],
            "currentStep": self.current_step,
            "totalSteps": self.total_steps,
        }

    def plan_json(self) -> dict[str, Any]:
        """The plan as events carry it, with the `original`/`target` groups older clients parse."""

        def group(app: Mapping[str, Any] | None) -> dict[str, Any]:
            return {"id": "/", "apps": [dict(app)] if app else [], "groups": [], "pods": [], "dependencies": [],
                    "version": self.version}

        return {
            "id": self.public_id,
            "version": self.version,
            "original": group(self.original),
            "target": group(self.target),
            "steps": [{"actions": [{"action": a, "app": self.app_id} for a in step]} for step in self.steps],
        }

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id, "version": self.version, "app_id": self.app_id,
            "steps": [list(s) for s in self.steps], "current_step": self.current_step,
            "started_at": self.started_at, "original": self.original, "target": self.target,
            "status": self.status, "reason": self.reason, "rollback_of": self.rollback_of,
            "group_id": self.group_id,
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> "Deployment":
        return cls(
            id=r["id"], version=r["version"], app_id=r["app_id"],
            steps=tuple(tuple(s) for s in r["steps"]), current_step=r["current_step"],
            started_at=r["started_at"], original=r["original"], target=r["target"],
            status=r["status"], reason=r.get("reason"), rollback_of=r.get("rollback_of"),
            group_id=r.get("group_id"),
        )


def deployments_json(deployments: Sequence[Deployment],
                     readiness: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> list[dict[str, Any]]:
    """Marathon's deployment list: the parts of one change of several apps merged into one entry (its
    affected apps, each step's actions, the step the slowest part is at), oldest first. `readiness`: app id ->
    readinessCheckResults, shown in the current actions of that app."""
    merged: dict[str, dict[str, Any]] = {}
    for d in sorted(deployments, key=lambda d: (d.version, d.app_id)):
        part = d.to_json(readiness)
        entry = merged.get(d.public_id)
        if entry is None:
            merged[d.public_id] = part
            continue
        entry["version"] = max(entry["version"], part["version"])
        entry["affectedApps"] = entry["affectedApps"] + part["affectedApps"]
        steps = entry["steps"]
        for i, step in enumerate(part["steps"]):
            if i < len(steps):
                steps[i] = {"actions": steps[i]["actions"] + step["actions"]}
            else:
                steps.append(step)
        entry["totalSteps"] = len(steps)
        if part["currentStep"] < entry["currentStep"]:
            entry["currentStep"], entry["currentActions"] = part["currentStep"], part["currentActions"]
        elif part["currentStep"] == entry["currentStep"]:
            entry["currentActions"] = entry["currentActions"] + part["currentActions"]
    return list(merged.values())


def steps_for(kind: Literal["create", "scale", "config", "restart", "delete"]) -> tuple[tuple[Action, ...], ...]:
    """Marathon's steps for each kind of change (DeploymentPlan.apply)."""
    if kind == "create":
        return (("StartApplication",), ("ScaleApplication",))
    if kind == "scale":
        return (("ScaleApplication",),)
    if kind == "delete":
        return (("StopApplication",),)
    return (("RestartApplication",),)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the cluster is from a deployment's target."""

    done: bool
    step: int
    reason: str | None = None


def progress(
    deployment: Deployment,
    tasks: Sequence[TaskRecord],
    *,
    instances: int,
    config_version: str | None,
    healthy: Mapping[str, bool | None],
    has_health_checks: bool,
    waiting_reason: str | None = None,
    last_failure: str | None = None,
    readiness: Mapping[str, bool] | None = None,
    readiness_cause: str | None = None,
) -> Progress:
    """Is the app at its target? Pure: the engine calls it after every reconcile round.

    `readiness` (task id -> ready) is given for an app with a readiness check: a new task counts only once
    ready; `readiness_cause` says why the last probe found one not ready."""
    if deployment.target is None:
        done = not tasks
        return Progress(done, 1, None if done else f"{len(tasks)} task(s) still stopping")
    current = [t for t in tasks if t.config_version == config_version]
    running = [
        t for t in current
        if t.state == TaskState.RUNNING and (not has_health_checks or healthy.get(t.task_id) is True)
    ]
    ready = running if readiness is None else [t for t in running if readiness.get(t.task_id) is True]
    others = [t for t in tasks if t not in current]
    done = len(ready) == instances and not others and len(current) == instances
    # The steps before the last (StartApplication) are done once the change is committed:
    # the last step (scale, restart, stop) is where a deployment waits.
    last = deployment.total_steps
    step = last
    if done:
        return Progress(True, last)
    why = []
    if waiting_reason:
        why.append(waiting_reason)
    if last_failure:
        why.append(f"last failure: {last_failure}")
    if not why:
        why.append(f"{len(ready)} of {instances} new task(s) ready, {len(others)} old task(s) left")
        if len(running) > len(ready):
            why.append(f"{len(running) - len(ready)} running but not ready yet (readiness check"
                       + (f": {readiness_cause})" if readiness_cause else ")"))
    return Progress(False, step, "; ".join(why))



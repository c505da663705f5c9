"""Commands on apps, deployments and agents: what an operator, the API or the console asks of the engine.

Each command validates, commits the change with its deployment to the store,
and only then changes the engine's memory and wakes the reconcile loop. Part of
`Engine` (engine/core.py), kept here so the loop and the commands each have a module.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Literal, Mapping, Sequence

from engine.errors import (
    AgentError,
    AppExists,
    AppNotFound,
    AppValidationError,
    DeploymentConflict,
    DeploymentNotFound,
    FieldError,
    TaskNotFound,
)
from engine.model import (
    AppDefinition,
    app_from_json,
    app_id_problems,
    app_to_json,
    config_equal,
    format_ts,
    merge_app_json,
    normalize_app_id,
    parse_app,
    parse_ts,
    with_version,
)
from engine.model.groups import read_group, replaced
from engine.model.service_ports import assign_service_ports, service_ports
from engine.scheduler.deployments import Deployment, progress, steps_for
from engine.scheduler.reconcile import Kill
from engine.scheduler.state import TaskRecord, TaskState
from engine.specs import desired_app

if TYPE_CHECKING:
    from engine.agents.base import AgentDriver
    from engine.config import PacerConfig
    from engine.core import _AgentSlot
    from engine.events import EventBus
    from engine.executor import Executor
    from engine.scheduler.reconcile import Waiting
    from engine.scheduler.state import AgentState, BackoffState, DesiredApp
    from engine.scheduler.task_table import TaskTable
    from engine.store import Store


ChangeKind = Literal["create", "scale", "config", "restart", "delete"]


@dataclass(frozen=True, slots=True)
class AppChange:
    """One app's part of a change: its new definition (None: delete it) and what kind of change it is."""

    app_id: str
    target: AppDefinition | None
    kind: ChangeKind


def _under(prefix: str, errors: Iterable[FieldError]) -> list[FieldError]:
    """Errors of one app of a request, at their path in the request."""
    return [FieldError((prefix + e.path if e.path != "/" else prefix) or "/", e.message) for e in errors]


class AppCommands:
    """The command half of `Engine`; it works on the state that `Engine.__init__` sets up."""

    # Set up by Engine.__init__ and Engine.start (declared here for readers and type checkers).
    config: "PacerConfig"
    store: "Store | None"
    bus: "EventBus"
    executor: "Executor"
    apps: dict[str, AppDefinition]
    _desired: "dict[str, DesiredApp]"
    _port_owner: dict[int, str]
    tasks: "TaskTable"
    backoff: "dict[str, BackoffState]"
    failures: dict[str, dict[str, Any]]
    deployments: dict[str, Deployment]
    _group_failures: dict[str, str]
    """Changes of several apps with a part that failed, until their last part ends (then announced)."""
    waiting: "dict[str, Waiting]"
    health: dict[str, bool | None]
    _agents: "dict[str, _AgentSlot]"
    _agent_states_cache: "dict[str, AgentState] | None"
    _full_requested: bool

    if TYPE_CHECKING:
        def clock(self) -> float: ...
        def wake(self, app_id: str | None = None) -> None: ...
        def driver(self, agent: str) -> AgentDriver: ...
        def _persist(self, **kwargs: Any) -> None: ...
        def _publish_status(self, t: TaskRecord, message: str) -> None: ...
        def tasks_of(self, app_id: str) -> list[TaskRecord]: ...

    def _set_app(self, app: AppDefinition) -> None:
        self._drop_service_ports(app.id)
        self.apps[app.id] = app
        self._desired[app.id] = desired_app(app)
        for port in service_ports(app):
            if port:
                self._port_owner[port] = app.id

    def _drop_service_ports(self, app_id: str) -> None:
        for port in service_ports(self.apps.get(app_id)):
            if self._port_owner.get(port) == app_id:
                del self._port_owner[port]

    def _next_version(self, app_id: str) -> str:
        now = self.clock()
        version = format_ts(now)
        current = self.apps.get(app_id)
        if current is not None and current.version and version <= current.version:
            version = format_ts(parse_ts(current.version) + 0.001)
        return version

    def _locks(self, app_id: str) -> list[Deployment]:
        return [d for d in self.deployments.values() if d.app_id == app_id and d.status == "running"]

    def _change(
        self,
        app_id: str,
        target: AppDefinition | None,
        kind: ChangeKind,
        *,
        force: bool,
        rollback_of: str | None = None,
        origin: tuple[str | None, str | None] | None = None,
        group_id: str | None = None,
    ) -> Deployment:
        """Commit one change of one app, with its deployment, or refuse it if a deployment locks the app.
        With `origin` (client address, request uri) the change is announced as Marathon's api_post_event."""
        (deployment,) = self._change_apps([AppChange(app_id, target, kind)], force=force, rollback_of=rollback_of,
                                          origin=origin, group_id=group_id)
        return deployment

    def _change_apps(
        self,
        changes: Sequence[AppChange],
        *,
        force: bool,
        rollback_of: str | None = None,
        origin: tuple[str | None, str | None] | None = None,
        group_id: str | None = None,
    ) -> list[Deployment]:
        """Commit changes of several apps in one transaction, one deployment per app; with more than one
        they share a `group_id`, the deployment id clients see. Refused whole if a deployment locks any app."""
        assert self.store is not None
        locks = list({d.id: d for c in changes for d in self._locks(c.app_id)}.values())
        if locks and not force:
            locked = next(c.app_id for c in changes if self._locks(c.app_id))
            raise DeploymentConflict(locked, list(dict.fromkeys(d.public_id for d in locks)))
        if group_id is None and len(changes) > 1:
            group_id = str(uuid.uuid4())
        # One version for the whole change, later than each app's current one.
        version = max(self._next_version(c.app_id) for c in changes)
        started = self.clock()
        parts: list[tuple[AppChange, AppDefinition | None, Deployment]] = []
        for c in changes:
            previous = self.apps.get(c.app_id)
            stamped: AppDefinition | None = None
            if c.target is not None:
                old_info = (previous.version_info or {}) if previous else {}
                config_change = c.kind in ("create", "config", "restart") or not old_info
                info = {
                    "lastScalingAt": version,
                    "lastConfigChangeAt": version if config_change else old_info.get("lastConfigChangeAt", version),
                }
                stamped = with_version(c.target, version, info)
            deployment = Deployment(
                id=str(uuid.uuid4()),
                version=version,
                app_id=c.app_id,
                steps=steps_for(c.kind),
                current_step=1,
                started_at=started,
                original=app_to_json(previous) if previous else None,
                target=app_to_json(stamped) if stamped else None,
                rollback_of=rollback_of,
                group_id=group_id,
            )
            parts.append((c, stamped, deployment))
        self.store.put_apps(
            [app_to_json(stamped) for _, stamped, _ in parts if stamped is not None],
            clear_backoff=[c.app_id for c, _, _ in parts if c.kind in ("create", "config", "restart")],
            delete_apps=[c.app_id for c, stamped, _ in parts if stamped is None],
            deployments=[d.to_record() for _, _, d in parts],
            finished_deployments=[d.id for d in locks],
        )
        # Committed: now the in-memory view may change.
        replaced_by = parts[0][2].public_id
        for d in locks:
            self.deployments.pop(d.id, None)
            self._part_ended(d, failure=f"replaced by deployment {replaced_by}")
        for c, stamped, deployment in parts:
            self._commit_app(c, stamped)
            self.deployments[deployment.id] = deployment
            if origin is not None and deployment.target is not None:
                client_ip, uri = origin
                self.bus.publish("api_post_event", clientIp=client_ip, uri=uri or f"/v2/apps{c.app_id}",
                                 appDefinition=dict(deployment.target))
        self.bus.publish("group_change_success", groupId="/", version=version)
        for _, _, deployment in parts:
            self.bus.publish("deployment_info", plan=deployment.plan_json(), currentStep={
                "actions": [{"action": a, "app": deployment.app_id} for a in deployment.current_actions]})
        for c in changes:
            self.wake(c.app_id)
        return [d for _, _, d in parts]

    def _commit_app(self, change: AppChange, stamped: AppDefinition | None) -> None:
        """The in-memory side of one committed app change."""
        app_id = change.app_id
        if change.kind in ("create", "config", "restart"):
            self.backoff.pop(app_id, None)
        if stamped is not None:
            self._set_app(stamped)
            return
        self._drop_service_ports(app_id)
        self.apps.pop(app_id, None)
        self._desired.pop(app_id, None)
        self.backoff.pop(app_id, None)
        self.failures.pop(app_id, None)
        self.waiting.pop(app_id, None)

    def _parse(self, data: object, previous: AppDefinition | None = None) -> AppDefinition:
        """A submitted app, validated, with its service ports assigned (or kept from `previous`)."""
        app = parse_app(data, default_image=self.config.scheduler.default_image)
        return self._with_service_ports(app, previous)

    def _with_service_ports(self, app: AppDefinition, previous: AppDefinition | None) -> AppDefinition:
        others = self._port_owner if app.id not in self.apps else \
            {port: owner for port, owner in self._port_owner.items() if owner != app.id}
        return assign_service_ports(app, others, previous)

    async def create_app(
        self, data: object, *, force: bool = False, client_ip: str | None = None, uri: str | None = None
    ) -> Deployment:
        app = self._parse(data)
        if app.id in self.apps:
            raise AppExists(app.id)
        return self._change(app.id, app, "create", force=force, origin=(client_ip, uri))

    async def put_app(
        self,
        data: object,
        *,
        app_id: str | None = None,
        partial: bool = True,
        force: bool = False,
        client_ip: str | None = None,
        uri: str | None = None,
    ) -> Deployment:
        """Create or update (Marathon's PUT): partial updates merge over the current definition."""
        if not isinstance(data, dict):
            raise AppValidationError([FieldError("/", "an app must be a JSON object")])
        body = dict(data)
        if app_id is not None:
            body.setdefault("id", app_id)
        current = self.apps.get(self._parse_id(body))
        if current is None:
            return await self.create_app(body, force=force, client_ip=client_ip, uri=uri)
        if partial:
            body = merge_app_json(app_to_json(current), body)
        app = self._parse(body, current)
        kind: Literal["scale", "config"] = "scale" if config_equal(current, app) else "config"
        return self._change(app.id, app, kind, force=force, origin=(client_ip, uri))

    def plan_changes(self, submitted: Sequence[tuple[str, object]], *, partial: bool = False,
                     delete: Iterable[str] = ()) -> list[AppChange]:
        """Several apps (creates or updates) and deletions, validated as one change before any is made.
        `submitted`: (where the app is in the request, such as /apps/0, and its JSON). Every bad field of every
        app is named at its full path in one AppValidationError. Service ports are assigned across the change."""
        errors: list[FieldError] = []
        changes: list[AppChange] = []
        where: dict[str, str] = {}
        taken = dict(self._port_owner)
        seen: set[str] = set()
        default_image = self.config.scheduler.default_image
        for prefix, body in submitted:
            if not isinstance(body, dict):
                errors.append(FieldError(prefix or "/", "must be a JSON object (an app)"))
                continue
            try:
                app_id = self._parse_id(body)
            except AppValidationError as exc:
                errors.extend(_under(prefix, exc.errors))
                continue
            if app_id in seen:
                errors.append(FieldError(f"{prefix}/id", f"app {app_id} appears twice"))
                continue
            seen.add(app_id)
            current = self.apps.get(app_id)
            candidate = merge_app_json(app_to_json(current), body) if current is not None and partial else body
            try:
                app = parse_app(candidate, default_image=default_image)
                app = assign_service_ports(app, {p: o for p, o in taken.items() if o != app_id}, current)
            except AppValidationError as exc:
                errors.extend(_under(prefix, exc.errors))
                continue
            taken.update((port, app_id) for port in service_ports(app) if port)
            kind: ChangeKind = "create" if current is None else "scale" if config_equal(current, app) else "config"
            changes.append(AppChange(app_id, app, kind))
            where[app_id] = prefix
        errors.extend(self._dependency_cycles(changes, where))
        if errors:
            raise AppValidationError(errors)
        changes.extend(AppChange(a, None, "delete") for a in dict.fromkeys(delete) if a in self.apps and a not in seen)
        return changes

    def plan_group(self, document: object, group_id: str, *, replace: bool) -> list[AppChange]:
        """A Marathon group document as one change: its apps created or replaced as written; with `replace`
        (PUT), the apps of each group it lists that it leaves out are removed. Every bad field is named at
        its path in the document."""
        read = read_group(document, group_id)
        if not replace and isinstance(document, dict) and not read.apps and not read.errors:
            # Groups are implied by their apps' ids: an empty one would not exist.
            read.errors.append(FieldError("/apps", "give at least one app: a group exists through its apps"))
        delete = replaced(read, self.apps) if replace else []
        try:
            changes = self.plan_changes(read.apps, delete=delete)
        except AppValidationError as exc:
            raise AppValidationError(read.errors + exc.errors) from None
        if read.errors:
            raise AppValidationError(read.errors)
        return changes

    def group_id_problems(self, group_id: str) -> list[str]:
        """A group id follows the rules of app ids (the root aside) and is not an app's."""
        problems = app_id_problems(group_id) if group_id != "/" else []
        return problems + ([f"{group_id} is an app, not a group"] if group_id in self.apps else [])

    async def put_group(self, document: object, *, force: bool = False) -> list[Deployment]:
        """Create or replace the group a document names (its `id`), as `PUT /v2/groups/{id}` does."""
        raw = document.get("id") if isinstance(document, dict) else None
        if not isinstance(raw, str) or not raw.strip("/"):
            raise AppValidationError([FieldError("/id", "is required: the group's id, such as /shop")])
        group_id = normalize_app_id(raw)
        problems = self.group_id_problems(group_id)
        if problems:
            raise AppValidationError([FieldError("/id", p) for p in problems])
        changes = self.plan_group(document, group_id, replace=True)
        if not changes:
            raise AppValidationError([FieldError("/apps", "give at least one app: a group exists through its apps")])
        return await self.apply_changes(changes, force=force)

    def _dependency_cycles(self, changes: Sequence[AppChange], where: Mapping[str, str]) -> list[FieldError]:
        """A change whose apps depend on each other in a circle could never deploy (each would wait)."""
        depends = {a.id: list(a.dependencies) for a in self.apps.values()}
        depends.update((c.app_id, list(c.target.dependencies)) for c in changes if c.target is not None)
        errors = []
        for c in changes:
            path = self._cycle_from(c.app_id, depends)
            if path:
                errors.append(FieldError(f"{where[c.app_id]}/dependencies",
                                         f"dependencies form a cycle: {' -> '.join(path)}"))
        return errors

    @staticmethod
    def _cycle_from(start: str, depends: Mapping[str, list[str]]) -> list[str]:
        """The shortest way back to `start` along dependencies (empty: none)."""
        paths = {start: [start]}
        frontier = [start]
        while frontier:
            following = []
            for app_id in frontier:
                for dep in depends.get(app_id, ()):
                    if dep == start:
                        return [*paths[app_id], start]
                    if dep not in paths:
                        paths[dep] = [*paths[app_id], dep]
                        following.append(dep)
            frontier = following
        return []

    async def apply_changes(self, changes: Sequence[AppChange], *, force: bool = False, client_ip: str | None = None,
                            uri: str | None = None) -> list[Deployment]:
        """Commit a planned change of several apps: one deployment per app, one id for clients (`public_id`)."""
        if not changes:
            return []
        deployments = self._change_apps(changes, force=force, origin=(client_ip, uri))
        for c in changes:
            if c.target is None:
                self.bus.publish("app_terminated_event", appId=c.app_id)
        return deployments

    @staticmethod
    def _parse_id(body: Mapping[str, Any]) -> str:
        raw = body.get("id")
        if not isinstance(raw, str) or not raw.strip("/"):
            raise AppValidationError([FieldError("/id", "is required")])
        return normalize_app_id(raw)

    def get_app(self, app_id: str) -> AppDefinition:
        app = self.apps.get(normalize_app_id(app_id))
        if app is None:
            raise AppNotFound(normalize_app_id(app_id))
        return app

    async def scale(self, app_id: str, instances: int, *, force: bool = False) -> Deployment:
        app = self.get_app(app_id)
        if instances < 0:
            raise AppValidationError([FieldError("/instances", f"must be >= 0, got {instances}")])
        return self._change(app.id, app.model_copy(update={"instances": instances}), "scale", force=force)

    async def restart_app(self, app_id: str, *, force: bool = False) -> Deployment:
        """A new version with the same definition: every task is replaced, rolling."""
        app = self.get_app(app_id)
        return self._change(app.id, app, "restart", force=force)

    async def delete_app(self, app_id: str, *, force: bool = True) -> Deployment:
        app = self.get_app(app_id)
        deployment = self._change(app.id, None, "delete", force=force)
        self.bus.publish("app_terminated_event", appId=app.id)
        return deployment

    async def rollback_app(self, app_id: str, version: str, *, force: bool = False) -> Deployment:
        """Make a stored version current again (Marathon's PUT with only `version`)."""
        app = self.get_app(app_id)
        assert self.store is not None
        stored = self.store.app_version(app.id, version)
        if stored is None:
            raise AppNotFound(f"{app.id}' in version '{version}")
        target = self._with_service_ports(app_from_json(stored), app)
        kind: Literal["scale", "config"] = "scale" if config_equal(app, target) else "config"
        return self._change(app.id, target, kind, force=force)

    async def cancel_deployment(self, deployment_id: str, *, rollback: bool = True) -> Deployment | None:
        """Stop a running deployment; with rollback, a new (forced) deployment restores the app as it was.
        `deployment_id` may be a change of several apps: each part is stopped (and rolled back, the rollbacks
        sharing one new id, which the returned deployment's `public_id` carries)."""
        parts = [d for d in self.deployments.values() if deployment_id in (d.id, d.group_id)]
        if not parts:
            raise DeploymentNotFound(deployment_id)
        if not rollback:
            assert self.store is not None
            self.store.put_apps([], finished_deployments=[d.id for d in parts])
            for d in parts:
                self.deployments.pop(d.id, None)
            for d in parts:
                self._part_ended(d, failure="cancelled")
            return None
        group_id = str(uuid.uuid4()) if len(parts) > 1 else None
        rollbacks = [self._roll_back(d, group_id) for d in parts]
        return rollbacks[0]

    def _roll_back(self, deployment: Deployment, group_id: str | None) -> Deployment:
        if deployment.original is None:
            return self._change(deployment.app_id, None, "delete", force=True, rollback_of=deployment.public_id,
                                group_id=group_id)
        original = app_from_json(dict(deployment.original))
        current = self.apps.get(deployment.app_id)
        kind: Literal["create", "scale", "config"]
        if current is None:
            kind = "create"
        else:
            kind = "scale" if config_equal(current, original) else "config"
        return self._restore(deployment, original, kind, group_id)

    def _restore(self, cancelled: Deployment, original: AppDefinition, kind: Literal["create", "scale", "config"],
                 group_id: str | None = None) -> Deployment:
        assert self.store is not None
        version = self._next_version(cancelled.app_id)
        # Keeping the original's lastConfigChangeAt makes its tasks current again: they stay, the new ones go.
        info = dict(original.version_info or {})
        info["lastScalingAt"] = version
        restored = with_version(original, version, info)
        deployment = Deployment(
            id=str(uuid.uuid4()), version=version, app_id=cancelled.app_id, steps=steps_for(kind),
            current_step=1, started_at=self.clock(), original=cancelled.target, target=app_to_json(restored),
            rollback_of=cancelled.public_id, group_id=group_id,
        )
        self.store.put_apps([app_to_json(restored)], deployments=[deployment.to_record()],
                            finished_deployments=[cancelled.id], clear_backoff=[cancelled.app_id])
        self.deployments.pop(cancelled.id, None)
        self._part_ended(cancelled, failure="rolled back")
        self.backoff.pop(cancelled.app_id, None)
        self._set_app(restored)
        self.deployments[deployment.id] = deployment
        self.bus.publish("deployment_info", plan=deployment.plan_json(),
                         currentStep={"actions": [{"action": a, "app": cancelled.app_id} for a in deployment.current_actions]})
        self.wake(cancelled.app_id)
        return deployment

    def held_by_dependencies(self) -> dict[str, str]:
        """Apps whose part of a change waits for the part of an app they depend on (`dependencies`), as
        Marathon orders a deployment's steps: app id -> why."""
        parts = {(d.group_id, d.app_id) for d in self.deployments.values()
                 if d.group_id is not None and d.status == "running" and d.target is not None}
        held: dict[str, str] = {}
        for group_id, app_id in parts:
            app = self.apps.get(app_id)
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

    def _part_ended(self, d: Deployment, *, failure: str | None = None) -> None:
        """A deployment left `self.deployments`: announce its end. A change of several apps ends with its last
        part: deployment_failed (with the first failure's reason) if any part failed, else deployment_success."""
        if d.group_id is not None:
            if failure is not None:
                self._group_failures.setdefault(d.group_id, failure)
            others = [o for o in self.deployments.values() if o.group_id == d.group_id]
            for o in others:
                self.wake(o.app_id)  # one that waited for this app (dependencies) may start now
            if others:
                return
            failure = self._group_failures.pop(d.group_id, None)
        if failure is None:
            self.bus.publish("deployment_success", id=d.public_id, plan=d.plan_json())
        else:
            self.bus.publish("deployment_failed", id=d.public_id, plan=d.plan_json(), reason=failure)

    def _track_deployments(self) -> None:
        """After a round: advance running deployments, finish those whose app reached its target."""
        assert self.store is not None
        finished: list[Deployment] = []
        changed: list[Deployment] = []
        for d in list(self.deployments.values()):
            if d.status != "running":
                continue
            app = self._desired.get(d.app_id)
            failure = self.failures.get(d.app_id)
            waiting = self.waiting.get(d.app_id)
            p = progress(
                d, self.tasks_of(d.app_id),
                instances=app.instances if app else 0,
                config_version=app.config_version if app else None,
                healthy=self.health,
                has_health_checks=app.has_health_checks if app else False,
                waiting_reason=waiting.reason if waiting else None,
                last_failure=failure.get("message", "").splitlines()[0] if failure and failure.get("timestamp", "") >= d.version else None,
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
                step = {"actions": [{"action": a, "app": d.app_id} for a in old.current_actions]}
                self.bus.publish("deployment_step_success", plan=d.plan_json(), currentStep=step)
                self.bus.publish("deployment_info", plan=d.plan_json(),
                                 currentStep={"actions": [{"action": a, "app": d.app_id} for a in d.current_actions]})
        for d in finished:
            self.deployments.pop(d.id, None)
            step = {"actions": [{"action": a, "app": d.app_id} for a in d.current_actions]}
            self.bus.publish("deployment_step_success", plan=d.plan_json(), currentStep=step)
            self._part_ended(d)

    async def kill_tasks(self, task_ids: list[str], *, scale: bool = False, force: bool = False) -> list[TaskRecord]:
        """Kill tasks; with scale, lower each app's instances so they are not replaced."""
        victims = [self.tasks[t] for t in task_ids if t in self.tasks]
        if scale:
            per_app: dict[str, int] = {}
            for t in victims:
                per_app[t.app_id] = per_app.get(t.app_id, 0) + 1
            for app_id, n in per_app.items():
                app = self.apps.get(app_id)
                if app is not None:
                    self._change(app_id, app.model_copy(update={"instances": max(0, app.instances - n)}), "scale",
                                 force=force)
        assert self.store is not None
        marked = [replace(t, state=TaskState.KILLING) for t in victims if t.task_id not in self.executor.inflight]
        self._persist(upsert=marked)
        for t in marked:
            self.tasks[t.task_id] = t
            self._publish_status(t, "killed by request")
            grace = self._desired[t.app_id].kill_grace_seconds if t.app_id in self._desired else 3.0
            self.executor.kill(Kill(t, "killed by request", grace))
        return victims

    async def reset_delay(self, app_id: str) -> bool:
        app = self.get_app(app_id)
        assert self.store is not None
        if app.id not in self.backoff:
            return False
        self._persist(backoff={app.id: None})
        self.backoff.pop(app.id, None)
        self.wake(app.id)
        return True

    def app_versions(self, app_id: str) -> list[str]:
        app = self.get_app(app_id)
        assert self.store is not None
        return self.store.app_versions(app.id)

    async def drain_agent(self, name: str, *, draining: bool = True) -> None:
        """Maintenance: move every task off an agent (new ones first), and place nothing new there."""
        slot = self._agents.get(name)
        if slot is None:
            raise AgentError(f"no agent named {name!r}")
        assert self.store is not None
        self.store.set_draining(name, draining)
        slot.draining = draining
        self.bus.publish("pacer_agent_draining" if draining else "pacer_agent_resumed", agent=name)
        self._agent_states_cache = None
        self._full_requested = True
        self.wake()

    async def resume_agent(self, name: str) -> None:
        await self.drain_agent(name, draining=False)

    async def task_logs(self, task_id: str, lines: int = 200) -> list[str]:
        task = self.tasks.get(task_id)
        if task is None or not task.container_id:
            raise TaskNotFound(task_id)
        return await self.driver(task.agent).tail_logs(task.container_id, lines)

    async def follow_task_logs(self, task_id: str, tail: int = 200) -> AsyncIterator[str]:
        """Output of one task: the last `tail` lines, then new lines until the task ends or the caller stops."""
        task = self.tasks.get(task_id)
        if task is None or not task.container_id:
            raise TaskNotFound(task_id)
        async for line in self.driver(task.agent).follow_logs(task.container_id, tail):
            yield line

    def app_at_version(self, app_id: str, version: str) -> AppDefinition:
        app = self.get_app(app_id)
        assert self.store is not None
        stored = self.store.app_version(app.id, version)
        if stored is None:
            raise AppNotFound(f"{app.id}' in version '{version}")
        return app_from_json(stored)


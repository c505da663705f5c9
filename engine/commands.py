"""Commands on apps, deployments and agents: what an operator, the API or the console asks of the engine.

Each command validates, commits the change with its deployment to the store,
and only then changes the engine's memory and wakes the reconcile loop. `Engine`
(engine/core.py) offers them on its facade.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterable, Literal, Mapping, Protocol, Sequence

from engine.agent_pool import AgentPool
from engine.app_registry import AppRegistry
from engine.config import PacerConfig
from engine.deployment_watcher import DeploymentWatcher
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
from engine.events import AppSubmitted, AppTerminated, EventBus, GroupChanged
from engine.model import (
    AppDefinition,
    app_from_json,
    app_id_problems,
    app_to_json,
    config_equal,
    merge_app_json,
    normalize_app_id,
    parse_app,
    with_version,
)
from engine.model.groups import read_group, replaced
from engine.model.limits import MAX_INSTANCES
from engine.model.service_ports import assign_service_ports, service_ports
from engine.scheduler.deployments import Deployment, steps_for
from engine.scheduler.reconcile import Kill
from engine.scheduler.state import TaskRecord
from engine.store import Store
from engine.task_ledger import TaskLedger

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


class Killer(Protocol):
    """What commands ask of the executor: kill a task (and whether one is already being launched or killed)."""

    inflight: set[str]

    def kill(self, action: Kill) -> None: ...


class AppCommands:
    """Validate, commit to the store with a deployment, then change memory and wake the reconcile loop."""

    def __init__(self, config: PacerConfig, registry: AppRegistry, ledger: TaskLedger, watcher: DeploymentWatcher,
                 agents: AgentPool, executor: Killer, bus: EventBus, clock: Callable[[], float],
                 wake: Callable[[str | None], None], request_full_round: Callable[[], None]) -> None:
        self._config = config
        self._registry = registry
        self._ledger = ledger
        self._watcher = watcher
        self._agents = agents
        self._executor = executor
        self._bus = bus
        self._clock = clock
        self._wake = wake
        self._request_full_round = request_full_round
        self.store: Store | None = None
        """Set when the engine starts."""

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
        locks = list({d.id: d for c in changes for d in self._watcher.locks(c.app_id)}.values())
        if locks and not force:
            locked = next(c.app_id for c in changes if self._watcher.locks(c.app_id))
            raise DeploymentConflict(locked, list(dict.fromkeys(d.public_id for d in locks)))
        if group_id is None and len(changes) > 1:
            group_id = str(uuid.uuid4())
        # One version for the whole change, later than each app's current one.
        version = max(self._registry.next_version(c.app_id, self._clock()) for c in changes)
        started = self._clock()
        parts: list[tuple[AppChange, AppDefinition | None, Deployment]] = []
        for c in changes:
            previous = self._registry.apps.get(c.app_id)
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
            self._watcher.end(d, f"replaced by deployment {replaced_by}")
        for c, stamped, deployment in parts:
            self._commit_app(c, stamped)
            self._watcher.begin(deployment)
            if origin is not None and deployment.target is not None:
                client_ip, uri = origin
                self._bus.publish(AppSubmitted(client_ip=client_ip, uri=uri or f"/v2/apps{c.app_id}",
                                               app_definition=dict(deployment.target)))
        self._bus.publish(GroupChanged(group_id="/", version=version))
        for _, _, deployment in parts:
            self._watcher.announce(deployment)
        for c in changes:
            self._wake(c.app_id)
        return [d for _, _, d in parts]

    def _commit_app(self, change: AppChange, stamped: AppDefinition | None) -> None:
        """The in-memory side of one committed app change."""
        app_id = change.app_id
        if change.kind in ("create", "config", "restart"):
            self._ledger.backoff.pop(app_id, None)
        if stamped is not None:
            self._registry.set(stamped)
            return
        self._registry.drop(app_id)
        self._ledger.forget_app(app_id)
        self._ledger.waiting.pop(app_id, None)

    def parse(self, data: object, previous: AppDefinition | None = None) -> AppDefinition:
        """A submitted app, validated, with its service ports assigned (or kept from `previous`)."""
        app = parse_app(data, default_image=self._config.scheduler.default_image, update=previous is not None)
        return self._registry.with_service_ports(app, previous)

    async def create_app(
        self, data: object, *, force: bool = False, client_ip: str | None = None, uri: str | None = None
    ) -> Deployment:
        app = self.parse(data)
        if app.id in self._registry.apps:
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
        current = self._registry.apps.get(self.parse_id(body))
        if current is None:
            return await self.create_app(body, force=force, client_ip=client_ip, uri=uri)
        if partial:
            body = merge_app_json(app_to_json(current), body)
        app = self.parse(body, current)
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
        taken = dict(self._registry.port_owner)
        seen: set[str] = set()
        default_image = self._config.scheduler.default_image
        for prefix, body in submitted:
            if not isinstance(body, dict):
                errors.append(FieldError(prefix or "/", "must be a JSON object (an app)"))
                continue
            try:
                app_id = self.parse_id(body)
            except AppValidationError as exc:
                errors.extend(_under(prefix, exc.errors))
                continue
            if app_id in seen:
                errors.append(FieldError(f"{prefix}/id", f"app {app_id} appears twice"))
                continue
            seen.add(app_id)
            current = self._registry.apps.get(app_id)
            candidate = merge_app_json(app_to_json(current), body) if current is not None and partial else body
            try:
                app = parse_app(candidate, default_image=default_image, update=current is not None)
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
        changes.extend(AppChange(a, None, "delete") for a in dict.fromkeys(delete) if a in self._registry.apps and a not in seen)
        return changes

    def plan_group(self, document: object, group_id: str, *, replace: bool) -> list[AppChange]:
        """A Marathon group document as one change: its apps created or replaced as written; with `replace`
        (PUT), the apps of each group it lists that it leaves out are removed. Every bad field is named at
        its path in the document."""
        read = read_group(document, group_id)
        if not replace and isinstance(document, dict) and not read.apps and not read.errors:
            # Groups are implied by their apps' ids: an empty one would not exist.
            read.errors.append(FieldError("/apps", "give at least one app: a group exists through its apps"))
        delete = replaced(read, self._registry.apps) if replace else []
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
        return problems + ([f"{group_id} is an app, not a group"] if group_id in self._registry.apps else [])

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
        depends = {a.id: list(a.dependencies) for a in self._registry.apps.values()}
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
                self._bus.publish(AppTerminated(app_id=c.app_id))
        return deployments

    @staticmethod
    def parse_id(body: Mapping[str, Any]) -> str:
        raw = body.get("id")
        if not isinstance(raw, str) or not raw.strip("/"):
            raise AppValidationError([FieldError("/id", "is required")])
        return normalize_app_id(raw)

    async def scale(self, app_id: str, instances: int, *, force: bool = False,
                    supersede_scaling: bool = False) -> Deployment:
        """Set an app's instances. With `supersede_scaling` (the console's + and -), a running deployment that
        only starts or scales the app is replaced: the newest count wins; an upgrade or restart under way is still
        a conflict unless forced."""
        app = self._registry.get(app_id)
        if not 0 <= instances <= MAX_INSTANCES:
            raise AppValidationError([FieldError("/instances", f"must be between 0 and {MAX_INSTANCES}, got {instances}")])
        force = force or (supersede_scaling and self._watcher.only_counts_lock(app.id))
        return self._change(app.id, app.model_copy(update={"instances": instances}), "scale", force=force)

    async def restart_app(self, app_id: str, *, force: bool = False) -> Deployment:
        """A new version with the same definition: every task is replaced, rolling."""
        app = self._registry.get(app_id)
        return self._change(app.id, app, "restart", force=force)

    async def delete_app(self, app_id: str, *, force: bool = True) -> Deployment:
        app = self._registry.get(app_id)
        deployment = self._change(app.id, None, "delete", force=force)
        self._bus.publish(AppTerminated(app_id=app.id))
        return deployment

    async def rollback_app(self, app_id: str, version: str, *, force: bool = False) -> Deployment:
        """Make a stored version current again (Marathon's PUT with only `version`)."""
        app = self._registry.get(app_id)
        assert self.store is not None
        stored = self.store.app_version(app.id, version)
        if stored is None:
            raise AppNotFound(f"{app.id}' in version '{version}")
        target = self._registry.with_service_ports(app_from_json(stored), app)
        kind: Literal["scale", "config"] = "scale" if config_equal(app, target) else "config"
        return self._change(app.id, target, kind, force=force)

    async def cancel_deployment(self, deployment_id: str, *, rollback: bool = True) -> Deployment | None:
        """Stop a running deployment; with rollback, a new (forced) deployment restores the app as it was.
        `deployment_id` may be a change of several apps: each part is stopped (and rolled back, the rollbacks
        sharing one new id, which the returned deployment's `public_id` carries)."""
        parts = [d for d in self._watcher.deployments.values() if deployment_id in (d.id, d.group_id)]
        if not parts:
            raise DeploymentNotFound(deployment_id)
        if not rollback:
            assert self.store is not None
            self.store.put_apps([], finished_deployments=[d.id for d in parts])
            for d in parts:
                self._watcher.deployments.pop(d.id, None)
            for d in parts:
                self._watcher.end(d, "cancelled")
            return None
        group_id = str(uuid.uuid4()) if len(parts) > 1 else None
        rollbacks = [self._roll_back(d, group_id) for d in parts]
        return rollbacks[0]

    def _roll_back(self, deployment: Deployment, group_id: str | None) -> Deployment:
        if deployment.original is None:
            return self._change(deployment.app_id, None, "delete", force=True, rollback_of=deployment.public_id,
                                group_id=group_id)
        original = app_from_json(dict(deployment.original))
        current = self._registry.apps.get(deployment.app_id)
        kind: Literal["create", "scale", "config"]
        if current is None:
            kind = "create"
        else:
            kind = "scale" if config_equal(current, original) else "config"
        return self._restore(deployment, original, kind, group_id)

    def _restore(self, cancelled: Deployment, original: AppDefinition, kind: Literal["create", "scale", "config"],
                 group_id: str | None = None) -> Deployment:
        assert self.store is not None
        version = self._registry.next_version(cancelled.app_id, self._clock())
        # Keeping the original's lastConfigChangeAt makes its tasks current again: they stay, the new ones go.
        info = dict(original.version_info or {})
        info["lastScalingAt"] = version
        restored = with_version(original, version, info)
        deployment = Deployment(
            id=str(uuid.uuid4()), version=version, app_id=cancelled.app_id, steps=steps_for(kind),
            current_step=1, started_at=self._clock(), original=cancelled.target, target=app_to_json(restored),
            rollback_of=cancelled.public_id, group_id=group_id,
        )
        self.store.put_apps([app_to_json(restored)], deployments=[deployment.to_record()],
                            finished_deployments=[cancelled.id], clear_backoff=[cancelled.app_id])
        self._watcher.end(cancelled, "rolled back")
        self._ledger.backoff.pop(cancelled.app_id, None)
        self._registry.set(restored)
        self._watcher.begin(deployment)
        self._watcher.announce(deployment)
        self._wake(cancelled.app_id)
        return deployment

    async def kill_tasks(self, task_ids: list[str], *, scale: bool = False, force: bool = False) -> list[TaskRecord]:
        """Kill tasks; with scale, lower each app's instances so they are not replaced."""
        victims = [self._ledger.tasks[t] for t in task_ids if t in self._ledger.tasks]
        if scale:
            per_app: dict[str, int] = {}
            for t in victims:
                per_app[t.app_id] = per_app.get(t.app_id, 0) + 1
            for app_id, n in per_app.items():
                app = self._registry.apps.get(app_id)
                if app is not None:
                    self._change(app_id, app.model_copy(update={"instances": max(0, app.instances - n)}), "scale",
                                 force=force)
        idle = [t for t in victims if t.task_id not in self._executor.inflight]
        for kill in self._ledger.mark_killing(idle, "killed by request"):
            self._executor.kill(kill)
        return victims

    async def reset_delay(self, app_id: str) -> bool:
        app = self._registry.get(app_id)
        assert self.store is not None
        if app.id not in self._ledger.backoff:
            return False
        self._ledger.reset_backoff([app.id])
        self._wake(app.id)
        return True

    def app_versions(self, app_id: str) -> list[str]:
        app = self._registry.get(app_id)
        assert self.store is not None
        return self.store.app_versions(app.id)

    async def drain_agent(self, name: str, *, draining: bool = True) -> None:
        """Maintenance: move every task off an agent (new ones first), and place nothing new there."""
        if name not in self._agents:
            raise AgentError(f"no agent named {name!r}")
        assert self.store is not None
        self.store.set_draining(name, draining)
        self._agents.set_draining(name, draining)
        self._request_full_round()

    async def resume_agent(self, name: str) -> None:
        await self.drain_agent(name, draining=False)

    async def task_logs(self, task_id: str, lines: int = 200) -> list[str]:
        task = self._ledger.tasks.get(task_id)
        if task is None or not task.container_id:
            raise TaskNotFound(task_id)
        return await self._agents.driver(task.agent).tail_logs(task.container_id, lines)

    async def follow_task_logs(self, task_id: str, tail: int = 200) -> AsyncIterator[str]:
        """Output of one task: the last `tail` lines, then new lines until the task ends or the caller stops."""
        task = self._ledger.tasks.get(task_id)
        if task is None or not task.container_id:
            raise TaskNotFound(task_id)
        async for line in self._agents.driver(task.agent).follow_logs(task.container_id, tail):
            yield line

    def app_at_version(self, app_id: str, version: str) -> AppDefinition:
        app = self._registry.get(app_id)
        assert self.store is not None
        stored = self.store.app_version(app.id, version)
        if stored is None:
            raise AppNotFound(f"{app.id}' in version '{version}")
        return app_from_json(stored)


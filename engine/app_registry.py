"""The apps the engine keeps: each definition, what the pure core needs of it, and who holds which service port."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from engine.errors import AppNotFound
from engine.model import AppDefinition, app_from_json, format_ts, normalize_app_id, parse_ts
from engine.model.service_ports import assign_service_ports, service_ports
from engine.scheduler.state import DesiredApp, TaskRecord
from engine.specs import desired_app

StoredVersion = Callable[[str, str], "dict[str, Any] | None"]
"""(app id, version) -> the stored JSON of that version of the app, or None."""


class AppRegistry:
    def __init__(self, stored_version: StoredVersion) -> None:
        self._stored_version = stored_version
        self.apps: dict[str, AppDefinition] = {}
        self.desired: dict[str, DesiredApp] = {}
        self.port_owner: dict[int, str] = {}
        """Service port -> the app holding it."""
        self._version_cache: dict[tuple[str, str], AppDefinition] = {}

    def set(self, app: AppDefinition) -> None:
        self._release_ports(app.id)
        self.apps[app.id] = app
        self.desired[app.id] = desired_app(app)
        for port in service_ports(app):
            if port:
                self.port_owner[port] = app.id

    def drop(self, app_id: str) -> None:
        self._release_ports(app_id)
        self.apps.pop(app_id, None)
        self.desired.pop(app_id, None)

    def _release_ports(self, app_id: str) -> None:
        for port in service_ports(self.apps.get(app_id)):
            if self.port_owner.get(port) == app_id:
                del self.port_owner[port]

    def get(self, app_id: str) -> AppDefinition:
        app = self.apps.get(normalize_app_id(app_id))
        if app is None:
            raise AppNotFound(normalize_app_id(app_id))
        return app

    def with_service_ports(self, app: AppDefinition, previous: AppDefinition | None) -> AppDefinition:
        """`app` with its service ports assigned (kept from `previous`, or taken among those no other app holds)."""
        others: Mapping[int, str] = self.port_owner if app.id not in self.apps else \
            {port: owner for port, owner in self.port_owner.items() if owner != app.id}
        return assign_service_ports(app, others, previous)

    def next_version(self, app_id: str, now: float) -> str:
        """A version stamp for `app_id` at `now`, later than its current one."""
        version = format_ts(now)
        current = self.apps.get(app_id)
        if current is not None and current.version and version <= current.version:
            version = format_ts(parse_ts(current.version) + 0.001)
        return version

    def config_version_of(self, app_id: str) -> str | None:
        app = self.desired.get(app_id)
        return app.config_version if app else None

    def at_version(self, app_id: str, version: str) -> AppDefinition | None:
        key = (app_id, version)
        if key not in self._version_cache:
            stored = self._stored_version(app_id, version)
            if stored is None:
                return None
            self._version_cache[key] = app_from_json(stored)
        return self._version_cache[key]

    def version_for_task(self, task: TaskRecord) -> AppDefinition | None:
        """The definition a task was launched with (kept for old tasks during an upgrade)."""
        return self.at_version(task.app_id, task.version)

    def health_checks_for(self, task: TaskRecord) -> list[Any]:
        """The health checks of the version a task runs (old tasks keep theirs during an upgrade)."""
        app = self.apps.get(task.app_id)
        if app is None:
            return []
        if task.config_version == self.config_version_of(app.id):
            return list(app.health_checks)
        old = self.version_for_task(task)
        return list(old.health_checks) if old is not None else list(app.health_checks)

"""The store: pacer's state in one SQLite file (WAL).

Apps and every version of them, task records, launch backoff and the last task
failure per app. A change is acknowledged to its caller only after its
transaction committed, so nothing acknowledged is lost when the process dies.
Writes that belong together (one reconcile round) share one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from engine.scheduler.state import BackoffState, Resources, TaskRecord, TaskState
from engine.trust import ImageSignature

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    definition TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS app_versions (
    app_id TEXT NOT NULL,
    version TEXT NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (app_id, version)
);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    agent TEXT NOT NULL,
    version TEXT NOT NULL,
    config_version TEXT NOT NULL,
    state TEXT NOT NULL,
    cpus REAL NOT NULL, mem REAL NOT NULL, disk REAL NOT NULL,
    host_ports TEXT NOT NULL,
    container_id TEXT,
    staged_at REAL NOT NULL,
    started_at REAL,
    unreachable_since REAL,
    ip_address TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_app ON tasks (app_id);
CREATE TABLE IF NOT EXISTS backoff (
    app_id TEXT PRIMARY KEY,
    delay REAL NOT NULL,
    not_before REAL NOT NULL,
    last_failure_at REAL NOT NULL,
    failures INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS task_failures (
    app_id TEXT PRIMARY KEY,
    failure TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS relaunch (
    app_id TEXT PRIMARY KEY,
    vacated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS image_signatures (
    image_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    image TEXT NOT NULL,
    signature TEXT NOT NULL,
    signed_at REAL NOT NULL,
    PRIMARY KEY (image_id, public_key, image)
);
"""

_TASK_COLUMNS = (
    "id, app_id, agent, version, config_version, state, cpus, mem, disk, host_ports, "
    "container_id, staged_at, started_at, unreachable_since, ip_address"
)


def _task_row(t: TaskRecord) -> tuple[Any, ...]:
    return (
        t.task_id, t.app_id, t.agent, t.version, t.config_version, t.state.value,
        t.resources.cpus, t.resources.mem, t.resources.disk, json.dumps(list(t.host_ports)),
        t.container_id, t.staged_at, t.started_at, t.unreachable_since, t.ip_address,
    )


def _task_from_row(row: tuple[Any, ...]) -> TaskRecord:
    (task_id, app_id, agent, version, config_version, state, cpus, mem, disk, ports,
     container_id, staged_at, started_at, unreachable_since, ip_address) = row
    return TaskRecord(
        task_id=task_id, app_id=app_id, agent=agent, version=version, config_version=config_version,
        state=TaskState(state), resources=Resources(cpus, mem, disk), host_ports=tuple(json.loads(ports)),
        container_id=container_id, staged_at=staged_at, started_at=started_at,
        unreachable_since=unreachable_since, ip_address=ip_address,
    )


DEFAULT_MAX_VERSIONS = 50
"""Versions kept per app, as Marathon's --max_versions (zk_max_versions) default."""


class Store:
    def __init__(self, path: str | Path, *, max_versions: int = DEFAULT_MAX_VERSIONS) -> None:
        if max_versions < 1:
            raise ValueError(f"max_versions must be >= 1, got {max_versions}")
        self.max_versions = max_versions
        """At most this many versions of an app are kept (more only while running tasks use older ones)."""
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged write survives a killed process and a power loss too.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- meta -------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def draining_agents(self) -> list[str]:
        rows = self._db.execute("SELECT key FROM meta WHERE key LIKE 'draining:%'")
        return [r[0].split(":", 1)[1] for r in rows]

    def set_draining(self, agent: str, draining: bool) -> None:
        with self.transaction() as db:
            if draining:
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, '1')", (f"draining:{agent}",))
            else:
                db.execute("DELETE FROM meta WHERE key = ?", (f"draining:{agent}",))

    def cluster_id(self, preferred: str | None = None) -> str:
        """The cluster id stored at first start; `preferred` (from config) wins when given."""
        stored = self.get_meta("cluster_id")
        if preferred and preferred != stored:
            with self.transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('cluster_id', ?)", (preferred,))
            return preferred
        if stored:
            return stored
        new = uuid.uuid4().hex[:12]
        with self.transaction() as db:
            db.execute("INSERT INTO meta VALUES ('cluster_id', ?)", (new,))
        return new

    # -- apps -------------------------------------------------------------

    def load_apps(self) -> dict[str, dict[str, Any]]:
        return {row[0]: json.loads(row[1]) for row in self._db.execute("SELECT id, definition FROM apps")}

    def put_apps(
        self,
        apps: Iterable[dict[str, Any]],
        *,
        clear_backoff: Iterable[str] = (),
        delete_apps: Iterable[str] = (),
        deployments: Iterable[dict[str, Any]] = (),
        finished_deployments: Iterable[str] = (),
    ) -> None:
        """One change: new app versions (each kept as a version too), deletions, deployments; one transaction."""
        with self.transaction() as db:
            for app_id in delete_apps:
                db.execute("DELETE FROM apps WHERE id = ?", (app_id,))
                db.execute("DELETE FROM app_versions WHERE app_id = ?", (app_id,))
                db.execute("DELETE FROM backoff WHERE app_id = ?", (app_id,))
                db.execute("DELETE FROM task_failures WHERE app_id = ?", (app_id,))
                db.execute("DELETE FROM relaunch WHERE app_id = ?", (app_id,))
            for dep_id in finished_deployments:
                db.execute("DELETE FROM deployments WHERE id = ?", (dep_id,))
            for dep in deployments:
                db.execute("INSERT OR REPLACE INTO deployments VALUES (?, ?, ?)",
                           (dep["id"], dep["app_id"], json.dumps(dep)))
            for app in apps:
                text = json.dumps(app, separators=(",", ":"), sort_keys=True)
                db.execute("INSERT OR REPLACE INTO apps VALUES (?, ?, ?)", (app["id"], app["version"], text))
                db.execute(
                    "INSERT OR REPLACE INTO app_versions VALUES (?, ?, ?)", (app["id"], app["version"], text)
                )
                self._prune_versions(db, app["id"], app["version"])
            for app_id in clear_backoff:
                db.execute("DELETE FROM backoff WHERE app_id = ?", (app_id,))

    def _prune_versions(self, db: sqlite3.Connection, app_id: str, current: str) -> None:
        """Drop the oldest versions of an app beyond `max_versions`, as Marathon does. Never dropped: the
        current version, and any version a task of the app still runs (an upgrade's old tasks keep theirs:
        AppRegistry.version_for_task reads it); these count towards the limit and may exceed it."""
        versions = [r[0] for r in db.execute(
            "SELECT version FROM app_versions WHERE app_id = ? ORDER BY version DESC", (app_id,))]
        if len(versions) <= self.max_versions:
            return
        in_use = {v for row in db.execute("SELECT DISTINCT version, config_version FROM tasks WHERE app_id = ?",
                                          (app_id,)) for v in row}
        keep = {current} | (in_use & set(versions))
        for version in versions:
            if len(keep) >= self.max_versions:
                break
            keep.add(version)
        drop = [(app_id, v) for v in versions if v not in keep]
        db.executemany("DELETE FROM app_versions WHERE app_id = ? AND version = ?", drop)

    def delete_app(self, app_id: str) -> None:
        self.put_apps([], delete_apps=[app_id])

    def load_deployments(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self._db.execute("SELECT record FROM deployments")]

    def app_versions(self, app_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT version FROM app_versions WHERE app_id = ? ORDER BY version DESC", (app_id,)
        )
        return [r[0] for r in rows]

    def app_version(self, app_id: str, version: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT definition FROM app_versions WHERE app_id = ? AND version = ?", (app_id, version)
        ).fetchone()
        return json.loads(row[0]) if row else None

    # -- tasks, backoff, failures --------------------------------------------

    def load_tasks(self) -> list[TaskRecord]:
        return [_task_from_row(r) for r in self._db.execute(f"SELECT {_TASK_COLUMNS} FROM tasks")]

    def load_backoff(self) -> dict[str, BackoffState]:
        rows = self._db.execute("SELECT app_id, delay, not_before, last_failure_at, failures FROM backoff")
        return {r[0]: BackoffState(r[1], r[2], r[3], r[4]) for r in rows}

    def load_failures(self) -> dict[str, dict[str, Any]]:
        return {r[0]: json.loads(r[1]) for r in self._db.execute("SELECT app_id, failure FROM task_failures")}

    def load_relaunch(self) -> dict[str, list[tuple[str, str]]]:
        """Per app, the failed tasks (task id, config version) whose instance waits for its next attempt."""
        rows = self._db.execute("SELECT app_id, vacated FROM relaunch")
        return {r[0]: [(task_id, version) for task_id, version in json.loads(r[1])] for r in rows}

    # -- image signatures (engine.trust) --------------------------------------------

    def load_signatures(self) -> list[ImageSignature]:
        rows = self._db.execute(
            "SELECT image, image_id, public_key, signature, signed_at FROM image_signatures ORDER BY signed_at")
        return [ImageSignature(*row) for row in rows]

    def add_signature(self, sig: ImageSignature) -> None:
        """Store one signature (the same image, id and key again replaces the earlier one)."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO image_signatures VALUES (?, ?, ?, ?, ?)",
                       (sig.image_id, sig.public_key, sig.image, sig.signature, sig.signed_at))

    def remove_signatures(self, sigs: Iterable[ImageSignature]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM image_signatures WHERE image_id = ? AND public_key = ? AND image = ?",
                           [(s.image_id, s.public_key, s.image) for s in sigs])

    def write(
        self,
        *,
        upsert: Iterable[TaskRecord] = (),
        delete: Iterable[str] = (),
        backoff: Mapping[str, BackoffState | None] | None = None,
        failures: Mapping[str, dict[str, Any]] | None = None,
        relaunch: Mapping[str, Iterable[tuple[str, str]] | None] | None = None,
    ) -> None:
        """One reconcile round's changes, committed together (None in `backoff`/`relaunch`: that app's is gone)."""
        rows = [_task_row(t) for t in upsert]
        gone = [(task_id,) for task_id in delete]
        with self.transaction() as db:
            if rows:
                db.executemany(f"INSERT OR REPLACE INTO tasks ({_TASK_COLUMNS}) VALUES ({','.join('?' * 15)})", rows)
            if gone:
                db.executemany("DELETE FROM tasks WHERE id = ?", gone)
            for app_id, state in (backoff or {}).items():
                if state is None:
                    db.execute("DELETE FROM backoff WHERE app_id = ?", (app_id,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO backoff VALUES (?, ?, ?, ?, ?)",
                        (app_id, state.delay, state.not_before, state.last_failure_at, state.failures),
                    )
            for app_id, failure in (failures or {}).items():
                db.execute("INSERT OR REPLACE INTO task_failures VALUES (?, ?)", (app_id, json.dumps(failure)))
            for app_id, vacated in (relaunch or {}).items():
                if vacated is None:
                    db.execute("DELETE FROM relaunch WHERE app_id = ?", (app_id,))
                else:
                    db.execute("INSERT OR REPLACE INTO relaunch VALUES (?, ?)", (app_id, json.dumps(list(vacated))))

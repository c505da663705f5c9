"""The store: pacer's state in one SQLite file (WAL).

Apps and every version of them, task records, launch backoff and the last task
failure per app. A change is acknowledged to its caller only after its
transaction committed, so nothing acknowledged is lost when the process dies.
Writes that belong together (one reconcile round) share one transaction.

When a transaction cannot commit because of the storage (disk full, I/O error, read-only file system,
locked or damaged file), it is rolled back whole and `StorageUnavailable` says why, with the path and
the free space; `failure` keeps the last such reason until a commit succeeds again (`probe` tries one).
The file and its -wal and -shm companions are readable by their owner only: they hold env values.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from engine.errors import StorageUnavailable
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

log = logging.getLogger("pacer.store")

# SQLite's primary result codes (extended codes carry them in their low byte).
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 3, 5, 6, 8, 10, 11, 13, 14, 26
_COMPANIONS = ("-wal", "-shm", "-journal")

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
        self.failure: StorageUnavailable | None = None
        """Why the last write could not commit; None once a commit succeeds again."""
        self.failing_since: float | None = None
        """Wall-clock time of the first failed write of the current failure."""
        self.failed_writes = 0
        """Writes refused since the storage last committed."""
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                _make_private(self.path)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged write survives a killed process and a power loss too.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            unavailable = self._unavailable(exc)
            if unavailable is None:
                raise
            raise unavailable from exc
        if self.path != ":memory:":
            _make_private(self.path)  # the -wal and -shm files SQLite just made

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error as exc:
            log.warning("closing the state storage %s: %s", self.path, exc)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write, all or nothing: StorageUnavailable when the storage cannot commit it (nothing written)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk does); a second ROLLBACK would fail.
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error as exc:
                        log.warning("rolling back a failed write to %s: %s", self.path, exc)
                raise
        except sqlite3.Error as exc:
            unavailable = self._unavailable(exc)
            if unavailable is None:
                raise  # a mistake in a statement, not the storage: a bug to see with its traceback
            self._failed(unavailable)
            raise unavailable from exc
        self._committed()

    def probe(self) -> None:
        """Commit a tiny write: clears `failure` when the storage takes writes again (StorageUnavailable if not)."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('checked_at', ?)", (repr(time.time()),))

    def _failed(self, unavailable: StorageUnavailable) -> None:
        if self.failure is None or self.failure.kind != unavailable.kind:
            log.error("%s; writes are refused until it passes", unavailable.message)
        else:
            log.debug("write refused: %s", unavailable.message)
        if self.failure is None:
            self.failing_since = time.time()
        self.failure = unavailable
        self.failed_writes += 1

    def _committed(self) -> None:
        if self.failure is not None:
            took = time.time() - (self.failing_since or time.time())
            log.warning("state storage %s takes writes again (%d write(s) refused over %.0f s)",
                        self.path, self.failed_writes, took)
            self.failure, self.failing_since, self.failed_writes = None, None, 0

    def _unavailable(self, exc: BaseException) -> StorageUnavailable | None:
        """What a storage error means for a person (None: not the storage's fault, such as a bad statement)."""
        folder = os.path.dirname(os.path.abspath(self.path)) if self.path != ":memory:" else "memory"
        words = str(exc) or type(exc).__name__
        if isinstance(exc, OSError):
            return StorageUnavailable(f"state storage cannot be opened: {self.path} ({words})",
                                      kind="unopenable", path=self.path)
        if not isinstance(exc, (sqlite3.OperationalError, sqlite3.DatabaseError)) or isinstance(
                exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.DataError,
                      sqlite3.NotSupportedError, sqlite3.InterfaceError)):
            return None
        code = getattr(exc, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        lowered = words.lower()
        if primary == _FULL or "disk is full" in lowered:
            return StorageUnavailable(f"state storage is full: {_free_space(folder)} free on {folder} ({words})",
                                      kind="full", path=self.path)
        if primary in (_READONLY, _IOERR) and _read_only_fs(folder):
            return StorageUnavailable(f"state storage is read-only: {folder} is a read-only file system ({words})",
                                      kind="read-only", path=self.path)
        if primary == _READONLY or "readonly" in lowered:
            return StorageUnavailable(f"state storage is read-only: {self.path} cannot be written ({words})",
                                      kind="read-only", path=self.path)
        if primary == _IOERR or "i/o error" in lowered:
            return StorageUnavailable(f"state storage cannot write: I/O error on {self.path} ({words})",
                                      kind="io", path=self.path)
        if primary in (_BUSY, _LOCKED) or "locked" in lowered:
            return StorageUnavailable(f"state storage is locked by another process: {self.path} ({words})",
                                      kind="locked", path=self.path)
        if primary in (_CORRUPT, _NOTADB) or "malformed" in lowered:
            return StorageUnavailable(f"state storage is damaged: {self.path} ({words})",
                                      kind="damaged", path=self.path)
        if primary in (_CANTOPEN, _PERM) or "unable to open" in lowered:
            return StorageUnavailable(f"state storage cannot be opened: {self.path} ({words})",
                                      kind="unopenable", path=self.path)
        return None

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
        with self._reading():
            rows = self._db.execute(
                "SELECT version FROM app_versions WHERE app_id = ? ORDER BY version DESC", (app_id,)
            ).fetchall()
        return [r[0] for r in rows]

    def app_version(self, app_id: str, version: str) -> dict[str, Any] | None:
        with self._reading():
            row = self._db.execute(
                "SELECT definition FROM app_versions WHERE app_id = ? AND version = ?", (app_id, version)
            ).fetchone()
        return json.loads(row[0]) if row else None

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            unavailable = self._unavailable(exc)
            if unavailable is None:
                raise
            raise unavailable from exc

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


def _make_private(path: str) -> None:
    """The database file (created if missing) and its companions, readable and writable by their owner only."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in _COMPANIONS:
        try:
            if os.stat(path + suffix).st_mode & 0o077:
                os.chmod(path + suffix, 0o600)
        except FileNotFoundError:
            pass


def _free_space(folder: str) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown space"
    return _human_bytes(free)


def _human_bytes(n: float) -> str:
    """1000-based, as `df -H`: 0 B, 12 kB, 3.4 MB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" or n >= 10 else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.0f} TB"


def _read_only_fs(folder: str) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False

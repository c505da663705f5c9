"""The store: durable apps, versions, tasks and backoff."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.scheduler.state import BackoffState, Resources, TaskRecord, TaskState
from engine.store import Store


def record(task_id: str, state: TaskState = TaskState.RUNNING) -> TaskRecord:
    return TaskRecord(task_id=task_id, app_id="/a", agent="local", version="v1", config_version="v1", state=state,
                      resources=Resources(0.5, 64, 0), host_ports=(31000, 31001), container_id="abc",
                      staged_at=1.0, started_at=2.0)


def test_apps_versions_tasks_backoff_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s" / "state.db"
    store = Store(path)
    cid = store.cluster_id()
    store.put_apps([{"id": "/a", "version": "v1", "instances": 1}])
    store.put_apps([{"id": "/a", "version": "v2", "instances": 2}])
    store.write(upsert=[record("t1"), record("t2", TaskState.STAGING)], backoff={"/a": BackoffState(2, 10, 8, 1)},
                failures={"/a": {"message": "exited with code 1"}})
    store.write(delete=["t2"])
    store.close()

    again = Store(path)
    assert again.cluster_id() == cid
    assert again.load_apps()["/a"]["version"] == "v2"
    assert again.app_versions("/a") == ["v2", "v1"]
    assert again.app_version("/a", "v1") == {"id": "/a", "version": "v1", "instances": 1}
    assert again.load_tasks() == [record("t1")]
    assert again.load_backoff() == {"/a": BackoffState(2, 10, 8, 1)}
    assert again.load_failures()["/a"]["message"] == "exited with code 1"
    again.write(backoff={"/a": None})
    assert again.load_backoff() == {}
    again.delete_app("/a")
    assert again.load_apps() == {} and again.app_versions("/a") == []


def test_wal_mode(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _v(n: int) -> str:
    """Version stamps in time order, as the engine writes them."""
    return f"2030-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z"


def test_versions_are_bounded_the_oldest_go_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")  # Marathon's default: 50
    for n in range(150):
        store.put_apps([{"id": "/a", "version": _v(n), "instances": n}])
        assert len(store.app_versions("/a")) <= 50
    assert store.app_versions("/a") == [_v(n) for n in range(149, 99, -1)]
    assert store.load_apps()["/a"]["version"] == _v(149)
    assert store.app_version("/a", _v(100)) == {"id": "/a", "version": _v(100), "instances": 100}
    assert store.app_version("/a", _v(99)) is None


def test_versions_running_tasks_use_and_the_current_one_are_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db", max_versions=3)
    store.put_apps([{"id": "/a", "version": _v(0)}])
    store.write(upsert=[replace(record("old"), version=_v(0), config_version=_v(0))])
    for n in range(1, 10):
        store.put_apps([{"id": "/a", "version": _v(n)}])
    # the task's version (the oldest), the current one, and the newest others up to the bound
    assert store.app_versions("/a") == [_v(9), _v(8), _v(0)]
    store.write(delete=["old"])
    store.put_apps([{"id": "/a", "version": _v(10)}])
    assert store.app_versions("/a") == [_v(10), _v(9), _v(8)]
    store.put_apps([{"id": "/b", "version": _v(11)}])
    assert store.app_versions("/a") == [_v(10), _v(9), _v(8)], "another app's change prunes only its own"


def test_max_versions_setting(tmp_path: Path) -> None:
    from engine.config import load_config
    from engine.errors import ConfigError

    path = tmp_path / "pacer.toml"
    path.write_text('[scheduler]\nstate = "s.db"\nmax_versions = 5\n')
    assert load_config(path).scheduler.max_versions == 5
    path.write_text('[scheduler]\nstate = "s.db"\n')
    assert load_config(path).scheduler.max_versions == 50, "Marathon's default"
    path.write_text('[scheduler]\nstate = "s.db"\nmax_versions = 1\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.line, info.value.field) == (3, "scheduler.max_versions")

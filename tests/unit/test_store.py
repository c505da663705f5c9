"""The store: durable apps, versions, tasks and backoff."""

from __future__ import annotations

from pathlib import Path

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

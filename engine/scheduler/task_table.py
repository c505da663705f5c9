"""The engine's task records in memory, indexed by app, with cluster usage kept current.

A plain mapping task id -> TaskRecord for readers; every write goes through
`put`/`pop`, which also update the per-app index and the ClusterUsage that
placement starts from, so neither has to be rebuilt by scanning every task.
Each app's tasks also carry a revision, bumped by every write to one of them:
readers that take frozen copies (snapshots for the console and the API)
reuse the last copy of an app whose revision did not move.
"""

from __future__ import annotations

from typing import ItemsView, Iterator, KeysView, Mapping, ValuesView

from engine.scheduler.placement import ClusterUsage
from engine.scheduler.state import TaskRecord


class TaskTable(Mapping[str, TaskRecord]):
    def __init__(self, records: list[TaskRecord] | None = None) -> None:
        self._by_id: dict[str, TaskRecord] = {}
        self._by_app: dict[str, dict[str, TaskRecord]] = {}
        self.usage = ClusterUsage()
        self._revision: dict[str, int] = {}
        self._frozen: dict[str, tuple[int, tuple[TaskRecord, ...]]] = {}
        for record in records or []:
            self.put(record)

    def __getitem__(self, task_id: str) -> TaskRecord:
        return self._by_id[task_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._by_id

    def __setitem__(self, task_id: str, record: TaskRecord) -> None:
        assert task_id == record.task_id
        self.put(record)

    # The dict's own views: as fast as the dict (Mapping's generic ones go through __getitem__).
    def values(self) -> ValuesView[TaskRecord]:
        return self._by_id.values()

    def items(self) -> ItemsView[str, TaskRecord]:
        return self._by_id.items()

    def keys(self) -> KeysView[str]:
        return self._by_id.keys()

    def get(self, task_id: str, default: TaskRecord | None = None) -> TaskRecord | None:  # type: ignore[override]
        return self._by_id.get(task_id, default)

    def put(self, record: TaskRecord) -> None:
        previous = self._by_id.get(record.task_id)
        if previous is not None:
            self.usage.remove(previous.agent, previous.app_id, previous.resources, previous.host_ports)
        self._by_id[record.task_id] = record
        self._by_app.setdefault(record.app_id, {})[record.task_id] = record
        self._bump(record.app_id)
        self.usage.add(record.agent, record.app_id, record.resources, record.host_ports)

    def pop(self, task_id: str, default: TaskRecord | None = None) -> TaskRecord | None:
        record = self._by_id.pop(task_id, None)
        if record is None:
            return default
        of_app = self._by_app.get(record.app_id)
        if of_app is not None:
            of_app.pop(task_id, None)
            if not of_app:
                del self._by_app[record.app_id]
        self._bump(record.app_id)
        self.usage.remove(record.agent, record.app_id, record.resources, record.host_ports)
        return record

    def of_app(self, app_id: str) -> list[TaskRecord]:
        return list(self._by_app.get(app_id, {}).values())

    def frozen_of_app(self, app_id: str) -> tuple[TaskRecord, ...]:
        """The app's tasks as a tuple, the same tuple object until one of them changes."""
        revision = self._revision.get(app_id, 0)
        cached = self._frozen.get(app_id)
        if cached is not None and cached[0] == revision:
            return cached[1]
        records = tuple(self._by_app.get(app_id, {}).values())
        if records:
            self._frozen[app_id] = (revision, records)
        else:
            self._frozen.pop(app_id, None)
        return records

    def _bump(self, app_id: str) -> None:
        if app_id in self._by_app:
            self._revision[app_id] = self._revision.get(app_id, 0) + 1
        else:  # the app's last task went: forget it (a later task starts a new count, the cache is gone)
            self._revision.pop(app_id, None)
            self._frozen.pop(app_id, None)

    def app_ids(self) -> list[str]:
        return list(self._by_app)

    def app_ids_on(self, agent: str) -> list[str]:
        """Apps with a task on this agent (from the usage index: no scan of every task)."""
        usage = self.usage.peek(agent)
        return list(usage.app_tasks) if usage is not None else []

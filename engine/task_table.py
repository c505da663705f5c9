"""The engine's task records in memory, indexed by app, with cluster usage kept current.

A plain mapping task id -> TaskRecord for readers; every write goes through
`put`/`pop`, which also update the per-app index and the ClusterUsage that
placement starts from, so neither has to be rebuilt by scanning every task.
"""

from __future__ import annotations

from typing import Iterator, Mapping

from engine.placement import ClusterUsage
from engine.state import TaskRecord


class TaskTable(Mapping[str, TaskRecord]):
    def __init__(self, records: list[TaskRecord] | None = None) -> None:
        self._by_id: dict[str, TaskRecord] = {}
        self._by_app: dict[str, dict[str, TaskRecord]] = {}
        self.usage = ClusterUsage()
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

    def values(self):  # type: ignore[no-untyped-def, override]
        return self._by_id.values()

    def items(self):  # type: ignore[no-untyped-def, override]
        return self._by_id.items()

    def keys(self):  # type: ignore[no-untyped-def, override]
        return self._by_id.keys()

    def get(self, task_id: str, default: TaskRecord | None = None) -> TaskRecord | None:  # type: ignore[override]
        return self._by_id.get(task_id, default)

    def put(self, record: TaskRecord) -> None:
        previous = self._by_id.get(record.task_id)
        if previous is not None:
            self.usage.remove(previous.agent, previous.app_id, previous.resources, previous.host_ports)
        self._by_id[record.task_id] = record
        self._by_app.setdefault(record.app_id, {})[record.task_id] = record
        self.usage.add(record.agent, record.app_id, record.resources, record.host_ports)

    def pop(self, task_id: str, default: TaskRecord | None = None) -> TaskRecord | None:  # type: ignore[override]
        record = self._by_id.pop(task_id, None)
        if record is None:
            return default
        of_app = self._by_app.get(record.app_id)
        if of_app is not None:
            of_app.pop(task_id, None)
            if not of_app:
                del self._by_app[record.app_id]
        self.usage.remove(record.agent, record.app_id, record.resources, record.host_ports)
        return record

    def of_app(self, app_id: str) -> list[TaskRecord]:
        return list(self._by_app.get(app_id, {}).values())

    def app_ids(self) -> list[str]:
        return list(self._by_app)

    def app_ids_on(self, agent: str) -> list[str]:
        """Apps with a task on this agent (from the usage index: no scan of every task)."""
        usage = self.usage.peek(agent)
        return list(usage.app_tasks) if usage is not None else []

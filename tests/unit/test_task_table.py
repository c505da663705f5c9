"""The task table's indexes against a naive scan of every task, after any sequence of writes."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.scheduler.state import TaskState
from engine.scheduler.task_table import TaskTable
from engine.views import app_view, used_of
from tests.unit.factories import app, task

APPS = [app("/a", cpus=0.1, mem=64), app("/b", cpus=0.25, mem=32), app("/c", cpus=1, mem=512)]
AGENTS = ["n1", "n2", "n3"]

write = st.tuples(
    st.sampled_from(["put", "pop", "restate"]), st.integers(0, 11), st.sampled_from(range(len(APPS))),
    st.sampled_from(AGENTS), st.sampled_from([TaskState.STAGING, TaskState.RUNNING, TaskState.KILLING]),
)


@settings(max_examples=300)
@given(st.lists(write, max_size=60))
def test_cached_tuples_and_running_totals_match_a_scan(writes: list) -> None:  # type: ignore[type-arg]
    table = TaskTable()
    seen: dict[str, tuple] = {}  # type: ignore[type-arg]
    for op, n, which, agent, state in writes:
        a = APPS[which]
        tid = f"{a.app_id.strip('/')}.t{n}"
        if op == "put" and tid not in table:
            table.put(task(a, agent, task_id=tid, state=state, ports=(31000 + 100 * which + n,)))  # host ports never repeat on an agent
        elif op == "pop":
            table.pop(tid)
        elif op == "restate" and tid in table:
            table.put(replace(table[tid], state=state))
        for a2 in APPS:
            frozen = table.frozen_of_app(a2.app_id)
            assert sorted(t.task_id for t in frozen) == sorted(
                t.task_id for t in table.values() if t.app_id == a2.app_id)
            assert all(table[t.task_id] is t for t in frozen), "a cached tuple holds a replaced record"
            before = seen.get(a2.app_id)
            if before is not None and before == frozen:
                # an unchanged app hands out the very same tuple (what makes a snapshot cheap)
                assert table.frozen_of_app(a2.app_id) is frozen
            seen[a2.app_id] = frozen
    for agent in AGENTS:
        on = [t for t in table.values() if t.agent == agent]
        used, count, ports = used_of(table.usage.peek(agent))
        assert count == len(on)
        assert ports == sum(len(t.host_ports) for t in on)
        assert abs(used.cpus - sum(t.resources.cpus for t in on)) < 1e-6
        assert abs(used.mem - sum(t.resources.mem for t in on)) < 1e-6


def test_app_view_counts_states_and_health_only_for_apps_with_checks() -> None:
    a = app("/web")
    tasks = (task(a, "n1", task_id="w1"), task(a, "n1", task_id="w2"), task(a, "n2", task_id="w3"),
             task(a, "n2", task_id="w4", state=TaskState.STAGING))
    health = {"w1": True, "w2": False, "w3": None}

    class Defn:
        health_checks = ("http",)

    class NoChecks:
        health_checks = ()

    checked = app_view(Defn(), tasks, health, None, None)  # type: ignore[arg-type]
    assert (checked.running, checked.staged, checked.healthy, checked.unhealthy) == (3, 1, 1, 1)
    unchecked = app_view(NoChecks(), tasks, health, None, None)  # type: ignore[arg-type]
    assert (unchecked.running, unchecked.staged, unchecked.healthy, unchecked.unhealthy) == (3, 1, 0, 0)

"""Priorities and preemption: the higher-priority app goes first, and may stop lower-priority tasks."""

from __future__ import annotations

from dataclasses import replace

from engine.scheduler.reconcile import reconcile
from engine.scheduler.state import TaskState, UpgradePolicy
from tests.unit.factories import agent, app, new_id_factory, task, view


def full_cluster(low_instances: int = 4, m: float = 0.0):  # type: ignore[no-untyped-def]
    low = app("/low", instances=low_instances, cpus=1, upgrade=UpgradePolicy(m, 1.0))
    high = app("/high", instances=2, cpus=1, priority=10)
    agents = [agent("a1", cpus=2), agent("a2", cpus=2)]
    tasks = [task(low, f"a{1 + i % 2}", started=100.0 + i) for i in range(low_instances)]
    return low, high, agents, tasks


def test_higher_priority_app_is_placed_first_when_capacity_is_short() -> None:
    low = app("/a-low", instances=2, cpus=1)
    high = app("/z-high", instances=2, cpus=1, priority=5)
    plan = reconcile(view([low, high], [agent("a1", cpus=2)]), new_id_factory())
    assert [l.task.app_id for l in plan.launches] == ["/z-high", "/z-high"]
    assert plan.waiting["/a-low"].count == 2


def test_without_preemption_the_high_priority_app_waits() -> None:
    low, high, agents, tasks = full_cluster()
    plan = reconcile(view([low, high], agents, tasks), new_id_factory())
    assert not plan.kills and plan.waiting["/high"].count == 2


def test_preemption_stops_youngest_lower_priority_tasks_and_says_so() -> None:
    low, high, agents, tasks = full_cluster()
    plan = reconcile(view([low, high], agents, tasks, preemption=True), new_id_factory())
    assert len(plan.kills) == 2 and {k.task.app_id for k in plan.kills} == {"/low"}
    # On the agent where room is made, the youngest lower-priority tasks go first.
    (agent_name,) = {k.task.agent for k in plan.kills}
    on_agent = sorted((t for t in tasks if t.agent == agent_name), key=lambda t: t.started_at or 0)
    assert {k.task.task_id for k in plan.kills} == {t.task_id for t in on_agent[-2:]}
    assert all(k.reason == "preempted by /high (priority 10 > 0)" for k in plan.kills)
    reason = plan.waiting["/high"].reason
    assert reason.startswith("priority 10: waiting for 2 lower-priority task(s) to stop (2 preempted now)")


def test_no_second_preemption_while_victims_are_stopping() -> None:
    low, high, agents, tasks = full_cluster()
    first = reconcile(view([low, high], agents, tasks, preemption=True), new_id_factory())
    victims = {k.task.task_id for k in first.kills}
    dying = [replace(t, state=TaskState.KILLING) if t.task_id in victims else t for t in tasks]
    second = reconcile(view([low, high], agents, dying, preemption=True, inflight=frozenset(victims)),
                       new_id_factory())
    assert not [k for k in second.kills if k.task.app_id == "/low" and k.reason.startswith("preempted")]
    assert "(0 preempted now)" in second.waiting["/high"].reason


def test_preemption_keeps_minimum_health_capacity_of_the_victim() -> None:
    low, high, agents, tasks = full_cluster(m=0.75)  # keep ceil(4 * 0.75) = 3 of 4 running
    plan = reconcile(view([low, high], agents, tasks, preemption=True), new_id_factory())
    assert len(plan.kills) == 1
    unguarded = reconcile(view([low, high], agents, tasks, preemption=True, preemption_keeps_min_health=False),
                          new_id_factory())
    assert len(unguarded.kills) == 2


def test_equal_priority_is_never_preempted() -> None:
    low, high, agents, tasks = full_cluster()
    same = replace(high, priority=0)
    plan = reconcile(view([low, same], agents, tasks, preemption=True), new_id_factory())
    assert not plan.kills

"""Reconcile: table-driven cases asserting what the plan contains."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.scheduler.reconcile import Vacated, next_backoff, reconcile
from engine.scheduler.state import BackoffPolicy, BackoffState, PortRequest, TaskState, UpgradePolicy
from tests.unit.factories import agent, app, container, new_id_factory, task, view


def run(v):  # type: ignore[no-untyped-def]
    return reconcile(v, new_id_factory())


def test_launches_missing_instances_spread_over_agents() -> None:
    a = app(instances=4)
    plan = run(view([a], [agent("a1"), agent("a2")]))
    assert len(plan.launches) == 4
    assert sorted(l.task.agent for l in plan.launches) == ["a1", "a1", "a2", "a2"]
    assert all(l.task.state == TaskState.STAGING for l in plan.launches)


def test_nothing_to_do_when_converged() -> None:
    a = app(instances=2)
    tasks = [task(a, "a1"), task(a, "a2")]
    plan = run(view([a], [agent("a1"), agent("a2")], tasks))
    assert plan.empty


@pytest.mark.parametrize(
    ("selection", "expected_victims"),
    [("YOUNGEST_FIRST", {"t3", "t2"}), ("OLDEST_FIRST", {"t1", "t2"})],
)
def test_scale_down_uses_kill_selection(selection: str, expected_victims: set[str]) -> None:
    a = app(instances=1, kill_selection=selection)
    tasks = [task(a, "a1", task_id=f"t{i}", started=100.0 * i) for i in (1, 2, 3)]
    plan = run(view([a], [agent("a1")], tasks))
    assert {k.task.task_id for k in plan.kills} == expected_victims
    assert not plan.launches


def test_exited_container_is_a_failure_and_starts_backoff() -> None:
    a = app(instances=1)
    t = task(a, "a1")
    plan = run(view([a], [agent("a1")], [t], observed={"a1": [container(t, "exited", 1)]}))
    assert [(g.state, g.failed, g.exit_code) for g in plan.gone] == [(TaskState.FAILED, True, 1)]
    state = plan.backoff["/web"]
    assert state is not None and state.delay == 1.0 and state.not_before == 1001.0
    # The replacement waits for the delay instead of launching now.
    assert not plan.launches
    assert plan.waiting["/web"].delay_until == 1001.0
    assert plan.next_wakeup == 1001.0


def test_backoff_grows_by_factor_and_caps() -> None:
    s = None
    delays = []
    for i in range(60):  # 1.15**41 > 300
        s = next_backoff(1.0, 1.15, 300.0, s, float(i))
        delays.append(s.delay)
    assert delays[:3] == [1.0, pytest.approx(1.15), pytest.approx(1.3225)]
    assert max(delays) == 300.0


def test_launch_allowed_after_backoff_expires() -> None:
    a = app(instances=1)
    b = BackoffState(delay=2.0, not_before=999.0, last_failure_at=997.0, failures=1)
    plan = run(view([a], [agent("a1")], backoff={"/web": b}))
    assert len(plan.launches) == 1


def test_backoff_forgotten_after_delay_plus_max_launch_delay() -> None:
    a = app(instances=1)
    t = task(a, "a1")
    b = BackoffState(delay=2.0, not_before=10.0, last_failure_at=8.0, failures=3)
    plan = run(view([a], [agent("a1")], [t], backoff={"/web": b}))
    assert plan.backoff == {"/web": None}


def test_killed_container_without_record_failure() -> None:
    a = app(instances=1)
    t = task(a, "a1", state=TaskState.KILLING)
    plan = run(view([a], [agent("a1")], [t], observed={"a1": [container(t, "exited", 143)]}))
    assert [(g.state, g.failed) for g in plan.gone] == [(TaskState.KILLED, False)]
    assert "/web" not in plan.backoff


def test_running_container_without_record_is_adopted() -> None:
    a = app(instances=1)
    t = task(a, "a1")
    plan = run(view([a], [agent("a1")], [], observed={"a1": [container(t)]}))
    assert [r.task_id for r in plan.adopted] == [t.task_id]
    assert not plan.launches and not plan.kills


def test_orphan_of_unknown_app_removed_only_after_grace() -> None:
    other = app("/gone", instances=1)
    t = task(other, "a1")
    obs = {"a1": [container(t)]}
    first = run(view([], [agent("a1")], [], observed=obs, orphan_grace_seconds=30))
    assert not first.removals and first.orphans_seen == {t.container_id: 1000.0}
    assert first.next_wakeup == 1030.0
    later = run(view([], [agent("a1")], [], observed=obs, now=1031.0, orphans_seen=first.orphans_seen,
                     orphan_grace_seconds=30))
    assert [r.container_id for r in later.removals] == [t.container_id]


def test_staging_task_whose_launch_was_interrupted_is_replaced() -> None:
    a = app(instances=1)
    t = task(a, "a1", state=TaskState.STAGING)
    plan = run(view([a], [agent("a1")], [t], observed={"a1": []}))
    assert [g.state for g in plan.gone] == [TaskState.GONE]
    assert len(plan.launches) == 1


def test_inflight_tasks_are_left_alone() -> None:
    a = app(instances=1)
    t = task(a, "a1", state=TaskState.STAGING)
    plan = run(view([a], [agent("a1")], [t], observed={"a1": []}, inflight=frozenset({t.task_id})))
    assert plan.empty


def test_tasks_of_deleted_app_are_killed() -> None:
    a = app(instances=2)
    tasks = [task(a, "a1"), task(a, "a1")]
    plan = run(view([], [agent("a1")], tasks))
    assert len(plan.kills) == 2 and all(k.reason == "app deleted" for k in plan.kills)


def test_unreachable_agent_marks_tasks_and_replaces_after_inactive_window() -> None:
    a = app(instances=1, inactive_after_seconds=10.0, expunge_after_seconds=60.0)
    t = task(a, "a1")
    agents = [agent("a1", reachable=False), agent("a2")]
    plan = run(view([a], agents, [t], observed={"a2": []}))
    assert [u.state for u in plan.updates] == [TaskState.UNREACHABLE]
    assert not plan.launches  # still within inactiveAfterSeconds
    marked = plan.updates[0]
    later = run(view([a], agents, [marked], observed={"a2": []}, now=1011.0))
    assert [l.task.agent for l in later.launches] == ["a2"]
    expunged = run(view([a], agents, [marked], observed={"a2": []}, now=1061.0))
    assert [g.state for g in expunged.gone] == [TaskState.GONE]


def test_agent_back_kills_surplus() -> None:
    a = app(instances=1)
    old = replace(task(a, "a1", started=10.0), state=TaskState.UNREACHABLE, unreachable_since=900.0)
    new = task(a, "a2", started=950.0)
    obs = {"a1": [container(replace(old, state=TaskState.RUNNING))], "a2": [container(new)]}
    plan = run(view([a], [agent("a1"), agent("a2")], [old, new], observed=obs))
    assert [u.state for u in plan.updates] == [TaskState.RUNNING]
    assert len(plan.kills) == 1


def test_waiting_app_explains_each_agent() -> None:
    a = app(instances=1, cpus=8)
    plan = run(view([a], [agent("a1", cpus=2), agent("a2", cpus=4, reachable=False)], observed={"a1": []}))
    w = plan.waiting["/web"]
    assert w.count == 1
    assert w.rejections["a1"].step == "cpus" and "needs 8" in w.rejections["a1"].reason
    assert w.rejections["a2"].reason == "agent unreachable"


def test_host_ports_assigned_from_range_and_never_reused() -> None:
    a = app(instances=3, ports=(PortRequest(8080, 0),))
    existing = task(a, "a1", ports=(31000,))
    b = replace(a, instances=4)
    plan = run(view([b], [agent("a1", port_range=(31000, 31002))], [existing]))
    ports = sorted(p for l in plan.launches for p in l.task.host_ports)
    assert ports == [31001, 31002]
    assert plan.waiting["/web"].rejections["a1"].step == "ports"


@pytest.mark.parametrize(("m", "o", "n"), [(1.0, 0.0, 4), (0.5, 0.0, 4), (1.0, 0.5, 4), (0.0, 0.0, 4), (1.0, 1.0, 3)])
def test_rolling_upgrade_first_round_respects_bounds(m: float, o: float, n: int) -> None:
    import math

    old_app = app(instances=n, version="v1")
    new_app = app(instances=n, version="v2", upgrade=UpgradePolicy(m, o))
    tasks = [task(old_app, f"a{i}") for i in range(n)]
    plan = run(view([new_app], [agent(f"a{i}") for i in range(n)], tasks))
    remaining_old = n - len(plan.kills)
    assert remaining_old >= math.ceil(n * m) or (m == 0 and remaining_old >= 0)
    cap = max(n + math.floor(n * o), math.ceil(n * m) + 1)
    assert remaining_old + len(plan.launches) <= cap
    assert len(plan.launches) + len(plan.kills) > 0, "the upgrade must make progress"


def test_container_of_task_just_killed_is_not_adopted() -> None:
    a = app(instances=1)
    t = task(a, "a1")
    # The record is gone (kill finished) but the observation was taken before the removal.
    plan = run(view([a], [agent("a1")], [], observed={"a1": [container(t)]}, inflight=frozenset({t.task_id})))
    assert not plan.adopted and not plan.removals


def test_draining_agent_tasks_move_new_first() -> None:
    a = app(instances=2, upgrade=UpgradePolicy(1.0, 0.5))
    tasks = [task(a, "a1"), task(a, "a2")]
    agents = [agent("a1", draining=True), agent("a2"), agent("a3")]
    plan = run(view([a], agents, tasks))
    # minimumHealthCapacity 1: nothing is killed before its replacement is healthy.
    assert not plan.kills
    assert [l.task.agent for l in plan.launches] == ["a3"]
    replacement = replace(plan.launches[0].task, state=TaskState.RUNNING, started_at=1000.0)
    done = run(view([a], agents, [*tasks, replacement], health={}))
    assert [k.task.agent for k in done.kills] == ["a1"]
    assert done.kills[0].reason == "moved off draining agent a1"


def test_container_that_died_while_its_agent_was_unreachable_is_gone_not_failed() -> None:
    """A daemon restarted without live-restore stops its containers: an agent failure, not the app's."""
    a = app(instances=1, inactive_after_seconds=3.0)
    lost = replace(task(a, "a1", started=10.0), state=TaskState.UNREACHABLE, unreachable_since=900.0)
    replacement = task(a, "a2", started=950.0)
    obs = {"a1": [container(lost, "exited", 143)], "a2": [container(replacement)]}
    plan = run(view([a], [agent("a1"), agent("a2")], [lost, replacement], observed=obs))
    assert [(g.task.task_id, g.state, g.failed, g.container_id) for g in plan.gone] == [
        (lost.task_id, TaskState.GONE, False, lost.container_id)]
    assert "while agent a1 was unreachable" in plan.gone[0].message
    assert plan.backoff == {} and not plan.launches and not plan.kills
    # Not yet replaced (agent back within inactiveAfterSeconds): relaunched at once, without a launch delay.
    quick = replace(lost, unreachable_since=999.0)
    plan = run(view([a], [agent("a1"), agent("a2")], [quick], observed={"a1": [container(quick, "exited", 143)],
                                                                          "a2": []}))
    assert [g.failed for g in plan.gone] == [False] and plan.backoff == {} and len(plan.launches) == 1


def test_no_wakeup_in_the_past_once_unreachable_tasks_are_inactive() -> None:
    """Past inactiveAfterSeconds the next deadline is the expunge: a past wakeup made the engine loop spin."""
    a = app(instances=1, inactive_after_seconds=10.0, expunge_after_seconds=600.0)
    lost = replace(task(a, "a1"), state=TaskState.UNREACHABLE, unreachable_since=900.0)
    agents = [agent("a1", reachable=False), agent("a2")]
    within = run(view([a], agents, [lost], observed={"a2": []}, now=905.0))
    assert within.next_wakeup == 910.0
    for now in (910.0, 1000.0, 1400.0):
        plan = run(view([a], agents, [lost], observed={"a2": []}, now=now))
        assert plan.next_wakeup == 1500.0, (now, plan.next_wakeup)


async def test_engine_started_while_an_agent_is_down_sees_it_come_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The engine's cached agent view must follow a reconnect: its tasks were UNREACHABLE forever."""
    from engine import Engine
    from engine.agents.sim import SimAgent
    from engine.config import PacerConfig, SchedulerConfig
    from tests.conftest import wait_until

    config = PacerConfig(scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), default_image="img:1",
                                                   cluster_id="down-at-start", reconcile_interval=0.1))
    sims = {name: SimAgent(name, cpus=2, mem_mib=1024) for name in ("s1", "s2")}
    body = {"id": "/web", "cmd": "serve", "cpus": 0.5, "mem": 64, "instances": 2,
            "unreachableStrategy": {"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600}}
    first = Engine(config, drivers=sims)
    await first.start()
    await first.create_app(body)
    await wait_until(lambda: first.converged("/web"), 5, message="running")
    await first.stop()
    sims["s1"].reachable = False
    second = Engine(config, drivers=sims)
    await second.start()
    try:
        await wait_until(lambda: any(t.state == TaskState.UNREACHABLE for t in second.tasks_of("/web")), 5,
                         message="the task on the down agent unreachable")
        sims["s1"].reachable = True
        await wait_until(lambda: all(t.state == TaskState.RUNNING for t in second.tasks_of("/web")), 5,
                         message="the agent back and its task running again")
    finally:
        await second.stop()


@pytest.mark.parametrize(("message", "requested", "held"), [
    ("driver failed programming external connectivity on endpoint pacer.web.1 (ab12): Error starting userland "
     "proxy: listen tcp4 0.0.0.0:31001: bind: address already in use", (31000, 31001), {31001}),
    ("Bind for 0.0.0.0:31000 failed: port is already allocated", (31000,), {31000}),
    ("address already in use", (31000, 31002), {31000, 31002}),  # no port named: all of them
    ("no such image: busybox:latest", (31000,), set()),
    ("Bind for 0.0.0.0:31000 failed: port is already allocated", (), set()),
])
def test_ports_a_failed_start_says_are_held(message: str, requested: tuple[int, ...], held: set[int]) -> None:
    """A port held outside docker is kept out of placement; else every retry picked the same lowest port."""
    from engine.agents.docker_agent import ports_held

    assert ports_held(message, requested) == held


def test_interrupted_launch_waits_for_a_late_container_before_replacing() -> None:
    a = app(instances=1)
    t = task(a, "a1", state=TaskState.STAGING, started=995.0)
    plan = run(view([a], [agent("a1")], [t], observed={"a1": []}))
    assert not plan.gone and not plan.launches, "the create may still land: no twin yet"
    assert plan.next_wakeup == 1005.0
    late = run(view([a], [agent("a1")], [t], observed={"a1": [container(t)]}, now=1002.0))
    assert [u.state for u in late.updates] == [TaskState.RUNNING] and not late.launches


def test_a_failed_task_is_replaced_by_the_next_attempt_of_its_instance() -> None:
    a = app(instances=2, backoff=BackoffPolicy(backoff_seconds=0))
    crashed = task(a, "a1", task_id="web.instance-u1._app.1")
    fine = task(a, "a1", task_id="web.instance-u2._app.1")
    obs = {"a1": [container(crashed, "exited", 1), container(fine)]}
    plan = run(view([a], [agent("a1")], [crashed, fine], observed=obs))
    assert [l.task.task_id for l in plan.launches] == ["web.instance-u1._app.2"], "same instance, next attempt"
    assert plan.relaunch["/web"] == ()


def test_an_instance_waits_through_backoff_for_its_next_attempt() -> None:
    a = app(instances=1)
    crashed = task(a, "a1", task_id="web.instance-u1._app.3")
    plan = run(view([a], [agent("a1")], [crashed], observed={"a1": [container(crashed, "exited", 1)]}))
    assert not plan.launches and plan.relaunch["/web"] == (Vacated("web.instance-u1._app.3", "v1"),)
    later = run(view([a], [agent("a1")], now=1002.0, relaunch=plan.relaunch))
    assert [l.task.task_id for l in later.launches] == ["web.instance-u1._app.4"]
    assert later.relaunch["/web"] == ()


def test_scale_down_kills_and_new_versions_start_new_instances() -> None:
    a = app(instances=1)
    stale = Vacated("web.instance-old._app.1", "v0")  # failed under an earlier version
    plan = run(view([a], [agent("a1")], relaunch={"/web": (stale,)}))
    assert [l.task.task_id for l in plan.launches] == ["web.instance-new1._app.1"]
    a2 = app(instances=2)
    t1, t2, t3 = (task(a2, "a1", task_id=f"web.instance-k{i}._app.1", started=100.0 * i) for i in (1, 2, 3))
    plan = run(view([a2], [agent("a1")], [t1, t2, t3]))
    assert [k.task.task_id for k in plan.kills] == ["web.instance-k3._app.1"]
    assert plan.relaunch.get("/web", ()) == (), "an instance stopped on purpose is not restarted"


def test_pause_point_is_called_between_apps_and_changes_nothing() -> None:
    apps = [app(f"/a{i}", instances=2) for i in range(5)]
    agents = [agent("a1"), agent("a2")]
    calls: list[int] = []
    with_pauses = reconcile(view(apps, agents), new_id_factory(), between_apps=lambda: calls.append(1))
    without = reconcile(view(apps, agents), new_id_factory())
    assert len(calls) == len(apps)
    assert [(l.task.task_id, l.task.agent) for l in with_pauses.launches] == \
        [(l.task.task_id, l.task.agent) for l in without.launches]


def test_a_container_being_removed_is_neither_adopted_nor_removed_again() -> None:
    a = app(instances=1)
    leftover = task(a, "a1")
    # Its removal is under way; a start the previous engine sent may have landed, so the listing says running.
    plan = run(view([a], [agent("a1")], [], observed={"a1": [container(leftover)]},
                    removing=frozenset({leftover.container_id})))
    assert not plan.adopted and not plan.removals
    assert len(plan.launches) == 1, "the instance it would have been is launched anew"


def test_a_created_container_of_an_interrupted_launch_is_removed_and_replaced_at_once() -> None:
    a = app(instances=1)
    t = task(a, "a1", state=TaskState.STAGING, started=999.0)
    plan = run(view([a], [agent("a1")], [t], observed={"a1": [container(t, "created")]}))
    assert [g.message for g in plan.gone] == ["container created but never started"]
    assert [r.container_id for r in plan.removals] == [t.container_id] and len(plan.launches) == 1
    # The next listing, taken while the removal runs, may show it started: it is not adopted.
    later = run(view([a], [agent("a1")], [plan.launches[0].task], observed={"a1": [container(t)]}, now=1001.0,
                     inflight=frozenset({plan.launches[0].task.task_id}), removing=frozenset({t.container_id})))
    assert later.empty


def test_an_app_held_for_its_dependencies_launches_and_replaces_nothing() -> None:
    web = app("/web", instances=2)
    old = task(web, "a1", config_version="v0")
    plan = run(view([web], [agent("a1")], [old], held={"/web": "waiting for /db to be deployed first"}))
    assert not plan.launches and not plan.kills, "its upgrade waits too: the old task keeps serving"
    assert plan.waiting["/web"].reason == "waiting for /db to be deployed first"
    assert plan.waiting["/web"].count == 2
    assert len(run(view([web], [agent("a1")], [old])).launches) > 0, "without the hold it would upgrade"

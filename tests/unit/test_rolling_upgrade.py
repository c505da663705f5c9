"""Rolling upgrades, simulated round by round: the health and capacity bounds hold at every step."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.scheduler.reconcile import reconcile
from engine.scheduler.state import TaskRecord, TaskState, UpgradePolicy
from tests.unit.factories import agent, app, container, new_id_factory, task, view


def simulate(n: int, m: float, o: float, rounds: int = 60) -> list[tuple[int, int]]:
    """Upgrade n healthy v1 tasks to v2; return (healthy, existing) sampled after every round."""
    old = app(instances=n, version="v1", cpus=0.1)
    new = app(instances=n, version="v2", cpus=0.1, upgrade=UpgradePolicy(m, o), has_health_checks=True)
    agents = [agent(f"a{i}", cpus=64) for i in range(3)]
    tasks: dict[str, TaskRecord] = {}
    for i in range(n):
        t = task(old, f"a{i % 3}")
        tasks[t.task_id] = t
    healthy: dict[str, bool | None] = {t: True for t in tasks}
    ids = new_id_factory()
    samples = []
    for _ in range(rounds):
        observed: dict[str, list] = {a.name: [] for a in agents}  # type: ignore[type-arg]
        for t in tasks.values():
            if t.state == TaskState.KILLING:
                observed[t.agent].append(container(t, "exited", 143))  # kills finish by the next round
            elif t.state == TaskState.STAGING:
                started = replace(t, container_id=f"c-{t.task_id}", started_at=1.0)
                observed[t.agent].append(container(started))  # launches are running by the next round
            else:
                observed[t.agent].append(container(t))
        plan = reconcile(view([new], agents, list(tasks.values()), observed=observed, health=healthy), ids)
        for g in plan.gone:
            tasks.pop(g.task.task_id)
        for u in plan.updates:
            tasks[u.task_id] = u
            healthy[u.task_id] = u.state == TaskState.RUNNING  # healthy once running
        for k in plan.kills:
            tasks[k.task.task_id] = replace(tasks[k.task.task_id], state=TaskState.KILLING)
            healthy[k.task.task_id] = False
        for launch in plan.launches:
            tasks[launch.task.task_id] = launch.task
        live_healthy = sum(1 for t in tasks.values() if t.state == TaskState.RUNNING and healthy.get(t.task_id))
        samples.append((live_healthy, len(tasks)))
        if len(tasks) == n and all(t.version == "v2" and t.state == TaskState.RUNNING for t in tasks.values()):
            return samples
    raise AssertionError(f"no convergence for n={n} m={m} o={o}: {samples}")


def bounds(n: int, m: float, o: float) -> tuple[int, int]:
    min_healthy = math.ceil(n * m)
    cap = n + math.floor(n * o)
    if cap <= min_healthy:
        cap = min_healthy + 1  # Marathon's one extra instance, or a 1.0/0.0 upgrade could never move
    return min_healthy, cap


def test_issue_cases_for_four_instances() -> None:
    for m, o in [(1.0, 0.0), (0.5, 0.0), (1.0, 0.5), (0.0, 0.0)]:
        min_healthy, cap = bounds(4, m, o)
        for healthy_now, existing in simulate(4, m, o):
            assert healthy_now >= min_healthy, (m, o)
            assert existing <= cap, (m, o)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 8), m=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]),
       o=st.sampled_from([0.0, 0.25, 0.5, 1.0]))
def test_bounds_hold_and_upgrade_converges(n: int, m: float, o: float) -> None:
    min_healthy, cap = bounds(n, m, o)
    for healthy_now, existing in simulate(n, m, o):
        assert healthy_now >= min_healthy
        assert existing <= cap

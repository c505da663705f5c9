"""Scale scenarios on simulated agents: the real engine, store and placement; only containers are simulated.

Each scenario returns a dict of figures, with a baseline measured in the same run where one exists.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import tempfile
import time
from typing import Any

from bench.sim_cluster import app_json, engine_for, sim_agents
from engine.model import parse_app
from engine.scheduler.placement import ClusterUsage, place
from engine.scheduler.reconcile import ClusterView, reconcile
from engine.scheduler.state import AgentState, Resources
from engine.specs import desired_app


def _agent_states(agents: dict[str, Any]) -> list[AgentState]:
    return [
        AgentState(name=a.name, capacity=Resources(a.capacity.cpus, a.capacity.mem_mib, 0),
                   hostname=a.capacity.hostname, attributes=dict(a.capacity.attributes))
        for a in agents.values()
    ]


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _end_to_end(agents: dict[str, Any], apps: int, instances: int) -> tuple[float, Any]:
    """Validated app JSON to stored, placed task (launch records committed by the first round)."""
    engine = engine_for(agents)
    await engine.start()
    started = time.perf_counter()
    for i in range(apps):
        await engine.create_app(app_json(i, instances))
    await engine.reconcile_once()
    elapsed = time.perf_counter() - started
    placed = len(engine.tasks)
    waiting = sum(w.count for w in engine.waiting.values())
    await engine.stop()
    return elapsed, (placed, waiting)


def placement(agents: int = 10_000, apps: int = 1_000, instances: int = 100, naive_sample: int = 2_000) -> dict[str, Any]:
    cluster = sim_agents(agents)
    elapsed, (placed, waiting) = asyncio.run(_end_to_end(cluster, apps, instances))
    states = _agent_states(cluster)
    desired = [desired_app(parse_app(app_json(i, instances))) for i in range(apps)]
    gc.collect()
    usage = ClusterUsage()
    started = time.perf_counter()
    pure_placed = 0
    for app in desired:
        pure_placed += len(place(app, app.instances, states, usage).placements)
    pure = time.perf_counter() - started
    # Naive baseline: scan every agent for every task (no candidate limit), on a sample of tasks.
    usage = ClusterUsage()
    started = time.perf_counter()
    naive_placed = 0
    for app in desired:
        if naive_placed >= naive_sample:
            break
        naive_placed += len(place(app, app.instances, states, usage, limit=len(states)).placements)
    naive = time.perf_counter() - started
    return {
        "scenario": f"place {apps} apps x {instances} on {agents} sim agents, constraint mix",
        "tasks_placed_end_to_end": placed,
        "tasks_waiting": waiting,
        "end_to_end_per_second": placed / elapsed,
        "goal_end_to_end_per_second": 2_000,
        "placement_only_per_second": pure_placed / pure,
        "goal_placement_only_per_second": 10_000,
        "naive_scan_all_per_second": naive_placed / naive,
        "placement_vs_naive": (pure_placed / pure) / (naive_placed / naive),
    }


async def _growth_point(agents: int, tasks: int, samples: int) -> dict[str, float]:
    apps = max(1, tasks // 100)
    cluster = sim_agents(agents)
    engine = engine_for(cluster)
    await engine.start()
    try:
        for i in range(apps):
            await engine.create_app(app_json(i, tasks // apps, constrained=False))
        await engine.reconcile_once()
        await asyncio.sleep(0.2)  # let every simulated launch report back
        await engine.reconcile_once()
        change_times = []
        for k in range(samples):
            app_id = f"/bench/app-{random.randrange(apps):05d}"
            current = engine.get_app(app_id).instances
            started = time.perf_counter()
            # An operator's scale by one, through the same path as the API, then the round it triggers.
            await engine.scale(app_id, current + (1 if k % 2 == 0 else -1), force=True)
            await engine.reconcile_once(full=False)
            change_times.append(time.perf_counter() - started)
        observed = {name: await agent.list_containers("bench") for name, agent in cluster.items()}
        view = ClusterView(now=time.time(), apps=engine._registry.desired, tasks=engine._ledger.tasks,
                           agents=engine._agents.states(), observed=observed, usage=engine._ledger.tasks.usage)
        full_times = []
        for _ in range(3):
            started = time.perf_counter()
            reconcile(view, lambda app_id: "unused")
            full_times.append(time.perf_counter() - started)
    finally:
        await engine.stop()
    return {"one_app_change_seconds": statistics.median(change_times), "full_reconcile_seconds": min(full_times)}


def growth(sizes: tuple[tuple[int, int], ...] = ((100, 1_000), (1_000, 10_000), (10_000, 100_000)),
           samples: int = 20) -> dict[str, Any]:
    result: dict[str, Any] = {"scenario": "cost of one app's change and of a full reconcile as the cluster grows"}
    changes = []
    for agents, tasks in sizes:
        point = asyncio.run(_growth_point(agents, tasks, samples))
        changes.append(point["one_app_change_seconds"])
        result[f"change_one_app_s@{agents}a/{tasks}t"] = point["one_app_change_seconds"]
        result[f"full_reconcile_s@{agents}a/{tasks}t"] = point["full_reconcile_seconds"]
    result["change_cost_largest_over_smallest"] = max(changes) / min(changes)
    result["goal_change_cost_ratio"] = 2.0
    result["goal_full_reconcile_100k_seconds"] = 0.5
    return result


async def _restart(agents: int, tasks: int) -> dict[str, Any]:
    cluster = sim_agents(agents)
    state_dir = tempfile.mkdtemp(prefix="pacer-bench-restart-")
    first = engine_for(cluster, state_dir)
    await first.start()
    apps = tasks // 100
    for i in range(apps):
        await first.create_app(app_json(i, 100, constrained=False))
    await first.reconcile_once()
    await asyncio.sleep(0.2)
    await first.reconcile_once()
    launches_before = sum(a.launch_count for a in cluster.values())
    await first.stop()
    gc.collect()
    started = time.perf_counter()
    second = engine_for(cluster, state_dir)
    await second.start()
    plan = await second.reconcile_once()
    elapsed = time.perf_counter() - started
    relaunched = sum(a.launch_count for a in cluster.values()) - launches_before
    result = {
        "scenario": f"restart an engine holding {len(second.tasks)} tasks on {agents} sim agents",
        "restart_to_converged_seconds": elapsed,
        "goal_seconds": 5.0,
        "tasks_relaunched": relaunched + len(plan.launches),
        "tasks_killed": len(plan.kills),
    }
    await second.stop()
    return result


def restart(agents: int = 10_000, tasks: int = 100_000) -> dict[str, Any]:
    return asyncio.run(_restart(agents, tasks))


async def _memory(agents: int, tasks: int) -> dict[str, Any]:
    gc.collect()
    before = _rss_mb()
    cluster = sim_agents(agents)
    engine = engine_for(cluster)
    await engine.start()
    for i in range(tasks // 100):
        await engine.create_app(app_json(i, 100, constrained=False))
    await engine.reconcile_once()
    await asyncio.sleep(0.2)
    await engine.reconcile_once()
    gc.collect()
    after = _rss_mb()
    result = {
        "scenario": f"engine memory with {agents} sim agents and {len(engine.tasks)} tasks",
        "process_rss_mb": after,
        "rss_growth_mb": after - before,
        "goal_rss_mb": 500,
    }
    await engine.stop()
    return result


def memory(agents: int = 10_000, tasks: int = 100_000) -> dict[str, Any]:
    return asyncio.run(_memory(agents, tasks))

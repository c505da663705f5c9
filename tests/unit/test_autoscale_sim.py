"""Autoscaling end to end on simulated agents: synthetic load in, scale deployments and events out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from engine import AppValidationError, Engine
from engine.agents.sim import SimAgent, SimLoad
from engine.config import PacerConfig, SchedulerConfig
from engine.events import Event, Subscription
from engine.model.autoscale_labels import AutoscalePolicy
from tests.conftest import wait_until


def sim_config(tmp_path: Path) -> PacerConfig:
    return PacerConfig(scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), default_image="busybox:latest",
                                                 cluster_id="autoscale", reconcile_interval=0.2,
                                                 orphan_grace_seconds=0.5))


def app(app_id: str, policy: AutoscalePolicy, *, instances: int = 1, mem: float = 100, cpus: float = 0.5,
        **labels: str) -> dict[str, Any]:
    return {"id": app_id, "cmd": "serve", "cpus": cpus, "mem": mem, "instances": instances,
            "container": {"type": "DOCKER", "docker": {"image": "img:1"}},
            "labels": {**policy.to_labels(), **labels}}


FAST: dict[str, Any] = {"step": 2, "cooldown": 0.6, "window": 0.3, "interval": 0.1}


@pytest.fixture
def load() -> SimLoad:
    return SimLoad()


@pytest.fixture
def agents(load: SimLoad) -> dict[str, SimAgent]:
    return {f"s{i}": SimAgent(f"s{i}", cpus=8, mem_mib=4096, load=load) for i in (1, 2, 3)}


@pytest.fixture
async def engine(tmp_path: Path, agents: dict[str, SimAgent]) -> AsyncIterator[Engine]:
    e = Engine(sim_config(tmp_path), drivers=agents)
    await e.start()
    yield e
    await e.stop()


def drain(sub: Subscription) -> list[Event]:
    out = []
    while not sub.queue.empty():
        item = sub.queue.get_nowait()
        if item is not None:
            out.append(item)
    return out


async def test_memory_policy_follows_demand_up_and_back_down(engine: Engine, load: SimLoad) -> None:
    sub = engine.subscribe(event_types=frozenset({"pacer_autoscale"}))
    policy = AutoscalePolicy("memory", 50, 1, 8, **FAST)
    await engine.create_app(app("/mem", policy))
    await wait_until(lambda: engine.converged("/mem") and not engine.deployments, 5, message="deployed")

    # 250 MiB over 100 MiB tasks at a 50 % target: ceil(250 / 50) = 5 tasks
    load.set("/mem", mem_mib=250)
    t0 = time.monotonic()
    await wait_until(lambda: engine.get_app("/mem").instances == 5 and engine.converged("/mem"), 15,
                     message="scaled up to 5")
    up_seconds = time.monotonic() - t0
    # it stays there: nothing more over a few windows and cooldowns
    await asyncio.sleep(2.0)
    assert engine.get_app("/mem").instances == 5
    ups = drain(sub)
    assert [(e.fields["from"], e.fields["to"]) for e in ups] == [(1, 3), (3, 5)] or \
        [(e.fields["from"], e.fields["to"]) for e in ups] == [(1, 2), (2, 4), (4, 5)], ups
    first = ups[0].fields
    assert first["appId"] == "/mem" and first["metric"] == "memory" and first["target"] == 50
    assert first["measured"] == pytest.approx(100.0) and "target 50%" in first["reason"]
    assert first["deploymentId"]

    load.set("/mem", mem_mib=20)
    t1 = time.monotonic()
    await wait_until(lambda: engine.get_app("/mem").instances == 1 and engine.converged("/mem"), 15,
                     message="back to min")
    down_seconds = time.monotonic() - t1
    downs = drain(sub)
    assert [(e.fields["from"], e.fields["to"]) for e in downs] == [(5, 3), (3, 1)], downs
    assert all(e.fields["measured"] < 45 for e in downs)
    assert up_seconds < 10 and down_seconds < 10

    status = engine.autoscaler.status("/mem")
    assert status is not None
    assert status["policy"]["metric"] == "memory" and status["instances"] == 1
    assert [(r["from"], r["to"]) for r in status["recent"]][-2:] == [(5, 3), (3, 1)]
    assert status["nextPossibleAt"] is not None and status["lastDecision"] is not None
    assert engine.autoscaler.summary("/mem") is not None
    sub.close()


async def test_decisions_use_the_operators_deployment_path(engine: Engine, load: SimLoad) -> None:
    policy = AutoscalePolicy("cpu", 50, 1, 4, **FAST)
    await engine.create_app(app("/cpu", policy, cpus=0.5))
    await wait_until(lambda: engine.converged("/cpu") and not engine.deployments, 5, message="deployed")
    seen: list[Any] = []
    sub = engine.subscribe(event_types=frozenset({"deployment_info", "pacer_autoscale"}))
    load.set("/cpu", cpus=0.9)  # 0.9 cores over 0.5-core tasks at 50 %: 4 tasks (0.225 each = 45 %)
    await wait_until(lambda: engine.get_app("/cpu").instances == 4 and engine.converged("/cpu"), 15,
                     message="scaled to 4")
    seen = drain(sub)
    infos = [e for e in seen if e.event_type == "deployment_info"]
    scales = [e for e in seen if e.event_type == "pacer_autoscale"]
    assert scales and len(infos) == len(scales)
    assert all(e.fields["plan"]["steps"][0]["actions"][0]["action"] == "ScaleApplication" for e in infos)
    assert {e.fields["deploymentId"] for e in scales} == {e.fields["plan"]["id"] for e in infos}
    # labels survive every scale: the policy round-trips
    assert engine.get_app("/cpu").labels == app("/cpu", policy)["labels"]
    sub.close()


async def test_an_operator_scale_starts_a_cooldown_and_bounds_are_enforced(engine: Engine, load: SimLoad) -> None:
    policy = AutoscalePolicy("memory", 50, 2, 3, step=1, cooldown=1.0, window=0.3, interval=0.1)
    await engine.create_app(app("/b", policy, instances=1))
    # below min: brought up to min without load, once the cooldown after the creation is over
    await wait_until(lambda: engine.get_app("/b").instances == 2 and engine.converged("/b"), 10, message="min")
    await engine.scale("/b", 6)  # the operator goes beyond max: after the cooldown, back to max
    scaled_at = time.monotonic()
    await wait_until(lambda: engine.get_app("/b").instances == 3, 10, message="max")
    assert time.monotonic() - scaled_at >= 0.9


async def test_a_deployment_in_progress_is_never_forced(engine: Engine, load: SimLoad,
                                                        agents: dict[str, SimAgent]) -> None:
    for a in agents.values():
        a.launch_delay = 1.5
    policy = AutoscalePolicy("memory", 50, 1, 4, step=1, cooldown=0.0, window=0.2, interval=0.1)
    sub = engine.subscribe(event_types=frozenset({"deployment_failed", "deployment_success"}))
    dep = await engine.create_app(app("/slow", policy, instances=1))
    load.set("/slow", mem_mib=400)
    await wait_until(lambda: engine.get_app("/slow").instances > 1, 15, message="scaled once")
    # the creation deployment was not replaced: it finished by itself first
    events = drain(sub)
    assert [e.event_type for e in events][:1] == ["deployment_success"]
    assert events[0].fields["id"] == dep.id
    assert not [e for e in events if e.event_type == "deployment_failed"]
    sub.close()
    status = engine.autoscaler.status("/slow")
    assert status is not None and status["recent"][0]["from"] == 1


async def test_bad_policy_is_refused_and_none_is_not_scaled(engine: Engine, load: SimLoad) -> None:
    body = app("/x", AutoscalePolicy("cpu", 50, 1, 3))
    body["labels"]["pacer.autoscale.target"] = "fast"
    with pytest.raises(AppValidationError) as info:
        await engine.create_app(body)
    assert [e.path for e in info.value.errors] == ["/labels/pacer.autoscale.target"]
    plain = app("/plain", AutoscalePolicy("cpu", 50, 1, 3))
    plain["labels"] = {}
    await engine.create_app(plain)
    load.set("/plain", cpus=5)
    await wait_until(lambda: engine.converged("/plain"), 5, message="deployed")
    assert engine.autoscaler.status("/plain") is None


async def test_many_apps_at_scale(tmp_path: Path) -> None:
    """60 apps with cpu policies on 6 sim agents: each settles at ceil(demand / target), in few changes."""
    load = SimLoad()
    drivers = {f"n{i}": SimAgent(f"n{i}", cpus=64, mem_mib=65536, load=load) for i in range(6)}
    e = Engine(sim_config(tmp_path), drivers=drivers)
    await e.start()
    try:
        sub = e.subscribe(event_types=frozenset({"pacer_autoscale"}), maxsize=100_000)
        policy = AutoscalePolicy("cpu", 50, 1, 10, step=3, cooldown=0.5, window=0.3, interval=0.2, tolerance=0)
        want = {}
        for i in range(60):
            app_id = f"/fleet/a{i:02d}"
            await e.create_app(app(app_id, policy, cpus=0.2, mem=32))
            demand = 0.1 * (i % 10) + 0.05  # cores: 0.05 .. 0.95 -> tasks of 0.2 cores at 50 %: 1 .. 10
            load.set(app_id, cpus=demand)
            want[app_id] = i % 10 + 1
        await wait_until(lambda: all(e.get_app(a).instances == n for a, n in want.items())
                         and all(e.converged(a) for a in want), 60, interval=0.3,
                         message="every app at its size")
        events = drain(sub)
        per_app: dict[str, int] = {}
        for ev in events:
            per_app[ev.fields["appId"]] = per_app.get(ev.fields["appId"], 0) + 1
            assert ev.fields["to"] > ev.fields["from"], "only up: demand never fell"
        assert all(per_app.get(a, 0) <= 9 for a in want)
        assert len(e.tasks) == sum(want.values())
        sub.close()
    finally:
        await e.stop()


async def test_a_big_app_is_estimated_from_a_subset(engine: Engine, load: SimLoad) -> None:
    policy = AutoscalePolicy("cpu", 50, 30, 40, step=1, cooldown=60, window=0.2, interval=0.1)
    await engine.create_app(app("/big", policy, instances=30, cpus=0.1, mem=16))
    load.set("/big", cpus=1.5)  # 0.05 cores a task: 50 %
    await wait_until(lambda: engine.converged("/big"), 10, message="30 running")
    await wait_until(lambda: (engine.autoscaler.status("/big") or {}).get("tasksMeasured") is not None, 5,
                     message="measured")
    status = engine.autoscaler.status("/big")
    assert status is not None and status["tasksMeasured"] == 20
    assert status["measured"] == pytest.approx(50, abs=1) and status["lastError"] is None

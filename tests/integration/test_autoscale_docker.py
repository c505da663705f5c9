"""Autoscaling on a real dockerd: a CPU-burning busybox app scales up under load and back down after it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from engine import Engine
from engine.api.event_json import event_json
from engine.events import EngineEvent
from tests.conftest import wait_until

pytestmark = pytest.mark.docker

SAMPLES = Path(__file__).resolve().parents[2] / "sample_apps"
APP = "/cpu-burner"


def burner(**labels: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((SAMPLES / "cpu-burner.json").read_text())
    body["labels"].update({f"pacer.autoscale.{k}": v for k, v in labels.items()})
    return body


def containers(client: Any, cluster_id: str) -> list[Any]:
    return list(client.containers.list(filters={"label": [f"pacer.cluster={cluster_id}", f"pacer.app={APP}"],
                                               "status": "running"}))


def exec_all(client: Any, cluster_id: str, command: str, done: set[str] | None = None) -> None:
    for c in containers(client, cluster_id):
        if done is not None and c.id in done:
            continue
        try:
            c.exec_run(["/bin/sh", "-c", command])
        except Exception:  # noqa: BLE001 - a container that just stopped is fine
            continue
        if done is not None:
            done.add(c.id)


async def test_cpu_burner_scales_up_under_load_and_back_down(docker_engine: Engine, docker_client: Any,
                                                               cluster_id: str) -> None:
    started = time.monotonic()
    engine = docker_engine
    events: list[EngineEvent] = []
    sub = engine.subscribe(event_types=frozenset({"pacer_autoscale"}))

    async def collect() -> None:
        async for event in sub:
            events.append(event)

    collector = asyncio.create_task(collect())
    await engine.create_app(burner(interval="1", window="4", cooldown="5"))
    await wait_until(lambda: engine.converged(APP), 30, message="one idle burner running")
    # idle: nothing happens over a few windows
    await asyncio.sleep(6)
    assert engine.get_app(APP).instances == 1 and not events
    idle = engine.autoscale_status(APP)
    assert idle is not None and idle["measured"] is not None and idle["measured"] < 45, idle

    # load: every running instance burns its whole 0.1 cpu, new ones as soon as they run
    burning: set[str] = set()
    stop_burning = asyncio.Event()

    async def burn() -> None:
        while not stop_burning.is_set():
            await asyncio.to_thread(exec_all, docker_client, cluster_id, "touch /tmp/burn", burning)
            await asyncio.sleep(0.5)

    burner_task = asyncio.create_task(burn())
    t_load = time.monotonic()
    await wait_until(lambda: engine.get_app(APP).instances == 3 and engine.converged(APP), 60, interval=0.2,
                     message="scaled up to max 3 under load")
    up_seconds = time.monotonic() - t_load
    stop_burning.set()
    await burner_task
    t_quiet = time.monotonic()
    await asyncio.to_thread(exec_all, docker_client, cluster_id, "rm -f /tmp/burn")
    await wait_until(lambda: engine.get_app(APP).instances == 1 and engine.converged(APP), 60, interval=0.2,
                     message="back down to min 1 after the load")
    down_seconds = time.monotonic() - t_quiet
    await asyncio.sleep(3)  # no flapping after it settled
    sub.close()
    collector.cancel()

    moves = [(event_json(e)["from"], event_json(e)["to"]) for e in events]
    assert moves == [(1, 2), (2, 3), (3, 2), (2, 1)], moves
    assert len(events) <= 4
    for e in events:
        assert event_json(e)["appId"] == APP and event_json(e)["metric"] == "cpu" and event_json(e)["target"] == 50
        up = event_json(e)["to"] > event_json(e)["from"]
        assert (event_json(e)["measured"] > 55) if up else (event_json(e)["measured"] < 45), event_json(e)
    stamps = [e.timestamp for e in events]
    assert all(b - a >= 5 - 0.05 for a, b in zip(stamps, stamps[1:])), "cooldown between changes"
    status = engine.autoscale_status(APP)
    assert status is not None and [(r["from"], r["to"]) for r in status["recent"]] == moves
    total = time.monotonic() - started
    print(f"\nautoscale docker: up 1->3 in {up_seconds:.1f} s, down 3->1 in {down_seconds:.1f} s, "
          f"{len(events)} scale events, test {total:.1f} s")
    assert up_seconds < 45 and down_seconds < 45

"""The console under load, headless: a sim cluster of `agents` agents running `tasks` tasks.

While it runs, 1% of the tasks change state every 100 ms (their containers
crash and are replaced) and the console follows one app's logs at 1,000 lines
a second. Measured:

- time to first full render: from starting the console (engine already running)
  to the first frame that shows every app;
- key-press-to-screen delay: from a key event entering the driver to the first
  frame, rendered to terminal bytes, that shows its effect (cursor moves, `+`/`-`
  on the selected app, tab between panes), p50/p99/max over the run;
- memory: resident size before and after the console ran, and the peak;
- what the console kept up with: events, log lines, frames per second;
- the share of the run the engine thread stood aside for the console (tui/console_turn.py), while the
  engine still had to keep up with the churn and the log stream (the rates above show it did);
- full garbage collections while keys were being pressed (the console defers them to pauses in the
  typing, at most 30 s; see tui/collector.py) and the longest one.

The key loop presses a key about every 70-100 ms for `seconds`; at the full size (20 s) that is over 200
presses, so the p99 is a real percentile, not the slowest press.

    python -c "from bench.console import run; print(run(agents=1000, tasks=10000, seconds=5))"
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from engine import Engine, TaskState
from engine.agents.sim import SimAgent
from engine.config import PacerConfig, SchedulerConfig

CHURN_FRACTION = 0.01
CHURN_PERIOD = 0.1
LOG_LINES_PER_SECOND = 1_000
TASKS_PER_APP = 50
FOLLOWED_APP = "/bench/app-0000"


class _ChattyAgent(SimAgent):
    """A sim agent whose followed containers print at a fixed rate, catching up after a busy loop."""

    lines_per_second = 20.0
    produced = 0

    async def follow_logs(self, container_id: str, tail: int) -> AsyncIterator[str]:
        c = self._containers.get(container_id)
        if c is None:
            return
        started, n = time.monotonic(), 0
        while self._containers.get(container_id) is c and c.observed.state == "running":
            await asyncio.sleep(0.02)
            owed = int((time.monotonic() - started) * self.lines_per_second) - n
            for _ in range(owed):
                n += 1
                _ChattyAgent.produced += 1
                yield f"{c.spec.task_id} GET /orders/{n} 200 0.{n % 997:03d}s"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


@dataclass
class _Probe:
    started: float
    done: Callable[[], bool]
    finished: float | None = None
    cpu_started: float = 0.0
    cpu: float | None = None
    """CPU time the console's thread spent between the key and its frame (the rest was waiting for a CPU/GIL)."""


def run(agents: int = 1000, tasks: int = 10_000, seconds: float = 5.0, size: tuple[int, int] = (120, 40)) -> dict[str, Any]:
    apps = max(1, tasks // TASKS_PER_APP)
    per_app = max(1, tasks // apps)
    folder = tempfile.mkdtemp(prefix="pacer-bench-console-")
    drivers = {f"a{i:04d}": _ChattyAgent(f"a{i:04d}", cpus=64, mem_mib=262_144) for i in range(agents)}
    _ChattyAgent.lines_per_second = LOG_LINES_PER_SECOND / per_app
    config = PacerConfig(scheduler=SchedulerConfig(
        state=str(Path(folder) / "state.db"), default_image="busybox:latest", reconcile_interval=1.0,
        cluster_id="bench-console"))
    engine = Engine(config, drivers=drivers)

    from tui.engine_host import EngineHost

    host = EngineHost(engine)
    setup_started = time.perf_counter()
    host.start_blocking()
    try:
        async def create() -> None:
            for i in range(apps):
                await engine.create_app({"id": f"/bench/app-{i:04d}", "cmd": "serve", "cpus": 0.01, "mem": 8,
                                         "instances": per_app, "backoffSeconds": 0, "maxLaunchDelaySeconds": 1})

        host.submit(create()).result()
        deadline = time.monotonic() + 600
        while host.submit(_count_running(engine)).result() < apps * per_app:
            if time.monotonic() > deadline:
                raise RuntimeError("the sim cluster did not start its tasks within 600 s")
            time.sleep(0.5)
        setup_seconds = time.perf_counter() - setup_started
        rss_before = _rss_mb()
        figures = asyncio.run(_drive(engine, host, drivers, apps, seconds, size, folder))
    finally:
        host.stop_blocking()
    figures.update({
        "agents": agents, "tasks": apps * per_app, "apps": apps, "seconds": seconds,
        "setup_seconds": setup_seconds, "rss_before_console_mb": rss_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    })
    return figures


async def _count_running(engine: Engine) -> int:
    return sum(1 for t in engine.tasks.values() if t.state == TaskState.RUNNING)


async def _churn(engine: Engine, drivers: dict[str, _ChattyAgent], stop: asyncio.Event, counter: list[int]) -> None:
    """On the engine loop: crash 1% of the running tasks every 100 ms (catching up after long rounds).

    The app whose logs the console follows is spared, so its stream stays at 1,000 lines/s."""
    rng = random.Random(7)
    started = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(CHURN_PERIOD)
        owed = int((time.monotonic() - started) / CHURN_PERIOD) * int(len(engine.tasks) * CHURN_FRACTION) - counter[0]
        running = [t for t in engine.tasks.values()
                   if t.state == TaskState.RUNNING and t.container_id and t.app_id != FOLLOWED_APP]
        for t in rng.sample(running, min(max(owed, 0), len(running))):
            agent = drivers.get(t.agent)
            c = agent._containers.get(t.container_id or "") if agent else None
            if agent is not None and c is not None and c.observed.state == "running":
                agent.crash(t.container_id or "")
                counter[0] += 1


async def _drive(engine: Engine, host: Any, drivers: dict[str, _ChattyAgent], apps: int, seconds: float,
                 size: tuple[int, int], folder: str) -> dict[str, Any]:
    from textual import events
    from textual._compositor import CompositorUpdate

    from tui.app import make_app
    from tui.widgets.event_log import EventLog
    from tui.widgets.log_viewer import LogViewer

    app = make_app(host=host, settings_file=Path(folder) / "console.json", samples_dir=None, tune_gc=True)
    frames: list[float] = []
    probes: list[_Probe] = []
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)  # what a terminal would be sent
            now = time.perf_counter()
            frames.append(now)
            for probe in probes:
                if probe.finished is None and probe.done():
                    probe.finished = now
                    probe.cpu = time.thread_time() - probe.cpu_started
        original(screen, renderable)

    app._display = display  # type: ignore[method-assign]
    started = time.perf_counter()
    first = _Probe(started, lambda: app.main.view is not None and app.main.apps.row_count == apps)
    probes.append(first)
    async with app.run_test(size=size, headless=True) as pilot:
        while first.finished is None:
            if time.perf_counter() - started > 120:
                raise RuntimeError("the console did not show every app within 120 s")
            await asyncio.sleep(0.005)
        first_render = first.finished - started
        main = app.main
        # Follow one app's logs (the engine prints 1,000 lines/s for it) and go back to the apps pane.
        await pilot.press("l")
        await pilot.press("1")
        viewer = main.query_one(LogViewer)
        events_log = main.query_one(EventLog)
        crashed = [0]
        churn = host.submit(_churn_until(engine, drivers, crashed, seconds + 0.5))
        received0, events0, frames0 = viewer.received, events_log.count, len(frames)
        produced0 = _ChattyAgent.produced
        rss_start = _rss_mb()
        held0 = host.turn.held_seconds
        loop_started = time.perf_counter()
        delays: list[float] = []
        cpu: list[float] = []
        slowest: dict[str, float] = {}
        keys = ["down", "plus", "down", "minus", "up", "tab", "up", "shift+tab"]
        i = 0
        driver = app._driver
        assert driver is not None
        full_collections: list[float] = []
        gc_started = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if info["generation"] == 2:
                if phase == "start":
                    gc_started[0] = time.perf_counter()
                else:
                    full_collections.append((time.perf_counter() - gc_started[0]) * 1000)

        gc.callbacks.append(on_gc)
        while time.perf_counter() - loop_started < seconds:
            key = keys[i % len(keys)]
            i += 1
            done = _expect(app, key)
            probe = _Probe(time.perf_counter(), done, cpu_started=time.thread_time())
            probes.append(probe)
            event = events.Key(key, {"plus": "+", "minus": "-"}.get(key))
            event.set_sender(app)
            driver.send_message(event)
            while probe.finished is None and time.perf_counter() - probe.started < 5:
                await asyncio.sleep(0.001)
            delays.append((probe.finished or time.perf_counter()) - probe.started)
            slowest[key] = max(slowest.get(key, 0.0), delays[-1] * 1000)
            cpu.append(probe.cpu if probe.cpu is not None else delays[-1])
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - loop_started
        engine_held = (host.turn.held_seconds - held0) / elapsed
        gc.callbacks.remove(on_gc)
        lines = viewer.received - received0
        produced = _ChattyAgent.produced - produced0
        shown_events = events_log.count - events0
        fps = (len(frames) - frames0) / elapsed
        rss_end = _rss_mb()
        churn.result(timeout=30)
        # Stop typing: the console runs its deferred full collection within a second or two.
        collector = app.collector
        collected_before = collector.collections if collector is not None else 0
        pause_started = time.perf_counter()
        while collector is not None and collector.collections == collected_before \
                and time.perf_counter() - pause_started < 10:
            await asyncio.sleep(0.1)
        pause_seconds = time.perf_counter() - pause_started
        rss_after_pause = _rss_mb()
    delays.sort()
    cpu.sort()
    return {
        "first_render_seconds": first_render,
        "key_presses": len(delays),
        "key_to_screen_p50_ms": statistics.median(delays) * 1000,
        "key_to_screen_p90_ms": delays[int(len(delays) * 0.90)] * 1000,
        "key_to_screen_p99_ms": delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000,
        "key_to_screen_max_ms": delays[-1] * 1000,
        "key_to_screen_max_ms_by_key": {k: round(v, 1) for k, v in sorted(slowest.items())},
        "key_to_screen_console_cpu_p50_ms": statistics.median(cpu) * 1000,
        "key_to_screen_console_cpu_p99_ms": cpu[min(len(cpu) - 1, int(len(cpu) * 0.99))] * 1000,
        "load_average_1min": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "log_lines_per_second": lines / elapsed,
        "log_lines_produced_per_second": produced / elapsed,
        "events_per_second": shown_events / elapsed,
        "tasks_crashed_per_second": crashed[0] / elapsed,
        "frames_per_second": fps,
        "rss_console_start_mb": rss_start,
        "rss_console_end_mb": rss_end,
        "engine_held_for_console_share": engine_held,
        "full_gc_during_keys": len(full_collections),
        "full_gc_longest_ms": max(full_collections, default=0.0),
        "full_gc_after_keys_stopped_seconds": pause_seconds,
        "rss_after_full_gc_mb": rss_after_pause,
    }


async def _churn_until(engine: Engine, drivers: dict[str, _ChattyAgent], counter: list[int], seconds: float) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    await _churn(engine, drivers, stop, counter)


def _expect(app: Any, key: str) -> Callable[[], bool]:
    """What the screen must show once `key` took effect."""
    main = app.main
    apps = main.apps
    if key in ("down", "up"):
        table = main.tasks if main.focused_pane == "tasks-table" else apps
        target = max(0, min(table.row_count - 1, table.cursor_row + (1 if key == "down" else -1)))
        return lambda: table.cursor_row == target
    if key in ("plus", "minus"):
        app_id = main.selected_app
        wanted = (apps.wanted(app_id) or 0) + (1 if key == "plus" else -1)
        return lambda: apps.get_cell(app_id, "tasks").plain.endswith(f"/{wanted}*") or \
            apps.get_cell(app_id, "tasks").plain.endswith(f"/{wanted}")
    order = ["apps-table", "tasks-table"]
    target_pane = order[1] if key == "tab" else order[0]
    return lambda: main.focused_pane == target_pane


if __name__ == "__main__":
    import json
    import sys

    sizes = {"tiny": dict(agents=20, tasks=200, seconds=2.0), "full": dict(agents=1000, tasks=10_000, seconds=20.0)}
    print(json.dumps(run(**sizes[sys.argv[1] if len(sys.argv) > 1 else "tiny"]), indent=2))  # type: ignore[arg-type]

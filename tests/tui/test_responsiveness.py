"""What keeps keys fast while the engine is busy: the console's turn and the idle-time collector."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import pytest

from tui import console_turn
from tui.collector import NEVER, IdleCollector
from tui.console_turn import ConsoleTurn


@contextmanager
def _engine_loop_with(turn: ConsoleTurn) -> Iterator[asyncio.AbstractEventLoop]:
    """A loop on its own thread running the turn's poller, as the engine's does."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(turn.run())

    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    task = asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    try:
        yield loop
    finally:
        turn.end()
        asyncio.run_coroutine_threadsafe(stop(task), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def _loop_stall(loop: asyncio.AbstractEventLoop) -> float:
    """How long a callback scheduled now waits for the loop."""
    started = time.monotonic()
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(5)
    return time.monotonic() - started


def test_the_engine_loop_parks_until_the_console_is_done() -> None:
    turn = ConsoleTurn()
    with _engine_loop_with(turn) as loop:
        assert _loop_stall(loop) < 0.05
        turn.begin()
        time.sleep(0.03)  # run() looks every few milliseconds: by now the loop is parked
        results: list[float] = []
        stalled = threading.Thread(target=lambda: results.append(_loop_stall(loop)))
        stalled.start()
        time.sleep(0.03)
        assert not results, "the engine loop ran while a key was waiting for the screen"
        turn.end()
        stalled.join(5)
        assert results and results[0] < console_turn.HOLD_LIMIT
        assert turn.holds == 1 and 0.02 < turn.held_seconds < console_turn.HOLD_LIMIT + 0.05


def test_a_hold_never_outlasts_its_limit_and_the_engine_then_gets_its_turn() -> None:
    turn = ConsoleTurn()
    with _engine_loop_with(turn) as loop:
        turn.begin()  # and the console never says it is done
        time.sleep(0.02)
        assert _loop_stall(loop) < console_turn.HOLD_LIMIT + 0.05
        assert turn.holds == 1 and turn.held_seconds >= console_turn.HOLD_LIMIT * 0.9
        turn.begin()  # at once again: the engine first gets back the time it was held
        time.sleep(0.01)
        assert _loop_stall(loop) < 0.05, "the engine did not get its turn after a hold"
        assert turn.holds == 1


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def thresholds():  # type: ignore[no-untyped-def]
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)
    gc.unfreeze()


def test_collector_waits_for_a_pause_in_the_typing_but_not_forever(thresholds) -> None:  # type: ignore[no-untyped-def]
    clock = _Clock()
    collector = IdleCollector(every=5, quiet=1, at_most=30, clock=clock)
    collector.start()
    assert gc.get_threshold()[2] == NEVER, "no automatic full collection while the console runs"
    assert gc.get_freeze_count() > 0
    clock.now += 3
    assert not collector.tick(), "not due yet"
    for _ in range(12):  # typing, a key every 1.5 s, for 18 s
        clock.now += 1
        collector.key()
        clock.now += 0.5
        assert not collector.tick()
    clock.now += 1.2  # a pause
    assert collector.tick() and collector.collections == 1 and collector.forced == 0
    for _ in range(40):  # nonstop typing: collected anyway after 30 s
        clock.now += 1
        collector.key()
        collector.tick()
    assert collector.collections == 2 and collector.forced == 1
    collector.stop()
    assert gc.get_threshold() == thresholds


def test_the_engine_host_parks_its_engine_for_key_presses(engine) -> None:  # type: ignore[no-untyped-def]
    """Key presses park the running engine (between rounds, and at the pause points inside them)."""
    from tui.engine_host import EngineHost

    host = EngineHost(engine)
    host.start_blocking()
    try:
        assert engine.pause_point == host.turn.checkpoint
        host.submit(engine.create_app({"id": "/many", "cmd": "serve", "cpus": 0.01, "mem": 8,
                                       "instances": 30})).result(10)
        before = host.turn.holds
        for _ in range(40):
            host.console_busy()
            time.sleep(0.02)
            host.console_idle()
        assert host.turn.holds > before
    finally:
        host.stop_blocking()
    assert engine.pause_point is None

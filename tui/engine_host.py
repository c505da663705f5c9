"""The engine on its own thread, so the console's event loop never does engine work.

The console and the engine share one process but not one event loop: the
engine (reconcile rounds, placement, the store, agent drivers) runs on a
thread with its own asyncio loop, and the console talks to it only here:

    host = EngineHost(engine)
    await host.start()                                   # engine.start() on the engine thread
    deployment = await host.call(engine.scale, "/web", 3)  # a command, run on the engine loop
    apps = await host.read(engine.app_versions, "/web")    # a read, run on the engine loop
    await host.feed(post)                                # snapshots and events to the UI until cancelled
    await host.stop()

`feed` coalesces the engine's events into a few `Update`s a second, each with
a `ConsoleView` taken on the engine thread in one go (frozen, safe to read
from the UI thread), and never posts a new one before the UI has shown the
last (`consumed()`), so a slow screen sees fewer, bigger updates instead of a
growing queue. `console_busy()`/`console_idle()` give the console its turn
(tui/console_turn.py): the engine thread steps aside while a key or an update
is being drawn.

`StaticHost` serves one fixed view and runs no engine: snapshot tests use it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Coroutine, Mapping, Protocol, TypeVar

from engine import AppView, ClusterSnapshot, Deployment, Engine, EngineEvent, EngineHealth, HealthResult, PacerError
from tui.console_turn import ConsoleTurn

log = logging.getLogger("pacer.console")

T = TypeVar("T")

MAX_EVENTS_PER_UPDATE = 2_000
LogSink = Callable[[list[tuple[str, str]]], object]
"""Receives batches of (task id, line) from the engine thread; must be thread-safe (post a message)."""


@dataclass(frozen=True, slots=True)
class ConsoleView:
    """Everything the panes show, taken at one moment on the engine thread."""

    seq: int
    snapshot: ClusterSnapshot
    deployments: tuple[Deployment, ...] = ()
    health: Mapping[str, bool | None] = field(default_factory=dict)
    apps: Mapping[str, AppView] = field(default_factory=dict)
    health_results: Mapping[str, Mapping[int, HealthResult]] = field(default_factory=dict)
    """Per task that is not healthy, per check: the last probe results (alive, consecutive_failures,
    last_failure_cause, last_success, last_failure), when the engine's health monitor keeps them."""
    engine_health: EngineHealth | None = None
    """The engine's own parts: ready, or degraded and why (the header shows it)."""

    @classmethod
    def of(cls, seq: int, snapshot: ClusterSnapshot, deployments: tuple[Deployment, ...] = (),
           health: Mapping[str, bool | None] | None = None,
           health_results: Mapping[str, Mapping[int, HealthResult]] | None = None,
           engine_health: EngineHealth | None = None) -> "ConsoleView":
        return cls(seq, snapshot, deployments, dict(health or {}), {a.app.id: a for a in snapshot.apps},
                   dict(health_results or {}), engine_health)

    def deployments_of(self, app_id: str) -> list[Deployment]:
        return [d for d in self.deployments if d.app_id == app_id and d.status == "running"]


@dataclass(frozen=True, slots=True)
class Update:
    view: ConsoleView
    events: tuple[EngineEvent, ...] = ()
    dropped_events: int = 0


class ConsoleHost(Protocol):
    """What the console needs from wherever its engine runs."""

    engine: Engine | None
    started: bool

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T: ...

    async def call_seq(self, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> tuple[T, int]: ...

    async def read(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T: ...

    async def feed(self, post: Callable[[Update], object], *, interval: float = 0.25) -> None: ...

    def consumed(self) -> None: ...

    async def follow(self, app_id: str, task_id: str | None, sink: LogSink, *, tail: int = 200) -> None: ...

    def console_busy(self) -> None: ...

    def console_idle(self) -> None: ...


class EngineHost:
    """Runs one `Engine` on a dedicated thread and event loop."""

    def __init__(self, engine: Engine, *, heartbeat: float = 2.0) -> None:
        self.engine: Engine | None = engine
        self.started = False
        self.heartbeat = heartbeat
        self._engine = engine
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._consumed = threading.Event()
        self._consumed.set()
        self._before_stop: list[Callable[[], Awaitable[Any]]] = []
        self.turn = ConsoleTurn()
        self._turn_task: concurrent.futures.Future[None] | None = None

    # -- the thread --------------------------------------------------------------

    def _ensure_thread(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            ready.set()
            try:
                loop.run_forever()
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="pacer-engine", daemon=True)
        self._thread.start()
        ready.wait()
        assert self._loop is not None
        return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> "concurrent.futures.Future[T]":
        """Schedule a coroutine on the engine loop (from any thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_thread())

    async def _await(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(self.submit(coro))

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        if not self.started:
            await self._await(self._engine.start())
            self._started()

    def start_blocking(self) -> None:
        if not self.started:
            self.submit(self._engine.start()).result()
            self._started()

    def _started(self) -> None:
        self.started = True
        if self._turn_task is None:
            self._engine.pause_point = self.turn.checkpoint
            self._turn_task = self.submit(self.turn.run())

    def console_busy(self) -> None:
        """Someone waits for the screen (a key, an update being shown): the engine steps aside (ConsoleTurn)."""
        self.turn.begin()

    def console_idle(self) -> None:
        self.turn.end()

    def before_stop(self, stop: Callable[[], Awaitable[Any]]) -> None:
        """Run `stop()` on the engine loop before the engine stops (the API server, for one)."""
        self._before_stop.append(stop)

    async def _stop_engine(self) -> None:
        for stop in reversed(self._before_stop):
            try:
                await stop()
            except (PacerError, OSError) as exc:
                log.error("stopping %s: %s", stop, exc)
        self._before_stop.clear()
        await self._engine.stop()

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_blocking)

    def stop_blocking(self, timeout: float = 30.0) -> None:
        if self._loop is None or self._thread is None:
            return
        self.turn.end()
        if self._turn_task is not None:
            self._engine.pause_point = None
            self._turn_task.cancel()
            self._turn_task = None
        if self.started:
            self.started = False
            try:
                self.submit(self._stop_engine()).result(timeout)
            except (concurrent.futures.TimeoutError, PacerError) as exc:
                log.error("engine did not stop cleanly: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop = None
        self._thread = None

    # -- commands and reads --------------------------------------------------------

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T:
        """Run an engine command (a coroutine function) on the engine loop and wait for its result."""

        async def run() -> T:
            return await fn(*args, **kw)

        return await self._await(run())

    async def call_seq(self, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> tuple[T, int]:
        """Like `call`, also returning the last view number taken before the command finished:
        any view with a higher `seq` shows the command's effect."""

        async def run() -> tuple[T, int]:
            result = await fn(*args, **kw)
            return result, self._seq

        return await self._await(run())

    async def read(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run a plain function (a read of engine state) on the engine loop."""

        async def run() -> T:
            return fn(*args, **kw)

        return await self._await(run())

    # -- the feed ---------------------------------------------------------------------

    def consumed(self) -> None:
        """The UI has shown the last update; the feed may post the next."""
        self._consumed.set()

    def view(self) -> ConsoleView:
        """A view of the engine now. Engine thread only."""
        engine = self._engine
        self._seq += 1
        health = dict(engine.health)
        snapshot = engine.snapshot()
        unhealthy_results = {t.task_id: dict(results) for view in snapshot.apps if view.app.health_checks
                             for t in snapshot.tasks.get(view.app.id, ()) if health.get(t.task_id) is not True
                             and (results := engine.health_results(t.task_id))}
        return ConsoleView.of(self._seq, snapshot, snapshot.deployments, health, unhealthy_results,
                              engine.health_status())

    async def feed(self, post: Callable[[Update], object], *, interval: float = 0.25) -> None:
        """Post an `Update` after each burst of engine events (at most one per `interval`) until cancelled."""
        self._consumed.set()
        await self._await(self._pump(post, interval))

    async def _pump(self, post: Callable[[Update], object], interval: float) -> None:
        engine = self._engine
        loop = asyncio.get_running_loop()
        pending: list[EngineEvent] = []
        dropped = 0
        wake = asyncio.Event()

        async def read_events() -> None:
            nonlocal dropped
            while True:
                subscription = engine.subscribe(maxsize=50_000)
                async for event in subscription:
                    pending.append(event)
                    if len(pending) > MAX_EVENTS_PER_UPDATE:
                        dropped += len(pending) - MAX_EVENTS_PER_UPDATE
                        del pending[:-MAX_EVENTS_PER_UPDATE]
                    wake.set()
                if not subscription.dropped:
                    return  # the engine stopped

        reader = loop.create_task(read_events(), name="pacer-console-events")
        try:
            last = loop.time()
            self._consumed.clear()
            post(Update(self.view()))
            while True:
                try:
                    await asyncio.wait_for(wake.wait(), self.heartbeat)
                except asyncio.TimeoutError:
                    pass
                delay = interval - (loop.time() - last)
                if delay > 0:
                    await asyncio.sleep(delay)
                while not self._consumed.is_set():
                    await asyncio.sleep(0.02)
                wake.clear()
                events, dropped_now = tuple(pending), dropped
                pending.clear()
                dropped = 0
                self._consumed.clear()
                post(Update(self.view(), events, dropped_now))
                last = loop.time()
        finally:
            reader.cancel()

    # -- logs -----------------------------------------------------------------------------

    async def follow(self, app_id: str, task_id: str | None, sink: LogSink, *, tail: int = 200,
                     flush: float = 0.1) -> None:
        """Follow one task's output, or every task of an app (new tasks joining), until cancelled."""
        await self._await(self._follow(app_id, task_id, sink, tail, flush))

    async def _follow(self, app_id: str, task_id: str | None, sink: LogSink, tail: int, flush: float) -> None:
        engine = self._engine
        loop = asyncio.get_running_loop()
        buffer: list[tuple[str, str]] = []
        followers: dict[str, asyncio.Task[None]] = {}

        async def one(tid: str) -> None:
            try:
                async for line in engine.follow_task_logs(tid, tail):
                    buffer.append((tid, line))
            except PacerError as exc:
                buffer.append((tid, f"[pacer] {exc.message}"))
            else:
                buffer.append((tid, "[pacer] output ended"))

        try:
            while True:
                if task_id is not None:
                    wanted = [task_id]
                else:
                    wanted = [t.task_id for t in engine.tasks_of(app_id) if t.container_id]
                for tid in wanted:
                    if tid not in followers:
                        followers[tid] = loop.create_task(one(tid), name=f"follow {tid}")
                for _ in range(10):
                    await asyncio.sleep(flush)
                    if buffer:
                        batch = buffer[:]
                        buffer.clear()
                        sink(batch)
        finally:
            for task in followers.values():
                task.cancel()


async def scale_app(engine: Engine, app_id: str, instances: int) -> Deployment:
    """Scale from the keyboard. A running deployment that only starts or scales the app (a create, an earlier
    `+`) is simply replaced: the newest count wins. A rolling upgrade or restart in progress makes it a conflict
    the operator resolves (x cancels it, the palette can force)."""
    return await engine.scale(app_id, instances, supersede_scaling=True)


class StaticHost:
    """A frozen view and no engine: for snapshot tests and demos of the screens."""

    def __init__(self, view: ConsoleView, logs: dict[str, list[str]] | None = None) -> None:
        self.engine: Engine | None = None
        self.started = True
        self._view = view
        self._logs = logs or {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T:
        raise PacerError("this console shows a frozen view; it has no engine", "read-only")

    async def call_seq(self, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> tuple[T, int]:
        raise PacerError("this console shows a frozen view; it has no engine", "read-only")

    async def read(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        return fn(*args, **kw)

    async def feed(self, post: Callable[[Update], object], *, interval: float = 0.25) -> None:
        post(Update(self._view))
        await asyncio.Event().wait()

    def consumed(self) -> None:
        return None

    def console_busy(self) -> None:
        return None

    def console_idle(self) -> None:
        return None

    async def follow(self, app_id: str, task_id: str | None, sink: LogSink, *, tail: int = 200) -> None:
        ours = {t.task_id for t in self._view.snapshot.tasks.get(app_id, ())}
        lines = [(tid, line) for tid, lines in sorted(self._logs.items()) if task_id in (None, tid) and tid in ours
                 for line in lines]
        if lines:
            sink(lines)
        await asyncio.Event().wait()

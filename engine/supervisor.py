"""Supervision: no part of the engine dies silently, and every part says how it is doing.

    sup = Supervisor()
    sup.spawn("executor", coro, name)            a job (one action under way): a crash is logged at once,
                                                 with its traceback, and counts against its part
    sup.keep_running("health monitor", make, name)   a loop that must not end: after a crash it is logged
                                                 and started again, with backoff
    sup.failed("loop", exc) / sup.recovered("loop")  for a part that knows when it is fine again (a round)
    sup.part("executor")                         how a part is doing now (PartHealth)

A crash makes its part degraded until `quiet_seconds` pass without another one (longer than the longest
backoff, so a loop that keeps crashing stays degraded). A PacerError is an answer, not a bug: it is logged
in one line, without a traceback; StorageUnavailable belongs to the store (whose own part says so) and
does not count against the part that met it. The same failure again is logged at most once a minute.
`EngineHealth` is what the engine reports: its parts, its agents, ready or degraded and why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Coroutine, Iterable

from engine.errors import PacerError, StorageUnavailable

log = logging.getLogger("pacer.supervisor")

PARTS = ("loop", "store", "executor", "health monitor", "autoscaler", "agent watchers", "agents")
"""The parts the engine reports, in the order it reports them."""

REPEAT_LOG_SECONDS = 60.0
"""The same failure of a part is logged again at most this often (with how many times it happened)."""


@dataclass(frozen=True, slots=True)
class PartHealth:
    """How one part is doing: `state` is "ok" or "degraded" (an agent: "reachable" or "unreachable"),
    `reason` why (set when it is not fine, or a note such as "1 of 3 agents unreachable"), `since` the
    wall-clock time it has been so, `failures` how often it failed since it was last fine."""

    name: str
    state: str = "ok"
    reason: str | None = None
    since: float | None = None
    failures: int = 0

    @property
    def ok(self) -> bool:
        return self.state in ("ok", "reachable")


@dataclass(frozen=True, slots=True)
class EngineHealth:
    """The engine's readiness: ready when every part is fine; otherwise degraded, each problem named."""

    parts: tuple[PartHealth, ...]
    agents: tuple[PartHealth, ...]
    checked_at: float

    @classmethod
    def of(cls, parts: dict[str, PartHealth], agents: tuple[PartHealth, ...], now: float) -> "EngineHealth":
        """The engine's parts (in PARTS order, the agents' part made from `agents`) at `now`."""
        named = {**parts, "agents": agents_part(agents)}
        ordered = [named.pop(name) for name in PARTS if name in named]
        return cls(parts=(*ordered, *named.values()), agents=agents, checked_at=now)

    @property
    def ready(self) -> bool:
        return all(p.ok for p in self.parts)

    @property
    def problems(self) -> tuple[str, ...]:
        """"part: reason" for each part that is not fine."""
        return tuple(f"{p.name}: {p.reason or p.state}" for p in self.parts if not p.ok)

    def summary(self) -> str:
        """"ready", or "degraded: store: state storage is full: ..." (every problem, "; " between)."""
        return "ready" if self.ready else "degraded: " + "; ".join(self.problems)


def agent_parts(agents: Iterable[tuple[str, bool, str | None]], seen: dict[str, tuple[bool, float]],
                now: float) -> tuple[PartHealth, ...]:
    """Each agent (name, reachable, error) as reachable or unreachable since when; `seen` keeps, per agent, the
    last state noticed and when it began (updated here)."""
    out = []
    for name, reachable, error in agents:
        last = seen.get(name)
        if last is None or last[0] != reachable:
            last = seen[name] = (reachable, now)
        out.append(PartHealth(name, "reachable" if reachable else "unreachable",
                              None if reachable else error or "not connected", last[1]))
    return tuple(out)


def agents_part(agents: tuple[PartHealth, ...]) -> PartHealth:
    """The agents as one part: degraded when none answers (nothing can run); some that do not are a note."""
    if not agents:
        return PartHealth("agents", "degraded", "no agents configured")
    down = [a for a in agents if not a.ok]
    since = max(a.since or 0.0 for a in agents)
    if len(down) == len(agents):
        return PartHealth("agents", "degraded",
                          "no agent reachable: " + "; ".join(f"{a.name} ({a.reason})" for a in down), since)
    if down:
        return PartHealth("agents", "ok", f"{len(down)} of {len(agents)} unreachable: "
                          + ", ".join(a.name for a in down), since)
    return PartHealth("agents", "ok", None, since)


def stuck_round(part: PartHealth, running: float, limit: float, now: float) -> PartHealth:
    """The loop is degraded while one round has been running longer than `limit` seconds (a hung call)."""
    if running <= limit:
        return part
    return PartHealth(part.name, "degraded", f"a reconcile round has been running for {running:.0f} s", now - running,
                      part.failures)


class Backoff:
    """Delays that grow after each failure (`initial` * `factor`^n, at most `maximum`), until `reset`."""

    def __init__(self, initial: float = 0.25, factor: float = 2.0, maximum: float = 15.0) -> None:
        self.initial, self.factor, self.maximum = initial, factor, maximum
        self.failures = 0

    def next(self) -> float:
        delay = min(self.maximum, self.initial * self.factor ** min(self.failures, 64))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


@dataclass(slots=True)
class _Record:
    reason: str | None = None
    since: float = 0.0
    """Wall clock: when the part went degraded (or became fine again)."""
    failures: int = 0
    clears_at: float | None = None
    """time.monotonic() when a crash stops counting (None with a reason: until `recovered`)."""
    logged_reason: str | None = None
    logged_at: float = -float("inf")
    unlogged: int = 0


def describe(exc: BaseException) -> str:
    """One line for a failure: a PacerError's message, otherwise the exception's type and words."""
    if isinstance(exc, PacerError):
        return exc.message
    words = str(exc)
    return f"{type(exc).__name__}: {words}" if words else type(exc).__name__


class Supervisor:
    def __init__(self, clock: Callable[[], float] = time.time, *, quiet_seconds: float = 60.0,
                 backoff: tuple[float, float, float] = (0.25, 2.0, 15.0)) -> None:
        """`clock`: wall-clock time for `since`; `quiet_seconds`: how long a crash keeps its part degraded;
        `backoff`: (initial, factor, maximum) seconds between restarts of a loop that crashes."""
        self._clock = clock
        self.quiet_seconds = quiet_seconds
        self.backoff = backoff
        self._records: dict[str, _Record] = {}
        self._started = clock()

    # -- recording -------------------------------------------------------------------------------

    def _record(self, part: str) -> _Record:
        record = self._records.get(part)
        if record is None:
            record = self._records[part] = _Record(since=self._started)
        return record

    def failed(self, part: str, exc: BaseException | str, *, what: str = "", clears_after: float | None = None,
               retry_in: float | None = None) -> None:
        """A part failed: log it (a bug with its traceback) and mark the part degraded, until `recovered`, or
        with `clears_after` until that many seconds pass without another failure."""
        reason = exc if isinstance(exc, str) else describe(exc)
        if what:
            reason = f"{what}: {reason}"
        self._log(part, reason, exc, retry_in)
        if isinstance(exc, StorageUnavailable) and part != "store":
            return  # the store's own part tells it; this part only met it
        record = self._record(part)
        if not self._degraded(record):
            record.since = self._clock()
            record.failures = 0
        record.reason = reason
        record.failures += 1
        record.clears_at = None if clears_after is None else time.monotonic() + clears_after

    def crashed(self, part: str, what: str, exc: BaseException, *, restart_in: float | None = None) -> None:
        """A job or loop of a part ended with an exception it did not handle."""
        self.failed(part, exc, what=what, clears_after=self.quiet_seconds, retry_in=restart_in)

    def recovered(self, part: str) -> None:
        """The part works again (a round that went through)."""
        record = self._records.get(part)
        if record is None or record.reason is None:
            return
        if self._degraded(record):
            log.warning("%s works again after %d failure(s) over %.0f s", part, record.failures,
                        max(0.0, self._clock() - record.since))
            record.since = self._clock()
        record.reason, record.clears_at, record.failures = None, None, 0
        record.logged_reason, record.unlogged = None, 0

    def _log(self, part: str, reason: str, exc: BaseException | str, retry_in: float | None) -> None:
        record = self._record(part)
        now = time.monotonic()
        then = f" (again in {retry_in:.2g} s)" if retry_in is not None else ""
        if reason == record.logged_reason and now - record.logged_at < REPEAT_LOG_SECONDS:
            record.unlogged += 1
            log.debug("%s: %s%s", part, reason, then)
            return
        repeats = f" [{record.unlogged} more time(s) since last logged]" if record.unlogged else ""
        record.logged_reason, record.logged_at, record.unlogged = reason, now, 0
        if isinstance(exc, BaseException) and not isinstance(exc, PacerError):
            log.error("%s: %s%s%s", part, reason, then, repeats, exc_info=exc)
        elif isinstance(exc, StorageUnavailable):
            log.warning("%s: %s%s%s", part, reason, then, repeats)
        else:
            log.error("%s: %s%s%s", part, reason, then, repeats)

    @staticmethod
    def _degraded(record: _Record) -> bool:
        return record.reason is not None and (record.clears_at is None or time.monotonic() < record.clears_at)

    def part(self, name: str) -> PartHealth:
        record = self._records.get(name)
        if record is None:
            return PartHealth(name, "ok", None, self._started)
        if self._degraded(record):
            return PartHealth(name, "degraded", record.reason, record.since, record.failures)
        if record.reason is not None and record.clears_at is not None:
            # Quiet long enough: fine again since the moment the last crash stopped counting.
            cleared = self._clock() - (time.monotonic() - record.clears_at)
            record.reason, record.clears_at, record.failures, record.since = None, None, 0, cleared
        return PartHealth(name, "ok", None, record.since)

    # -- running things ------------------------------------------------------------------------------

    def spawn(self, part: str, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run a job; if it crashes, the crash is logged at once (with its traceback) and counts against `part`."""
        job = asyncio.get_running_loop().create_task(coro, name=name)
        job.add_done_callback(lambda t: self._job_done(part, t))
        return job

    def _job_done(self, part: str, job: asyncio.Task[None]) -> None:
        if job.cancelled():
            return
        exc = job.exception()
        if exc is not None:
            self.crashed(part, job.get_name(), exc)

    def keep_running(self, part: str, make: Callable[[], Awaitable[None]], name: str) -> asyncio.Task[None]:
        """Run `make()` until it returns or is cancelled; a crash is logged and `make()` runs again after a
        backoff (reset once a run lasted `quiet_seconds`)."""
        return asyncio.get_running_loop().create_task(self._keep(part, make, name), name=name)

    async def _keep(self, part: str, make: Callable[[], Awaitable[None]], name: str) -> None:
        backoff = Backoff(*self.backoff)
        while True:
            began = time.monotonic()
            try:
                await make()
                return
            except Exception as exc:  # noqa: BLE001 - the point: any crash is reported and the part restarted
                if time.monotonic() - began >= self.quiet_seconds:
                    backoff.reset()
                delay = backoff.next()
                self.crashed(part, name, exc, restart_in=delay)
            await asyncio.sleep(delay)

"""What the routes share: the engine, settings, caches and the open streams."""

from __future__ import annotations

import asyncio
import ctypes
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from engine.api.json_views import AgentHosts, AppJsonCache, TaskJsonCache, event_sse_frame
from engine.events import FrameBudget

if TYPE_CHECKING:
    from engine.core import Engine


@dataclass(frozen=True, slots=True)
class ApiSettings:
    token: str | None = None
    leader: str = "127.0.0.1:8080"
    """host:port this API is reached at (X-Marathon-Leader, /v2/leader, /v2/info)."""
    scheme: str = "http"
    sse_queue: int = 1000
    """Events queued per SSE subscriber before it is dropped as too slow (whatever their size)."""
    sse_subscriber_bytes: int = 8 * 1024 * 1024
    """Bytes an SSE subscriber may hold (its queued frames and the one being sent) before it is dropped."""
    sse_total_bytes: int = 256 * 1024 * 1024
    """Bytes all SSE subscribers together may hold (a frame queued for several counts once); past it,
    the subscribers holding the most are dropped."""
    tcp_notsent_lowat: int = 32 * 1024
    """Bytes the kernel may queue unsent per API connection (TCP_NOTSENT_LOWAT on the listening socket;
    0 keeps the system's default, which lets a client that stops reading take megabytes)."""
    sse_heartbeat: float = 15.0
    """Seconds between SSE comment lines on an idle stream."""
    sse_send_timeout: float = 10.0
    """A stream whose client takes longer than this to accept one frame is closed."""

    def __repr__(self) -> str:  # the token never shows up in logs or tracebacks
        return (f"ApiSettings(token={'<set>' if self.token else None}, leader={self.leader!r}, "
                f"scheme={self.scheme!r}, sse_queue={self.sse_queue}, "
                f"sse_subscriber_bytes={self.sse_subscriber_bytes}, sse_total_bytes={self.sse_total_bytes})")


class ResponseCache:
    """Encoded answers of read endpoints, valid while the engine has not changed.

    The engine announces every change on its event bus, and the bus counts
    what it publishes; an entry is reused only while that count, the number
    of reconcile rounds (and, where health results show, the number of health
    probes) are what they were, and for at most `ttl` seconds.
    """

    def __init__(self, engine: "Engine", ttl: float = 1.0, size: int = 64) -> None:
        self._engine = engine
        self._ttl = ttl
        self._size = size
        self._entries: OrderedDict[Any, tuple[tuple[Any, ...], float, bytes]] = OrderedDict()
        self.enabled = True

    def _fingerprint(self, probes: bool) -> tuple[Any, ...] | None:
        engine = self._engine
        return (engine.revision, engine.stats.probes if probes else 0)

    def get(self, key: Any, *, probes: bool = False) -> bytes | None:
        if not self.enabled:
            return None
        hit = self._entries.get(key)
        if hit is None:
            return None
        fingerprint, at, body = hit
        if fingerprint != self._fingerprint(probes) or time.monotonic() - at > self._ttl:
            del self._entries[key]
            return None
        return body

    def put(self, key: Any, body: bytes, *, probes: bool = False) -> None:
        fingerprint = self._fingerprint(probes)
        if fingerprint is None or not self.enabled:
            return
        self._entries[key] = (fingerprint, time.monotonic(), body)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


def _malloc_trim() -> Callable[[], object] | None:
    try:
        libc = ctypes.CDLL(None)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: its allocator returns memory its own way
        return None
    return lambda: trim(0)


MALLOC_TRIM = _malloc_trim()
"""glibc's malloc_trim(0), or None where the C library has none."""


class MemoryReturn:
    """Hands the heap that closed streams freed back to the system, in a worker thread.

    glibc keeps freed heap memory for reuse, so a burst of slow clients would leave the process at
    its peak RSS for good. A closed stream asks for `soon`: `malloc_trim` runs `delay` seconds after
    the last of a run of closes (at most `longest` seconds after the first), off the event loop.
    """

    def __init__(self, trim: Callable[[], object] | None = None, *, delay: float = 1.0,
                 longest: float = 10.0) -> None:
        self._trim = trim if trim is not None else MALLOC_TRIM
        self._delay = delay
        self._longest = longest
        self._first = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.runs = 0

    def soon(self) -> None:
        if self._trim is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._timer is None:
            self._first = now
        elif now - self._first < self._longest:
            self._timer.cancel()
        else:
            return  # due soon anyway
        self._timer = loop.call_later(self._delay, self._run, loop)

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self.runs += 1
        if self._trim is not None:  # a call takes milliseconds on a large heap: a worker thread
            try:
                loop.run_in_executor(None, self._trim)
            except RuntimeError:  # the loop is shutting down: the process is about to give it all back
                pass


class ApiState:
    def __init__(self, engine: "Engine", settings: ApiSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.app_cache = AppJsonCache()
        self.task_cache = TaskJsonCache()
        self.responses = ResponseCache(engine)
        self.hosts = AgentHosts(engine)
        self.closing = asyncio.Event()
        self.streams = 0
        self.sse_budget = FrameBudget(event_sse_frame, per_subscriber=settings.sse_subscriber_bytes,
                                      total=settings.sse_total_bytes)
        """What the /v2/events streams hold, bounded in bytes (engine.events.FrameBudget)."""
        self.memory_return = MemoryReturn()

    @property
    def leader_url(self) -> str:
        return f"{self.settings.scheme}://{self.settings.leader}"


"""What the routes share: the engine, settings, caches and the open streams."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.api.json_views import AgentHosts, AppJsonCache, TaskJsonCache

if TYPE_CHECKING:
    from engine.core import Engine


@dataclass(frozen=True, slots=True)
class ApiSettings:
    token: str | None = None
    leader: str = "127.0.0.1:8080"
    """host:port this API is reached at (X-Marathon-Leader, /v2/leader, /v2/info)."""
    scheme: str = "http"
    sse_queue: int = 1000
    """Events buffered per SSE subscriber before it is dropped as too slow."""
    sse_heartbeat: float = 15.0
    """Seconds between SSE comment lines on an idle stream."""
    sse_send_timeout: float = 10.0
    """A stream whose client takes longer than this to accept one frame is closed."""

    def __repr__(self) -> str:  # the token never shows up in logs or tracebacks
        return (f"ApiSettings(token={'<set>' if self.token else None}, leader={self.leader!r}, "
                f"scheme={self.scheme!r}, sse_queue={self.sse_queue})")


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

    @property
    def leader_url(self) -> str:
        return f"{self.settings.scheme}://{self.settings.leader}"


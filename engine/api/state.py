"""What the routes share: the engine, settings, caches and the open streams."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.api.json_views import AgentHosts, AppJsonCache

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


@dataclass(frozen=True, slots=True)
class PostInfo:
    client_ip: str | None
    uri: str


class ApiState:
    def __init__(self, engine: "Engine", settings: ApiSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.app_cache = AppJsonCache()
        self.hosts = AgentHosts(engine)
        self.closing = asyncio.Event()
        self.streams = 0
        self._posts: OrderedDict[tuple[str, str], PostInfo] = OrderedDict()

    @property
    def leader_url(self) -> str:
        return f"{self.settings.scheme}://{self.settings.leader}"

    def remember_post(self, app_id: str, version: str, client_ip: str | None, uri: str) -> None:
        """Who caused an app change: fills clientIp/uri of the engine's api_post_event on /v2/events."""
        self._posts[(app_id, version)] = PostInfo(client_ip, uri)
        while len(self._posts) > 1000:
            self._posts.popitem(last=False)

    def post_info(self, app_id: str, version: str) -> PostInfo | None:
        return self._posts.get((app_id, version))

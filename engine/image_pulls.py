"""Image pulls seen from the engine: what each agent is pulling, as events and as a read.

Each driver reports its pulls through `on_image_pull` (from any thread); `ImagePulls` brings each report
onto the engine's loop and publishes it as an `ImagePullProgressed` event, and `current()` lists the pulls
under way on every agent (for the snapshot, `/pacer/v1/pulls`, the console and `pacer deploy`).
"""

from __future__ import annotations

import asyncio
from typing import Callable, Iterable

from engine.agents.base import AgentDriver, ImagePull
from engine.events import EventBus, ImagePullProgressed


class ImagePulls:
    def __init__(self, bus: EventBus, drivers: Callable[[], Iterable[AgentDriver]]) -> None:
        self._bus = bus
        self._drivers = drivers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seen: dict[tuple[str, str], str] = {}
        """(agent, image) -> the status last published for the pull under way."""

    def attach(self) -> None:
        """Listen to every driver's pulls (on the engine's running loop)."""
        self._loop = asyncio.get_running_loop()
        for driver in self._drivers():
            driver.on_image_pull = self._reported

    def _reported(self, pull: ImagePull) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._publish, pull)
        except RuntimeError:  # the loop closed in between: the engine is stopping
            pass

    def _publish(self, pull: ImagePull) -> None:
        key = (pull.agent, pull.image)
        first = self._seen.get(key) != pull.status
        if pull.status in ("done", "failed"):
            self._seen.pop(key, None)
        else:
            self._seen[key] = pull.status
        self._bus.publish(ImagePullProgressed(
            agent=pull.agent, image=pull.image, status=pull.status, downloaded=pull.downloaded, total=pull.total,
            task_ids=pull.task_ids, text=pull.text, first=first))

    def current(self) -> tuple[ImagePull, ...]:
        """Every pull under way or queued, on every agent, oldest first."""
        pulls = [p for driver in self._drivers() for p in driver.image_pulls()]
        return tuple(sorted(pulls, key=lambda p: (p.started_at, p.agent, p.image)))

"""The event bus: one in-process stream of typed events.

Event types use Marathon's names (status_update_event, deployment_success, ...);
pacer's own types start with `pacer_`. Each subscriber has a bounded queue: a
subscriber that falls behind is dropped with a final `pacer_subscriber_dropped`
event instead of slowing the engine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from engine.model.timefmt import format_ts


@dataclass(frozen=True, slots=True)
class Event:
    event_type: str
    fields: dict[str, Any]
    timestamp: float = field(default_factory=time.time)

    @property
    def marathon(self) -> bool:
        return not self.event_type.startswith("pacer_")

    def to_json(self) -> dict[str, Any]:
        body = dict(self.fields)
        body["eventType"] = self.event_type
        body["timestamp"] = format_ts(self.timestamp)
        return body


class Subscription:
    def __init__(self, bus: "EventBus", maxsize: int, event_types: frozenset[str] | None) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.event_types = event_types
        self.dropped = False

    def wants(self, event: Event) -> bool:
        return self.event_types is None or event.event_type in self.event_types

    def close(self) -> None:
        self._bus._subs.discard(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        try:
            while True:
                event = await self.queue.get()
                if event is None:
                    return
                yield event
        finally:
            self.close()


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self.published = 0

    def subscribe(self, *, maxsize: int = 10_000, event_types: frozenset[str] | None = None) -> Subscription:
        sub = Subscription(self, maxsize, event_types)
        self._subs.add(sub)
        return sub

    def publish(self, event_type: str, **fields: Any) -> Event:
        event = Event(event_type, fields)
        self.published += 1
        for sub in list(self._subs):
            if not sub.wants(event):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._drop(sub)
        return event

    def _drop(self, sub: Subscription) -> None:
        sub.dropped = True
        self._subs.discard(sub)
        # Make room for a final word, then the end marker.
        while sub.queue.qsize() > max(sub.queue.maxsize - 2, 0):
            sub.queue.get_nowait()
        sub.queue.put_nowait(Event("pacer_subscriber_dropped", {"reason": "subscriber too slow; queue full"}))
        sub.queue.put_nowait(None)

    def close(self) -> None:
        for sub in list(self._subs):
            try:
                sub.queue.put_nowait(None)
            except asyncio.QueueFull:
                self._drop(sub)
        self._subs.clear()

"""/v2/events: the engine's event bus as server-sent events.

- One frame per event (`event:` line, one-line `data:` JSON, blank line), each
  sent as its own HTTP chunk right away: Python clients read with
  ``iter_lines(512)`` and would wait for more bytes otherwise.
- Every subscriber has its own bounded queue on the bus. A subscriber that
  falls behind (its client stopped reading, so sends block) is dropped by the
  bus with a final event; the engine never waits for a client. A client that
  accepts no frame for `sse_send_timeout` seconds is disconnected.
- Marathon clients fail on an event type they do not know, so pacer's own
  types (``pacer_*``) go only to subscribers that name them in `event_type`.
  The final word for a dropped Marathon subscriber is therefore Marathon's
  ``event_stream_detached``; pacer-aware ones get ``pacer_subscriber_dropped``.
- The engine publishes ``api_post_event`` (with the client's address and URI,
  which the routes pass in) before the ``group_change_success`` and
  ``deployment_info`` of the same change: Marathon's order.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from engine.api.event_json import event_json
from engine.api.http import ApiError
from engine.api.json_views import event_frame
from engine.api.routes_apps import api, client_ip
from engine.api.state import ApiState
from engine.events import EngineEvent, SubscriberDropped, Subscription
from engine.model import format_ts

log = logging.getLogger("pacer.api.sse")

DROPPED = SubscriberDropped.event_type
_BATCH = 256


class EventStream:
    """The ASGI response of one subscriber."""

    def __init__(self, state: ApiState, sub: Subscription, *, asked: frozenset[str] | None, remote: str | None) -> None:
        self.state = state
        self.sub = sub
        self.asked = asked
        self.remote = remote

    def _visible(self, event: EngineEvent) -> bool:
        if self.asked is None:
            return event.marathon
        return event.event_type in self.asked

    def _frames(self, batch: list[EngineEvent]) -> list[bytes]:
        frames = []
        for event in batch:
            if event.event_type == DROPPED and (self.asked is None or DROPPED not in self.asked):
                detached = {"remoteAddress": self.remote or "", "eventType": "event_stream_detached",
                            "timestamp": format_ts(event.timestamp)}
                if self.asked is None or "event_stream_detached" in self.asked:
                    frames.append(event_frame("event_stream_detached", detached))
                continue
            if event.event_type == DROPPED or self._visible(event):
                frames.append(event_frame(event.event_type, event_json(event)))
        return frames

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.state.settings
        queue = self.sub.queue
        timeout = settings.sse_send_timeout

        async def send_or_give_up(message: Message) -> None:
            await asyncio.wait_for(send(message), timeout)

        async def pump() -> None:
            await send_or_give_up({
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache, no-store, must-revalidate"),
                    (b"x-accel-buffering", b"no"),
                ],
            })
            if self.asked is None or "event_stream_attached" in self.asked:
                attached = {"remoteAddress": self.remote or "", "eventType": "event_stream_attached",
                            "timestamp": format_ts(time.time())}
                await send_or_give_up({"type": "http.response.body", "body": event_frame(
                    "event_stream_attached", attached), "more_body": True})
            while True:
                if queue.empty():
                    try:
                        first = await asyncio.wait_for(queue.get(), settings.sse_heartbeat)
                    except asyncio.TimeoutError:
                        await send_or_give_up({"type": "http.response.body", "body": b":\n\n", "more_body": True})
                        continue
                else:
                    first = queue.get_nowait()
                batch: list[EngineEvent] = []
                ended = first is None
                if first is not None:
                    batch.append(first)
                while not ended and len(batch) < _BATCH and not queue.empty():
                    nxt = queue.get_nowait()
                    if nxt is None:
                        ended = True
                    else:
                        batch.append(nxt)
                for frame in self._frames(batch):
                    await send_or_give_up({"type": "http.response.body", "body": frame, "more_body": True})
                if ended:
                    await send_or_give_up({"type": "http.response.body", "body": b"", "more_body": False})
                    return

        async def watch() -> str:
            closing = asyncio.ensure_future(self.state.closing.wait())
            try:
                while True:
                    receiving = asyncio.ensure_future(receive())
                    done, _ = await asyncio.wait({receiving, closing}, return_when=asyncio.FIRST_COMPLETED)
                    if closing in done:
                        receiving.cancel()
                        return "closing"
                    if receiving.result().get("type") == "http.disconnect":
                        return "disconnect"
            finally:
                closing.cancel()

        self.state.streams += 1
        pumping = asyncio.ensure_future(pump())
        watching = asyncio.ensure_future(watch())
        try:
            done, _ = await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
            if pumping in done:
                exc = pumping.exception()
                if isinstance(exc, asyncio.TimeoutError):
                    log.info("event stream of %s closed: the client accepted no data for %.0fs",
                             self.remote, timeout)
                elif exc is not None:
                    raise exc
            else:
                pumping.cancel()
                try:
                    await pumping
                except (asyncio.CancelledError, asyncio.TimeoutError):
                    pass
                if watching.result() == "closing":
                    try:
                        await asyncio.wait_for(send({"type": "http.response.body", "body": b"", "more_body": False}),
                                               1.0)
                    except (asyncio.TimeoutError, OSError):
                        pass
        finally:
            watching.cancel()
            self.sub.close()
            self.state.streams -= 1


async def events(request: Request) -> EventStream:
    accept = request.headers.get("accept", "")
    if "text/event-stream" not in accept.lower():
        raise ApiError(405, "GET /v2/events is a server-sent event stream: send 'Accept: text/event-stream'")
    state = api(request)
    asked_list = [t for raw in request.query_params.getlist("event_type") for t in raw.split(",") if t.strip()]
    asked = frozenset(t.strip() for t in asked_list) if asked_list else None
    sub = state.engine.subscribe(maxsize=state.settings.sse_queue, event_types=asked)
    return EventStream(state, sub, asked=asked, remote=client_ip(request))

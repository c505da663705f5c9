"""/v2/events: the engine's event bus as server-sent events.

- One frame per event (`event:` line, one-line `data:` JSON, blank line), sent
  right away and never sharing an HTTP chunk with the next (a frame up to
  `PIECE` bytes is exactly one chunk): Python clients read with
  ``iter_lines(512)`` and would wait for more bytes otherwise.
- Memory is bounded in bytes. Each event is encoded once, when it is
  published, and the same bytes are queued for every stream (a `FrameBudget`
  on the bus; the event object itself is not kept). A stream may hold
  `sse_subscriber_bytes` (what it has queued and the frame it is sending),
  all streams together `sse_total_bytes` (each frame counted once); a stream
  past either (or past `sse_queue` events) is dropped by the bus with a final
  event and its queue freed at once; the engine never waits for a client.
  A frame goes to uvicorn in pieces of at most `PIECE` bytes, and uvicorn
  writes the next only once its transport is below the 64 KiB high-water
  mark: a client that does not read leaves at most that plus one piece in
  the server's write buffer (and what TCP_NOTSENT_LOWAT lets the kernel
  take, engine/api/server.py). A client that accepts nothing for
  `sse_send_timeout` seconds is disconnected; a stream whose client went
  away ends at once.
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

from engine.api.http import ApiError
from engine.api.json_views import event_frame, event_sse_frame
from engine.api.routes_apps import api, client_ip
from engine.api.state import ApiState
from engine.events import EVENT_TYPES, SubscriberDropped, Subscription
from engine.model import format_ts

log = logging.getLogger("pacer.api.sse")

DROPPED = SubscriberDropped.event_type
MARATHON_TYPES = frozenset(t for t in EVENT_TYPES if not t.startswith("pacer_"))
"""What a stream that names no `event_type` gets (Marathon clients fail on pacer's own types)."""
PIECE = 16 * 1024
"""Largest body handed to uvicorn in one send: a larger frame goes out as several chunks."""
HEARTBEAT = b":\n\n"


class EventStream:
    """The ASGI response of one subscriber."""

    def __init__(self, state: ApiState, sub: Subscription, *, asked: frozenset[str] | None, remote: str | None) -> None:
        self.state = state
        self.sub = sub
        self.asked = asked
        self.remote = remote

    def _notice(self, dropped: SubscriberDropped) -> bytes | None:
        """The last frame of a dropped stream: Marathon's event_stream_detached unless it asked for pacer's own."""
        if self.asked is not None and DROPPED in self.asked:
            return event_sse_frame(dropped)
        if self.asked is None or "event_stream_detached" in self.asked:
            return event_frame("event_stream_detached", {"remoteAddress": self.remote or "",
                                                         "eventType": "event_stream_detached",
                                                         "timestamp": format_ts(dropped.timestamp)})
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.state.settings
        timeout = settings.sse_send_timeout
        gone = asyncio.Event()  # the client went away or the server is closing: the pump stops

        async def send_or_give_up(body: bytes, more: bool = True) -> None:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the cancellation of a stream
            # whose client left, and the stream would then never end.
            async with asyncio.timeout(timeout):
                await send({"type": "http.response.body", "body": body, "more_body": more})

        async def pump() -> None:
            async with asyncio.timeout(timeout):
                await send({
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
                await send_or_give_up(event_frame("event_stream_attached", attached))
            while not gone.is_set():
                try:
                    async with asyncio.timeout(settings.sse_heartbeat):
                        item = await self.sub.next_frame()
                except TimeoutError:
                    await send_or_give_up(HEARTBEAT)
                    continue
                if item is None:
                    await send_or_give_up(b"", more=False)
                    return
                if isinstance(item, SubscriberDropped):
                    notice = self._notice(item)
                    if notice is not None:
                        await send_or_give_up(notice)
                    continue
                data = item.data
                if len(data) <= PIECE:
                    await send_or_give_up(data)
                else:
                    view = memoryview(data)
                    for at in range(0, len(data), PIECE):
                        await send_or_give_up(view[at:at + PIECE].tobytes())
                        if gone.is_set():
                            return
                        await asyncio.sleep(0)
                # A send that does not block does not yield: without this, one stream would write
                # everything it has queued (megabytes, for hundreds of streams) in one turn of the loop.
                await asyncio.sleep(0)

        async def watch() -> str:
            closing = asyncio.ensure_future(self.state.closing.wait())
            receiving: asyncio.Future[Message] | None = None
            try:
                while True:
                    receiving = asyncio.ensure_future(receive())
                    done, _ = await asyncio.wait({receiving, closing}, return_when=asyncio.FIRST_COMPLETED)
                    if closing in done:
                        return "closing"
                    if receiving.result().get("type") == "http.disconnect":
                        return "disconnect"
            finally:
                closing.cancel()
                if receiving is not None:
                    receiving.cancel()

        self.state.streams += 1
        pumping = asyncio.ensure_future(pump())
        watching = asyncio.ensure_future(watch())
        try:
            done, _ = await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
            if pumping in done:
                exc = pumping.exception()
                if isinstance(exc, TimeoutError):
                    log.info("event stream of %s closed: the client accepted no data for %.0fs",
                             self.remote, timeout)
                elif exc is not None:
                    raise exc
            else:
                gone.set()
                pumping.cancel()
                # Bounded: a stream never outlives its client by more than a send timeout.
                await asyncio.wait({pumping}, timeout=timeout)
                if not pumping.done():
                    log.warning("event stream of %s did not stop when its client left", self.remote)
                else:
                    failed = None if pumping.cancelled() else pumping.exception()
                    if failed is not None and not isinstance(failed, (TimeoutError, OSError)):
                        raise failed
                if watching.result() == "closing":
                    try:
                        async with asyncio.timeout(1.0):
                            await send({"type": "http.response.body", "body": b"", "more_body": False})
                    except (TimeoutError, OSError, RuntimeError):
                        pass
        finally:
            gone.set()
            watching.cancel()
            if not pumping.done():
                pumping.cancel()
            self.sub.close()
            self.state.streams -= 1
            self.state.memory_return.soon()


async def events(request: Request) -> EventStream:
    accept = request.headers.get("accept", "")
    if "text/event-stream" not in accept.lower():
        raise ApiError(405, "GET /v2/events is a server-sent event stream: send 'Accept: text/event-stream'")
    state = api(request)
    asked_list = [t for raw in request.query_params.getlist("event_type") for t in raw.split(",") if t.strip()]
    asked = frozenset(t.strip() for t in asked_list) if asked_list else None
    sub = state.engine.subscribe(maxsize=state.settings.sse_queue,
                                 event_types=asked if asked is not None else MARATHON_TYPES)
    state.sse_budget.attach(sub)
    return EventStream(state, sub, asked=asked, remote=client_ip(request))

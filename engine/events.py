"""The event bus: one in-process stream of typed events.

Every event is a frozen dataclass named in the past tense, with typed fields in
pacer's own words; `event_type` (a class constant) is Marathon's name for it
(status_update_event, deployment_success, ...), or ``pacer_...`` for pacer's own.
The Marathon JSON of an event is made at the API edge (engine/api/event_json.py).

Each subscriber has a bounded queue: a subscriber that falls behind is dropped
with a final `SubscriberDropped` instead of slowing the engine. Subscribers that
send events on as bytes (the API's /v2/events streams) share a `FrameBudget`:
each event is encoded once for all of them, and what they hold is bounded in
bytes, per subscriber and in all.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, ClassVar, Mapping

from engine.scheduler.state import TaskState

log = logging.getLogger("pacer.events")


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineEvent:
    """Base of every event: when it happened. Subclasses set `event_type`."""

    event_type: ClassVar[str] = ""
    timestamp: float = field(default_factory=time.time)

    @property
    def marathon(self) -> bool:
        """Marathon clients know this type (pacer's own go only to subscribers that ask for them)."""
        return not self.event_type.startswith("pacer_")


# -- tasks -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStatusChanged(EngineEvent):
    event_type: ClassVar[str] = "status_update_event"
    app_id: str
    task_id: str
    state: TaskState
    message: str
    agent: str
    host: str
    ip_address: str | None
    ports: tuple[int, ...]
    version: str


# -- apps and deployments ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AppSubmitted(EngineEvent):
    """An app definition came in through the API (Marathon's api_post_event)."""

    event_type: ClassVar[str] = "api_post_event"
    client_ip: str | None
    uri: str
    app_definition: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupChanged(EngineEvent):
    event_type: ClassVar[str] = "group_change_success"
    group_id: str
    version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AppTerminated(EngineEvent):
    event_type: ClassVar[str] = "app_terminated_event"
    app_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentStepStarted(EngineEvent):
    """A deployment began a step (Marathon's deployment_info)."""

    event_type: ClassVar[str] = "deployment_info"
    plan: Mapping[str, Any]
    app_id: str
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentStepSucceeded(EngineEvent):
    event_type: ClassVar[str] = "deployment_step_success"
    plan: Mapping[str, Any]
    app_id: str
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentSucceeded(EngineEvent):
    event_type: ClassVar[str] = "deployment_success"
    deployment_id: str
    plan: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentFailed(EngineEvent):
    event_type: ClassVar[str] = "deployment_failed"
    deployment_id: str
    plan: Mapping[str, Any]
    reason: str


# -- health ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheckFailed(EngineEvent):
    event_type: ClassVar[str] = "failed_health_check_event"
    app_id: str
    instance_id: str
    health_check: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthStatusChanged(EngineEvent):
    event_type: ClassVar[str] = "health_status_changed_event"
    app_id: str
    task_id: str
    instance_id: str
    version: str
    alive: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceHealthChanged(EngineEvent):
    event_type: ClassVar[str] = "instance_health_changed_event"
    app_id: str
    instance_id: str
    version: str
    healthy: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnhealthyTaskKilled(EngineEvent):
    event_type: ClassVar[str] = "unhealthy_instance_kill_event"
    app_id: str
    task_id: str
    instance_id: str
    version: str
    reason: str
    host: str
    agent: str


# -- agents, images, autoscaling (pacer's own) ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLost(EngineEvent):
    event_type: ClassVar[str] = "pacer_agent_unreachable"
    agent: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReturned(EngineEvent):
    event_type: ClassVar[str] = "pacer_agent_reachable"
    agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDrainStarted(EngineEvent):
    event_type: ClassVar[str] = "pacer_agent_draining"
    agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentResumed(EngineEvent):
    event_type: ClassVar[str] = "pacer_agent_resumed"
    agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSigned(EngineEvent):
    event_type: ClassVar[str] = "pacer_image_signed"
    image: str
    image_id: str
    key_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSignatureRemoved(EngineEvent):
    event_type: ClassVar[str] = "pacer_image_signature_removed"
    image: str
    image_id: str
    key_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImagePullProgressed(EngineEvent):
    """An image pull on an agent was queued, started, went on, finished or failed (progress at most twice a
    second per pull). `text` is what operators read: "pulling IMAGE: 41% of 212 MB", or why it failed."""

    event_type: ClassVar[str] = "pacer_image_pull"
    agent: str
    image: str
    status: str
    """queued | pulling | done | failed"""
    downloaded: int
    total: int
    task_ids: tuple[str, ...]
    text: str
    first: bool = False
    """The first event of this status for this pull (a progress tick is not)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoscaleDecided(EngineEvent):
    """The autoscaler changed an app's instances (or tried to): the decision and its inputs."""

    event_type: ClassVar[str] = "pacer_autoscale"
    app_id: str
    record: Mapping[str, Any]
    """The decision as /pacer/v1/apps/{id}/autoscale shows it (metric, value, target, from, to, reason...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriberDropped(EngineEvent):
    """The last event a too-slow subscriber gets."""

    event_type: ClassVar[str] = "pacer_subscriber_dropped"
    reason: str


EVENT_CLASSES: tuple[type[EngineEvent], ...] = (
    TaskStatusChanged, AppSubmitted, GroupChanged, AppTerminated, DeploymentStepStarted, DeploymentStepSucceeded,
    DeploymentSucceeded, DeploymentFailed, HealthCheckFailed, HealthStatusChanged, InstanceHealthChanged,
    UnhealthyTaskKilled, AgentLost, AgentReturned, AgentDrainStarted, AgentResumed, ImageSigned,
    ImageSignatureRemoved, ImagePullProgressed, AutoscaleDecided, SubscriberDropped,
)
EVENT_TYPES: frozenset[str] = frozenset(c.event_type for c in EVENT_CLASSES)
"""Every event type name the engine publishes."""


DROPPED_SLOW = "subscriber too slow; queue full"

ENTRY_BYTES = 16
"""What one queued frame costs a subscriber beside the frame's bytes: its queue slot (measured with
tracemalloc on Python 3.11: 9 bytes per entry over 100 subscribers x 2,000 events)."""
FRAME_BYTES = 96
"""What one encoded frame costs beside its data, counted once per budget: the Frame and bytes objects
(measured: 89 bytes)."""


@dataclass(eq=False, slots=True)
class Frame:
    """One event as bytes, encoded once and shared by every subscription of a `FrameBudget` that queues it."""

    event_type: str
    data: bytes
    holders: int = 0
    """Queue entries (and frames being sent) of the budget's subscriptions holding this frame."""

    @property
    def cost(self) -> int:
        return len(self.data) + ENTRY_BYTES


class FrameBudget:
    """Bytes held for a group of subscriptions (the /v2/events streams of an API), bounded per subscriber and in all.

    A subscription attached to a budget (`attach`) queues each event it wants as a `Frame`: the event
    encoded once by `encode`, the same bytes for every member (the event object itself is not kept).
    A member holds its queued frames plus the one it is sending, each counted whole plus ENTRY_BYTES;
    when an event would take it past `per_subscriber` bytes (or past its queue's event count) it is
    dropped with a final `SubscriberDropped`, its queue emptied at once. A frame larger than
    `per_subscriber` still goes to a member that has nothing queued. All members together hold
    `used` bytes (each distinct frame once, plus every entry); past `total`, the members holding the
    most are dropped until it fits again.
    """

    def __init__(self, encode: Callable[[EngineEvent], bytes], *, per_subscriber: int, total: int) -> None:
        self._encode = encode
        self.per_subscriber = per_subscriber
        self.total = total
        self.members: set[Subscription] = set()
        self.frame_bytes = 0
        """Distinct frames held by some member: their data plus FRAME_BYTES each."""
        self.entries = 0
        """Frames queued or being sent, over all members."""
        self.dropped = 0
        """Members dropped for holding too much, since the budget was made."""

    @property
    def used(self) -> int:
        return self.frame_bytes + self.entries * ENTRY_BYTES

    def attach(self, sub: "Subscription") -> None:
        """Make a new subscription (nothing queued yet) queue frames within this budget."""
        if sub._budget is not None or not sub.queue.empty() or sub.closed:
            raise ValueError("attach a budget to a new subscription, before any event reaches it")
        sub._budget = self
        sub._wakeup = asyncio.Event()
        self.members.add(sub)

    def _frame(self, event: EngineEvent, encoded: dict["FrameBudget", Frame | None]) -> Frame | None:
        """The event's frame, encoded by the first member it reaches in this publish (None: it cannot be)."""
        if self in encoded:
            return encoded[self]
        frame: Frame | None = None
        try:
            frame = Frame(event.event_type, self._encode(event))
        except Exception:  # a bug in an encoder: its streams are told, the engine goes on
            log.exception("cannot encode %s for event streams", type(event).__name__)
        encoded[self] = frame
        return frame

    def _hold(self, frame: Frame) -> None:
        if frame.holders == 0:
            self.frame_bytes += len(frame.data) + FRAME_BYTES
        frame.holders += 1
        self.entries += 1

    def _release(self, frame: Frame) -> None:
        frame.holders -= 1
        self.entries -= 1
        if frame.holders == 0:
            self.frame_bytes -= len(frame.data) + FRAME_BYTES

    def _fit(self) -> None:
        while self.used > self.total and self.members:
            victim = max(self.members, key=lambda s: s.held_bytes)
            self.dropped += 1
            victim._drop(f"event streams past their memory budget ({self.total} bytes); "
                         f"this one held the most ({victim.held_bytes} bytes)")


class Subscription:
    """A subscriber's bounded queue of events (or, attached to a `FrameBudget`, of encoded frames)."""

    def __init__(self, bus: "EventBus", maxsize: int, event_types: frozenset[str] | None) -> None:
        self._bus = bus
        # Room for the final word and the end marker whatever the size.
        self.queue: asyncio.Queue[EngineEvent | None] = asyncio.Queue(max(maxsize, 2) if maxsize > 0 else 0)
        self.maxsize = maxsize
        self.event_types = event_types
        self.dropped = False
        self.closed = False
        self._budget: FrameBudget | None = None
        self._frames: collections.deque[Frame] = collections.deque()
        self._sending: Frame | None = None
        self._end: collections.deque[SubscriberDropped | None] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self.held_bytes = 0
        """Attached to a budget: the bytes of the frames queued and the one being sent."""

    def wants(self, event: EngineEvent) -> bool:
        return self.event_types is None or event.event_type in self.event_types

    def close(self) -> None:
        """Leave the bus; with a budget, everything held is released at once."""
        self._bus._subs.discard(self)
        if self.closed:
            return
        self.closed = True
        if self._budget is not None:
            self._budget.members.discard(self)
            self._release_all()
            self._end.clear()
            self._end.append(None)
            self._wake()

    def __aiter__(self) -> AsyncIterator[EngineEvent]:
        if self._budget is not None:
            raise TypeError("a subscription with a FrameBudget is read with next_frame()")
        return self._iter()

    async def _iter(self) -> AsyncIterator[EngineEvent]:
        try:
            while True:
                event = await self.queue.get()
                if event is None:
                    return
                yield event
        finally:
            self.close()

    async def next_frame(self) -> Frame | SubscriberDropped | None:
        """The next frame to send (with a FrameBudget); the drop notice of a dropped subscription, then None.

        The frame returned counts against the budget until the next call (or `close`): it is being sent.
        """
        if self._budget is None or self._wakeup is None:
            raise TypeError("next_frame() needs a subscription attached to a FrameBudget")
        while True:
            if self._sending is not None:
                self._release(self._sending)
                self._sending = None
            if self._frames:
                self._sending = self._frames.popleft()
                return self._sending
            if self._end:
                return self._end.popleft() if len(self._end) > 1 else self._end[0]
            self._wakeup.clear()
            await self._wakeup.wait()

    # -- the bus's side --------------------------------------------------------------------------

    def _offer(self, event: EngineEvent, encoded: dict[FrameBudget, Frame | None]) -> None:
        if self.dropped or self.closed:  # dropped by the total earlier in this same publish
            return
        budget = self._budget
        if budget is None:
            try:
                self.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._drop(DROPPED_SLOW)
            return
        frame = budget._frame(event, encoded)
        if frame is None:
            self._drop(f"event {event.event_type} could not be encoded")
            return
        if self.maxsize > 0 and len(self._frames) >= self.maxsize:
            self._drop(DROPPED_SLOW)
            return
        if self._frames and self.held_bytes + frame.cost > budget.per_subscriber:
            budget.dropped += 1
            self._drop(f"subscriber too slow: {self.held_bytes} bytes queued, "
                       f"limit {budget.per_subscriber} bytes")
            return
        budget._hold(frame)
        self.held_bytes += frame.cost
        self._frames.append(frame)
        self._wake()
        if budget.used > budget.total:
            budget._fit()

    def _drop(self, reason: str) -> None:
        self.dropped = True
        self._bus._subs.discard(self)
        if self._budget is None:
            # Make room for a final word, then the end marker.
            while self.queue.qsize() > max(self.queue.maxsize - 2, 0):
                self.queue.get_nowait()
            self.queue.put_nowait(SubscriberDropped(reason=reason))
            self.queue.put_nowait(None)
            return
        # What it had queued is never sent: freed now, not when its client gets round to it.
        self._budget.members.discard(self)
        while self._frames:
            self._release(self._frames.popleft())
        self._end.clear()
        self._end.extend((SubscriberDropped(reason=reason), None))
        self._wake()

    def _end_stream(self) -> None:
        """The engine stops: the subscriber gets what it has queued, then the end."""
        self._bus._subs.discard(self)
        if self._budget is None:
            try:
                self.queue.put_nowait(None)
            except asyncio.QueueFull:
                self._drop(DROPPED_SLOW)
            return
        if not self._end:
            self._end.append(None)
        self._wake()

    def _release(self, frame: Frame) -> None:
        assert self._budget is not None
        self._budget._release(frame)
        self.held_bytes -= frame.cost

    def _release_all(self) -> None:
        while self._frames:
            self._release(self._frames.popleft())
        if self._sending is not None:
            self._release(self._sending)
            self._sending = None

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self.published = 0

    def subscribe(self, *, maxsize: int = 10_000, event_types: frozenset[str] | None = None) -> Subscription:
        sub = Subscription(self, maxsize, event_types)
        self._subs.add(sub)
        return sub

    def publish(self, event: EngineEvent) -> EngineEvent:
        self.published += 1
        encoded: dict[FrameBudget, Frame | None] = {}  # each budget encodes the event once, for all its subscribers
        for sub in list(self._subs):
            if sub.wants(event):
                sub._offer(event, encoded)
        return event

    def close(self) -> None:
        for sub in list(self._subs):
            sub._end_stream()
        self._subs.clear()

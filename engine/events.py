"""The event bus: one in-process stream of typed events.

Every event is a frozen dataclass named in the past tense, with typed fields in
pacer's own words; `event_type` (a class constant) is Marathon's name for it
(status_update_event, deployment_success, ...), or ``pacer_...`` for pacer's own.
The Marathon JSON of an event is made at the API edge (engine/api/event_json.py).

Each subscriber has a bounded queue: a subscriber that falls behind is dropped
with a final `SubscriberDropped` instead of slowing the engine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, ClassVar, Mapping

from engine.scheduler.state import TaskState


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


class Subscription:
    def __init__(self, bus: "EventBus", maxsize: int, event_types: frozenset[str] | None) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[EngineEvent | None] = asyncio.Queue(maxsize)
        self.event_types = event_types
        self.dropped = False

    def wants(self, event: EngineEvent) -> bool:
        return self.event_types is None or event.event_type in self.event_types

    def close(self) -> None:
        self._bus._subs.discard(self)

    def __aiter__(self) -> AsyncIterator[EngineEvent]:
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
        sub.queue.put_nowait(SubscriberDropped(reason="subscriber too slow; queue full"))
        sub.queue.put_nowait(None)

    def close(self) -> None:
        for sub in list(self._subs):
            try:
                sub.queue.put_nowait(None)
            except asyncio.QueueFull:
                self._drop(sub)
        self._subs.clear()

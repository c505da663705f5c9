"""The event bus's byte budget (FrameBudget): events encoded once, what subscribers hold bounded in bytes."""

from __future__ import annotations

import asyncio

import pytest

from engine.events import (
    ENTRY_BYTES,
    FRAME_BYTES,
    EngineEvent,
    EventBus,
    Frame,
    FrameBudget,
    GroupChanged,
    SubscriberDropped,
    Subscription,
)

SIZE = 10_000


class Encoder:
    """Encodes an event as `SIZE` bytes naming its group, and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: EngineEvent) -> bytes:
        self.calls += 1
        assert isinstance(event, GroupChanged)
        return event.group_id.encode().ljust(SIZE, b".")


def changed(i: int) -> GroupChanged:
    return GroupChanged(group_id=f"/g{i}", version=str(i))


def attached(bus: EventBus, budget: FrameBudget, n: int, maxsize: int = 10_000) -> list[Subscription]:
    subs = [bus.subscribe(maxsize=maxsize) for _ in range(n)]
    for sub in subs:
        budget.attach(sub)
    return subs


async def frames_until_end(sub: Subscription) -> list[Frame | SubscriberDropped]:
    got: list[Frame | SubscriberDropped] = []
    for _ in range(10_000):
        item = await asyncio.wait_for(sub.next_frame(), 1)
        if item is None:
            return got
        got.append(item)
    raise AssertionError("no end")


async def test_each_event_is_encoded_once_and_its_bytes_shared() -> None:
    bus, encode = EventBus(), Encoder()
    budget = FrameBudget(encode, per_subscriber=10 * SIZE, total=1000 * SIZE)
    subs = attached(bus, budget, 50)
    for i in range(5):
        bus.publish(changed(i))
    assert encode.calls == 5, "one encoding per event, not per subscriber"
    firsts = [await sub.next_frame() for sub in subs]
    assert all(isinstance(f, Frame) and f.data.startswith(b"/g0.") for f in firsts)
    assert len({id(f) for f in firsts}) == 1, "every subscriber holds the same frame"
    # Each distinct frame counts once in the total; every entry counts for its subscriber.
    assert budget.frame_bytes == 5 * (SIZE + FRAME_BYTES)
    assert budget.entries == 50 * 5
    assert budget.used == 5 * (SIZE + FRAME_BYTES) + 250 * ENTRY_BYTES
    assert all(sub.held_bytes == 5 * (SIZE + ENTRY_BYTES) for sub in subs)


async def test_a_subscriber_past_its_bytes_is_dropped_and_freed_at_once() -> None:
    bus, encode = EventBus(), Encoder()
    budget = FrameBudget(encode, per_subscriber=5 * (SIZE + ENTRY_BYTES), total=1000 * SIZE)
    stalled, reader = attached(bus, budget, 2)
    delivered = 0
    for i in range(40):
        bus.publish(changed(i))
        frame = await reader.next_frame()  # the reader keeps up, one event behind at most
        assert isinstance(frame, Frame) and frame.data.startswith(f"/g{i}.".encode())
        delivered += 1
    assert stalled.dropped and not reader.dropped
    assert stalled.held_bytes == 0, "a dropped subscriber's queue is freed when it is dropped"
    assert stalled not in budget.members and stalled not in bus._subs
    assert budget.dropped == 1
    got = await frames_until_end(stalled)
    assert got == [got[0]] and isinstance(got[0], SubscriberDropped)
    assert "too slow" in got[0].reason
    assert await stalled.next_frame() is None, "the end stays the end"
    # What is left is the reader's frame being sent: one entry, one frame.
    assert budget.entries == 1 and budget.used == SIZE + FRAME_BYTES + ENTRY_BYTES
    assert delivered == 40


async def test_the_total_drops_the_subscribers_holding_the_most() -> None:
    bus, encode = EventBus(), Encoder()
    per_frame = SIZE + FRAME_BYTES + ENTRY_BYTES
    budget = FrameBudget(encode, per_subscriber=1000 * SIZE, total=12 * per_frame)
    early, late = attached(bus, budget, 2)
    for i in range(8):
        bus.publish(changed(i))
    for _ in range(8):
        await late.next_frame()
    assert budget.used <= budget.total and not early.dropped
    for i in range(8, 14):  # early holds 8 + 6 frames, late 6 of them: past 12 distinct frames
        bus.publish(changed(i))
    assert early.dropped and not late.dropped
    assert "held the most" in (await early.next_frame()).reason  # type: ignore[union-attr]
    assert budget.used <= budget.total
    assert late.held_bytes == 7 * (SIZE + ENTRY_BYTES), "6 queued and the one it is sending"


async def test_close_releases_everything_held() -> None:
    bus, encode = EventBus(), Encoder()
    budget = FrameBudget(encode, per_subscriber=100 * SIZE, total=1000 * SIZE)
    subs = attached(bus, budget, 3)
    for i in range(10):
        bus.publish(changed(i))
    await subs[0].next_frame()  # one frame being sent
    assert budget.used > 0
    for sub in subs:
        sub.close()
        sub.close()  # twice is harmless
    assert budget.used == 0 and budget.entries == 0 and budget.frame_bytes == 0
    assert not budget.members and not bus._subs
    assert all(sub.held_bytes == 0 for sub in subs)
    assert await subs[1].next_frame() is None


async def test_a_frame_larger_than_the_budget_reaches_an_empty_subscriber() -> None:
    bus, encode = EventBus(), Encoder()
    budget = FrameBudget(encode, per_subscriber=SIZE // 2, total=1000 * SIZE)
    (sub,) = attached(bus, budget, 1)
    bus.publish(changed(1))
    assert not sub.dropped
    assert isinstance(await sub.next_frame(), Frame)
    bus.publish(changed(2))  # nothing queued (one being sent): still delivered
    assert not sub.dropped
    bus.publish(changed(3))  # one queued already: past the budget
    assert sub.dropped


async def test_the_event_count_still_bounds_a_budgeted_subscriber() -> None:
    bus, encode = EventBus(), Encoder()
    budget = FrameBudget(encode, per_subscriber=1000 * SIZE, total=1000 * SIZE)
    (sub,) = attached(bus, budget, 1, maxsize=3)
    for i in range(4):
        bus.publish(changed(i))
    assert sub.dropped and sub.held_bytes == 0


async def test_engine_stop_ends_a_budgeted_subscriber_after_its_frames() -> None:
    bus, encode = EventBus(), Encoder()
    budget = FrameBudget(encode, per_subscriber=100 * SIZE, total=1000 * SIZE)
    (sub,) = attached(bus, budget, 1)
    bus.publish(changed(1))
    bus.close()
    got = await frames_until_end(sub)
    assert [f.data[:4] for f in got if isinstance(f, Frame)] == [b"/g1."]
    sub.close()
    assert budget.used == 0


async def test_an_encoder_failure_drops_its_subscribers_not_the_publisher() -> None:
    bus = EventBus()

    def broken(event: EngineEvent) -> bytes:
        raise ValueError("boom")

    budget = FrameBudget(broken, per_subscriber=SIZE, total=SIZE)
    (sub,) = attached(bus, budget, 1)
    plain = bus.subscribe()
    event = bus.publish(changed(1))  # does not raise
    assert sub.dropped and not plain.dropped
    assert plain.queue.get_nowait() is event, "subscribers without the budget still get the event"
    notice = await sub.next_frame()
    assert isinstance(notice, SubscriberDropped) and "could not be encoded" in notice.reason


def test_attach_only_to_a_new_subscription() -> None:
    bus, encode = EventBus(), Encoder()
    budget = FrameBudget(encode, per_subscriber=SIZE, total=SIZE)
    sub = bus.subscribe()
    bus.publish(changed(1))
    with pytest.raises(ValueError):
        budget.attach(sub)
    fresh = bus.subscribe()
    budget.attach(fresh)
    with pytest.raises(TypeError):
        fresh.__aiter__()

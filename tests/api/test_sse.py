"""/v2/events: framing, Marathon's event order, filters, pacer-only types, slow subscribers."""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import threading
from typing import Any

import httpx
import pytest

from engine import Engine
from engine.agents.sim import SimAgent
from engine.api import ApiServer, ApiSettings, build_app
from engine.events import TaskStatusChanged
from engine.scheduler.state import TaskState
from tests.api.conftest import app_body
from tests.api.sse_client import RawStream, open_stream
from tests.conftest import wait_until

collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

import marathon  # noqa: E402
from marathon.models.events import MarathonDeploymentSuccess  # noqa: E402


async def until(stream: RawStream, wanted: str, seen: list[tuple[str, dict[str, Any]]], timeout: float = 10.0) -> \
        dict[str, Any]:
    while True:
        kind, data = await stream.event(timeout)
        seen.append((kind, data))
        if kind == wanted:
            return data


def subsequence(kinds: list[str], wanted: list[str]) -> bool:
    it = iter(kinds)
    return all(any(k == w for k in it) for w in wanted)


async def test_requires_event_stream_accept(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/events", headers={"Accept": "application/json"})
    assert r.status_code == 405 and r.json()["message"]


async def test_frames_are_one_chunk_each_and_marathon_order(server: ApiServer, engine: Engine) -> None:
    stream = await open_stream(server.host, server.port, "/v2/events")
    try:
        assert stream.status == 200
        assert stream.headers["content-type"] == "text/event-stream"
        assert stream.headers["transfer-encoding"] == "chunked"
        kind, data = await stream.event()
        assert kind == "event_stream_attached" and data["remoteAddress"] == "127.0.0.1"
        async with httpx.AsyncClient(base_url=server.url) as c:
            r = await c.post("/v2/apps", json=app_body("/shop/web", instances=2))
        deployment_id = r.headers["marathon-deployment-id"]
        seen: list[tuple[str, dict[str, Any]]] = []
        done = await until(stream, "deployment_success", seen)
        assert done["id"] == deployment_id
        kinds = [k for k, _ in seen]
        assert subsequence(kinds, ["api_post_event", "group_change_success", "deployment_info",
                                   "status_update_event", "deployment_success"]), kinds
        assert kinds.index("api_post_event") < kinds.index("deployment_info")
        post = dict(seen)["api_post_event"]
        assert post["clientIp"] == "127.0.0.1" and post["uri"] == "/v2/apps"
        assert post["appDefinition"]["id"] == "/shop/web"
        infos = [d for k, d in seen if k == "deployment_info"]
        assert all(i["plan"]["id"] == deployment_id and {"original", "target", "steps"} <= set(i["plan"]) for i in infos)
        # One deployment_info at the start of each step: StartApplication, then ScaleApplication.
        assert [i["currentStep"]["actions"][0]["action"] for i in infos] == ["StartApplication", "ScaleApplication"]
        running = [d for k, d in seen if k == "status_update_event" and d["taskStatus"] == "TASK_RUNNING"]
        assert len(running) == 2 and all(d["appId"] == "/shop/web" and d["slaveId"] for d in running)
        assert all(not k.startswith("pacer_") for k in kinds)
        assert all(d["timestamp"].endswith("Z") for _, d in seen)
    finally:
        await stream.close()


async def test_event_type_filter_and_pacer_types_only_on_request(server: ApiServer, engine: Engine,
                                                                 agents: dict[str, SimAgent]) -> None:
    only = await open_stream(server.host, server.port, "/v2/events?event_type=deployment_success")
    everything = await open_stream(server.host, server.port, "/v2/events")
    pacer = await open_stream(server.host, server.port,
                              "/v2/events?event_type=pacer_agent_unreachable&event_type=deployment_success")
    try:
        assert (await everything.event())[0] == "event_stream_attached"
        agents["s2"].reachable = False
        await wait_until(lambda: not engine.snapshot().agents[1].reachable, 5, message="s2 unreachable")
        async with httpx.AsyncClient(base_url=server.url) as c:
            await c.post("/v2/apps", json=app_body(instances=1))
        kind, _ = await only.event()
        assert kind == "deployment_success"
        seen: list[tuple[str, dict[str, Any]]] = []
        await until(everything, "deployment_success", seen)
        assert all(not k.startswith("pacer_") for k, _ in seen)
        kinds = [(await pacer.event())[0], (await pacer.event())[0]]
        assert kinds == ["pacer_agent_unreachable", "deployment_success"]
    finally:
        agents["s2"].reachable = True
        for s in (only, everything, pacer):
            await s.close()


async def test_marathon_client_event_stream(server: ApiServer, engine: Engine) -> None:
    """marathon-python 0.13's event_stream parses deployment_info (needs plan.original/target) and the rest."""
    got: list[Any] = []
    ready = threading.Event()

    def listen() -> None:
        c = marathon.MarathonClient(server.url)
        stream = c.event_stream(event_types=["deployment_info", "deployment_success", "api_post_event",
                                             "status_update_event"])
        ready.set()
        for event in stream:
            got.append(event)
            if isinstance(event, MarathonDeploymentSuccess):
                return

    thread = asyncio.ensure_future(asyncio.to_thread(listen))
    await asyncio.to_thread(ready.wait, 5)
    await wait_until(lambda: server.state.streams >= 1, 5, message="client subscribed")
    async with httpx.AsyncClient(base_url=server.url) as c:
        await c.post("/v2/apps", json=app_body(instances=1))
    await asyncio.wait_for(thread, 15)
    names = [type(e).__name__ for e in got]
    assert subsequence(names, ["MarathonApiPostEvent", "MarathonDeploymentInfo", "MarathonStatusUpdateEvent",
                               "MarathonDeploymentSuccess"]), names
    assert got[0].client_ip == "127.0.0.1"


async def test_marathon_order_with_health_checks(server: ApiServer, engine: Engine) -> None:
    """api_post_event, deployment_info, status_update_event, health_status_changed_event, deployment_success."""
    stream = await open_stream(server.host, server.port, "/v2/events?" + "&".join(
        f"event_type={t}" for t in ("api_post_event", "deployment_info", "status_update_event",
                                    "health_status_changed_event", "deployment_success")))
    try:
        body = app_body("/checked", instances=1, healthChecks=[
            {"protocol": "COMMAND", "command": {"value": "true"}, "gracePeriodSeconds": 5, "intervalSeconds": 1,
             "timeoutSeconds": 1, "maxConsecutiveFailures": 3}])
        async with httpx.AsyncClient(base_url=server.url) as c:
            r = await c.post("/v2/apps", json=body)
        assert r.status_code == 201, r.text
        seen: list[tuple[str, dict[str, Any]]] = []
        await until(stream, "deployment_success", seen, timeout=20)
        kinds = [k for k, _ in seen]
        assert subsequence(kinds, ["api_post_event", "deployment_info", "status_update_event",
                                   "health_status_changed_event", "deployment_success"]), kinds
        health = dict(seen)["health_status_changed_event"]
        assert health["appId"] == "/checked" and health["alive"] is True
    finally:
        await stream.close()


def _running(task_id: str, message: str) -> TaskStatusChanged:
    """A status event as the engine publishes them (tests publish straight onto the engine's bus)."""
    return TaskStatusChanged(app_id="/burst", task_id=task_id, state=TaskState.RUNNING, message=message, agent="s1",
                             host="s1", ip_address=None, ports=(), version="v")


async def _publish_burst(engine: Engine, n: int, size: int = 0) -> None:
    pad = "x" * size
    for i in range(n):
        engine._bus.publish(_running(f"t{i}", pad))
        if i % 20 == 19:
            await asyncio.sleep(0.001)  # the engine publishes in bursts (one reconcile round), then yields


async def test_stalled_subscriber_is_dropped_and_others_get_everything(engine: Engine) -> None:
    """ASGI level: one subscriber's send never completes (a client that stopped reading)."""
    settings = ApiSettings(sse_queue=100, sse_heartbeat=30, sse_send_timeout=0.5)
    app = build_app(engine, settings)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/v2/events", "raw_path": b"/v2/events", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"pacer.test"), (b"accept", b"text/event-stream")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8080)}
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await never.wait()
        return {"type": "http.disconnect"}

    stalled_sent: list[dict[str, Any]] = []

    async def stalled_send(message: dict[str, Any]) -> None:
        stalled_sent.append(message)
        if message["type"] == "http.response.body":
            await never.wait()

    healthy_frames: list[bytes] = []

    async def healthy_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            healthy_frames.append(message["body"])

    stalled = asyncio.ensure_future(app(dict(scope), receive, stalled_send))
    healthy = asyncio.ensure_future(app(dict(scope, client=("127.0.0.2", 2)), receive, healthy_send))
    await wait_until(lambda: len(engine._bus._subs) == 2 and healthy_frames, 5, message="both subscribed")
    n = 2000
    await _publish_burst(engine, n)
    await wait_until(lambda: sum(b"t%d\"" % (n - 1) in f for f in healthy_frames[-3:]) == 1, 5,
                     message="healthy subscriber got the last event")
    await asyncio.wait_for(stalled, 5)  # closed after sse_send_timeout, not left hanging
    updates = [f for f in healthy_frames if f.startswith(b"event: status_update_event")]
    assert len(updates) == n, "the healthy subscriber saw every event, in order"
    assert all(f'"taskId":"t{i}"'.encode() in f for i, f in enumerate(updates))
    assert len(engine._bus._subs) == 1, "the stalled subscriber left the bus"
    never.set()
    await asyncio.wait_for(healthy, 5)


async def test_slow_socket_reader_is_dropped_with_a_final_event(server: ApiServer, engine: Engine) -> None:
    """Loopback: a client that stops reading is dropped (event_stream_detached), a reading one is not."""
    stalled = await open_stream(server.host, server.port, "/v2/events", rcvbuf=4096)
    reader = await open_stream(server.host, server.port, "/v2/events")
    try:
        assert (await stalled.event())[0] == "event_stream_attached"
        assert (await reader.event())[0] == "event_stream_attached"
        n = 6000
        got = 0
        consumer_done = asyncio.Event()

        async def consume() -> None:
            nonlocal got
            while got < n:
                kind, _ = await reader.event()
                assert kind == "status_update_event", kind
                got += 1
            consumer_done.set()

        consuming = asyncio.ensure_future(consume())
        pad = "x" * 2000
        for i in range(n):
            engine._bus.publish(_running(f"t{i}", pad))
            while i - got > 100:  # this test shares one loop with the server: let the reader keep up
                await asyncio.sleep(0.001)
        await asyncio.wait_for(consuming, 30)
        assert got == n
        await wait_until(lambda: len(engine._bus._subs) == 1, 10, message="stalled subscriber dropped")
        # Now read what the stalled client was sent: events, then Marathon's detach event, then the end.
        last = None
        while True:
            try:
                last = await stalled.event(timeout=10)
            except (EOFError, asyncio.IncompleteReadError, ConnectionError):
                break
            if last[0] == "event_stream_detached":
                break
        assert last is not None and last[0] == "event_stream_detached"
    finally:
        await stalled.close()
        await reader.close()


@pytest.mark.parametrize("asked", [None, "pacer_subscriber_dropped"])
async def test_drop_notice_depends_on_what_was_asked(engine: Engine, asked: str | None) -> None:
    settings = ApiSettings(sse_queue=5, sse_heartbeat=30, sse_send_timeout=5)
    app = build_app(engine, settings)
    query = f"event_type=status_update_event&event_type={asked}".encode() if asked else b""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/v2/events", "raw_path": b"/v2/events", "query_string": query, "root_path": "",
             "headers": [(b"accept", b"text/event-stream")], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 8080)}
    gate = asyncio.Event()
    frames: list[bytes] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            await gate.wait()  # slow: nothing goes out until the burst is over
            frames.append(message.get("body", b""))

    call = asyncio.ensure_future(app(scope, receive, send))
    await wait_until(lambda: len(engine._bus._subs) == 1, 5, message="subscribed")
    await asyncio.sleep(0.05)
    for i in range(20):
        engine._bus.publish(_running(f"t{i}", ""))
    gate.set()
    await asyncio.wait_for(call, 5)
    kinds = [f.split(b"\n")[0] for f in frames if f.startswith(b"event:")]
    expected = b"event: pacer_subscriber_dropped" if asked else b"event: event_stream_detached"
    assert kinds[-1] == expected
    assert frames[-1] == b"", "the stream ends after the notice"


# -- memory: bounded in bytes, shared frames, streams that end with their clients --------------------------------------


def _events_scope(query: bytes = b"", client: tuple[str, int] = ("127.0.0.1", 1)) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": "/v2/events", "raw_path": b"/v2/events", "query_string": query, "root_path": "",
            "headers": [(b"accept", b"text/event-stream")], "client": client, "server": ("127.0.0.1", 8080)}


async def test_stalled_streams_share_one_encoding_and_stay_within_their_bytes(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """30 clients whose sends never complete, 100 KB events: each held within its budget, then dropped and freed."""
    import engine.api.state as api_state

    encoded: list[str] = []
    real = api_state.event_sse_frame

    def counting(event: Any) -> bytes:
        encoded.append(event.event_type)
        return real(event)

    monkeypatch.setattr(api_state, "event_sse_frame", counting)
    per_subscriber = 1_000_000
    settings = ApiSettings(sse_subscriber_bytes=per_subscriber, sse_total_bytes=50_000_000, sse_heartbeat=30,
                           sse_send_timeout=1.0)
    app = build_app(engine, settings)
    budget = app.state.api.sse_budget
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await never.wait()
        return {"type": "http.disconnect"}

    async def stalled_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            await never.wait()

    n = 30
    calls = [asyncio.ensure_future(app(_events_scope(client=("127.0.0.1", i)), receive, stalled_send))
             for i in range(n)]
    await wait_until(lambda: len(budget.members) == n, 5, message="all subscribed")
    subs = list(budget.members)
    highest = 0
    reached = 0
    for i in range(40):
        reached += bool(budget.members)
        engine._bus.publish(_running(f"t{i}", "x" * 100_000))
        highest = max([highest, *(s.held_bytes for s in subs)])
        await asyncio.sleep(0)
    assert 5 <= reached < 40
    assert encoded.count("status_update_event") == reached, "each event encoded once, not once per stream"
    assert highest <= per_subscriber, f"a stream held {highest} bytes"
    assert all(s.dropped for s in subs), "every stalled stream was dropped past its bytes"
    assert budget.used == 0, "dropped streams hold nothing (their sends never started)"
    await asyncio.wait_for(asyncio.gather(*calls), 10)  # closed after sse_send_timeout
    assert budget.used == 0 and budget.entries == 0 and not budget.members
    assert not engine._bus._subs


async def test_stream_ends_when_its_client_leaves_while_events_flow(server: ApiServer, engine: Engine) -> None:
    """Clients that stop reading, then close: their streams end at once (not after a send timeout, not never)."""
    import socket

    def connect() -> socket.socket:
        s = socket.create_connection((server.host, server.port), timeout=5)
        s.sendall(f"GET /v2/events HTTP/1.1\r\nHost: {server.host}\r\nAccept: text/event-stream\r\n\r\n".encode())
        return s

    clients = [await asyncio.to_thread(connect) for _ in range(3)]
    await wait_until(lambda: server.state.streams == 3, 5, message="streams open")
    for i in range(60):  # 12 MB: more than the kernel takes, so the streams' sends block
        engine._bus.publish(_running(f"t{i}", "x" * 200_000))
        await asyncio.sleep(0.01)
    for c in clients:
        c.close()
    # The server fixture's send timeout is 5 s: this must happen well before it.
    await wait_until(lambda: server.state.streams == 0, 3, interval=0.05, message="streams ended with their clients")
    budget = server.state.sse_budget
    assert not engine._bus._subs and budget.used == 0 and budget.entries == 0


async def test_a_client_that_does_not_read_leaves_little_in_the_kernel(server: ApiServer, engine: Engine) -> None:
    """TCP_NOTSENT_LOWAT on the API's socket: a stalled client's connection takes ~32 KiB unsent, not megabytes."""
    import socket

    def connect() -> socket.socket:
        s = socket.create_connection((server.host, server.port), timeout=5)
        s.sendall(f"GET /v2/events HTTP/1.1\r\nHost: {server.host}\r\nAccept: text/event-stream\r\n\r\n".encode())
        return s

    client = await asyncio.to_thread(connect)
    try:
        budget = server.state.sse_budget
        await wait_until(lambda: len(budget.members) == 1, 5, message="subscribed")
        (sub,) = budget.members
        n, size = 60, 100_000  # 6 MB, within the 8 MiB a stream may hold
        for i in range(n):
            engine._bus.publish(_running(f"t{i}", "x" * size))
            await asyncio.sleep(0.005)
        held: list[int] = []

        def settled() -> bool:
            held.append(sub.held_bytes)
            return len(held) >= 5 and len(set(held[-5:])) == 1

        await wait_until(settled, 3, interval=0.05, message="the stream stopped writing")
        assert not sub.dropped
        frame = len(b"event: status_update_event\ndata: ") + size + 300
        written = n * frame - sub.held_bytes
        assert written < 1_500_000, f"{written} bytes went to a client that reads nothing"
    finally:
        client.close()


async def test_memory_goes_back_once_after_a_run_of_closed_streams() -> None:
    """malloc_trim (off the loop) once the last of several closes is `delay` old, not once per close."""
    import threading

    from engine.api.state import MemoryReturn

    calls: list[str] = []

    def trim() -> None:
        calls.append(threading.current_thread().name)

    back = MemoryReturn(trim, delay=0.2, longest=5.0)
    for _ in range(5):
        back.soon()
        await asyncio.sleep(0.05)
    assert not calls, "not while streams keep closing"
    await wait_until(lambda: len(calls) == 1, 5, interval=0.05, message="memory handed back")
    assert calls[0] != threading.current_thread().name, "in a worker thread, not on the event loop"
    assert back.runs == 1
    # A run that never pauses still gets one within `longest`.
    back = MemoryReturn(trim, delay=0.2, longest=0.3)
    for _ in range(40):  # 2 s at least of closes 50 ms apart
        back.soon()
        await asyncio.sleep(0.05)
        if back.runs:
            break
    assert back.runs == 1


async def test_closed_streams_hand_memory_back(server: ApiServer, engine: Engine) -> None:
    streams = [await open_stream(server.host, server.port, "/v2/events") for _ in range(3)]
    for s in streams:
        assert (await s.event())[0] == "event_stream_attached"
    runs = server.state.memory_return.runs
    for s in streams:
        await s.close()
    await wait_until(lambda: server.state.streams == 0, 5, message="streams closed")
    await wait_until(lambda: server.state.memory_return.runs == runs + 1, 5, interval=0.05,
                     message="one trim after the closes")

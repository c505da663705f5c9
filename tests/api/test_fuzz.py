"""Schemathesis drives generated requests (valid and invalid) at every operation of /openapi.json.

A real server (engine on sim agents, uvicorn on loopback) runs on its own
thread and loop; every answer must be below 500, and every 4xx must carry a
JSON body with a `message`. About 30 operations x up to 100 examples, plus
schemathesis' coverage phase: thousands of requests per run, bounded.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from engine import Engine
from engine.agents.sim import SimAgent
from engine.api import openapi_document, start_api
from tests.api.conftest import sim_config

schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])

REQUESTS = {"count": 0, "by_status": {}}


class ServerThread:
    """The engine and the API on a thread of their own (schemathesis calls are blocking)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.url = ""
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fuzz-server", daemon=True)

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._error = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        drivers = {f"s{i}": SimAgent(f"s{i}", cpus=4, mem_mib=4096) for i in (1, 2)}
        engine = Engine(sim_config(self.state_dir, reconcile_interval=0.5), drivers=drivers)
        await engine.start()
        server = await start_api(engine, engine.config, bind="127.0.0.1:0")
        self.url = server.url
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()
            await engine.stop()


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp, ServerThread(Path(tmp)) as server:
        yield server.url
    total = REQUESTS["count"]
    print(f"\nschemathesis sent {total} requests: {dict(sorted(REQUESTS['by_status'].items()))}")


def _no_streams(case: Any) -> None:
    """Event and log streams never end: ask for the non-streaming form."""
    if case.query and str(case.query.get("follow", "")).lower() == "true":
        case.query["follow"] = "false"


@schema.exclude(path="/v2/events").parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_json_4xx(case: Any, fuzz_server: str) -> None:
    _no_streams(case)
    response = case.call(base_url=fuzz_server, timeout=30)
    REQUESTS["count"] += 1
    by_status: dict[int, int] = REQUESTS["by_status"]  # type: ignore[assignment]
    by_status[response.status_code] = by_status.get(response.status_code, 0) + 1
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    if 400 <= response.status_code < 500:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), (case.method, case.formatted_path, response.headers)
        body = json.loads(response.text)
        assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]


def test_events_without_event_stream_accept_is_json_405(fuzz_server: str) -> None:
    import requests

    r = requests.get(fuzz_server + "/v2/events", headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 405 and r.json()["message"]

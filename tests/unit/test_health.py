"""Health checks: Marathon's counting rules (pure) and the HTTP/TCP prober against loopback servers."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest

from engine.health import HealthResult, ProbeOutcome, Prober, record, task_healthy
from engine.model import HealthCheck
from engine.scheduler.state import Resources, TaskRecord, TaskState

CHECK = HealthCheck(protocol="HTTP", grace_period_seconds=10, max_consecutive_failures=3, timeout_seconds=1)
FAIL, OK = ProbeOutcome(False, "GET / answered 500"), ProbeOutcome(True)


def run(outcomes: list[ProbeOutcome], times: list[float], check: HealthCheck = CHECK) -> tuple[HealthResult, list[bool]]:
    result, kills = HealthResult(), []
    for outcome, now in zip(outcomes, times):
        result, kill = record(result, outcome, now=now, started_at=0.0, check=check)
        kills.append(kill)
    return result, kills


def test_failures_in_grace_period_before_first_success_do_not_count() -> None:
    result, kills = run([FAIL] * 5, [1, 2, 3, 4, 5])
    assert result.consecutive_failures == 0 and not any(kills)
    assert task_healthy({0: result}, 1) is None, "not known yet"


def test_after_grace_failures_count_and_kill_at_the_maximum() -> None:
    result, kills = run([FAIL] * 3, [11, 12, 13])
    assert kills == [False, False, True] and result.consecutive_failures == 3
    assert result.last_failure_cause == "GET / answered 500"


def test_after_a_first_success_grace_no_longer_protects() -> None:
    result, kills = run([OK, FAIL, FAIL, FAIL], [1, 2, 3, 4])
    assert kills[-1] and result.first_success == 1 and not result.alive


def test_success_resets_the_count() -> None:
    result, kills = run([OK, FAIL, FAIL, OK, FAIL, FAIL], [1, 11, 12, 13, 14, 15])
    assert not any(kills) and result.consecutive_failures == 2


def test_zero_max_failures_never_kills() -> None:
    never = CHECK.model_copy(update={"max_consecutive_failures": 0})
    _, kills = run([FAIL] * 10, list(range(11, 21)), never)
    assert not any(kills)


def test_healthy_only_when_every_check_is_alive() -> None:
    alive, _ = run([OK], [1])
    dead, _ = run([FAIL], [11])
    assert task_healthy({0: alive, 1: alive}, 2) is True
    assert task_healthy({0: alive, 1: dead}, 2) is False
    assert task_healthy({0: alive}, 2) is None


class _Engine:
    class _Driver:
        kind = "docker"

        def simulated_health(self, container_id: str | None) -> bool | None:
            return None  # a real container: probe it

    def driver(self, agent: str) -> "_Engine._Driver":
        return self._Driver()

    def probe_host(self, agent: str) -> str:
        return "127.0.0.1"


@pytest.fixture
async def server() -> AsyncIterator[dict[str, int]]:
    """Loopback endpoints: one answering each status line, one that never answers, one closed port."""
    answers = {"ok": b"HTTP/1.1 204 No Content\r\n\r\n", "error": b"HTTP/1.0 503 Busy\r\n\r\n",
               "info": b"HTTP/1.1 102 Processing\r\n\r\n", "garbage": b"SSH-2.0-OpenSSH\r\n", "hang": b""}
    servers, ports = [], {}
    for name, answer in answers.items():
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: bytes = answer) -> None:
            try:
                await reader.readuntil(b"\r\n\r\n")  # a TCP probe closes without sending anything
                if not answer:
                    await asyncio.sleep(5)
                writer.write(answer)
                await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()
        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(srv)
        ports[name] = srv.sockets[0].getsockname()[1]
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    ports["closed"] = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    yield ports
    for srv in servers:
        srv.close()


def task_on(port: int) -> TaskRecord:
    return TaskRecord(task_id="t", app_id="/a", agent="local", version="v", config_version="v",
                      state=TaskState.RUNNING, resources=Resources(), host_ports=(port,), container_id="c")


@pytest.mark.parametrize(
    ("endpoint", "check", "ok", "cause"),
    [
        ("ok", {}, True, None),
        ("error", {}, False, "answered 503"),
        ("info", {}, False, "answered 102"),
        ("garbage", {}, False, "not an HTTP answer"),
        ("hang", {}, False, "timed out after 1s"),
        ("closed", {}, False, "failed: ConnectionRefusedError"),
        ("ok", {"protocol": "TCP"}, True, None),
        ("closed", {"protocol": "TCP"}, False, "TCP connect to 127.0.0.1"),
    ],
)
async def test_prober(server: dict[str, int], endpoint: str, check: dict[str, object], ok: bool,
                      cause: str | None) -> None:
    prober = Prober(_Engine())  # type: ignore[arg-type]
    outcome = await prober.probe(task_on(server[endpoint]), CHECK.model_copy(update=check))
    assert outcome.ok is ok
    if cause:
        assert outcome.cause is not None and cause in outcome.cause


async def test_informational_answer_is_ignored_with_ignore_http1xx(server: dict[str, int]) -> None:
    prober = Prober(_Engine())  # type: ignore[arg-type]
    outcome = await prober.probe(task_on(server["info"]), CHECK.model_copy(update={"ignore_http1xx": True}))
    assert outcome.ignored

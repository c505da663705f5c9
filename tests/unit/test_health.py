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


# -- what a probe may send, and where (issue #19) ---------------------------------------------------------

HOSTILE_PATHS = [
    "/h\r\nPOST /containers/create HTTP/1.1\r\nHost: 127.0.0.1:2375\r\nContent-Length: 2\r\n\r\n{}",
    "/h HTTP/1.1\r\nX: y",
    "/h\nX-Injected: 1",
    "/h\rX",
    "/a b",
    "/\t",
    "/\x00",
    "/\x0b",
    "/\x7f",
    "/caf\u00e9",
    "/\u2028",
    "/\u0085",
    "h",
    "",
    "//evil.example/x#y",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_probe_request_refuses_a_path_that_could_inject(path: str) -> None:
    from engine.health import ProbeRefused, http_probe_request

    with pytest.raises(ProbeRefused):
        http_probe_request("127.0.0.1", 8080, path)


@pytest.mark.parametrize("host", ["127.0.0.1\r\nX: y", "a b", "", "h/x"])
def test_probe_request_refuses_a_host_that_could_inject(host: str) -> None:
    from engine.health import ProbeRefused, http_probe_request

    with pytest.raises(ProbeRefused):
        http_probe_request(host, 8080, "/")


def test_probe_request_is_one_get_built_from_its_parts() -> None:
    from engine.health import http_probe_request

    request = http_probe_request("127.0.0.1", 31005, "/health?x=1&y=%20")
    assert request == (b"GET /health?x=1&y=%20 HTTP/1.1\r\nHost: 127.0.0.1:31005\r\nUser-Agent: pacer-health\r\n"
                       b"Accept: */*\r\nConnection: close\r\n\r\n")
    assert http_probe_request("::1", 80, "/").split(b"\r\n")[1] == b"Host: [::1]:80"


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A loopback port that records every connection's bytes (answering 200 to whatever it is sent)."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = b""
        try:
            data = await asyncio.wait_for(reader.read(65536), 2)
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            received.append(data)
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield srv.sockets[0].getsockname()[1], received
    srv.close()


async def test_a_hostile_path_that_bypassed_validation_is_never_sent(listener: tuple[int, list[bytes]]) -> None:
    port, received = listener
    check = HealthCheck(protocol="HTTP", path=HOSTILE_PATHS[0], port_index=0, timeout_seconds=2)
    outcome = await Prober(_Engine()).probe(task_on(port), check)  # type: ignore[arg-type]
    assert not outcome.ok and outcome.cause is not None and "probe not sent" in outcome.cause
    assert "\r" not in outcome.cause and "\n" not in outcome.cause
    assert received == [], "no connection was made"


async def test_an_explicit_port_the_app_does_not_declare_is_never_probed(listener: tuple[int, list[bytes]],
                                                                         server: dict[str, int]) -> None:
    """The task's own port is `ok`; the check names another port (`listener`) that no declaration resolved."""
    port, received = listener
    check = HealthCheck(protocol="HTTP", port=port, timeout_seconds=2)
    outcome = await Prober(_Engine()).probe(task_on(server["ok"]), check)  # type: ignore[arg-type]
    assert not outcome.ok and outcome.cause is not None and f"port {port} is not a port the app declares" in outcome.cause
    tcp = await Prober(_Engine()).probe(task_on(server["ok"]), check.model_copy(update={"protocol": "TCP"}))  # type: ignore[arg-type]
    assert not tcp.ok
    assert received == [], "no connection was made"


async def test_an_explicit_declared_port_is_probed_on_the_tasks_host_port(server: dict[str, int]) -> None:
    """Bridge networking: the check names containerPort 8080, the task publishes it on `ok`'s port."""
    from engine.model import parse_app

    app = parse_app({"id": "/web", "networks": [{"mode": "container/bridge"}],
                     "container": {"docker": {"image": "i"}, "portMappings": [
                         {"containerPort": 80, "hostPort": 0}, {"containerPort": 8080, "hostPort": 0}]},
                     "healthChecks": [{"protocol": "HTTP", "port": 8080, "timeoutSeconds": 2}]})
    task = TaskRecord(task_id="t", app_id="/web", agent="local", version="v", config_version="v",
                      state=TaskState.RUNNING, resources=Resources(), host_ports=(server["closed"], server["ok"]),
                      container_id="c")
    outcome = await Prober(_Engine()).probe(task, app.health_checks[0])  # type: ignore[arg-type]
    assert outcome.ok, outcome.cause

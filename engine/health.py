"""Health checks with Marathon's semantics: HTTP, HTTPS, TCP and COMMAND probes.

Each (task, check) pair runs its own small async loop: probe, record, sleep
intervalSeconds. HTTP(S) and TCP probes go from the engine to the task's host
port; COMMAND checks run inside the container through the agent. A probe is
bounded by timeoutSeconds. Failures inside gracePeriodSeconds before the first
success do not count; past maxConsecutiveFailures the task is killed and
replaced (the engine does that through `on_unhealthy`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from dataclasses import dataclass, replace
from typing import Any, Mapping, MutableMapping, Protocol

from engine.agents.base import AgentDriver
from engine.events import (
    EngineEvent,
    HealthCheckFailed,
    HealthStatusChanged,
    InstanceHealthChanged,
    UnhealthyTaskKilled,
)
from engine.model import HealthCheck, health_check_json, http_path_problem, instance_of
from engine.model.timefmt import format_ts
from engine.scheduler.state import TaskRecord, TaskState
from engine.supervisor import Supervisor

log = logging.getLogger("pacer.health")


@dataclass(frozen=True, slots=True)
class HealthResult:
    """One check's state for one task, as Marathon's healthCheckResults."""

    alive: bool = False
    consecutive_failures: int = 0
    first_success: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    last_failure_cause: str | None = None
    probes: int = 0

    def to_json(self, instance_id: str) -> dict[str, Any]:
        return {
            "alive": self.alive,
            "consecutiveFailures": self.consecutive_failures,
            "firstSuccess": format_ts(self.first_success) if self.first_success else None,
            "lastSuccess": format_ts(self.last_success) if self.last_success else None,
            "lastFailure": format_ts(self.last_failure) if self.last_failure else None,
            "lastFailureCause": self.last_failure_cause,
            "instanceId": instance_id,
        }


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    ok: bool
    cause: str | None = None
    ignored: bool = False
    """An informational (1xx) answer with ignoreHttp1xx: the task's health stays as it was."""


def record(result: HealthResult, outcome: ProbeOutcome, *, now: float, started_at: float,
           check: HealthCheck) -> tuple[HealthResult, bool]:
    """The next state after one probe, and whether the task must now be killed. Pure."""
    if outcome.ok:
        return replace(
            result, alive=True, consecutive_failures=0, first_success=result.first_success or now,
            last_success=now, probes=result.probes + 1,
        ), False
    in_grace = result.first_success is None and now < started_at + check.grace_period_seconds
    failures = result.consecutive_failures if in_grace else result.consecutive_failures + 1
    new = replace(result, alive=False if not in_grace else result.alive, consecutive_failures=failures,
                  last_failure=now, last_failure_cause=outcome.cause, probes=result.probes + 1)
    kill = check.max_consecutive_failures > 0 and failures >= check.max_consecutive_failures
    return new, kill


def task_healthy(results: Mapping[int, HealthResult], n_checks: int) -> bool | None:
    """Marathon: healthy when every check is alive; None until each check has answered once."""
    if len(results) < n_checks or any(r.probes == 0 for r in results.values()):
        return None
    if any(r.first_success is None and r.consecutive_failures == 0 and not r.alive for r in results.values()):
        return None  # only grace-period failures so far: not yet known
    return all(r.alive for r in results.values())


class ProbeRefused(ValueError):
    """A probe pacer will not send: a path that could add to the request, or a port that is not the task's."""


def _valid_host(host: str) -> bool:
    return bool(host) and all(0x21 <= ord(ch) <= 0x7E for ch in host) and not any(ch in host for ch in "/?#@")


def http_probe_request(host: str, port: int, path: str) -> bytes:
    """The bytes of one health probe: ``GET <path> HTTP/1.1`` with Host, User-Agent, Accept, Connection.

    Built from parts, each checked again here whatever validation let through (an app stored by an older
    pacer, a bug): the path must be an origin-form target of printable ASCII (engine.model's
    `http_path_problem`: no CR, LF, space or other control character), the host one token, the port a port.
    ProbeRefused otherwise, before any connection is made.
    """
    if not isinstance(path, str):
        raise ProbeRefused(f"path must be a string, got {type(path).__name__}")
    problem = http_path_problem(path)
    if problem is not None:
        raise ProbeRefused(f"path {path[:60]!r} {problem}")
    if not isinstance(host, str) or not _valid_host(host):
        raise ProbeRefused(f"not a probe host: {str(host)[:60]!r}")
    if type(port) is not int or not 1 <= port <= 65535:
        raise ProbeRefused(f"not a port: {port!r}")
    authority = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    lines = (f"GET {path} HTTP/1.1", f"Host: {authority}", "User-Agent: pacer-health", "Accept: */*",
             "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def probe_port(task: TaskRecord, check: HealthCheck) -> int:
    """The host port a HTTP(S) or TCP probe of `task` goes to: one of the task's own host ports, by the check's
    `portIndex` (for an explicit `port`, the index of the port the app declares as it, resolved when the app
    was parsed). ProbeRefused for an explicit port the app does not declare, or an index the task lacks."""
    if check.port_index is None and check.port is not None:
        raise ProbeRefused(f"port {check.port} is not a port the app declares: probes go only to the task's ports")
    index = check.port_index or 0
    if not 0 <= index < len(task.host_ports):
        raise ProbeRefused(f"task has no port at portIndex {index}")
    return task.host_ports[index]


class ProbeTargets(Protocol):
    """Where probes go: the agent's driver (COMMAND checks) and the address its published ports answer on."""

    def driver(self, agent: str) -> AgentDriver: ...

    def probe_host(self, agent: str) -> str: ...


class HealthHost(ProbeTargets, Protocol):
    """What the health monitor needs: the tasks, their checks, where health verdicts go, and what to do then."""

    @property
    def tasks(self) -> Mapping[str, TaskRecord]: ...

    @property
    def health(self) -> MutableMapping[str, bool | None]:
        """Task id -> healthy (None: not yet known); the monitor writes its verdicts here."""
        ...

    def health_checks_for(self, task: TaskRecord) -> list[HealthCheck]: ...

    def hostname_of(self, agent: str) -> str: ...

    def clock(self) -> float: ...

    def publish(self, event: EngineEvent) -> object: ...

    def wake(self, app_id: str | None = None) -> None: ...

    def kill_unhealthy(self, task: TaskRecord, reason: str) -> None:
        """The task failed its checks too often: kill and replace it."""
        ...


class Prober:
    """Runs one probe. HTTP and TCP go over the network; COMMAND through the agent."""

    def __init__(self, targets: ProbeTargets) -> None:
        self._targets = targets
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        # Marathon does not verify HTTPS health endpoints' certificates either.
        self._tls = insecure

    async def close(self) -> None:
        return None

    async def _http_status(self, host: str, port: int, path: str, tls: bool) -> int:
        """One GET on a fresh connection; only the status line matters.

        A health probe needs no more of HTTP than this, and a general client (httpx) costs
        three times as much per probe, which matters at thousands of probes per second.
        """
        request = http_probe_request(host, port, path)  # refused here, before connecting
        reader, writer = await asyncio.open_connection(
            host, port, ssl=self._tls if tls else None, server_hostname=host if tls else None
        )
        try:
            writer.write(request)
            line = await reader.readline()
        finally:
            writer.close()
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP answer: {line[:60]!r}")
        return int(parts[1])

    async def probe(self, task: TaskRecord, check: HealthCheck) -> ProbeOutcome:
        timeout = float(check.timeout_seconds)
        protocol = check.protocol.replace("MESOS_", "")
        driver = self._targets.driver(task.agent)
        simulated = driver.simulated_health(task.container_id)
        if simulated is not None:
            return ProbeOutcome(simulated, None if simulated else "simulated failure")
        if protocol == "COMMAND":
            command = check.command.value if check.command else "true"
            try:
                code, output = await asyncio.wait_for(driver.exec_check(task.container_id or "", command), timeout)
            except asyncio.TimeoutError:
                return ProbeOutcome(False, f"command timed out after {timeout:g}s")
            except Exception as exc:  # noqa: BLE001 - any agent error is a failed probe, with its reason
                return ProbeOutcome(False, f"command could not run: {exc}")
            if code == 0:
                return ProbeOutcome(True)
            tail = output.strip().splitlines()[-1:] if output.strip() else []
            return ProbeOutcome(False, f"command exited with code {code}" + (f": {tail[0]}" if tail else ""))
        try:
            port = probe_port(task, check)
        except ProbeRefused as exc:
            return ProbeOutcome(False, str(exc))
        host = self._targets.probe_host(task.agent)
        if protocol == "TCP":
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            except asyncio.TimeoutError:
                return ProbeOutcome(False, f"TCP connect to {host}:{port} timed out after {timeout:g}s")
            except OSError as exc:
                return ProbeOutcome(False, f"TCP connect to {host}:{port} failed: {exc.strerror or exc}")
            writer.close()
            return ProbeOutcome(True)
        scheme = "https" if protocol == "HTTPS" else "http"
        path = check.path or "/"
        url = f"{scheme}://{host}:{port}{path}"
        try:
            status = await asyncio.wait_for(self._http_status(host, port, path, scheme == "https"), timeout)
        except ProbeRefused as exc:
            return ProbeOutcome(False, f"probe not sent: {exc}")
        except asyncio.TimeoutError:
            return ProbeOutcome(False, f"GET {url} timed out after {timeout:g}s")
        except (OSError, ValueError, ssl.SSLError) as exc:
            return ProbeOutcome(False, f"GET {url} failed: {exc.__class__.__name__}: {exc}")
        if 100 <= status < 200 and check.ignore_http1xx:
            return ProbeOutcome(True, ignored=True)
        if 200 <= status < 400:
            return ProbeOutcome(True)
        return ProbeOutcome(False, f"GET {url} answered {status}")


class HealthMonitor:
    """Keeps one probe loop per running task and health check; results live here."""

    def __init__(self, host: HealthHost, *, supervisor: Supervisor | None = None) -> None:
        self._host = host
        self._supervisor = supervisor or Supervisor()
        self.prober = Prober(host)
        self.results: dict[str, dict[int, HealthResult]] = {}
        self._loops: dict[tuple[str, int], asyncio.Task[None]] = {}
        self.probe_count = 0
        self.failure_count = 0

    def sync(self, tasks: Mapping[str, TaskRecord], *, partial: bool = False) -> None:
        """Start loops for running tasks with checks; stop loops of tasks that ended or changed.
        With `partial`, `tasks` is only part of the cluster: loops of other tasks are left alone."""
        wanted: set[tuple[str, int]] = set()
        for task in tasks.values():
            if task.state != TaskState.RUNNING or not task.container_id:
                continue
            for index in range(len(self._checks_for(task))):
                wanted.add((task.task_id, index))
        for key in list(self._loops):
            if key not in wanted and (not partial or key[0] in tasks or key[0] not in self._host.tasks):
                self._loops.pop(key).cancel()
        for key in wanted - set(self._loops):
            task_id, index = key
            # A probe loop that crashes is logged and started again (with backoff), never left dead.
            self._loops[key] = self._supervisor.keep_running(
                "health monitor", functools.partial(self._run, task_id, index), f"health {task_id}#{index}")
        for task_id in list(self.results):
            if task_id not in self._host.tasks:
                del self.results[task_id]

    def _checks_for(self, task: TaskRecord) -> list[HealthCheck]:
        """The checks of the version the task runs (old tasks keep theirs during an upgrade)."""
        return self._host.health_checks_for(task)

    async def _run(self, task_id: str, index: int) -> None:
        host = self._host
        while True:
            task = host.tasks.get(task_id)
            if task is None or task.state != TaskState.RUNNING:
                return
            checks = self._checks_for(task)
            if index >= len(checks):
                return
            check = checks[index]
            outcome = await self.prober.probe(task, check)
            task = host.tasks.get(task_id)
            if task is None or task.state != TaskState.RUNNING:
                return
            self.probe_count += 1
            if not outcome.ok:
                self.failure_count += 1
            if not outcome.ignored:
                self._record(task, index, check, outcome)
            await asyncio.sleep(check.interval_seconds)

    def _record(self, task: TaskRecord, index: int, check: HealthCheck, outcome: ProbeOutcome) -> None:
        host = self._host
        per_task = self.results.setdefault(task.task_id, {})
        before = per_task.get(index, HealthResult())
        now = host.clock()
        after, kill = record(before, outcome, now=now, started_at=task.started_at or now, check=check)
        per_task[index] = after
        n_checks = len(self._checks_for(task))
        was = host.health.get(task.task_id)
        healthy = task_healthy(per_task, n_checks)
        instance_id = instance_of(task.task_id)
        if not outcome.ok and after.consecutive_failures > before.consecutive_failures:
            host.publish(HealthCheckFailed(app_id=task.app_id, instance_id=instance_id,
                                             health_check=health_check_json(check)))
        if healthy != was:
            host.health[task.task_id] = healthy
            host.publish(HealthStatusChanged(app_id=task.app_id, task_id=task.task_id, instance_id=instance_id,
                                               version=task.version, alive=bool(healthy)))
            host.publish(InstanceHealthChanged(app_id=task.app_id, instance_id=instance_id, version=task.version,
                                                 healthy=healthy))
            host.wake(task.app_id)
        if kill:
            reason = (f"health check {check.protocol} failed {after.consecutive_failures} times: "
                      f"{after.last_failure_cause}")
            host.publish(UnhealthyTaskKilled(app_id=task.app_id, task_id=task.task_id, instance_id=instance_id,
                                               version=task.version, reason=reason,
                                               host=host.hostname_of(task.agent), agent=task.agent))
            host.kill_unhealthy(task, reason)

    async def close(self) -> None:
        for loop_task in self._loops.values():
            loop_task.cancel()
        if self._loops:
            await asyncio.wait(set(self._loops.values()), timeout=5)
        self._loops.clear()
        await self.prober.close()

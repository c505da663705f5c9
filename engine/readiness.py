"""Readiness checks with Marathon's semantics: probed only while a deployment of the app runs.

During a deployment of an app with a `readinessChecks` entry, every running task of the version the deployment
targets is probed (HTTP or HTTPS GET of `path` on the task's host port named by `portName`, every
`intervalSeconds`, each probe bounded by `timeoutSeconds`) until it answers one of `httpStatusCodesForReady`;
then it is ready for the rest of the deployment and probed no more. The pure core decides what a ready task
allows (engine.scheduler.reconcile: old tasks are killed only as new ones become ready; deployments: the target
counts ready tasks); this module only probes and keeps the results, which end with the deployment.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from engine.health import ProbeRefused, ProbeTargets, http_probe_request
from engine.model import ReadinessCheck
from engine.scheduler.state import TaskRecord, TaskState
from engine.supervisor import Supervisor

MAX_BODY_BYTES = 64 * 1024
"""Of an answer's body, what is kept for `lastResponse` (preserveLastResponse): the rest is not read."""
MAX_HEADER_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """Marathon's `lastResponse`: status, content type and body of the last answer."""

    status: int
    content_type: str
    body: str

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "contentType": self.content_type, "body": self.body}


@dataclass(frozen=True, slots=True)
class ReadinessResult:
    """One task's readiness during a deployment, as Marathon's readinessCheckResults entries."""

    name: str
    task_id: str
    ready: bool
    last_response: HttpAnswer | None = None
    """Kept only with preserveLastResponse."""
    cause: str | None = None
    """Why the last probe did not find the task ready (pacer's, for the deployment's reason)."""
    probes: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "taskId": self.task_id, "ready": self.ready}
        if self.last_response is not None:
            out["lastResponse"] = self.last_response.to_json()
        return out


class ReadinessHost(ProbeTargets, Protocol):
    """What the readiness monitor needs: tasks, each task's check and port, the time, and whom to wake."""

    @property
    def tasks(self) -> Mapping[str, TaskRecord]: ...

    def tasks_of(self, app_id: str) -> list[TaskRecord]: ...

    def readiness_check_for(self, task: TaskRecord) -> tuple[ReadinessCheck, int | None] | None:
        """The app's readiness check and the index of the task's host port `portName` names (None: no such
        port); None when the app has no readiness check."""
        ...

    def wake(self, app_id: str | None = None) -> None: ...


async def http_answer(host: str, port: int, path: str, *, tls: ssl.SSLContext | None,
                      body: bool = True) -> HttpAnswer:
    """One GET (the health module's checked request) and its answer: status, content type and (with `body`) the
    body, up to MAX_BODY_BYTES."""
    request = http_probe_request(host, port, path)  # refused here, before connecting
    reader, writer = await asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None)
    try:
        writer.write(request)
        status_line = await reader.readline()
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP answer: {status_line[:60]!r}")
        headers: dict[str, str] = {}
        seen = len(status_line)
        while True:
            line = await reader.readline()
            seen += len(line)
            if seen > MAX_HEADER_BYTES:
                raise ValueError(f"headers longer than {MAX_HEADER_BYTES} bytes")
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length", "")
        limit = min(int(length), MAX_BODY_BYTES) if length.isdigit() else MAX_BODY_BYTES
        content = b""
        if body and headers.get("transfer-encoding", "").lower() != "chunked":
            while len(content) < limit:
                chunk = await reader.read(limit - len(content))
                if not chunk:
                    break
                content += chunk
    finally:
        writer.close()
    return HttpAnswer(int(parts[1]), headers.get("content-type", ""), content.decode("utf-8", "replace"))


class ReadinessMonitor:
    """One probe loop per task that must become ready; results per app while its deployment runs."""

    def __init__(self, host: ReadinessHost, *, supervisor: Supervisor | None = None) -> None:
        self._host = host
        self._supervisor = supervisor or Supervisor()
        self.results: dict[str, dict[str, ReadinessResult]] = {}
        """App id -> task id -> its readiness, for apps whose deployment checks readiness now."""
        self._gates: dict[str, str] = {}
        self._loops: dict[str, asyncio.Task[None]] = {}
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        self._tls = insecure  # Marathon does not verify readiness endpoints' certificates either

    def sync(self, gates: Mapping[str, str]) -> None:
        """`gates`: app id -> the config version its running deployment targets, for apps with a readiness
        check. Their running tasks of that version are probed until ready; everything else stops."""
        self._gates = dict(gates)
        wanted: dict[str, str] = {}
        for app_id, config_version in gates.items():
            results = self.results.setdefault(app_id, {})
            for task in self._host.tasks_of(app_id):
                if task.config_version != config_version or task.state != TaskState.RUNNING or not task.container_id:
                    continue
                result = results.get(task.task_id)
                if result is None or not result.ready:
                    wanted[task.task_id] = app_id
        for task_id in list(self._loops):
            if task_id not in wanted:
                self._loops.pop(task_id).cancel()
        for task_id, app_id in wanted.items():
            running = self._loops.get(task_id)
            if running is None or running.done():
                self._loops[task_id] = self._supervisor.keep_running(
                    "health monitor", functools.partial(self._run, app_id, task_id), f"readiness {task_id}")
        for app_id in list(self.results):
            if app_id not in gates:
                del self.results[app_id]  # the deployment ended: readiness is checked only during one
                continue
            per_app = self.results[app_id]
            for task_id in list(per_app):
                record = self._host.tasks.get(task_id)
                if record is None or record.config_version != gates[app_id]:
                    del per_app[task_id]  # ended, or of a version an earlier (replaced) deployment brought up

    def ready(self, gates: Mapping[str, str]) -> dict[str, dict[str, bool]]:
        """App id -> task id -> ready, for every app of `gates` (see `sync`): tasks not yet probed are absent,
        so not ready."""
        return {app_id: {t: r.ready for t, r in self.results.get(app_id, {}).items()} for app_id in gates}

    def apps(self) -> list[str]:
        """The apps whose deployment checks readiness now."""
        return sorted(self._gates)

    def results_of(self, app_id: str) -> list[ReadinessResult]:
        return sorted(self.results.get(app_id, {}).values(), key=lambda r: r.task_id)

    async def _run(self, app_id: str, task_id: str) -> None:
        host = self._host
        while True:
            task = host.tasks.get(task_id)
            found = host.readiness_check_for(task) if task is not None else None
            if task is None or task.state != TaskState.RUNNING or found is None:
                return
            check, index = found
            ready, answer, cause = await self._probe(task, check, index)
            now = host.tasks.get(task_id)
            if now is None or now.state != TaskState.RUNNING or app_id not in self._gates:
                return
            before = self.results.get(app_id, {}).get(task_id)
            result = ReadinessResult(check.name, task_id, ready, answer if check.preserve_last_response else None,
                                     cause, (before.probes if before else 0) + 1)
            self.results.setdefault(app_id, {})[task_id] = result
            if ready:
                host.wake(app_id)  # an old task may go now, or the deployment be done
                self._loops.pop(task_id, None)
                return
            if before is None or before.cause != cause:
                host.wake(app_id)  # the deployment's reason changes
            await asyncio.sleep(check.interval_seconds)

    async def _probe(self, task: TaskRecord, check: ReadinessCheck,
                     index: int | None) -> tuple[bool, HttpAnswer | None, str | None]:
        driver = self._host.driver(task.agent)
        simulated = driver.simulated_health(task.container_id)
        if simulated is not None:
            return simulated, None, None if simulated else "simulated: not ready"
        if index is None or not 0 <= index < len(task.host_ports):
            return False, None, f"task has no host port named '{check.port_name}'"
        host, port = self._host.probe_host(task.agent), task.host_ports[index]
        tls = check.protocol == "HTTPS"
        url = f"{'https' if tls else 'http'}://{host}:{port}{check.path}"
        timeout = float(check.timeout_seconds)
        try:
            answer = await asyncio.wait_for(http_answer(host, port, check.path, tls=self._tls if tls else None,
                                                        body=check.preserve_last_response), timeout)
        except ProbeRefused as exc:
            return False, None, f"probe not sent: {exc}"
        except asyncio.TimeoutError:
            return False, None, f"GET {url} timed out after {timeout:g}s"
        except (OSError, ValueError, ssl.SSLError) as exc:
            return False, None, f"GET {url} failed: {exc.__class__.__name__}: {exc}"
        if answer.status in check.http_status_codes_for_ready:
            return True, answer, None
        return False, answer, f"GET {url} answered {answer.status}"

    def close_loops(self) -> list[asyncio.Task[None]]:
        loops = list(self._loops.values())
        for loop_task in loops:
            loop_task.cancel()
        self._loops.clear()
        return loops

    async def close(self) -> None:
        loops = self.close_loops()
        if loops:
            await asyncio.wait(set(loops), timeout=5)

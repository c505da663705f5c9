"""Images on a Docker agent: pulled before a launch when missing, or on every launch with `forcePullImage`.

`ImagePuller` serves one docker driver (the engine's, or the one behind `pacer --serve`):

- `run_with_image(spec, start)` runs `start` (the container create and start); when the daemon lacks the
  image (docker's ImageNotFound) it pulls the image from the registry the reference names and runs `start`
  again. With `spec.force_pull` it pulls first, as Marathon's `forcePullImage` does.
- Single flight: every launch that needs an image joins the pull under way for it on this agent (its task
  id is added to the pull's waiters), and a launch whose attempt began before a pull of its image finished
  does not pull again: twenty tasks of one new image make one pull.
- Pulls run in their own threads (never on the event loop), at most `max_concurrent_pulls` at once (others
  are queued), each within `pull_timeout` seconds and `STALL_SECONDS` without a word from the daemon.
- Progress: docker's pull stream is summed over layers (`PullProgress`) into an `ImagePull` ("pulling
  IMAGE: 41% of 212 MB"), listed by `pulls()` and sent to `on_change` at most every `NOTIFY_SECONDS`.
- Failures are one line each (`ImagePullFailed`, an AgentError, so the launch fails with the app's backoff):
  unknown repository or tag, credentials refused or missing, registry unreachable, disk full, timeout.

Credentials come from the agent's config (engine.registries) and go to the daemon only, in the
``X-Registry-Auth`` header of the pull request; no message here ever holds them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal, TypeVar

import docker.auth
import docker.errors
import requests.exceptions

from engine.agents.base import ImagePull, PullStatus, TaskSpec, format_bytes
from engine.errors import AgentError, AgentUnreachable
from engine.model.image_refs import ImageRef, is_image_id, parse_image_ref
from engine.registries import CredentialsError, PullOptions, auth_config

log = logging.getLogger("pacer.images")

T = TypeVar("T")

STALL_SECONDS = 120.0
"""A pull whose daemon sends nothing for this long has stalled (a registry that stopped answering)."""
NOTIFY_SECONDS = 0.5
CONNECT_SECONDS = 30.0

FailureKind = Literal["not-found", "auth", "unreachable", "disk-full", "timeout", "credentials", "other"]

_NOT_FOUND = ("manifest unknown", "not found", "repository does not exist", "name unknown", "no such image")
_AUTH = ("unauthorized", "authentication required", "no basic auth credentials", "denied",
         "incorrect username or password", "access forbidden", "forbidden")
_UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "dial tcp", "network is unreachable",
                "tls handshake", "server gave http response", "connection reset", ": eof", "timeout exceeded",
                "context deadline exceeded", "no route to host", "temporary failure in name resolution")
_REQUEST_PREFIX = re.compile(r'^(?:Get|Head|Post) "[^"]*": ')
_DISK = ("no space left on device", "disk quota exceeded")


class ImagePullFailed(AgentError):
    """A pull that failed, with a one-line reason for the app's lastTaskFailure. `kind` classifies it."""

    title = "image pull failed"

    def __init__(self, message: str, kind: FailureKind) -> None:
        super().__init__(message)
        self.kind = kind


def _one_line(text: str, limit: int = 240) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def classify_failure(detail: str, *, agent: str, image: str, registry: str,
                     with_credentials: bool) -> ImagePullFailed:
    """docker's words for a failed pull (an HTTP error's message, or the stream's "error") as one line."""
    low = detail.lower()
    where = f"agent {agent}"
    # "pull access denied ... repository does not exist or may require 'docker login'": Docker Hub says this for
    # a missing repository and for one that needs credentials alike.
    if "may require 'docker login'" in low or "may require \"docker login\"" in low:
        hint = "" if with_credentials else f"; {where} has no credentials for {registry}"
        return ImagePullFailed(f"{where}: image {image} not found in registry {registry}, or it needs "
                               f"credentials{hint}", "not-found")
    if any(k in low for k in _DISK):
        return ImagePullFailed(f"{where}: disk full while pulling {image} ({_one_line(detail, 120)})", "disk-full")
    if any(k in low for k in _AUTH):
        if with_credentials:
            return ImagePullFailed(f"{where}: registry {registry} refused the credentials for {image} "
                                   "(authentication failed)", "auth")
        return ImagePullFailed(f"{where}: registry {registry} requires credentials for {image}, and {where} "
                               f"has none for it (registries.\"{registry}\" in its config)", "auth")
    if any(k in low for k in _NOT_FOUND):
        return ImagePullFailed(f"{where}: image {image} not found in registry {registry} "
                               "(no such repository or tag)", "not-found")
    if any(k in low for k in _UNREACHABLE):
        why = _REQUEST_PREFIX.sub("", detail)  # 'Get "http://reg/v2/": dial tcp ...' -> 'dial tcp ...'
        return ImagePullFailed(f"{where}: registry {registry} is unreachable while pulling {image}: "
                               f"{_one_line(why, 160)}", "unreachable")
    return ImagePullFailed(f"{where}: pull of {image} failed: {_one_line(detail)}", "other")


# -- progress ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Layer:
    current: int = 0
    total: int = 0
    downloaded: bool = False
    done: bool = False


class PullProgress:
    """Docker's pull stream (one JSON object per line) summed over layers. Fed from the pulling thread, read
    from the event loop: every read and write holds the lock."""

    _IGNORED_PREFIXES = ("Pulling from", "Digest:", "Status:", "Pulling repository", "Trying to pull")

    def __init__(self) -> None:
        self._layers: dict[str, _Layer] = {}
        self._lock = threading.Lock()

    def feed(self, line: dict[str, Any]) -> None:
        status = str(line.get("status") or "")
        layer_id = line.get("id")
        if not layer_id or not status or status.startswith(self._IGNORED_PREFIXES):
            return
        detail = line.get("progressDetail") or {}
        with self._lock:
            if status == "Already exists":
                self._layers.pop(layer_id, None)  # nothing to download: not part of this pull's size
                return
            layer = self._layers.setdefault(layer_id, _Layer())
            if status == "Downloading":
                total = int(detail.get("total") or 0)
                if total > 0:
                    layer.total = total
                layer.current = min(int(detail.get("current") or 0), layer.total or 1 << 62)
            elif status in ("Verifying Checksum", "Download complete"):
                layer.downloaded = True
                layer.current = layer.total
            elif status == "Extracting":
                layer.downloaded = True
                layer.current = layer.total
            elif status == "Pull complete":
                layer.downloaded = layer.done = True
                layer.current = layer.total

    def summary(self) -> tuple[int, int, int, int]:
        """(downloaded bytes, announced bytes, layers, layers done)."""
        with self._lock:
            layers = list(self._layers.values())
        downloaded = sum(layer.current for layer in layers if layer.total)
        total = sum(layer.total for layer in layers)
        return downloaded, total, len(layers), sum(1 for layer in layers if layer.done)


# -- the puller -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pull:
    ref: ImageRef
    image: str
    started_at: float
    progress: PullProgress = field(default_factory=PullProgress)
    status: PullStatus = "queued"
    waiters: dict[str, None] = field(default_factory=dict)
    job: asyncio.Task[None] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    response: Any = None
    last_notice: float = 0.0


class ImagePuller:
    """Pulls for one docker agent; see the module's docstring."""

    def __init__(self, agent: str, api: Callable[[], Any], options: PullOptions | None = None) -> None:
        """`api()`: the agent's docker APIClient (thread-safe for our use: one request per call)."""
        self.agent = agent
        self._api = api
        self.options = options or PullOptions()
        self.on_change: Callable[[ImagePull], None] | None = None
        self._pulls: dict[str, _Pull] = {}
        self._finished: dict[str, float] = {}
        """Pull key -> monotonic time its last pull succeeded (launches that began earlier need no new pull)."""
        self._slots = asyncio.Semaphore(self.options.max_concurrent_pulls)
        # One thread per pull at once, and one for image GC passes.
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.options.max_concurrent_pulls + 1,
                                                           thread_name_prefix=f"pull-{agent}")
        self.pulls_started = 0
        """Pulls this agent has asked its daemon for (a counter: tests and benchmarks read it)."""
        self._pulled: dict[str, float] = {}
        """Image GC: references pacer pulled here -> when last seen in use (pulled, launched, or a container's)."""
        self._gc_task: asyncio.Task[None] | None = None
        self.gc_passes = 0
        """Image GC passes made (a counter: tests wait for passes instead of sleeping)."""

    # -- what launches call ------------------------------------------------------------------------

    @staticmethod
    def pullable(image: str) -> bool:
        if is_image_id(image):
            return False
        try:
            parse_image_ref(image)
        except ValueError:
            return False
        return True

    async def run_with_image(self, spec: TaskSpec, start: Callable[[], Awaitable[T]],
                             refused: Callable[[TaskSpec], bool] = lambda _spec: False) -> T:
        """`start()` with the image present: pulled first with `force_pull`, or when `start` finds it missing.
        `refused(spec)`: the policy refuses the task anyway (nothing is pulled for it)."""
        began = time.monotonic()
        if spec.image in self._pulled:
            self._pulled[spec.image] = time.time()  # in use again: image GC leaves it
        if spec.force_pull and self.pullable(spec.image) and not refused(spec):
            await self.pull(spec.image, spec.task_id, after=began)
        try:
            return await start()
        except docker.errors.ImageNotFound:
            if not self.pullable(spec.image):
                raise
        await self.pull(spec.image, spec.task_id, after=began)
        return await start()

    async def pull(self, image: str, task_id: str | None = None, *, after: float | None = None) -> None:
        """Make sure `image` is pulled: join the pull under way, or start one, unless one that finished after
        `after` (monotonic) already brought it. ImagePullFailed with the reason when it fails."""
        ref = parse_image_ref(image)
        key = f"{ref.repository}@{ref.pull_tag}"
        if after is not None and self._finished.get(key, float("-inf")) >= after:
            return
        record = self._pulls.get(key)
        if record is None:
            record = _Pull(ref=ref, image=image, started_at=time.time())
            self._pulls[key] = record
            record.job = asyncio.get_running_loop().create_task(self._run(key, record), name=f"pull {image}")
            # Its outcome goes to every waiter; retrieved here too, for a pull whose waiters all went away.
            record.job.add_done_callback(lambda job: job.cancelled() or job.exception())
        if task_id is not None:
            record.waiters[task_id] = None
        assert record.job is not None
        try:
            await asyncio.shield(record.job)
        finally:
            if task_id is not None:
                record.waiters.pop(task_id, None)

    def pulls(self) -> tuple[ImagePull, ...]:
        return tuple(self._view(r) for r in sorted(self._pulls.values(), key=lambda r: r.started_at))

    async def close(self) -> None:
        if self._gc_task is not None:
            self._gc_task.cancel()
        for record in list(self._pulls.values()):
            record.cancelled.set()
            if record.job is not None:
                record.job.cancel()
            self._close_response(record)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- image GC (`image_gc` seconds; off by default) ------------------------------------------------

    def _start_gc(self) -> None:
        if self._gc_task is None or self._gc_task.done():
            self._gc_task = asyncio.get_running_loop().create_task(self._gc_loop(), name=f"image gc {self.agent}")

    async def _gc_loop(self) -> None:
        assert self.options.image_gc is not None
        interval = min(max(self.options.image_gc / 4, 1.0), 300.0)
        while self._pulled:
            await asyncio.sleep(interval)
            try:
                await self.collect_garbage()
            except AgentError as exc:
                log.warning("image GC on %s: %s", self.agent, exc.message)

    async def collect_garbage(self) -> list[str]:
        """Remove the references pacer pulled here that no container (of any state, of anyone) has used for
        `image_gc` seconds; the daemon deletes their content once nothing else names it. Returns what went."""
        keep_for = self.options.image_gc
        if keep_for is None or not self._pulled:
            return []
        pulling = {r.image for r in self._pulls.values()}
        candidates = {ref: last for ref, last in self._pulled.items() if ref not in pulling}
        loop = asyncio.get_running_loop()
        try:
            seen, gone, removed = await loop.run_in_executor(self._pool, self._gc_sync, candidates, keep_for)
        except (requests.exceptions.RequestException, OSError) as exc:
            raise AgentUnreachable(f"agent {self.agent}: docker does not answer ({exc.__class__.__name__})") from exc
        self.gc_passes += 1
        now = time.time()
        for ref in seen:
            if ref in self._pulled:
                self._pulled[ref] = max(self._pulled[ref], now)
        for ref in (*gone, *removed):
            self._pulled.pop(ref, None)
        return removed

    def _gc_sync(self, candidates: dict[str, float], keep_for: float) -> tuple[list[str], list[str], list[str]]:
        """In a pull thread: (references in use now, references no longer on the daemon, references removed)."""
        api = self._api()
        in_use = {str(c.get("ImageID") or "") for c in api.containers(all=True)}
        seen, gone, removed = [], [], []
        now = time.time()
        for ref, last in candidates.items():
            try:
                image_id = str(api.inspect_image(ref).get("Id", ""))
            except docker.errors.NotFound:
                gone.append(ref)
                continue
            if image_id in in_use:
                seen.append(ref)
                continue
            if now - last < keep_for:
                continue
            try:
                api.remove_image(ref)  # the reference pacer pulled; the content goes when nothing else names it
            except docker.errors.NotFound:
                gone.append(ref)
                continue
            except docker.errors.APIError as exc:  # a container was created from it meanwhile: keep it
                log.info("image GC on %s keeps %s: %s", self.agent, ref, _one_line(str(exc.explanation or exc)))
                seen.append(ref)
                continue
            log.info("image GC on %s removed %s (pulled by pacer, unused for %.0fs)", self.agent, ref, now - last)
            removed.append(ref)
        return seen, gone, removed

    # -- the pull itself ---------------------------------------------------------------------------

    def _view(self, record: _Pull, status: PullStatus | None = None, message: str = "") -> ImagePull:
        downloaded, total, layers, done = record.progress.summary()
        return ImagePull(agent=self.agent, image=record.image, status=status or record.status,
                         downloaded=downloaded, total=total, layers=layers, layers_done=done,
                         started_at=record.started_at, task_ids=tuple(record.waiters), message=message)

    def _notify(self, view: ImagePull) -> None:
        callback = self.on_change
        if callback is not None:
            try:
                callback(view)
            except Exception:  # noqa: BLE001 - a listener's failure must not fail the pull
                log.exception("image pull listener failed")

    async def _run(self, key: str, record: _Pull) -> None:
        timeout = self.options.pull_timeout
        began = time.monotonic()
        try:
            if self._slots.locked():
                self._notify(self._view(record))  # queued behind other pulls
            async with self._slots:
                record.status = "pulling"
                self.pulls_started += 1
                self._notify(self._view(record))
                left = max(1.0, timeout - (time.monotonic() - began))
                loop = asyncio.get_running_loop()
                fut = loop.run_in_executor(self._pool, self._pull_sync, record, time.monotonic() + left)
                try:
                    await asyncio.wait_for(fut, left)
                except asyncio.TimeoutError:
                    record.cancelled.set()
                    self._close_response(record)
                    raise self._timed_out(record) from None
        except ImagePullFailed as exc:
            log.warning("pull of %s on %s failed: %s", record.image, self.agent, exc.message)
            self._notify(self._view(record, "failed", exc.message))
            raise
        except AgentError as exc:
            self._notify(self._view(record, "failed", exc.message))
            raise
        else:
            took = time.monotonic() - began
            _, total, _, _ = record.progress.summary()
            size = f" ({format_bytes(total)})" if total else ""
            message = f"pulled {record.image}{size} in {took:.1f}s"
            log.info("%s on %s", message, self.agent)
            self._finished[key] = time.monotonic()
            if self.options.image_gc is not None:
                self._pulled[record.image] = time.time()
                self._start_gc()
            self._notify(self._view(record, "done", message))
        finally:
            self._pulls.pop(key, None)

    def _timed_out(self, record: _Pull) -> ImagePullFailed:
        downloaded, total, _, _ = record.progress.summary()
        got = f" ({format_bytes(downloaded)} of {format_bytes(total)} downloaded)" if total else ""
        return ImagePullFailed(f"agent {self.agent}: pull of {record.image} timed out after "
                               f"{self.options.pull_timeout:g}s{got}", "timeout")

    @staticmethod
    def _close_response(record: _Pull) -> None:
        response = record.response
        if response is not None:
            try:
                response.close()
            except Exception:  # noqa: BLE001 - closing a broken stream may fail; the thread ends by its timeouts
                pass

    def _fail(self, record: _Pull, detail: str, with_credentials: bool) -> ImagePullFailed:
        return classify_failure(detail, agent=self.agent, image=record.image, registry=record.ref.registry,
                                with_credentials=with_credentials)

    def _pull_sync(self, record: _Pull, deadline: float) -> None:
        """In a pull thread: POST /images/create and read its stream to the end."""
        ref = record.ref
        try:
            auth = auth_config(self.options.registries, ref.registry)
        except CredentialsError as exc:
            raise ImagePullFailed(f"agent {self.agent}: {exc}", "credentials") from None
        api = self._api()
        headers = {"X-Registry-Auth": docker.auth.encode_header(auth)} if auth else {}
        url = f"{api.base_url}/v{api.api_version}/images/create"
        stall = min(STALL_SECONDS, self.options.pull_timeout)
        try:
            response = api.post(url, params={"fromImage": ref.repository, "tag": ref.pull_tag}, headers=headers,
                                stream=True, timeout=(CONNECT_SECONDS, stall))
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout, OSError) as exc:
            raise AgentUnreachable(f"agent {self.agent}: docker does not answer ({exc.__class__.__name__})") from exc
        record.response = response
        try:
            if response.status_code >= 400:
                raise self._fail(record, _error_text(response), auth is not None)
            for raw in response.iter_lines():
                if record.cancelled.is_set() or time.monotonic() > deadline:
                    raise self._timed_out(record)
                if not raw:
                    continue
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(line, dict):
                    continue
                if line.get("error"):
                    raise self._fail(record, str(line["error"]), auth is not None)
                record.progress.feed(line)
                now = time.monotonic()
                if now - record.last_notice >= NOTIFY_SECONDS:
                    record.last_notice = now
                    self._notify(self._view(record))
        except requests.exceptions.RequestException as exc:
            if record.cancelled.is_set() or time.monotonic() > deadline:
                raise self._timed_out(record) from None
            # The daemon said nothing for `stall` seconds, or the stream broke.
            raise ImagePullFailed(f"agent {self.agent}: pull of {record.image} stalled: no progress for "
                                  f"{stall:g}s ({exc.__class__.__name__})", "unreachable") from None
        finally:
            record.response = None
            response.close()


def _error_text(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return str(response.text or response.reason or response.status_code)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(body)

"""The `pacer` driver: a remote `pacer --serve` agent over HTTPS (httpx), token authenticated.

    RemoteAgent("edge-1", "pacer+https://10.0.0.5:7443", token=..., fingerprint="sha256:...")

Trust, one of:

- ``ca_file``: the agent's certificate must chain to this CA and name the host;
- ``fingerprint``: the agent's certificate must be exactly this one (SHA-256 of
  its DER form, as the agent prints on start) and not expired. Checked after
  every TLS handshake, on every new connection: the context verifies nothing
  itself (the certificate is self-signed), an `ssl.SSLObject` subclass checks
  the peer certificate once the handshake is done and aborts the connection
  otherwise;
- neither: the system's trust store.

``pacer+http://`` is accepted for loopback hosts only.

Every call has a timeout. Connection failures and timeouts are
`AgentUnreachable`; answers 4xx/5xx are `AgentError` with the agent's message
(503, the agent's dockerd not answering, is `AgentUnreachable`). After a
connection failure the driver backs off (0.5 s doubling to 30 s, reset by the
first answer): calls fail fast until the next attempt is due, and `watch()`
makes that attempt, then wakes the engine, which sees the agent back.
"""

from __future__ import annotations

import asyncio
import datetime
import hmac
import json
import logging
import ssl
import time
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import httpx

from engine.agentd.tls import normalize_fingerprint
from engine.agentd.wire import (
    WireError,
    capacity_from_json,
    observed_from_json,
    pull_from_json,
    spec_to_json,
)
from engine.agents.base import AgentCapacity, ImagePull, TaskSpec
from engine.errors import AgentError, AgentUnreachable, ConfigError
from engine.netaddr import is_loopback
from engine.registries import DEFAULT_PULL_TIMEOUT
from engine.scheduler.state import ObservedContainer

log = logging.getLogger("pacer.agents.remote")

BACKOFF_INITIAL = 0.5
PULL_POLL_SECONDS = 0.5
"""How often an engine asks a pacer agent for its pulls while a launch waits."""
BACKOFF_MAX = 30.0


class PinMismatch(ssl.SSLCertVerificationError):
    """The agent's certificate is not the pinned one (or has expired)."""


def check_pinned(der: bytes | None, pin_hex: str, *, now: datetime.datetime | None = None) -> None:
    """Raise PinMismatch unless `der` is the pinned certificate and valid now."""
    import hashlib

    if der is None:
        raise PinMismatch("the agent presented no certificate")
    got = hashlib.sha256(der).hexdigest()
    if not hmac.compare_digest(got, pin_hex):
        raise PinMismatch(f"certificate fingerprint sha256:{got} is not the pinned sha256:{pin_hex}")
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if now > cert.not_valid_after_utc:
        raise PinMismatch(f"the pinned certificate expired at {cert.not_valid_after_utc.isoformat()}")
    if now < cert.not_valid_before_utc:
        raise PinMismatch(f"the pinned certificate is not valid before {cert.not_valid_before_utc.isoformat()}")


def pinned_context(fingerprint: str) -> ssl.SSLContext:
    """A client context that accepts exactly the certificate with this SHA-256 fingerprint."""
    pin = normalize_fingerprint(fingerprint)

    class _PinnedSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            super().do_handshake()  # raises SSLWantRead/Write until done; then we judge the peer
            check_pinned(self.getpeercert(binary_form=True), pin)

    class _PinnedSSLSocket(ssl.SSLSocket):
        def do_handshake(self, block: bool = False) -> None:
            super().do_handshake(block)
            check_pinned(self.getpeercert(binary_form=True), pin)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False  # the pin identifies the agent, whatever its name
    ctx.verify_mode = ssl.CERT_NONE
    ctx.sslobject_class = _PinnedSSLObject
    ctx.sslsocket_class = _PinnedSSLSocket
    return ctx


class RemoteAgent:
    kind = "pacer"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        token: str,
        ca_file: str | None = None,
        fingerprint: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        timeout: float = 10.0,
        http2: bool = False,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        clock: Callable[[], float] = time.monotonic,
        cluster_id: str | None = None,
    ) -> None:
        self.name = name
        self.cluster_id = cluster_id
        """The cluster this engine acts for; every call on a container names it (the agent touches only that
        cluster's containers). Learned from the first listing, watch or launch when not given."""
        self.url = url
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("pacer+https", "pacer+http", "https", "http"):
            raise ConfigError("<config>", None, f"agents[{name}].url", f"not a pacer agent URL: {url!r}")
        scheme = parsed.scheme.removeprefix("pacer+")
        host = parsed.hostname or ""
        if scheme == "http" and not is_loopback(host):
            raise ConfigError(
                "<config>", None, f"agents[{name}].url",
                f"plain HTTP to agent {name} at {host!r} is refused: use pacer+https:// (http only on loopback)",
            )
        if not token:
            raise ConfigError("<config>", None, f"agents[{name}].token", "a pacer agent needs token or token_file")
        if fingerprint is not None:
            try:
                normalize_fingerprint(fingerprint)
            except ValueError as exc:
                raise ConfigError("<config>", None, f"agents[{name}].tls_fingerprint", str(exc)) from None
        self._base = f"{scheme}://{parsed.netloc}"
        self._scheme = scheme
        self._token = token
        self._ca_file = ca_file
        self._fingerprint = fingerprint
        self._client_cert = (client_cert, client_key) if client_cert else None
        self._timeout = timeout
        self._http2 = http2
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self.foreign_ports: frozenset[int] = frozenset()
        """Host ports the agent reports held by containers not of this cluster (from the last listing)."""
        self._failures = 0
        self._retry_at = 0.0
        self._last_error = ""
        self.on_image_pull: Callable[[ImagePull], None] | None = None
        self._pulls: tuple[ImagePull, ...] = ()
        """The agent's pulls under way, as last polled (while launches wait)."""
        self._pull_timeout = DEFAULT_PULL_TIMEOUT
        """How long the agent lets a pull take (from /v1/info): launches wait that much longer."""
        self._launching = 0
        self._pull_poller: asyncio.Task[None] | None = None
        self._finished_seen: set[tuple[str, float]] = set()

    def __repr__(self) -> str:
        return f"RemoteAgent({self.name!r}, {self._base!r})"

    @classmethod
    def from_config(cls, agent: Any) -> "RemoteAgent":
        """From an `engine.config.AgentConfig` (token or token_file, tls_ca or tls_fingerprint)."""
        token = agent.token
        if not token and agent.token_file:
            try:
                token = Path(agent.token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError("<config>", None, f"agents[{agent.name}].token_file",
                                  f"cannot read {agent.token_file}: {exc.strerror or exc}") from None
        return cls(agent.name, agent.url, token=token or "", ca_file=agent.tls_ca, fingerprint=agent.tls_fingerprint,
                   client_cert=agent.tls_cert, client_key=agent.tls_key, timeout=agent.timeout)

    # -- plumbing -------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | bool:
        if self._scheme != "https":
            return True
        if self._fingerprint:
            ctx = pinned_context(self._fingerprint)
        elif self._ca_file:
            ctx = ssl.create_default_context(cafile=self._ca_file)
        else:
            ctx = ssl.create_default_context()
        if self._client_cert:
            cert, key = self._client_cert
            ctx.load_cert_chain(cert, key)
        return ctx

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            http2 = self._http2
            if http2:
                try:
                    import h2  # noqa: F401
                except ImportError:
                    http2 = False
            try:
                verify = self._ssl_context()
            except (OSError, ssl.SSLError) as exc:
                raise AgentError(f"agent {self.name}: cannot load TLS files: {exc}") from exc
            self._client = httpx.AsyncClient(
                base_url=self._base,
                headers={"Authorization": f"Bearer {self._token}", "User-Agent": "pacer-engine"},
                verify=verify,
                http2=http2,
                timeout=httpx.Timeout(self._timeout),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30),
                trust_env=False,
            )
        return self._client

    def _gate(self) -> None:
        """Fail fast while backing off after a connection failure."""
        if self._failures and self._clock() < self._retry_at:
            wait = self._retry_at - self._clock()
            raise AgentUnreachable(f"{self._last_error} (next attempt in {wait:.1f} s)")

    def _failed(self, message: str) -> None:
        self._failures += 1
        delay = min(self._backoff_initial * 2 ** (self._failures - 1), self._backoff_max)
        self._retry_at = self._clock() + delay
        self._last_error = message

    def _answered(self) -> None:
        if self._failures:
            log.info("agent %s answers again", self.name)
        self._failures = 0
        self._retry_at = 0.0

    @property
    def backoff_delay(self) -> float:
        """Seconds until the next connection attempt is due (0 when connected)."""
        return max(0.0, self._retry_at - self._clock()) if self._failures else 0.0

    def _transport_error(self, exc: httpx.TransportError, what: str) -> AgentUnreachable:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            reason = str(exc) or exc.__class__.__name__
            if "certificate" in reason.lower() or "fingerprint" in reason.lower():
                message = f"agent {self.name}: TLS refused at {self._base}: {reason}"
            else:
                message = f"agent {self.name}: {self._base} does not answer ({reason})"
            self._failed(message)
            return AgentUnreachable(message)
        if isinstance(exc, httpx.TimeoutException):
            return AgentUnreachable(f"agent {self.name}: no answer to {what} in time ({exc.__class__.__name__})")
        return AgentUnreachable(f"agent {self.name}: {what} failed: {exc.__class__.__name__}: {exc}")

    def _error_of(self, response: httpx.Response) -> AgentError:
        try:
            message = str(response.json().get("message") or response.reason_phrase)
        except (ValueError, AttributeError):
            message = response.text[:200] or response.reason_phrase
        if response.status_code == 503:
            return AgentUnreachable(f"agent {self.name}: {message}")
        if response.status_code == 401:
            return AgentError(f"agent {self.name} refused our token: {message}")
        return AgentError(f"agent {self.name}: {message}")

    async def _request(self, method: str, path: str, *, timeout: float | None = None,
                       allow: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        self._gate()
        client = self._http()
        what = f"{method} {path}"
        for attempt in (1, 2):
            try:
                response = await client.request(method, path, timeout=timeout or self._timeout, **kwargs)
                break
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                # A pooled connection the agent closed (it restarted): one fresh try for reads.
                if attempt == 1 and method == "GET":
                    continue
                raise self._transport_error(exc, what) from exc
            except httpx.TransportError as exc:
                raise self._transport_error(exc, what) from exc
        self._answered()
        if response.status_code >= 400 and response.status_code not in allow:
            raise self._error_of(response)
        return response

    def _scope(self, **params: Any) -> dict[str, Any]:
        """Query parameters of a call on one container: the cluster it must belong to, and `params`."""
        if not self.cluster_id:
            raise AgentError(f"agent {self.name}: no cluster yet (the engine lists its containers first)")
        return {"cluster": self.cluster_id, **params}

    def _learn(self, cluster_id: str) -> None:
        if cluster_id:
            self.cluster_id = cluster_id

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise AgentError(f"agent answered {response.request.url.path} with something that is not JSON") from exc

    # -- protocol -------------------------------------------------------------

    async def connect(self) -> AgentCapacity:
        data = self._json(await self._request("GET", "/v1/info"))
        images = data.get("images") if isinstance(data, dict) else None
        if isinstance(images, dict) and isinstance(images.get("pull_timeout"), (int, float)):
            self._pull_timeout = float(images["pull_timeout"])
        try:
            return capacity_from_json(data.get("capacity") if isinstance(data, dict) else None)
        except WireError as exc:
            raise AgentError(f"agent {self.name}: bad /v1/info answer: {exc}") from exc

    async def list_containers(self, cluster_id: str) -> list[ObservedContainer]:
        self._learn(cluster_id)
        data = self._json(await self._request("GET", "/v1/containers", params={"cluster": cluster_id}))
        try:
            containers = [observed_from_json(c) for c in data["containers"]]
            self.foreign_ports = frozenset(int(p) for p in data.get("foreign_ports") or ())
        except (WireError, KeyError, TypeError, ValueError) as exc:
            raise AgentError(f"agent {self.name}: bad container list: {exc}") from exc
        return containers

    async def launch(self, spec: TaskSpec) -> ObservedContainer:
        self._learn(spec.cluster_id)
        # The agent pulls a missing image as part of the launch: wait as long as it lets a pull take, and
        # follow its pulls meanwhile, so the engine shows their progress.
        self._launching += 1
        if self._pull_poller is None or self._pull_poller.done():
            self._pull_poller = asyncio.get_running_loop().create_task(self._poll_pulls(),
                                                                       name=f"pulls of {self.name}")
        try:
            response = await self._request("POST", "/v1/tasks", json=spec_to_json(spec),
                                           timeout=self._timeout * 6 + self._pull_timeout)
        finally:
            self._launching -= 1
        try:
            return observed_from_json(self._json(response))
        except WireError as exc:
            raise AgentError(f"agent {self.name}: bad launch answer: {exc}") from exc

    async def stop(self, container_id: str, grace_seconds: float) -> None:
        await self._request("POST", f"/v1/containers/{container_id}/stop", params=self._scope(grace=grace_seconds),
                            timeout=grace_seconds + self._timeout, allow=(404,))

    async def remove(self, container_id: str) -> None:
        await self._request("DELETE", f"/v1/containers/{container_id}", params=self._scope(), allow=(404,))

    async def tail_logs(self, container_id: str, lines: int) -> list[str]:
        response = await self._request("GET", f"/v1/containers/{container_id}/logs", params=self._scope(tail=lines),
                                       allow=(404,))
        if response.status_code == 404:
            return []
        return response.text.split("\n")[:-1] if response.text else []

    def simulated_health(self, container_id: str | None) -> bool | None:
        return None  # real containers are probed

    async def exec_check(self, container_id: str, command: str) -> tuple[int, str]:
        data = self._json(await self._request("POST", f"/v1/containers/{container_id}/exec",
                                              params=self._scope(), json={"command": command}))
        return int(data.get("exit_code", -1)), str(data.get("output", ""))

    async def stats(self, container_id: str) -> dict[str, Any]:
        data = self._json(await self._request("GET", f"/v1/containers/{container_id}/stats", params=self._scope()))
        return dict(data)

    async def follow_logs(self, container_id: str, tail: int) -> AsyncIterator[str]:
        """The last `tail` lines, then new ones; connecting is bounded in time, waiting for lines is not."""
        self._gate()
        params = self._scope(tail=tail, follow=1)
        client = self._http()
        path = f"/v1/containers/{container_id}/logs"
        timeout = httpx.Timeout(self._timeout, read=None)
        try:
            async with client.stream("GET", path, params=params, timeout=timeout) as response:
                self._answered()
                if response.status_code == 404:
                    return
                if response.status_code >= 400:
                    await response.aread()
                    raise self._error_of(response)
                async for line in response.aiter_lines():
                    yield line
        except httpx.TransportError as exc:
            raise self._transport_error(exc, f"GET {path}") from exc

    async def watch(self, cluster_id: str, on_change: Callable[[], None]) -> None:
        """Follow /v1/events; reconnect with backoff; every (re)connection and break is a change hint."""
        self._learn(cluster_id)
        quiet = 0  # consecutive failures that were not connection failures (401, broken streams)
        while True:
            delay = self.backoff_delay
            if quiet:
                delay = max(delay, min(self._backoff_initial * 2 ** (quiet - 1), self._backoff_max))
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self._follow_events(cluster_id, on_change)
                quiet = 0  # the stream ended cleanly (the agent is shutting down)
            except AgentUnreachable as exc:
                log.debug("agent %s: events: %s", self.name, exc.message)
                quiet = quiet + 1 if not self._failures else 0
            except AgentError as exc:
                log.warning("agent %s: events refused: %s", self.name, exc.message)
                quiet += 1
            on_change()  # the stream broke: let the engine look now

    async def _follow_events(self, cluster_id: str, on_change: Callable[[], None]) -> None:
        client = self._http()
        # The agent writes a line at least every `heartbeat` s (5 by default): silence means a dead link.
        timeout = httpx.Timeout(self._timeout, read=max(15.0, self._timeout))
        try:
            async with client.stream("GET", "/v1/events", params={"cluster": cluster_id}, timeout=timeout) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._error_of(response)
                self._answered()
                on_change()  # (re)connected: things may have changed while we were away
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if event.get("type") == "change":
                        on_change()
        except httpx.TransportError as exc:
            raise self._transport_error(exc, "GET /v1/events") from exc

    def image_pulls(self) -> tuple[ImagePull, ...]:
        return self._pulls

    async def _poll_pulls(self) -> None:
        """Poll GET /v1/pulls while launches wait (and once more after the last), reporting every pull."""
        while True:
            last = self._launching == 0
            try:
                data = self._json(await self._request("GET", "/v1/pulls"))
                pulls = tuple(pull_from_json(p) for p in data.get("pulls") or ())
                finished = [pull_from_json(p) for p in data.get("finished") or ()]
            except (AgentError, WireError, AttributeError, TypeError) as exc:
                log.debug("agent %s: pulls: %s", self.name, exc)
                pulls, finished = (), []
            self._pulls = tuple(replace(p, agent=self.name) for p in pulls)
            callback = self.on_image_pull
            if callback is not None:
                for pull in self._pulls:
                    callback(pull)
                for pull in finished:
                    key = (pull.image, pull.started_at)
                    if key not in self._finished_seen:
                        self._finished_seen.add(key)
                        callback(replace(pull, agent=self.name))
                if len(self._finished_seen) > 1024:
                    self._finished_seen.clear()
            if last:
                self._pulls = ()
                return
            await asyncio.sleep(PULL_POLL_SECONDS)

    async def close(self) -> None:
        if self._pull_poller is not None:
            self._pull_poller.cancel()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


__all__ = ["PULL_POLL_SECONDS", "PinMismatch", "RemoteAgent", "check_pinned", "pinned_context"]

"""`pacer --serve` as an agent: this host's dockerd behind a narrow, authenticated HTTPS API.

    GET    /v1/info                          capacity, attributes, hostname, version, policy
    GET    /v1/containers?cluster=ID         pacer's containers of one cluster, host ports held by others
    POST   /v1/tasks                         launch a task spec (JSON), after the policy check
    POST   /v1/containers/{id}/stop?cluster=ID&grace=S   SIGTERM, SIGKILL after S seconds
    DELETE /v1/containers/{id}?cluster=ID    remove (forced)
    GET    /v1/containers/{id}/logs?cluster=ID&tail=N&follow=0|1   text/plain, one line per output line
    POST   /v1/containers/{id}/exec?cluster=ID   {"command": "..."} -> {"exit_code", "output"} (COMMAND checks)
    GET    /v1/containers/{id}/stats?cluster=ID  one docker stats sample
    GET    /v1/events?cluster=ID             newline-delimited JSON: hello, change, heartbeat
    GET    /v1/pulls                         image pulls under way (progress) and those ended in the last minute

Every request needs ``Authorization: Bearer TOKEN``; a refusal is a 401 JSON
error and a log line naming the client address and the reason, never the
token. A request acts for one cluster (``cluster``; a launch, the spec's
``cluster_id``), one of the agent's ``clusters`` when it names them (403
otherwise). Only containers carrying that cluster's ``pacer.cluster`` label can
be touched: any other (another cluster's, one without pacer's labels, none at
all) is the same 404, which tells nothing about it. Every number in a query or
a spec must be finite and within its range (400 naming the field: a zero or
negative CPU, memory or pids limit would be none at all). The Docker socket
itself is never reachable. A task spec that the
local policy forbids (privileged, host paths, host network, an image outside
the allowlist, extra capabilities; an image that is unsigned, signed by an
untrusted key or changed under its tag) is refused with 403 and
``{"message": "policy: ..."}``. Containers run under the policy's hardened
profile (engine.policy).

The server wraps a driver of the agent protocol (the `docker` driver in
production; tests pass a simulated one), so no Docker call is written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import ssl
import sys
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.agentd.config import AgentPolicy, AgentServerConfig, parse_listen
from engine.agentd.policy import refusals
from engine.agentd.pulls import PullLog, list_pulls
from engine.agentd.wire import (
    API_VERSION,
    MAX_GRACE_SECONDS,
    WireError,
    capacity_to_json,
    number_in_range,
    observed_to_json,
    spec_from_json,
)
from engine.agents.base import LABEL_CLUSTER, AgentDriver
from engine.errors import AgentError, AgentUnreachable, ConfigError
from engine.netaddr import is_loopback
from engine.policy import PolicyRefusal
from engine.registries import DEFAULT_PULL_TIMEOUT, PullOptions
from engine.serving import EmbeddedServer, bind_socket, until_closing

log = logging.getLogger("pacer.agentd")


def pacer_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pacer")
    except PackageNotFoundError:
        return "0+unknown"


class AgentBackend(AgentDriver, Protocol):
    """The agent protocol plus what the server needs to guard and report containers."""

    async def inspect_labels(self, container_id: str) -> tuple[str, dict[str, str]] | None: ...

    async def stats(self, container_id: str) -> dict[str, Any]: ...


@dataclass(slots=True)
class AgentSettings:
    token: str
    name: str
    policy: AgentPolicy = field(default_factory=AgentPolicy)
    clusters: tuple[str, ...] = ()
    """The clusters whose engines this agent serves; empty: any cluster an engine names."""
    heartbeat: float = 5.0
    pull_timeout: float = DEFAULT_PULL_TIMEOUT
    """How long a launch may wait for its image's pull here (engines size their launch timeout by it)."""
    version: str = field(default_factory=pacer_version)
    closing: asyncio.Event = field(default_factory=asyncio.Event)


# --------------------------------------------------------------------------- auth


class BearerAuth:
    """Pure ASGI middleware: ``Authorization: Bearer TOKEN`` on every request, compared in constant time."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._digest = hashlib.sha256(token.encode("utf-8")).digest()

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"

    def _reason(self, header: bytes | None) -> str | None:
        if header is None:
            return "no Authorization header"
        scheme, _, credentials = header.strip().partition(b" ")
        if scheme.lower() != b"bearer" or not credentials.strip():
            return "not a Bearer token"
        given = hashlib.sha256(credentials.strip()).digest()
        if not hmac.compare_digest(given, self._digest):
            return "wrong token"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope.get("headers", []) if k == b"authorization"), None)
        reason = self._reason(header)
        if reason is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        where = f"{client[0]}:{client[1]}" if client else "unknown client"
        # Never the header: only who asked, for what, and why it was refused.
        log.warning("refused %s %s from %s: %s", scope.get("method", "?"), scope.get("path", "?"), where, reason)
        response = JSONResponse({"message": f"unauthorized: {reason}"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="pacer-agent"'})
        await response(scope, receive, send)


# --------------------------------------------------------------------------- routes


def _settings(request: Request) -> AgentSettings:
    settings: AgentSettings = request.app.state.settings
    return settings


def _backend(request: Request) -> AgentBackend:
    backend: AgentBackend = request.app.state.backend
    return backend


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


MAX_TAIL = 1_000_000
"""The most log lines one request may ask for."""


def _cluster(request: Request) -> str:
    """The cluster the request acts for (query parameter `cluster`): required, and one this agent serves."""
    cluster = request.query_params.get("cluster", "")
    if not cluster.strip():
        raise WireError("cluster: the query parameter is required (the engine's cluster id)")
    _check_served(request, cluster)
    return cluster


class NotServed(Exception):
    """A request for a cluster outside the agent's `clusters`: 403."""


def _check_served(request: Request, cluster: str) -> None:
    served = _settings(request).clusters
    if served and cluster not in served:
        client = request.client
        log.warning("refused %s %s from %s: cluster %r is not served by this agent", request.method,
                    request.url.path, f"{client.host}:{client.port}" if client else "unknown client", cluster)
        raise NotServed(f"cluster {cluster!r} is not served by this agent (it serves {', '.join(served)})")


def _number_param(request: Request, name: str, default: float, low: float, high: float) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise WireError(f"{name}: must be a number, got {raw!r}") from None
    result: float = number_in_range(name, value, low, high)
    return result


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise WireError(f"{name}: must be a whole number, got {raw!r}") from None
    result: int = number_in_range(name, value, low, high)
    return result


def _bool_param(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "0").strip().lower()
    if raw in ("1", "true"):
        return True
    if raw in ("0", "false", ""):
        return False
    raise WireError(f"{name}: must be 0, 1, true or false, got {raw!r}")


async def _owned(request: Request) -> str | JSONResponse:
    """The full id of the path's container when it carries the request's cluster label, else a 404.

    A container that does not exist, carries no pacer label or belongs to another cluster gets the
    same answer, which names only what the caller asked for: nothing of it leaks to another cluster's
    engine. The agent's log says which it was."""
    wanted = request.path_params["container_id"]
    cluster = _cluster(request)
    found = await _backend(request).inspect_labels(wanted)
    owner = found[1].get(LABEL_CLUSTER) if found is not None else None
    if found is None or owner != cluster:
        if found is not None:
            client = request.client
            log.warning("refused %s %s from %s: the container is not one of cluster %r (%s)", request.method,
                        request.url.path, f"{client.host}:{client.port}" if client else "unknown client", cluster,
                        "another cluster's" if owner else "not pacer's")
        return _error(404, f"no container {wanted!r} of cluster {cluster!r} on this agent")
    return found[0]


async def info(request: Request) -> Response:
    settings = _settings(request)
    capacity = await _backend(request).connect()
    return JSONResponse({
        "name": settings.name,
        "version": settings.version,
        "api": API_VERSION,
        "hostname": capacity.hostname,
        "capacity": capacity_to_json(capacity),
        "policy": settings.policy.model_dump(mode="json"),
        "clusters": list(settings.clusters),
        "images": {"pull_timeout": settings.pull_timeout},
    })


async def list_containers(request: Request) -> Response:
    backend = _backend(request)
    containers = await backend.list_containers(_cluster(request))
    # Host ports that other containers (or processes) hold on this host: placement must avoid them.
    foreign = sorted(getattr(backend, "foreign_ports", ()))
    return JSONResponse({"containers": [observed_to_json(c) for c in containers], "foreign_ports": foreign})


async def launch(request: Request) -> Response:
    try:
        body = await request.json()
    except ValueError:
        raise WireError("body: not JSON") from None
    spec = spec_from_json(body)
    _check_served(request, spec.cluster_id)
    problems = refusals(spec, _settings(request).policy)
    if not problems:
        try:
            observed = await _backend(request).launch(spec)
        except PolicyRefusal as exc:  # the image checks, made by the driver against its daemon
            problems = exc.problems
    if problems:
        message = "policy: " + "; ".join(problems)
        client = request.client
        log.warning("refused task %s of app %s from %s: %s", spec.task_id, spec.app_id,
                    f"{client.host}:{client.port}" if client else "unknown client", message)
        return _error(403, message)
    log.info("launched task %s (%s) as %s", spec.task_id, spec.image, observed.container_id[:12])
    return JSONResponse(observed_to_json(observed), status_code=201)


async def stop(request: Request) -> Response:
    owned = await _owned(request)
    if isinstance(owned, JSONResponse):
        return owned
    await _backend(request).stop(owned, _number_param(request, "grace", 3.0, 0.0, MAX_GRACE_SECONDS))
    return Response(status_code=204)


async def remove(request: Request) -> Response:
    owned = await _owned(request)
    if isinstance(owned, JSONResponse):
        return owned
    await _backend(request).remove(owned)
    return Response(status_code=204)


async def logs(request: Request) -> Response:
    owned = await _owned(request)
    if isinstance(owned, JSONResponse):
        return owned
    tail = _int_param(request, "tail", 100, 0, MAX_TAIL)
    backend = _backend(request)
    if not _bool_param(request, "follow"):
        lines = await backend.tail_logs(owned, tail)
        return Response("".join(f"{line}\n" for line in lines), media_type="text/plain; charset=utf-8")
    closing = _settings(request).closing

    async def stream() -> AsyncIterator[bytes]:
        lines = backend.follow_logs(owned, tail)
        try:
            async for line in until_closing(lines, closing):
                yield f"{line}\n".encode("utf-8", "replace")
        finally:
            await lines.aclose()  # type: ignore[attr-defined]

    return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")


async def exec_check(request: Request) -> Response:
    owned = await _owned(request)
    if isinstance(owned, JSONResponse):
        return owned
    try:
        body = await request.json()
    except ValueError:
        raise WireError("body: not JSON") from None
    command = body.get("command") if isinstance(body, dict) else None
    if not isinstance(command, str) or not command:
        raise WireError("command: must be a non-empty string")
    code, output = await _backend(request).exec_check(owned, command)
    return JSONResponse({"exit_code": code, "output": output})


async def stats(request: Request) -> Response:
    owned = await _owned(request)
    if isinstance(owned, JSONResponse):
        return owned
    return JSONResponse(await _backend(request).stats(owned))


async def events(request: Request) -> Response:
    cluster = _cluster(request)
    settings = _settings(request)
    backend = _backend(request)
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def on_change() -> None:  # called from the driver's thread
        if not loop.is_closed():
            loop.call_soon_threadsafe(changed.set)

    async def stream() -> AsyncIterator[bytes]:
        watcher = loop.create_task(backend.watch(cluster, on_change), name=f"agentd-watch {cluster}")
        closing = asyncio.ensure_future(settings.closing.wait())
        try:
            yield _line({"type": "hello", "heartbeat": settings.heartbeat})
            while not settings.closing.is_set():
                waiter = asyncio.ensure_future(changed.wait())
                done, _ = await asyncio.wait({waiter, closing}, timeout=settings.heartbeat,
                                             return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if closing in done:
                    return
                if waiter in done:
                    changed.clear()
                    yield _line({"type": "change"})
                else:
                    yield _line({"type": "heartbeat"})
        finally:
            closing.cancel()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    return StreamingResponse(stream(), media_type="application/x-ndjson")


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


# --------------------------------------------------------------------------- errors


async def _wire_error(request: Request, exc: Exception) -> Response:
    return _error(400, str(exc))


async def _not_served(request: Request, exc: Exception) -> Response:
    return _error(403, str(exc))


async def _unreachable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AgentError)
    return _error(503, exc.message)


async def _agent_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AgentError)
    # The engine names this agent in its own words ("agent edge-1: ..."): not twice.
    return _error(502, exc.message.removeprefix(f"agent {_settings(request).name}: "))


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, "no such container on this agent")


def build_app(backend: AgentBackend, settings: AgentSettings) -> ASGIApp:
    """The agent's ASGI app: routes behind bearer-token auth."""
    handlers: dict[Any, Any] = {
        WireError: _wire_error,
        NotServed: _not_served,
        AgentUnreachable: _unreachable,
        AgentError: _agent_error,
    }
    try:
        import docker.errors

        handlers[docker.errors.NotFound] = _not_found
    except ImportError:  # pragma: no cover - the docker SDK is a dependency
        pass
    cid = "/v1/containers/{container_id:str}"
    app = Starlette(
        routes=[
            Route("/v1/info", info, methods=["GET"]),
            Route("/v1/containers", list_containers, methods=["GET"]),
            Route("/v1/tasks", launch, methods=["POST"]),
            Route(f"{cid}/stop", stop, methods=["POST"]),
            Route(cid, remove, methods=["DELETE"]),
            Route(f"{cid}/logs", logs, methods=["GET"]),
            Route(f"{cid}/exec", exec_check, methods=["POST"]),
            Route(f"{cid}/stats", stats, methods=["GET"]),
            Route("/v1/events", events, methods=["GET"]),
            Route("/v1/pulls", list_pulls, methods=["GET"]),
        ],
        exception_handlers=handlers,
    )
    app.state.backend = backend
    app.state.settings = settings
    app.state.pull_log = PullLog(backend)
    return BearerAuth(app, settings.token)


# --------------------------------------------------------------------------- serving


def check_listen(config: AgentServerConfig) -> tuple[str, int]:
    """(host, port); ConfigError for plain HTTP on anything but a loopback address."""
    try:
        host, port = parse_listen(config.listen)
    except ValueError as exc:
        raise ConfigError(config.source, None, "agent.listen", str(exc)) from None
    if not config.tls and not is_loopback(host):
        raise ConfigError(
            config.source, None, "agent.listen",
            f"refusing to serve on non-loopback address {host!r} without TLS: set tls_cert and tls_key, "
            "or generate_tls = true (plain HTTP is allowed only on loopback addresses)",
        )
    return host, port


class _RefusalLoggingSSLObject(ssl.SSLObject):
    """Logs TLS clients refused for their certificate (none, expired, another CA) when client_ca is set."""

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except ssl.SSLCertVerificationError as exc:
            log.warning("refused a TLS client: its certificate failed verification: %s", exc.verify_message)
            raise
        except ssl.SSLError as exc:
            if "PEER_DID_NOT_RETURN_A_CERTIFICATE" in str(exc) or "CERTIFICATE_REQUIRED" in str(exc):
                log.warning("refused a TLS client: it sent no certificate")
            raise


class AgentServer:
    """A running agent: `url`, `fingerprint`, `token_file`; `await stop()`."""

    def __init__(self, server: EmbeddedServer, settings: AgentSettings, backend: AgentBackend,
                 host: str, port: int, scheme: str, fingerprint: str | None, token_file: str | None) -> None:
        self._server = server
        self.settings = settings
        self.backend = backend
        self.host = host
        self.port = port
        self.scheme = scheme
        self.fingerprint = fingerprint
        self.token_file = token_file

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"pacer+{self.scheme}://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server.running

    async def stop(self, timeout: float = 5.0) -> None:
        self.settings.closing.set()
        await self._server.stop(timeout)
        await self.backend.close()


def _say(text: str) -> None:
    print(f"pacer agent: {text}", file=sys.stderr, flush=True)


async def start_agent(config: AgentServerConfig, *, backend: AgentBackend | None = None) -> AgentServer:
    """Check the config, prepare credentials, bind, and serve in the running loop."""
    from engine.agentd.tls import prepare_credentials

    host, port = check_listen(config)  # before anything else: no socket for a refused config
    creds = prepare_credentials(config)
    for path in creds.generated:
        _say(f"generated {path}")
    if creds.fingerprint:
        _say(f"certificate {creds.tls_cert}")
        _say(f"fingerprint {creds.fingerprint}")
    if creds.token_file:
        _say(f"token in {creds.token_file}")
    if config.insecure_docker:
        _say(f"warning: docker at {config.docker_url} is reached over plain tcp:// without TLS (insecure_tcp = true)")
        log.warning("agent %s: docker at %s over plain tcp:// without TLS (insecure_tcp = true)",
                    config.name, config.docker_url)
    if backend is None:
        from engine.agents.docker_agent import DockerAgent

        backend = DockerAgent(
            config.name, config.docker_url, reserve_cpus=config.reserve_cpus, reserve_mem_mib=config.reserve_mem,
            cpus=config.cpus, mem_mib=config.mem, attributes=config.attributes, policy=config.policy,
            # task sandboxes under the agent's state_dir when docker runs on this host; else docker volumes
            sandbox_root=(os.path.join(os.path.abspath(config.state_dir), "sandboxes")
                          if config.docker_url.startswith("unix://") else None),
            pulls=PullOptions.of(config),
        )
    settings = AgentSettings(token=creds.token, name=config.name, policy=config.policy, clusters=config.clusters,
                             heartbeat=config.heartbeat, pull_timeout=config.pull_timeout)
    app = build_app(backend, settings)
    tls = bool(creds.tls_cert and creds.tls_key)
    sock = bind_socket(host, port, source=config.source, field="agent.listen")
    server = await EmbeddedServer.start(
        app, sock, name="pacer-agentd", source=config.source, tls_field="agent.tls_cert", listen_field="agent.listen",
        ssl_certfile=creds.tls_cert if tls else None, ssl_keyfile=creds.tls_key if tls else None,
        ssl_ca_certs=config.client_ca if tls else None,
        ssl_cert_reqs=int(ssl.CERT_REQUIRED) if tls and config.client_ca else int(ssl.CERT_NONE),
        sslobject_class=_RefusalLoggingSSLObject,
    )
    agent = AgentServer(server, settings, backend, host, server.port, "https" if tls else "http",
                        creds.fingerprint, creds.token_file)
    try:
        await backend.connect()
    except AgentError as exc:
        log.warning("docker at %s does not answer yet: %s", config.docker_url, exc.message)
    _say(f"serving {agent.url} for docker at {config.docker_url} (name {config.name})")
    log.info("agent %s serving on %s", config.name, agent.url)
    return agent

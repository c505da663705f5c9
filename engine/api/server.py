"""Serve the API with uvicorn inside the engine's event loop.

    server = await start_api(engine, config)            # config: PacerConfig or SchedulerConfig
    server = await start_api(engine, config, bind="127.0.0.1:0")
    ...
    await server.stop()

uvicorn runs in the current loop and never touches signal handling, and the
socket is bound first, so a port in use is an error of `start_api`
(engine.serving, shared with the `pacer --serve` agent).

An API bound to anything but a loopback address refuses to start without a
token and a TLS certificate and key (ConfigError: exit code 2 in the CLI). A
configured token is required on every binding; a loopback API without one
starts with one warning line saying who can reach it (`no_token_notice`).
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette

from engine.api.app import api_state, build_app
from engine.api.state import ApiSettings, ApiState
from engine.config import PacerConfig, SchedulerConfig
from engine.errors import ConfigError
from engine.netaddr import is_loopback, parse_host_port
from engine.serving import EmbeddedServer, bind_socket

if TYPE_CHECKING:
    from engine.core import Engine

log = logging.getLogger("pacer.api")


def parse_bind(text: str, *, source: str = "<command line>", field: str = "scheduler.api") -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); ConfigError when malformed."""
    try:
        return parse_host_port(text)
    except ValueError as exc:
        raise ConfigError(source, None, field, str(exc)) from None


def check_binding(host: str, sched: SchedulerConfig, source: str) -> None:
    """A non-loopback API needs a token and TLS; loopback may go without."""
    if is_loopback(host):
        if bool(sched.api_tls_cert) != bool(sched.api_tls_key):
            raise ConfigError(source, None, "scheduler.api_tls_cert", "give both api_tls_cert and api_tls_key, or neither")
        return
    missing = [name for name, value in (("api_token", sched.api_token), ("api_tls_cert", sched.api_tls_cert),
                                        ("api_tls_key", sched.api_tls_key)) if not value]
    if missing:
        raise ConfigError(
            source, None, "scheduler.api",
            f"the API on non-loopback address {host!r} needs {', '.join(missing)} in [scheduler] "
            "(a token and a TLS certificate); bind to 127.0.0.1 to go without",
        )


class ApiServer:
    """A running API: `url`, `host`, `port`, `app`, `state`; `await stop()`."""

    def __init__(self, server: EmbeddedServer, app: Starlette, host: str, port: int, scheme: str) -> None:
        self._server = server
        self.app = app
        self.host = host
        self.port = port
        self.scheme = scheme

    @property
    def state(self) -> ApiState:
        return api_state(self.app)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"ApiServer({self.url})"

    @property
    def running(self) -> bool:
        return self._server.running

    async def stop(self, timeout: float = 5.0) -> None:
        """Close the event and log streams, then stop accepting and finish open requests."""
        self.state.closing.set()
        await self._server.stop(timeout)


def _scheduler(config: Any) -> tuple[SchedulerConfig, str]:
    if isinstance(config, PacerConfig):
        return config.scheduler, config.source
    if isinstance(config, SchedulerConfig):
        return config, "<config>"
    raise TypeError(f"start_api needs a PacerConfig or SchedulerConfig, got {type(config).__name__}")


def limit_unsent(sock: socket.socket, lowat: int) -> None:
    """Cap what the kernel queues unsent per connection (TCP_NOTSENT_LOWAT, inherited by accepted sockets).

    A client that stops reading an event stream would otherwise have the kernel take megabytes per
    connection (send buffers autotune up to net.ipv4.tcp_wmem's maximum), and pushing those through
    the socket stalls the event loop under TCP memory pressure. Bytes in flight are not limited.
    """
    if lowat > 0 and hasattr(socket, "TCP_NOTSENT_LOWAT") and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, lowat)
        except OSError as exc:  # not every kernel has it: the system's default stays
            log.debug("TCP_NOTSENT_LOWAT not set: %s", exc)


async def start_api(
    engine: "Engine",
    config: PacerConfig | SchedulerConfig,
    *,
    bind: str | None = None,
    settings: ApiSettings | None = None,
) -> ApiServer:
    """Start serving the API for `engine` in the running loop.

    `bind` (``HOST:PORT``, port 0 = any free port) overrides ``[scheduler] api``.
    The token and TLS files come from ``[scheduler] api_token``,
    ``api_tls_cert`` and ``api_tls_key``. `settings` overrides SSE tuning
    (token and leader are always taken from the config and the bound socket).
    """
    sched, source = _scheduler(config)
    spec = bind or sched.api
    if not spec:
        raise ConfigError(source, None, "scheduler.api", "no address to serve the API on (use --api HOST:PORT)")
    host, port = parse_bind(spec, source=source)
    check_binding(host, sched, source)
    tls = bool(sched.api_tls_cert and sched.api_tls_key)
    sock = bind_socket(host, port, source=source, field="scheduler.api")
    base = settings or ApiSettings()
    limit_unsent(sock, base.tcp_notsent_lowat)
    bound_port = sock.getsockname()[1]
    scheme = "https" if tls else "http"
    shown_host = f"[{host}]" if ":" in host else host
    api_settings = dataclasses.replace(base, token=sched.api_token, leader=f"{shown_host}:{bound_port}",
                                       scheme=scheme)
    app = build_app(engine, api_settings, local_names_only=is_loopback(host))
    server = await EmbeddedServer.start(
        app, sock, name="pacer-api", source=source, tls_field="scheduler.api_tls_cert", listen_field="scheduler.api",
        ssl_certfile=sched.api_tls_cert if tls else None, ssl_keyfile=sched.api_tls_key if tls else None,
    )
    api = ApiServer(server, app, host, bound_port, scheme)
    log.info("API serving on %s%s", api.url, " (token required)" if sched.api_token else "")
    if not sched.api_token:
        log.warning("%s", no_token_notice(api_settings.leader))
    return api


def no_token_notice(address: str) -> str:
    """The one line that says who can reach an API without a token (loopback only: others need one)."""
    return (f"API on {address} has no token: every local process and every task on the host network can read "
            "and change the cluster; set [scheduler] api_token to close it")

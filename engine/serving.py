"""uvicorn inside the running event loop, for pacer's HTTP servers (the API and `pacer --serve` agents).

The socket is bound before serving starts, so a port in use or a bad address is
an error of the caller (ConfigError, exit code 2 in the CLI), not a log line.
uvicorn never touches signal handling here: the console and `--serve` own
SIGINT and SIGTERM.

A client cannot hold a connection without asking for something. uvicorn only
times out idle keep-alive connections (`timeout_keep_alive`), so each
connection here also has:

- a TLS handshake deadline (HEADER_TIMEOUT; asyncio's default is 60 s);
- a header deadline: from its first byte (or the connection), a request line
  and headers complete within HEADER_TIMEOUT seconds, however slowly they
  trickle in, or the server answers 408 and closes;
- a body idle timeout: a request body that stops arriving for
  BODY_IDLE_TIMEOUT seconds ends the connection;
- headers of at most MAX_HEADER_BYTES (h11 answers 400 beyond).

Streaming answers (log follows, event streams) are the server's own pace and
are not limited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from typing import Any, AsyncIterator, Iterator, TypeVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from engine.errors import ConfigError

log = logging.getLogger("pacer.serving")

HEADER_TIMEOUT = 5.0
"""Seconds a client has to complete its TLS handshake, and then each request's line and headers."""
BODY_IDLE_TIMEOUT = 15.0
"""Seconds a request body may pause between two reads."""
KEEP_ALIVE_TIMEOUT = 5
"""Seconds an idle keep-alive connection stays open between requests."""
MAX_HEADER_BYTES = 16 * 1024

_TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
              b"content-length: 26\r\nconnection: close\r\n\r\nrequest headers too slow\r\n")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a body idle timeout (see the module's doc)."""

    header_timeout: float = HEADER_TIMEOUT
    body_idle_timeout: float = BODY_IDLE_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard: asyncio.TimerHandle | None = None
        self._guarding_headers = False

    @classmethod
    def with_timeouts(cls, header_timeout: float, body_idle_timeout: float) -> type["GuardedH11Protocol"]:
        return type("GuardedH11Protocol", (cls,), {"header_timeout": header_timeout,
                                                   "body_idle_timeout": body_idle_timeout})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._guard_state()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._guard_state()  # a body the app never read: stop waiting for it (keep-alive takes over)

    # -- the timers ---------------------------------------------------------------------------

    def _disarm(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None
        self._guarding_headers = False

    def _arm_header_deadline(self) -> None:
        """Headers are due by a fixed time: bytes trickling in do not move it."""
        if not self._guarding_headers:
            self._disarm()
            self._guard = self.loop.call_later(self.header_timeout, self._headers_overdue)
            self._guarding_headers = True

    def _arm_body_idle(self) -> None:
        self._disarm()
        self._guard = self.loop.call_later(self.body_idle_timeout, self._body_stalled)

    def _guard_state(self) -> None:
        if self.transport.is_closing():
            self._disarm()
        elif self.conn.their_state is h11.IDLE:
            # Part of a request line or its headers (a new request after keep-alive starts here too).
            if self.conn.trailing_data[0] or self._guarding_headers:
                self._arm_header_deadline()
        elif self.conn.their_state is h11.SEND_BODY:  # read by the app, or discarded after its answer
            self._arm_body_idle()
        else:
            self._disarm()

    def _headers_overdue(self) -> None:
        self._guard = None
        self._guarding_headers = False
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        log.debug("closing a connection from %s: no complete request headers in %.0f s",
                  self.client, self.header_timeout)
        self._unset_keepalive_if_required()
        self.transport.write(_TIMED_OUT)
        self.transport.close()

    def _body_stalled(self) -> None:
        self._guard = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if self.flow.read_paused:  # the app is not reading: the client is not the slow one
            self._arm_body_idle()
            return
        log.debug("closing a connection from %s: its request body stalled for %.0f s",
                  self.client, self.body_idle_timeout)
        self.transport.close()


class _Server(uvicorn.Server):
    handshake_timeout: float = HEADER_TIMEOUT

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the host program owns the signals
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup, with a TLS handshake deadline on its listening servers (asyncio waits 60 s)."""
        loop = asyncio.get_running_loop()
        create_server = loop.create_server
        timeout = self.handshake_timeout

        async def with_handshake_deadline(*args: Any, **kwargs: Any) -> asyncio.Server:
            if kwargs.get("ssl") is not None:
                kwargs.setdefault("ssl_handshake_timeout", timeout)
            return await create_server(*args, **kwargs)

        loop.create_server = with_handshake_deadline  # type: ignore[method-assign]
        try:
            await super().startup(sockets)
        finally:
            del loop.create_server  # the loop's own method again


def bind_socket(host: str, port: int, *, source: str, field: str) -> socket.socket:
    """A listening, non-blocking socket on host:port (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, port, family=0 if host == "localhost" else family, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(source, None, field, f"cannot resolve {host!r}: {exc.strerror or exc}") from None
    last: OSError | None = None
    for fam, kind, proto, _, addr in infos:
        sock = socket.socket(fam, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.listen(1024)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    reason = last.strerror if last is not None and last.strerror else str(last)
    raise ConfigError(source, None, field, f"cannot listen on {host}:{port}: {reason}")


class EmbeddedServer:
    """One ASGI app served by uvicorn as a task of the running loop."""

    def __init__(self, server: _Server, task: "asyncio.Task[None]", port: int) -> None:
        self._server = server
        self._task = task
        self.port = port

    @classmethod
    async def start(
        cls,
        app: Any,
        sock: socket.socket,
        *,
        name: str,
        source: str,
        tls_field: str,
        listen_field: str,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        ssl_ca_certs: str | None = None,
        ssl_cert_reqs: int = int(ssl.CERT_NONE),
        sslobject_class: type[ssl.SSLObject] | None = None,
        header_timeout: float = HEADER_TIMEOUT,
        body_idle_timeout: float = BODY_IDLE_TIMEOUT,
    ) -> "EmbeddedServer":
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            http=GuardedH11Protocol.with_timeouts(header_timeout, body_idle_timeout),
            ws="none",
            timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            timeout_graceful_shutdown=3,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            ssl_ca_certs=ssl_ca_certs,
            ssl_cert_reqs=ssl_cert_reqs,
        )
        try:
            config.load()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            sock.close()
            raise ConfigError(source, None, tls_field, f"cannot load the TLS certificate or key: {exc}") from None
        if config.ssl is not None and sslobject_class is not None:
            config.ssl.sslobject_class = sslobject_class
        server = _Server(config)
        server.handshake_timeout = header_timeout
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name=name)
        while not server.started:
            if task.done():
                sock.close()
                failure = task.exception() if not task.cancelled() else None
                raise ConfigError(source, None, listen_field, f"{name} did not start: {failure!r}")
            await asyncio.sleep(0.01)
        return cls(server, task, sock.getsockname()[1])

    @property
    def running(self) -> bool:
        return not self._task.done()

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let open requests finish for up to `timeout` seconds, then stop hard."""
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await self._task
        except SystemExit:
            pass


T = TypeVar("T")


async def until_closing(items: AsyncIterator[T], closing: asyncio.Event) -> AsyncIterator[T]:
    """The items of a stream (a log follow) until the server closes: a shutdown never waits on an idle stream."""
    closed = asyncio.ensure_future(closing.wait())
    try:
        while True:
            nxt = asyncio.ensure_future(items.__anext__())
            done, _ = await asyncio.wait({nxt, closed}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                nxt.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await nxt
                return
            try:
                yield nxt.result()
            except StopAsyncIteration:
                return
    finally:
        closed.cancel()

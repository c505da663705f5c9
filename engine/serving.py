"""uvicorn inside the running event loop, for pacer's HTTP servers (the API and `pacer --serve` agents).

The socket is bound before serving starts, so a port in use or a bad address is
an error of the caller (ConfigError, exit code 2 in the CLI), not a log line.
uvicorn never touches signal handling here: the console and `--serve` own
SIGINT and SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Any, AsyncIterator, Iterator, TypeVar

import uvicorn

from engine.errors import ConfigError


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the host program owns the signals
        yield


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
    ) -> "EmbeddedServer":
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            http="h11",
            ws="none",
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

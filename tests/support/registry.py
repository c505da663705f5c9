"""A real image registry for the tests: Debian's ``docker-registry`` (the distribution registry, 2.8).

Each :class:`Registry` is one ``docker-registry serve`` process on 127.0.0.1 with a free port, its own
config file and its own storage directory (never the package's system service, its config or its
:5000). Docker treats registries on 127.0.0.0/8 as insecure-allowed, so plain HTTP works, with or
without credentials::

    with Registry(tmp / "open") as open_registry, Registry(tmp / "auth", users={"ci": "pw"}) as auth:
        ref = open_registry.push(client, "busybox:latest", "team/busybox", "v1")  # 127.0.0.1:PORT/team/busybox:v1

With ``users`` the registry asks for HTTP basic auth (htpasswd, bcrypt hashes made here). :func:`unique_image`
builds an image whose content exists nowhere else (a layer of random bytes on busybox), so a pull of it
really downloads; :class:`ThrottledProxy` serves a registry at a bounded rate, so a pull lasts long enough
to watch its progress.

Stdlib plus the ``docker`` SDK and ``bcrypt``.
"""

from __future__ import annotations

import contextlib
import io
import os
import selectors
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from base64 import b64encode
from pathlib import Path
from typing import Any

REGISTRY_BINARY = "/usr/bin/docker-registry"
INSTALL_HINT = "install Debian's docker-registry: apt-get install -y docker-registry"

__all__ = ["Registry", "ThrottledProxy", "free_port", "registry_available", "remove_image", "unique_image"]


def registry_available() -> bool:
    return os.access(REGISTRY_BINARY, os.X_OK)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _htpasswd_line(user: str, password: str) -> str:
    import bcrypt

    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"


class Registry:
    """One distribution registry on 127.0.0.1:port (``host``), with htpasswd auth when `users` is given."""

    def __init__(self, root: Path | str, *, users: dict[str, str] | None = None) -> None:
        self.root = Path(root)
        self.users = dict(users or {})
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str] | None:
        """docker's auth_config for the first user (None: an open registry)."""
        if not self.users:
            return None
        user, password = next(iter(self.users.items()))
        return {"username": user, "password": password, "serveraddress": self.host}

    def __enter__(self) -> "Registry":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _config(self) -> str:
        auth = ""
        if self.users:
            (self.root / "htpasswd").write_text("".join(_htpasswd_line(u, p) for u, p in self.users.items()))
            auth = f"auth:\n  htpasswd:\n    realm: pacer-test\n    path: {self.root / 'htpasswd'}\n"
        return (
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: {uuid.uuid4().hex}\n"
            f"{auth}"
        )

    def start(self, timeout: float = 30.0) -> "Registry":
        if not registry_available():
            raise RuntimeError(f"{REGISTRY_BINARY} is missing: {INSTALL_HINT}")
        self.root.mkdir(parents=True, exist_ok=True)
        last = ""
        for _attempt in range(5):  # a free port can be taken between the probe and the bind: try another
            self.port = free_port()
            config = self.root / "config.yml"
            config.write_text(self._config())
            log = open(self.root / "registry.log", "ab")
            try:
                self.process = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)], stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            finally:
                log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if self._answers():
                    return self
                time.sleep(0.05)
            last = (self.root / "registry.log").read_text(errors="replace")[-2000:]
            self._end_process()
        raise RuntimeError(f"docker-registry did not start: {last}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1.0) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError as exc:
            return exc.code == 401  # up, and asking for credentials
        except OSError:
            return False

    def _end_process(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        self._end_process()
        shutil.rmtree(self.root, ignore_errors=True)

    def request(self, path: str, *, method: str = "GET",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request to the registry's HTTP API (with the first user's credentials): status, headers, body."""
        req = urllib.request.Request(f"http://{self.host}{path}", method=method, headers=dict(headers or {}))
        if self.users:
            user, password = next(iter(self.users.items()))
            req.add_header("Authorization", "Basic " + b64encode(f"{user}:{password}".encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def push(self, client: Any, image: str, repository: str, tag: str, *, keep_local: bool = False,
             as_host: str | None = None) -> str:
        """Push local `image` as ``HOST/repository:tag``; returns that reference. Unless `keep_local`, the
        reference is removed from the daemon afterwards (its content stays under `image`). `as_host`: name the
        registry otherwise (``localhost:PORT``), so the daemon's ``HOST/...`` references stay as they are."""
        target = f"{as_host or self.host}/{repository}"
        api = client.api
        api.tag(image, target, tag)
        try:
            auth = {**self.auth, "serveraddress": as_host or self.host} if self.auth else None
            errors = [line for line in api.push(target, tag=tag, stream=True, decode=True, auth_config=auth)
                      if "error" in line]
            if errors:
                raise RuntimeError(f"push of {target}:{tag} failed: {errors[0]['error']}")
        finally:
            if not keep_local:
                remove_image(client, f"{target}:{tag}")
        return f"{target}:{tag}"

    def manifest_requests(self, repository: str, reference: str) -> int:
        """How many times a client asked for ``repository:reference``'s manifest (HEAD or GET): each pull asks
        once by the reference it names (from the registry's access log)."""
        text = (self.root / "registry.log").read_text(errors="replace")
        return sum(text.count(f'"{method} /v2/{repository}/manifests/{reference} ') for method in ("HEAD", "GET"))

    def digest_of(self, repository: str, tag: str) -> str:
        """The manifest digest the registry serves for ``repository:tag`` (``sha256:...``)."""
        status, headers, _ = self.request(f"/v2/{repository}/manifests/{tag}", method="HEAD", headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        if status != 200:
            raise RuntimeError(f"{repository}:{tag} is not in registry {self.host} ({status})")
        return str(headers["Docker-Content-Digest"])


def remove_image(client: Any, ref: str) -> None:
    """Remove an image reference from a daemon when it is there (forced: stopped containers may use it)."""
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_image(ref, force=True)


def unique_image(client: Any, name: str, *, size: int = 64 * 1024, base: str = "busybox:latest") -> str:
    """Build ``name`` (a local reference) from `base` plus one layer of `size` random bytes: content that no
    other image shares, so pulling it downloads that layer. Returns the new image's content id."""
    blob = os.urandom(size)
    dockerfile = f"FROM {base}\nCOPY blob /pacer-test-blob\nLABEL pacer.test-image={uuid.uuid4().hex}\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for member, data in (("Dockerfile", dockerfile), ("blob", blob)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    image, _ = client.images.build(fileobj=context, custom_context=True, tag=name, rm=True, pull=False)
    return str(image.id)


class ThrottledProxy:
    """A TCP proxy on 127.0.0.1 in front of `upstream` ("127.0.0.1:PORT") that sends the upstream's answers on
    at most `rate` bytes a second (all connections together): a slow registry, so a pull can be watched.

    One thread, selectors, bounded buffers; `stop()` closes every connection."""

    def __init__(self, upstream: str, rate: int) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.rate = rate
        self.port = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> "ThrottledProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "ThrottledProxy":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        self._thread = threading.Thread(target=self._run, name="throttled-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._listener is not None:
            self._listener.close()

    def _run(self) -> None:
        assert self._listener is not None
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ, None)
        pairs: dict[socket.socket, socket.socket] = {}  # each side -> the other
        budget = float(self.rate) / 20
        tick = time.monotonic()

        def close(sock: socket.socket) -> None:
            other = pairs.pop(sock, None)
            for s in (sock, other):
                if s is None:
                    continue
                pairs.pop(s, None)
                with contextlib.suppress(KeyError, ValueError):
                    sel.unregister(s)
                s.close()

        try:
            while not self._stop.is_set():
                now = time.monotonic()
                budget = min(budget + (now - tick) * self.rate, float(self.rate) / 10)
                tick = now
                for key, _ in sel.select(timeout=0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if key.data is None:
                        with contextlib.suppress(BlockingIOError):
                            client, _ = sock.accept()
                            upstream = socket.create_connection(self.upstream, timeout=5)
                            client.setblocking(True)
                            upstream.setblocking(True)
                            pairs[client], pairs[upstream] = upstream, client
                            sel.register(client, selectors.EVENT_READ, "client")
                            sel.register(upstream, selectors.EVENT_READ, "upstream")
                        continue
                    if key.data == "upstream" and budget <= 0:
                        continue  # the downstream direction waits for its budget
                    limit = 65536 if key.data == "client" else max(1, min(65536, int(budget)))
                    try:
                        data = sock.recv(limit)
                    except OSError:
                        data = b""
                    if not data:
                        close(sock)
                        continue
                    if key.data == "upstream":
                        budget -= len(data)
                    try:
                        pairs[sock].sendall(data)
                    except (OSError, KeyError):
                        close(sock)
                if budget <= 0:
                    time.sleep(0.01)
        finally:
            for sock in list(pairs):
                close(sock)
            sel.close()

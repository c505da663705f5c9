"""Real Docker daemons for the integration tests and for .ci/run.

Stdlib plus the ``docker`` SDK only, so ``.ci/run`` can use it as soon as the
project is pip-installed::

    python -m tests.support.dockerd ensure    # start dockerd if needed, build sample images

The main daemon
---------------
:func:`ensure_dockerd` returns the URL of the local daemon
(``unix:///var/run/docker.sock``), starting Debian's ``dockerd`` detached (its
own session, reparented to init, logging to ``/var/log/pacer-dockerd.log``) when
none answers, so it outlives the pytest process that started it.
:func:`ensure_images` builds ``busybox:latest`` and ``python:3`` with
``sample_apps/build-images.sh`` when the daemon lacks them.

Extra daemons (several agents on one machine)
---------------------------------------------
:func:`start_extra_dockerd` starts one more dockerd next to the main one. What
works (Debian bookworm, docker.io 20.10.24, containerd 1.6.20), for index N
(1..50)::

    ip link add pacerbrN type bridge
    ip addr add 10.(200+N).0.1/24 dev pacerbrN
    ip link set pacerbrN up
    dockerd --data-root ROOT/data --exec-root ROOT/exec --pidfile ROOT/docker.pid \\
        -H unix://ROOT/docker.sock -H tcp://127.0.0.(N+1):2375 \\
        --bridge=pacerbrN --iptables=false \\
        --containerd-namespace pacer-agentN --containerd-plugins-namespace pacer-agentN-plugins

Why each flag:

* Own ``--data-root``/``--exec-root``/``--pidfile``/socket: nothing is shared
  with the main daemon. No ``--containerd`` flag: each dockerd then starts its
  own managed containerd under ``EXEC_ROOT/containerd``. The distinct
  containerd namespaces only matter when a system containerd answers at
  ``/run/containerd/containerd.sock`` (dockerd then uses it instead of its own):
  with the default namespace ``moby`` every daemon would see the others'
  containers there.
* Own bridge, created first: ``--bridge=none`` must never be used (it deletes
  ``docker0`` and breaks the main daemon), and the default would fight over
  ``docker0``. 10.(200+N).0.0/24 stays clear of docker0's 172.17.0.0/16.
* ``--iptables=false``: with iptables on, a starting bridge driver deletes and
  re-creates the shared ``DOCKER``, ``DOCKER-ISOLATION-*`` chains, which wipes
  the main daemon's (and other extra daemons') rules; every start or restart of
  an extra daemon would do it again. Without iptables, published ports are
  served by docker-proxy (the userland proxy, on by default), which is all the
  tests need: published ports are reached on 127.0.0.1 (or 127.0.0.(N+1)).
  Containers of an extra daemon get no outbound NAT, which nothing here needs.
* Ports: each daemon allocates ephemeral host ports on its own; when two pick
  the same port, docker-proxy fails to bind and dockerd retries with the next
  port, so ephemeral ports never clash. An explicit host port that another
  daemon already serves fails the container start ("address already in use").
* The exec-root holds unix sockets (containerd, libnetwork) whose paths must
  stay below 108 bytes. When ``ROOT/exec`` is longer than 40 characters the
  exec-root is ``/run/pacer-dockerd/execN-<hash of ROOT>`` instead.
* Startup takes 1-3 s; the unauthenticated TCP listener only logs a warning.
* SIGKILL of dockerd also takes its managed containerd and docker-proxy
  processes down (Pdeathsig); the container shims survive. ``start()`` again
  reuses the same directories, so containers, images and volumes persist.
  Without ``live_restore=True`` the restarted daemon stops the containers that
  were still running (SIGTERM, then SIGKILL after their stop timeout: a PID 1
  that ignores SIGTERM delays the restart by 10 s), and finds them exited, as
  after a reboot. With it they keep running, but their published ports are not
  served while dockerd is down (docker-proxy died with it) and are back after
  the restart (about 1 s).
* The machine's PID 1 may reap orphans late, so a killed dockerd can linger as
  a zombie; dockerd would take its pidfile as "still running", so stale pidfiles
  are removed before each start.
* Each index is guarded by a lock file ``/run/pacer-dockerd/extra-N.lock`` held
  from start to :meth:`ExtraDaemon.cleanup`. A dockerd still serving index N
  whose owner died (a killed test run) is stopped when the lock is taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Iterator

DEFAULT_URL = "unix:///var/run/docker.sock"
DEFAULT_PIDFILE = Path("/var/run/docker.pid")
LOG_PATH = Path("/var/log/pacer-dockerd.log")
REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "sample_apps" / "build-images.sh"
SAMPLE_IMAGES = ("busybox:latest", "python:3")
INSTALL_HINT = "install Debian's docker.io: apt-get install -y docker.io"
RUN_DIR = Path("/run/pacer-dockerd")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

__all__ = [
    "DEFAULT_URL",
    "SAMPLE_IMAGES",
    "ExtraDaemon",
    "docker_answers",
    "ensure_dockerd",
    "ensure_images",
    "start_extra_dockerd",
]


# --------------------------------------------------------------------------- helpers


def _client(url: str, timeout: float):
    import docker

    return docker.DockerClient(base_url=url, timeout=timeout)


def docker_answers(url: str = DEFAULT_URL, timeout: float = 2.0) -> bool:
    """True when a Docker daemon answers ``GET /_ping`` at ``url`` within ``timeout`` s.

    ``url`` is ``unix:///path``, ``tcp://host:port`` or ``http://host:port``. Plain
    sockets, not the SDK: the SDK leaks a socket when a unix socket is missing.
    """
    try:
        if url.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: object = url[len("unix://"):]
            host = "localhost"
        elif url.startswith(("tcp://", "http://")):
            parsed = urllib.parse.urlsplit(url)
            host = parsed.hostname or "127.0.0.1"
            address = (host, parsed.port or 2375)
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        else:
            return False
        with sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(f"GET /_ping HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            reply = b""
            while len(reply) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except (OSError, ValueError):
        return False
    head, _, body = reply.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    return len(status) >= 2 and status[1] == b"200" and body.strip() == b"OK"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    have = env.get("PATH", "").split(":")
    env["PATH"] = ":".join([p for p in have if p] + [p for p in SYSTEM_PATH.split(":") if p not in have])
    env.pop("DOCKER_HOST", None)
    return env


def _which_dockerd() -> str | None:
    return shutil.which("dockerd", path=_env()["PATH"])


def _alive(pid: int | None) -> bool:
    """True if ``pid`` runs and is not a zombie (detached daemons are reaped by init)."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _drop_stale_pidfile(pidfile: Path) -> None:
    """Remove ``pidfile`` when the pid in it is dead or a zombie."""
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return
    if not text.isdigit() or not _alive(int(text)):
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _spawn_detached(argv: list[str], log: Path) -> int:
    """Start ``argv`` in its own session, detached from us (reparented to init).

    The daemon is not our child, so it outlives this process and Python never
    warns about a still-running subprocess. Returns its pid.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    script = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'
    out = subprocess.run(
        ["/bin/sh", "-c", script, "sh", str(log), *argv],
        check=True,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=_env(),
        start_new_session=True,
        text=True,
    ).stdout
    return int(out.strip())


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _terminate(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM ``pid``, then SIGKILL if it is still there after ``timeout`` s."""
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, 10.0)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    ip = shutil.which("ip", path=_env()["PATH"])
    if ip is None:
        raise RuntimeError("'ip' not found: apt-get install -y iproute2")
    proc = subprocess.run([ip, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def _mounts_under(*paths: Path) -> list[str]:
    prefixes = [str(p).rstrip("/") + "/" for p in paths]
    found = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            target = line.split()[1].replace("\\040", " ")
            if any(target.startswith(prefix) or target + "/" == prefix for prefix in prefixes):
                found.append(target)
    return sorted(found, key=len, reverse=True)


# --------------------------------------------------------------------------- main daemon


def _open_log_path() -> Path:
    try:
        LOG_PATH.parent.mkdir(parents=True, exist_ok=True)
        with LOG_PATH.open("a"):
            pass
        return LOG_PATH
    except OSError:
        import tempfile

        return Path(tempfile.gettempdir()) / "pacer-dockerd.log"


def ensure_dockerd(timeout: float = 60.0) -> str:
    """Return the URL of a Docker daemon that answers, starting the local one if needed.

    ``$DOCKER_HOST`` is tried first when set. Otherwise the local daemon at
    ``unix:///var/run/docker.sock``; when it does not answer and no dockerd is
    starting already (``/var/run/docker.pid``), ``dockerd`` is started detached
    and polled until it answers or ``timeout`` s pass (RuntimeError with the tail
    of its log).
    """
    env_url = os.environ.get("DOCKER_HOST")
    if env_url and env_url != DEFAULT_URL and docker_answers(env_url):
        return env_url
    if docker_answers(DEFAULT_URL):
        return DEFAULT_URL
    dockerd = _which_dockerd()
    if dockerd is None:
        raise RuntimeError(f"no Docker daemon answers and dockerd is not installed: {INSTALL_HINT}")
    log = _open_log_path()
    pid = _read_pid(DEFAULT_PIDFILE)
    if pid is None:
        # left by a killed daemon (or naming a zombie): dockerd would refuse to start
        _drop_stale_pidfile(DEFAULT_PIDFILE)
        _drop_stale_pidfile(Path("/var/run/docker/containerd/containerd.pid"))
        print(f"starting {dockerd} (log: {log})", file=sys.stderr)
        pid = _spawn_detached([dockerd], log)
    else:
        print(f"dockerd (pid {pid}) is running but not answering yet; waiting", file=sys.stderr)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker_answers(DEFAULT_URL, timeout=1.0):
            return DEFAULT_URL
        if not _alive(pid):
            # ours may have lost a race with another starter that now owns the pidfile
            other = _read_pid(DEFAULT_PIDFILE)
            if other is None or other == pid:
                raise RuntimeError(f"dockerd exited before answering; last lines of {log}:\n{_tail(log)}")
            pid = other
        time.sleep(0.2)
    raise RuntimeError(f"dockerd did not answer within {timeout:.0f} s; last lines of {log}:\n{_tail(log)}")


def _missing_images(url: str, images: tuple[str, ...] = SAMPLE_IMAGES) -> list[str]:
    import docker.errors

    client = _client(url, 30)
    try:
        missing = []
        for image in images:
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                missing.append(image)
        return missing
    finally:
        client.close()


def ensure_images(url: str = DEFAULT_URL) -> None:
    """Build ``busybox:latest`` and ``python:3`` into the daemon at ``url`` if it lacks them.

    Runs ``sample_apps/build-images.sh`` with its output on stderr; raises
    RuntimeError if the build fails.
    """
    missing = _missing_images(url)
    if not missing:
        return
    print(f"building {', '.join(missing)} into {url}", file=sys.stderr)
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--docker-host", url, *missing],
        stdout=2,
        stderr=2,
        stdin=subprocess.DEVNULL,
        env=_env(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode} (output above)")
    still = _missing_images(url)
    if still:
        raise RuntimeError(f"{BUILD_SCRIPT} finished but {', '.join(still)} is still missing")


# --------------------------------------------------------------------------- extra daemons


class ExtraDaemon:
    """One more dockerd on this machine, for multi-agent tests (see the module docstring).

    ``url`` is ``tcp://127.0.0.(index+1):2375``; its published ports are reached on
    127.0.0.1. Use :func:`start_extra_dockerd` or ``ExtraDaemon(...).start()``,
    and always :meth:`cleanup` (also available as a context manager).
    """

    def __init__(self, index: int, root: Path | str, *, live_restore: bool = False) -> None:
        if not 1 <= index <= 50:
            raise ValueError(f"extra dockerd index must be 1..50, not {index}")
        self.index = index
        self.root = Path(root).resolve()
        self.live_restore = live_restore
        self.data_root = self.root / "data"
        exec_root = self.root / "exec"
        if len(str(exec_root)) > 40:
            digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:10]
            exec_root = RUN_DIR / f"exec{index}-{digest}"
        self.exec_root = exec_root
        self.pidfile = self.root / "docker.pid"
        self.socket = self.root / "docker.sock"
        self.log_path = self.root / "dockerd.log"
        self.host_ip = f"127.0.0.{index + 1}"
        self.url = f"tcp://{self.host_ip}:2375"
        self.socket_url = f"unix://{self.socket}"
        self.bridge = f"pacerbr{index}"
        self.bridge_address = f"10.{200 + index}.0.1/24"
        self.containerd_namespace = f"pacer-agent{index}"
        self.pid: int | None = None
        self._lock: int | None = None

    def __repr__(self) -> str:
        return f"ExtraDaemon(index={self.index}, url={self.url!r}, pid={self.pid})"

    def __enter__(self) -> "ExtraDaemon":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # ---- lifecycle

    def argv(self, dockerd: str = "dockerd") -> list[str]:
        """The exact dockerd command line used for this daemon."""
        args = [
            dockerd,
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pidfile),
            "-H", self.socket_url,
            "-H", self.url,
            f"--bridge={self.bridge}",
            "--iptables=false",
            "--containerd-namespace", self.containerd_namespace,
            "--containerd-plugins-namespace", f"{self.containerd_namespace}-plugins",
        ]
        if self.live_restore:
            args.append("--live-restore")
        return args

    def is_running(self) -> bool:
        return _alive(self.pid)

    def start(self, timeout: float = 60.0) -> "ExtraDaemon":
        """Start (or restart, with the same directories) and wait until it answers."""
        if self.is_running():
            return self
        dockerd = _which_dockerd()
        if dockerd is None:
            raise RuntimeError(f"dockerd is not installed: {INSTALL_HINT}")
        self._take_lock()
        self._ensure_bridge()
        for path in (self.data_root, self.exec_root):
            path.mkdir(parents=True, exist_ok=True)
        # After a kill, dockerd and containerd can linger as zombies until init reaps
        # them, and dockerd takes a pidfile naming any existing process as "running".
        for pidfile in (self.pidfile, self.exec_root / "containerd" / "containerd.pid"):
            _drop_stale_pidfile(pidfile)
        self.pid = _spawn_detached(self.argv(dockerd), self.log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if docker_answers(self.url, timeout=1.0):
                return self
            if not self.is_running():
                raise RuntimeError(
                    f"extra dockerd {self.index} exited before answering; "
                    f"last lines of {self.log_path}:\n{_tail(self.log_path)}"
                )
            time.sleep(0.2)
        raise RuntimeError(
            f"extra dockerd {self.index} did not answer at {self.url} within {timeout:.0f} s; "
            f"last lines of {self.log_path}:\n{_tail(self.log_path)}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> None:
        """Send ``sig`` to dockerd and wait until it is gone (SIGKILL after ``timeout`` s).

        On SIGTERM without live-restore, dockerd stops its running containers first
        (each gets its stop timeout), so remove containers first for a fast stop.
        """
        pid = self.pid
        if not _alive(pid):
            return
        _signal(pid, sig)
        if not _wait_gone(pid, timeout):
            _signal(pid, signal.SIGKILL)
            if not _wait_gone(pid, 10.0):
                raise RuntimeError(f"extra dockerd {self.index} (pid {pid}) does not die")

    def kill(self) -> None:
        """SIGKILL dockerd, as a crash would (containers and directories stay)."""
        self.stop(signal.SIGKILL, timeout=10.0)

    def client(self, timeout: float = 60.0):
        """A ``docker.DockerClient`` for this daemon; the caller closes it."""
        return _client(self.url, timeout)

    def load_image(self, name: str, from_url: str = DEFAULT_URL) -> None:
        """Copy image ``name`` from the daemon at ``from_url`` into this one (save | load).

        Skipped when this daemon already has the same image id.
        """
        import docker.errors

        src = _client(from_url, 300)
        dst = self.client(timeout=300)
        try:
            wanted = src.images.get(name).id
            try:
                if dst.images.get(name).id == wanted:
                    return
            except docker.errors.ImageNotFound:
                pass
            dst.images.load(src.api.get_image(name))  # streamed, chunked upload
            if dst.images.get(name).id != wanted:
                raise RuntimeError(f"loading {name} into extra dockerd {self.index} gave another image id")
        finally:
            src.close()
            dst.close()

    def cleanup(self) -> None:
        """Remove its containers, stop it, remove its directories and its bridge.

        Keeps ``ROOT/dockerd.log``. Safe to call more than once.
        """
        try:
            if self.is_running():
                with contextlib.suppress(Exception):
                    self._remove_all_containers()
                self.stop(signal.SIGTERM, timeout=30.0)
            self._kill_leftovers()
            for target in _mounts_under(self.data_root, self.exec_root):
                subprocess.run(["umount", "-l", target], capture_output=True, stdin=subprocess.DEVNULL)
            remaining = _mounts_under(self.data_root, self.exec_root)
            if remaining:
                raise RuntimeError(f"still mounted, not removing {self.root}: {remaining[:5]}")
            for path in (self.data_root, self.exec_root):
                shutil.rmtree(path, ignore_errors=True)
            for path in (self.socket, self.pidfile):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            if _ip("link", "show", self.bridge, check=False).returncode == 0:
                _ip("link", "del", self.bridge)
        finally:
            self._release_lock()

    # ---- internals

    def _remove_all_containers(self) -> None:
        client = self.client(timeout=30)
        try:
            for container in client.containers.list(all=True, sparse=True):
                with contextlib.suppress(Exception):
                    container.remove(force=True)
        finally:
            client.close()

    def _ensure_bridge(self) -> None:
        if _ip("link", "show", self.bridge, check=False).returncode != 0:
            proc = _ip("link", "add", self.bridge, "type", "bridge", check=False)
            if proc.returncode != 0 and "exists" not in proc.stderr:
                raise RuntimeError(f"cannot create bridge {self.bridge}: {proc.stderr.strip()}")
        addrs = _ip("-o", "-4", "addr", "show", "dev", self.bridge).stdout
        if self.bridge_address not in addrs:
            _ip("addr", "add", self.bridge_address, "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def _take_lock(self) -> None:
        if self._lock is not None:
            return
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        path = RUN_DIR / f"extra-{self.index}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(
                f"extra dockerd index {self.index} is in use by another live process (lock {path}); "
                "pick another index"
            ) from None
        self._lock = fd
        self._stop_orphans()

    def _release_lock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _stop_orphans(self) -> None:
        """Stop a dockerd left serving this index by a test run that died (we hold the lock)."""
        for pid in _pids():
            argv = _cmdline(pid)
            if not argv or os.path.basename(argv[0]) != "dockerd" or pid == self.pid:
                continue
            if f"--bridge={self.bridge}" in argv or self.url in argv:
                exec_root = argv[argv.index("--exec-root") + 1] if "--exec-root" in argv else None
                print(f"stopping orphaned extra dockerd {self.index} (pid {pid})", file=sys.stderr)
                _terminate(pid)
                if exec_root:
                    self._kill_leftovers(Path(exec_root))

    def _kill_leftovers(self, exec_root: Path | None = None) -> None:
        """SIGKILL processes still using this daemon's exec-root (its containerd, shims)."""
        marker = str(exec_root or self.exec_root).rstrip("/") + "/"
        for pid in _pids():
            if pid == os.getpid():
                continue
            if any(marker in arg for arg in _cmdline(pid)):
                _signal(pid, signal.SIGKILL)
                _wait_gone(pid, 5.0)


def start_extra_dockerd(index: int, root: Path, *, live_restore: bool = False) -> ExtraDaemon:
    """Start extra dockerd number ``index`` (>= 1) with its files under ``root``."""
    daemon = ExtraDaemon(index, root, live_restore=live_restore)
    try:
        daemon.start()
    except BaseException:
        daemon.cleanup()
        raise
    return daemon


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.support.dockerd")
    sub = parser.add_subparsers(dest="command", required=True)
    ensure = sub.add_parser("ensure", help="start dockerd if none answers, then build the sample images")
    ensure.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for dockerd")
    ensure.add_argument("--no-images", action="store_true", help="do not build the sample images")
    args = parser.parse_args(argv)
    try:
        url = ensure_dockerd(timeout=args.timeout)
        print(f"dockerd answers at {url}", file=sys.stderr)
        if not args.no_images:
            ensure_images(url)
            print(f"images present: {', '.join(SAMPLE_IMAGES)}", file=sys.stderr)
    except Exception as exc:  # a clear message, no traceback, for CI logs
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `docker` driver: one Docker daemon through the docker SDK.

SDK calls block, so each runs in this agent's own thread pool; the event loop
never waits on a socket, and a daemon that hangs holds only its own agent's
threads (each for at most the call timeout). Listings and `docker info` have a
lane of their own, so the engine can always tell whether the daemon answers,
however many launches, kills or probes are stuck behind it. Only containers
labelled with our cluster id are ever listed, stopped or removed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import posixpath
import re
import shutil
import threading
import time
from datetime import datetime
from functools import partial
from typing import Any, AsyncIterator, Callable, TypeVar

import docker
import docker.errors
import docker.types
import requests.exceptions

from engine.agents.base import (
    LABEL_APP,
    LABEL_CLUSTER,
    LABEL_CONFIG_VERSION,
    LABEL_TASK,
    LABEL_VERSION,
    SANDBOX_CONTAINER_PATH,
    AgentCapacity,
    ImagePull,
    ObservedContainer,
    TaskSpec,
)
from engine.agents.images import ImagePuller
from engine.config import AgentConfig
from engine.errors import AgentError, AgentUnreachable
from engine.policy import (
    AgentPolicy,
    ClusterPolicy,
    PolicyRefusal,
    container_profile,
    image_refusals,
    needs_image_inspection,
    refusals,
)
from engine.registries import PullOptions

T = TypeVar("T")

_CONNECTION_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError, OSError)
_PORT_HELD = re.compile(r"address already in use|port is already allocated")
PORT_HOLD_SECONDS = 60.0
"""How long a host port that something outside docker holds is kept out of placement."""


def ports_held(message: str, requested: tuple[int, ...]) -> set[int]:
    """The requested host ports that a failed start says something else holds.

    dockerd: "Error starting userland proxy: listen tcp4 0.0.0.0:31000: bind: address already in use",
    "Bind for 0.0.0.0:31000 failed: port is already allocated". Unnamed: all of them.
    """
    if not requested or not _PORT_HELD.search(message):
        return set()
    named = {int(n) for n in re.findall(r":(\d{1,5})\b", message)} & set(requested)
    return named or set(requested)


def _task_owned_dir(path: str, user: str | None) -> None:
    """A sandbox directory the task's user can write: owned by a numeric uid[:gid], else open to all
    (a user name means nothing outside the image); root's tasks need neither."""
    os.makedirs(path, mode=0o755, exist_ok=True)
    name, _, group = (user or "").partition(":")
    if not name or name in ("root", "0"):
        return
    if name.isdigit() and (not group or group.isdigit()):
        try:
            os.chown(path, int(name), int(group) if group else -1)
            return
        except OSError:
            pass  # not root here: fall back to a directory anyone may write
    os.chmod(path, 0o777)


def _safe_name(name: str) -> str:
    """A task or cluster id as one path component."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "_"


def _parse_docker_time(text: str | None) -> float | None:
    if not text or text.startswith("0001-01-01"):
        return None
    # Docker gives nanoseconds: trim to microseconds for fromisoformat.
    head, _, frac = text.rstrip("Z").partition(".")
    frac = (frac + "000000")[:6]
    return datetime.fromisoformat(f"{head}.{frac}+00:00").timestamp()


class DockerAgent:
    kind = "docker"

    @classmethod
    def from_config(cls, agent: AgentConfig, policy: AgentPolicy | None = None) -> DockerAgent:
        """The driver of one configured docker agent (TLS client certificates for tcp:// when given)."""
        tls = None
        if agent.tls_cert or agent.tls_ca:
            import docker.tls

            tls = docker.tls.TLSConfig(
                client_cert=(agent.tls_cert, agent.tls_key) if agent.tls_cert and agent.tls_key else None,
                ca_cert=agent.tls_ca,
                verify=bool(agent.tls_ca),
            )
        return cls(agent.name, agent.url, reserve_cpus=agent.reserve_cpus, reserve_mem_mib=agent.reserve_mem,
                   cpus=agent.cpus, mem_mib=agent.mem, attributes=agent.attributes, tls=tls, policy=policy,
                   sandbox_root=agent.sandbox_root, sandbox_grace=agent.sandbox_grace,
                   pulls=PullOptions.of(agent))

    def __init__(
        self,
        name: str,
        url: str,
        *,
        reserve_cpus: float = 0.0,
        reserve_mem_mib: float = 0.0,
        cpus: float | None = None,
        mem_mib: float | None = None,
        attributes: dict[str, str] | None = None,
        tls: Any = None,
        call_timeout: float = 30.0,
        workers: int = 16,
        policy: AgentPolicy | None = None,
        sandbox_root: str | None = None,
        sandbox_grace: float = 3600.0,
        pulls: PullOptions | None = None,
    ) -> None:
        self.name = name
        self.images = ImagePuller(name, lambda: self._docker().api, pulls)
        """Pulls images this daemon lacks (engine/agents/images.py): credentials, single flight, progress."""
        self.policy: AgentPolicy = policy if policy is not None else ClusterPolicy()
        """What containers may do here (engine.policy): checked, and the hardened profile applied, on launch."""
        self.url = url
        self._reserve_cpus = reserve_cpus
        self._reserve_mem = reserve_mem_mib
        self._cpus = cpus
        self._mem = mem_mib
        self._attributes = dict(attributes or {})
        self._tls = tls
        self._call_timeout = call_timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"docker-{name}")
        self._observe_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2,
                                                                   thread_name_prefix=f"docker-{name}-observe")
        """Listings and info only: they never queue behind actions stuck on a daemon that does not answer."""
        self._client: docker.DockerClient | None = None
        self._client_lock = threading.Lock()
        self._closed = False
        self.foreign_ports: frozenset[int] = frozenset()
        """Host ports published by containers that are not this cluster's (from the last listing), and ports
        a start failed to bind in the last PORT_HOLD_SECONDS (held by a process outside docker)."""
        self._held_ports: dict[int, float] = {}
        self._held_lock = threading.Lock()
        self.sandbox_root = os.path.abspath(sandbox_root) if sandbox_root is not None else None
        """A directory on this host (a daemon on this host) holding each task's sandbox; None: each task's
        sandbox is an anonymous docker volume, which any daemon can create and removes with the container."""
        self._sandbox_grace = sandbox_grace
        self._sandbox_gone: dict[str, float] = {}
        self._sandbox_swept = 0.0
        self._sandbox_lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------

    def _docker(self) -> docker.DockerClient:
        client = self._client
        if client is not None:
            return client
        # Made outside the lock: making a client asks the daemon its API version, and a daemon that does not
        # answer must not hold up close() (on the event loop) or this agent's other calls behind the lock.
        client = self._new_client(int(self._call_timeout), max_pool_size=32)
        with self._client_lock:
            if self._client is None and not self._closed:
                self._client = client
                return client
            kept = self._client
        client.close()  # another call made one first, or the driver was closed meanwhile
        if kept is None:
            raise AgentUnreachable(f"agent {self.name}: the driver is closed")
        return kept

    def _new_client(self, timeout: int | None, **extra: Any) -> docker.DockerClient:
        """A client as Docker users configure one: ssh:// through the system's ssh; tcp:// with TLS files."""
        kwargs: dict[str, Any] = {"base_url": self.url, "timeout": timeout, "tls": self._tls,
                                  "use_ssh_client": self.url.startswith("ssh://"), **extra}
        if not self._tls:
            return docker.DockerClient(**kwargs)
        # requests prefers REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE from the environment over a session's own CA
        # file, so the configured tls_ca would be ignored: switch the environment off (and ask the API
        # version ourselves, since the SDK's automatic probe runs before that can be done).
        probe = docker.APIClient(version="1.24", **{k: v for k, v in kwargs.items() if k != "max_pool_size"})
        probe.trust_env = False
        try:
            version = str(probe.version(api_version=False)["ApiVersion"])
        finally:
            probe.close()
        client = docker.DockerClient(version=version, **kwargs)
        client.api.trust_env = False
        return client

    async def _call(self, fn: Callable[..., T], *args: Any, timeout: float | None = None, observe: bool = False,
                    **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._observe_pool if observe else self._pool, partial(fn, *args, **kwargs))
        try:
            return await asyncio.wait_for(fut, timeout or self._call_timeout)
        except asyncio.TimeoutError as exc:
            raise AgentUnreachable(f"agent {self.name}: docker call timed out") from exc
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as exc:
            raise AgentError(f"agent {self.name}: {exc.explanation or exc}") from exc
        except _CONNECTION_ERRORS as exc:
            raise AgentUnreachable(f"agent {self.name}: {self.url} does not answer ({exc.__class__.__name__})") from exc
        except docker.errors.DockerException as exc:
            # The SDK wraps a failed first contact (refused, TLS handshake, ssh) when it creates a client.
            raise AgentUnreachable(f"agent {self.name}: {self.url} does not answer: {exc}") from exc

    # -- protocol -----------------------------------------------------------

    async def connect(self) -> AgentCapacity:
        info: dict[str, Any] = await self._call(lambda: self._docker().info(), observe=True)
        cpus = self._cpus if self._cpus is not None else float(info.get("NCPU", 1)) - self._reserve_cpus
        mem = self._mem if self._mem is not None else float(info.get("MemTotal", 0)) / 2**20 - self._reserve_mem
        attributes = {"os": str(info.get("OSType", "linux")), "arch": str(info.get("Architecture", ""))}
        attributes.update(self._attributes)
        return AgentCapacity(
            cpus=max(cpus, 0.0),
            mem_mib=max(mem, 0.0),
            disk_mib=0.0,
            hostname=str(info.get("Name", self.name)),
            attributes=attributes,
            kind="docker",
        )

    def _list_sync(self, cluster_id: str) -> list[ObservedContainer]:
        api = self._docker().api
        # One listing of every container: ours become observations, the others' published
        # ports are remembered so placement never hands out a port something else holds.
        rows = api.containers(all=True)
        observed = []
        foreign: set[int] = set()
        for row in rows:
            labels = row.get("Labels") or {}
            task_id = labels.get(LABEL_TASK)
            if not task_id or labels.get(LABEL_CLUSTER) != cluster_id:
                if row.get("State") == "running":
                    foreign.update(int(p["PublicPort"]) for p in row.get("Ports") or [] if p.get("PublicPort"))
                continue
            state = str(row.get("State", "dead"))
            exit_code = None
            started = finished = None
            oom = False
            if state in ("exited", "dead"):
                # The list call has no exit code; inspect the (few) stopped ones.
                try:
                    detail = api.inspect_container(row["Id"])
                except docker.errors.NotFound:
                    continue
                st = detail.get("State", {})
                exit_code = st.get("ExitCode")
                started = _parse_docker_time(st.get("StartedAt"))
                finished = _parse_docker_time(st.get("FinishedAt"))
                oom = bool(st.get("OOMKilled"))
            ports = tuple(
                sorted({int(p["PublicPort"]) for p in row.get("Ports") or [] if p.get("PublicPort")})
            )
            ip = None
            for net in ((row.get("NetworkSettings") or {}).get("Networks") or {}).values():
                ip = net.get("IPAddress") or ip
            observed.append(
                ObservedContainer(
                    container_id=row["Id"],
                    task_id=task_id,
                    app_id=labels.get(LABEL_APP, ""),
                    version=labels.get(LABEL_VERSION, ""),
                    config_version=labels.get(LABEL_CONFIG_VERSION, labels.get(LABEL_VERSION, "")),
                    state=state,  # type: ignore[arg-type]
                    exit_code=exit_code,
                    started_at=started if started is not None else float(row.get("Created", 0)),
                    finished_at=finished,
                    host_ports=ports,
                    ip_address=ip or None,
                    oom_killed=oom,
                )
            )
        now = time.monotonic()
        with self._held_lock:
            self._held_ports = {p: until for p, until in self._held_ports.items() if until > now}
            foreign.update(self._held_ports)
        self.foreign_ports = frozenset(foreign)
        self._sweep_sandboxes(cluster_id, {o.task_id for o in observed})
        return observed

    async def list_containers(self, cluster_id: str) -> list[ObservedContainer]:
        return await self._call(self._list_sync, cluster_id, observe=True)

    def _admit(self, api: Any, spec: TaskSpec) -> str:
        """The image to create the container from, once the policy accepts `spec`; else PolicyRefusal.

        When the image's content is checked (pinned or signed), the container is created from the
        content id that was checked, so a tag moved in between cannot slip other content in."""
        policy = self.policy
        problems = refusals(spec, policy) + self._sandbox_refusals(spec)
        if problems or not needs_image_inspection(spec, policy):
            if problems:
                raise PolicyRefusal(self.name, problems)
            return spec.image
        detail = api.inspect_image(spec.image)  # NotFound: launch() reports the missing image
        image_id = str(detail.get("Id", ""))
        problems = image_refusals(spec, policy, image_id=image_id,
                                  image_user=(detail.get("Config") or {}).get("User") or None,
                                  repo_digests=detail.get("RepoDigests") or ())
        if problems:
            raise PolicyRefusal(self.name, problems)
        return image_id if (policy.require_signature or spec.image_id) else spec.image

    # -- task sandboxes -------------------------------------------------------

    def sandbox_dir(self, cluster_id: str, task_id: str) -> str | None:
        """The host directory of a task's sandbox (None: an anonymous volume holds it)."""
        if self.sandbox_root is None:
            return None
        return os.path.join(self.sandbox_root, _safe_name(cluster_id), _safe_name(task_id))

    def _sandbox_refusals(self, spec: TaskSpec) -> list[str]:
        relative = [v.host_path for v in spec.volumes if not v.host_path.startswith("/")]
        if not relative:
            return []
        escaping = [p for p in relative if posixpath.normpath(p).split("/", 1)[0] == ".."]
        if escaping:
            return [f"relative hostPath {', '.join(escaping)} leaves the task's sandbox"]
        if self.sandbox_root is None:
            return [f"relative hostPath volumes ({', '.join(relative)}) need a sandbox directory, which only a "
                    "docker daemon on the scheduler's host (unix://) has; use a docker volume or an absolute hostPath"]
        return []

    def _sandbox_mounts(self, spec: TaskSpec) -> tuple[list[str], list[str]]:
        """(binds, anonymous volumes) for the sandbox at /mnt/mesos/sandbox and the spec's volumes."""
        sandbox = self.sandbox_dir(spec.cluster_id, spec.task_id)
        binds: list[str] = []
        anonymous: list[str] = []
        if sandbox is None:
            anonymous.append(SANDBOX_CONTAINER_PATH)
        else:
            os.makedirs(os.path.dirname(sandbox), mode=0o711, exist_ok=True)  # others may pass, not list
            _task_owned_dir(sandbox, spec.user)
            binds.append(f"{sandbox}:{SANDBOX_CONTAINER_PATH}:rw")
        for v in spec.volumes:
            host = v.host_path
            if not host.startswith("/") and sandbox is not None:
                host = os.path.join(sandbox, posixpath.normpath(host))
                _task_owned_dir(host, spec.user)
            binds.append(f"{host}:{v.container_path}:{v.mode.lower()}")
        return binds, anonymous

    def _sweep_sandboxes(self, cluster_id: str, live_tasks: set[str]) -> None:
        """Remove the sandbox directories of tasks whose container has been gone for the grace period."""
        if self.sandbox_root is None or not self._sandbox_lock.acquire(blocking=False):
            return
        try:
            now = time.monotonic()
            if now - self._sandbox_swept >= 5.0:
                self._sandbox_swept = now
                self._sweep_sandboxes_locked(cluster_id, live_tasks, now)
        finally:
            self._sandbox_lock.release()

    def _sweep_sandboxes_locked(self, cluster_id: str, live_tasks: set[str], now: float) -> None:
        assert self.sandbox_root is not None
        base = os.path.join(self.sandbox_root, _safe_name(cluster_id))
        try:
            names = os.listdir(base)
        except OSError:
            return
        live = {_safe_name(t) for t in live_tasks}
        self._sandbox_gone = {n: t for n, t in self._sandbox_gone.items() if n in names and n not in live}
        for name in names:
            if name in live:
                continue
            since = self._sandbox_gone.setdefault(name, now)
            if now - since >= self._sandbox_grace:
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)
                self._sandbox_gone.pop(name, None)

    def _launch_sync(self, spec: TaskSpec) -> ObservedContainer:
        api = self._docker().api
        image = self._admit(api, spec)
        binds, anonymous = self._sandbox_mounts(spec)
        profile = container_profile(spec, self.policy)
        port_bindings: dict[str, int] = {}
        exposed: list[Any] = []
        for p in spec.ports:
            key = f"{p.container_port}/{p.protocol}"
            exposed.append((p.container_port, p.protocol))
            port_bindings[key] = p.host_port
        host_config = api.create_host_config(
            port_bindings={k: v for k, v in port_bindings.items()} if spec.network_mode == "bridge" else None,
            network_mode=spec.network_mode if spec.network_mode in ("bridge", "host", "none") else "bridge",
            restart_policy={"Name": "no"},
            nano_cpus=int(spec.cpus * 1e9) if spec.cpus > 0 else None,
            mem_limit=int(spec.mem_mib * 2**20) if spec.mem_mib > 0 else None,
            init=True,
            binds=binds or None,
            extra_hosts=list(spec.add_hosts) or None,
            ulimits=[docker.types.Ulimit(name=n, soft=soft, hard=hard) for n, soft, hard in spec.ulimits] or None,
            log_config=(docker.types.LogConfig(type=spec.log_driver or "json-file", config=dict(spec.log_opts))
                        if spec.log_driver or spec.log_opts else None),
            shm_size=spec.shm_size,
            memswap_limit=spec.memory_swap,
            sysctls=dict(spec.sysctls) or None,
            devices=list(spec.devices) or None,
            **profile.host_config_kwargs(),
        )
        created = api.create_container(
            image=image,
            name=spec.name,
            entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
            command=list(spec.command) if spec.command is not None else None,
            environment=spec.env,
            labels=spec.container_labels(),
            ports=exposed if spec.network_mode == "bridge" else None,
            host_config=host_config,
            user=spec.user or "",
            hostname=spec.hostname,
            working_dir=spec.workdir,
            stop_timeout=max(int(round(spec.kill_grace_seconds)), 0),
            volumes=anonymous or None,
        )
        cid = created["Id"]
        try:
            api.start(cid)
        except docker.errors.APIError as exc:
            api.remove_container(cid, force=True)
            # A port something else holds: kept out of placement for a while, or every retry would pick it again.
            held = ports_held(str(exc.explanation or exc), tuple(p.host_port for p in spec.ports))
            if held:
                with self._held_lock:
                    self._held_ports.update(dict.fromkeys(held, time.monotonic() + PORT_HOLD_SECONDS))
            raise
        return ObservedContainer(
            container_id=cid,
            task_id=spec.task_id,
            app_id=spec.app_id,
            version=spec.version,
            config_version=spec.config_version,
            state="running",
            host_ports=tuple(p.host_port for p in spec.ports),
        )

    async def launch(self, spec: TaskSpec) -> ObservedContainer:
        try:
            return await self.images.run_with_image(
                spec, lambda: self._call(self._launch_sync, spec, timeout=self._call_timeout * 2),
                refused=lambda s: bool(refusals(s, self.policy)))
        except docker.errors.NotFound as exc:
            raise AgentError(f"agent {self.name}: image {spec.image!r} not found on this daemon") from exc

    async def stop(self, container_id: str, grace_seconds: float) -> None:
        def stop_sync() -> None:
            try:
                # SIGTERM, then SIGKILL after the grace period: docker's own stop semantics.
                self._docker().api.stop(container_id, timeout=max(int(round(grace_seconds)), 0))
            except docker.errors.NotFound:
                pass

        await self._call(stop_sync, timeout=grace_seconds + self._call_timeout)

    async def remove(self, container_id: str) -> None:
        def remove_sync() -> None:
            try:
                # v: the anonymous volume holding the task's sandbox (on daemons without a sandbox_root) goes too
                self._docker().api.remove_container(container_id, force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                # "removal already in progress" is success for us.
                if "already in progress" not in str(exc):
                    raise

        await self._call(remove_sync)

    async def tail_logs(self, container_id: str, lines: int) -> list[str]:
        def logs_sync() -> list[str]:
            try:
                raw: bytes = self._docker().api.logs(container_id, stdout=True, stderr=True, tail=lines)
            except docker.errors.NotFound:
                return []
            return raw.decode("utf-8", "replace").splitlines()

        return await self._call(logs_sync)

    def simulated_health(self, container_id: str | None) -> bool | None:
        return None  # real containers are probed

    async def exec_check(self, container_id: str, command: str) -> tuple[int, str]:
        def run() -> tuple[int, str]:
            api = self._docker().api
            exec_id = api.exec_create(container_id, ["/bin/sh", "-c", command], stdout=True, stderr=True)["Id"]
            output: bytes = api.exec_start(exec_id)
            code = api.exec_inspect(exec_id).get("ExitCode")
            return (int(code) if code is not None else -1), output.decode("utf-8", "replace")

        return await self._call(run)

    async def follow_logs(self, container_id: str, tail: int) -> AsyncIterator[str]:
        """Last `tail` lines, then new ones as they come; the reading thread stops when the caller does."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=10_000)
        stop = threading.Event()
        holder: list[Any] = []

        def put(item: str | None) -> None:
            if queue.full():
                return  # the reader is far behind: drop lines rather than grow without bound
            queue.put_nowait(item)

        def pump() -> None:
            try:
                stream = self._docker().api.logs(container_id, stream=True, follow=True, tail=tail)
                holder.append(stream)
                pending = b""
                for chunk in stream:
                    if stop.is_set():
                        break
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        loop.call_soon_threadsafe(put, line.decode("utf-8", "replace"))
                if pending:
                    loop.call_soon_threadsafe(put, pending.decode("utf-8", "replace"))
            except (docker.errors.APIError, *_CONNECTION_ERRORS):
                pass
            finally:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(put, None)

        thread = threading.Thread(target=pump, name=f"logs-{container_id[:12]}", daemon=True)
        thread.start()
        try:
            while (line := await queue.get()) is not None:
                yield line
        finally:
            stop.set()
            for stream in holder:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()

    async def watch(self, cluster_id: str, on_change: Callable[[], None]) -> None:
        """Follow docker events for our containers; they are only hints to reconcile sooner."""
        stop = threading.Event()
        stream_holder: list[Any] = []

        def follow() -> None:
            while not stop.is_set():
                try:
                    client = self._new_client(None)
                    stream = client.events(
                        decode=True, filters={"type": "container", "label": f"{LABEL_CLUSTER}={cluster_id}"}
                    )
                    stream_holder[:] = [stream, client]
                    for _event in stream:
                        if stop.is_set():
                            return
                        on_change()
                except Exception:  # noqa: BLE001 - a broken stream is retried; reconcile's timer covers the gap
                    if stop.wait(2.0):
                        return
                    on_change()

        thread = threading.Thread(target=follow, name=f"docker-events-{self.name}", daemon=True)
        thread.start()
        try:
            await asyncio.Event().wait()
        finally:
            stop.set()
            for obj in stream_holder:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001 - closing a dead stream may fail; nothing to do
                    pass

    async def inspect_labels(self, container_id: str) -> tuple[str, dict[str, str]] | None:
        """(full id, labels) of a container, None when there is none by that id or name."""

        def inspect() -> tuple[str, dict[str, str]] | None:
            try:
                detail = self._docker().api.inspect_container(container_id)
            except docker.errors.NotFound:
                return None
            return str(detail["Id"]), dict((detail.get("Config") or {}).get("Labels") or {})

        return await self._call(inspect)

    async def stats(self, container_id: str) -> dict[str, Any]:
        """One docker stats sample (CPU, memory, network, block I/O) of a container."""

        def sample() -> dict[str, Any]:
            result: dict[str, Any] = self._docker().api.stats(container_id, stream=False)
            return result

        return await self._call(sample)

    def image_pulls(self) -> tuple[ImagePull, ...]:
        return self.images.pulls()

    @property
    def on_image_pull(self) -> Callable[[ImagePull], None] | None:
        return self.images.on_change

    @on_image_pull.setter
    def on_image_pull(self, callback: Callable[[ImagePull], None] | None) -> None:
        self.images.on_change = callback

    async def close(self) -> None:
        await self.images.close()
        with self._client_lock:
            self._closed = True
            if self._client is not None:
                self._client.close()
                self._client = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._observe_pool.shutdown(wait=False, cancel_futures=True)

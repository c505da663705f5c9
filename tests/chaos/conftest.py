"""Chaos fixtures: extra dockerd agents, engine configs that point at them, and the checks every scenario ends with.

Each test module declares the agents it needs::

    CHAOS_AGENTS = ("plain", "plain", "live")   # "live" = dockerd --live-restore

and gets them (started once for the module, busybox loaded, cleaned up at the
end) from the ``agents`` fixture as :class:`Agent` objects named ``a1``,
``a2``, ... Every test gets its own cluster id (``chaos_cluster``); at the end of
each test every daemon of the module is running again and holds no container.

Every scenario ends with :func:`wait_exact`: on every daemon, through the docker
SDK (not only through the engine's view), each app has exactly ``instances``
running containers, no task id twice, no container that is not running, no
container of this cluster that matches no task, and the engine's tasks are
exactly those containers. The time to recover is reported with the
``record_recovery`` fixture; it is appended to ``tests/chaos/recovery.json``
(gitignored) and printed at the end of the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pytest

from tests.conftest import wait_until
from tests.support.dockerd import ExtraDaemon

RECOVERY_FILE = Path(__file__).with_name("recovery.json")
# Indexes 30..49 (127.0.0.31-50, pacerbr30-49): clear of the other suites' extra daemons;
# an index whose lock another live process holds is skipped.
INDEXES = range(30, 50)
BUSYBOX = "busybox:latest"
SLEEP = "exec sleep 3600"

_recoveries: list[dict[str, Any]] = []


# --------------------------------------------------------------------------- agents


@dataclass
class Agent:
    """One extra dockerd that plays an agent: its engine name, daemon and a docker client."""

    name: str
    daemon: ExtraDaemon
    client: Any = field(repr=False)

    @property
    def url(self) -> str:
        return self.daemon.url

    @property
    def host(self) -> str:
        return self.daemon.host_ip

    @property
    def live_restore(self) -> bool:
        return self.daemon.live_restore

    @property
    def port_range(self) -> tuple[int, int]:
        # Every daemon publishes on all addresses of this one machine: pacer's ports must not overlap between
        # agents (a real cluster has one agent per host), nor the default 31000-32000 of the other suites,
        # nor the kernel's ephemeral range (32768+).
        base = 20000 + 100 * self.daemon.index
        return base, base + 99

    def up(self) -> bool:
        return self.daemon.is_running()

    def kill(self) -> None:
        """SIGKILL dockerd (a crash): containers' shims survive; without live-restore they are stopped on start."""
        self.daemon.kill()

    def stop(self) -> None:
        """SIGTERM dockerd: without live-restore it stops its containers first."""
        import signal

        self.daemon.stop(signal.SIGTERM, timeout=60.0)

    def start(self) -> None:
        self.daemon.start()

    def containers(self, **filters: str) -> list[dict[str, Any]]:
        """Low-level list (no inspect that races with removals): every container, running or not."""
        return list(self.client.api.containers(all=True, filters=filters or None))

    def remove_all(self) -> None:
        for row in self.containers():
            with contextlib.suppress(Exception):
                self.client.api.remove_container(row["Id"], force=True)


def _start_daemon(root: Path, live_restore: bool, taken: set[int]) -> ExtraDaemon:
    for index in INDEXES:
        if index in taken:
            continue
        daemon = ExtraDaemon(index, root / f"d{index}", live_restore=live_restore)
        try:
            daemon.start()
        except RuntimeError as exc:
            if "in use by another live process" in str(exc):
                continue  # nothing was touched: the lock is taken before anything else
            daemon.cleanup()
            raise
        return daemon
    raise RuntimeError(f"no free extra dockerd index in {INDEXES.start}..{INDEXES.stop - 1}")


@pytest.fixture(scope="module")
def agents(request: pytest.FixtureRequest, docker_url: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Agent]]:
    """The module's extra daemons (CHAOS_AGENTS), started once, with busybox loaded; all removed at the end."""
    modes: Sequence[str] = getattr(request.module, "CHAOS_AGENTS", ("plain", "plain"))
    root = tmp_path_factory.mktemp("chaos")
    started: list[Agent] = []
    try:
        for number, mode in enumerate(modes, start=1):
            daemon = _start_daemon(root, mode == "live", {a.daemon.index for a in started})
            started.append(Agent(f"a{number}", daemon, daemon.client(timeout=20)))
            daemon.load_image(BUSYBOX, from_url=docker_url)
        yield started
    finally:
        for agent in started:
            with contextlib.suppress(Exception):
                agent.client.close()
            agent.daemon.cleanup()


@pytest.fixture
def chaos_cluster(agents: list[Agent]) -> Iterator[str]:
    """A fresh cluster id; afterwards every daemon runs again and is emptied (of this test's containers and any)."""
    cluster_id = f"chaos-{uuid.uuid4().hex[:10]}"
    for agent in agents:
        if not agent.up():
            agent.start()
        agent.remove_all()
    yield cluster_id
    for agent in agents:
        if not agent.up():
            with contextlib.suppress(Exception):
                agent.start()
        agent.remove_all()


def engine_config(tmp_path: Path, cluster_id: str, agents: Sequence[Agent], *,
                  cpus: float | None = None, orphan_grace: float = 2.0, api: str | None = None) -> Any:
    """An in-process engine's config: fast timers, the given agents, each with its own port range."""
    from engine.config import AgentConfig, PacerConfig, SchedulerConfig

    return PacerConfig(
        scheduler=SchedulerConfig(
            state=str(tmp_path / "state.db"),
            default_image=BUSYBOX,
            cluster_id=cluster_id,
            reconcile_interval=0.5,
            orphan_grace_seconds=orphan_grace,
            api=api,
        ),
        agents=[AgentConfig(name=a.name, url=a.url, cpus=cpus, port_range=a.port_range) for a in agents],
    )


def config_toml(tmp_path: Path, cluster_id: str, agents: Sequence[Agent], *, api: str | None = None,
                apps: Sequence[Mapping[str, Any]] = ()) -> Path:
    """The same for a `pacer --serve` subprocess: a TOML file (state and apps_dir next to it)."""
    apps_dir = tmp_path / "apps"
    apps_dir.mkdir(exist_ok=True)
    for app in apps:
        (apps_dir / f"{app['id'].strip('/').replace('/', '_')}.json").write_text(json.dumps(app))
    lines = [
        "[scheduler]",
        'state = "state/state.db"',
        'apps_dir = "apps"',
        f'default_image = "{BUSYBOX}"',
        f'cluster_id = "{cluster_id}"',
        "reconcile_interval = 0.5",
        "orphan_grace_seconds = 2",
    ]
    if api:
        lines.append(f'api = "{api}"')
    for a in agents:
        lo, hi = a.port_range
        lines += ["", "[[agents]]", f'name = "{a.name}"', f'url = "{a.url}"', f"port_range = [{lo}, {hi}]"]
    path = tmp_path / "pacer.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def sleeper(app_id: str, instances: int, *, inactive: int = 300, expunge: int = 600, **extra: Any) -> dict[str, Any]:
    """A tiny app: busybox sleeping, 0.02 cpus, 16 MiB."""
    app: dict[str, Any] = {
        "id": app_id, "cmd": SLEEP, "cpus": 0.02, "mem": 16, "instances": instances,
        "container": {"type": "DOCKER", "docker": {"image": BUSYBOX}},
        "unreachableStrategy": {"inactiveAfterSeconds": inactive, "expungeAfterSeconds": expunge},
        "taskKillGracePeriodSeconds": 1,
        "backoffSeconds": 1, "maxLaunchDelaySeconds": 5,
    }
    app.update(extra)
    return app


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Seen:
    """One container of a cluster, as its daemon reports it."""

    agent: str
    container_id: str
    task_id: str
    app_id: str
    config_version: str
    state: str


def inventory(agents: Sequence[Agent], cluster_id: str) -> list[Seen]:
    """Every container labelled with this cluster, on every daemon that runs (blocking: call in a thread)."""
    seen = []
    for agent in agents:
        if not agent.up():
            continue
        for row in agent.containers(label=f"pacer.cluster={cluster_id}"):
            labels = row.get("Labels") or {}
            seen.append(Seen(agent.name, row["Id"], labels.get("pacer.task", ""), labels.get("pacer.app", ""),
                             labels.get("pacer.config-version", ""), str(row.get("State"))))
    return seen


@dataclass(frozen=True)
class EngineTask:
    task_id: str
    app_id: str
    agent: str
    state: str
    container_id: str | None = None


class ApiView:
    """The engine's view through its Marathon API (for an engine in another process)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str) -> Any:
        import httpx

        response = httpx.get(self.base + path, timeout=5)
        response.raise_for_status()
        return response.json()

    def app_ids(self) -> set[str]:
        return {a["id"] for a in self.get("/v2/apps")["apps"]}

    def state(self, expected: Mapping[str, int]) -> tuple[list[EngineTask], list[str]]:
        """Blocking: the tasks, and what is not converged (deployments left, counts off)."""
        try:
            tasks = [EngineTask(t["id"], t["appId"], t["slaveId"], t["state"]) for t in self.get("/v2/tasks")["tasks"]]
            apps = {a["id"]: a for a in self.get("/v2/apps")["apps"]}
            deployments = self.get("/v2/deployments")
        except Exception as exc:  # noqa: BLE001 - an engine that does not answer yet is not converged
            return [], [f"API: {exc!r}"]
        problems = [f"deployments left: {[d.get('affectedApps') for d in deployments]}"] if deployments else []
        for app_id, instances in expected.items():
            app = apps.get(app_id)
            if app is None:
                problems.append(f"{app_id}: unknown to the engine")
            elif app["instances"] != instances or app["tasksRunning"] != instances:
                problems.append(f"{app_id}: engine has {app['tasksRunning']}/{app['instances']} running")
        return tasks, problems


def engine_tasks(engine: Any) -> list[EngineTask]:
    return [EngineTask(t.task_id, t.app_id, t.agent, t.state.value, t.container_id) for t in engine.tasks.values()]


def exactness(seen: Sequence[Seen], expected: Mapping[str, int], tasks: Sequence[EngineTask] | None,
              up: set[str] | None = None) -> list[str]:
    """What is wrong (empty when the cluster is exact): per app exactly `instances` running containers, ..."""
    problems = []
    not_running = [s for s in seen if s.state != "running"]
    if not_running:
        problems.append(f"containers not running: {[(s.agent, s.task_id, s.state) for s in not_running]}")
    by_task: dict[str, list[Seen]] = {}
    for s in seen:
        by_task.setdefault(s.task_id, []).append(s)
    dups = {t: [s.agent for s in ss] for t, ss in by_task.items() if len(ss) > 1}
    if dups:
        problems.append(f"task ids on more than one container: {dups}")
    unknown = sorted({s.app_id for s in seen} - set(expected))
    if unknown:
        problems.append(f"containers of apps that should not run: {unknown}")
    for app_id, instances in expected.items():
        running = [s for s in seen if s.app_id == app_id and s.state == "running"]
        if len(running) != instances:
            problems.append(f"{app_id}: {len(running)} running containers, want {instances}")
    if tasks is not None:
        by_id = {t.task_id: t for t in tasks if up is None or t.agent in up}
        containers = {s.task_id: s for s in seen}
        orphans = sorted(set(containers) - set(by_id))
        if orphans:
            problems.append(f"containers without a task (orphans): {orphans}")
        missing = sorted(set(by_id) - set(containers))
        if missing:
            problems.append(f"tasks without a container: {[(t, by_id[t].agent, by_id[t].state) for t in missing]}")
        for task_id in set(by_id) & set(containers):
            t, s = by_id[task_id], containers[task_id]
            if t.state != "TASK_RUNNING" or t.agent != s.agent or (t.container_id and t.container_id != s.container_id):
                problems.append(f"task {task_id}: engine says {t.state} on {t.agent}, daemon {s.agent} {s.state}")
        extra_apps = sorted({t.app_id for t in tasks} - set(expected))
        if extra_apps:
            problems.append(f"engine tasks of apps that should not run: {extra_apps}")
    return problems


async def wait_exact(engine: Any, agents: Sequence[Agent], cluster_id: str, expected: Mapping[str, int],
                     timeout: float = 60.0, *, stable: float = 1.5) -> float:
    """Wait until the cluster is exact (see :func:`exactness`) and every app converged; then check it stays so
    for `stable` seconds (no late duplicate). Returns the monotonic time it first became exact."""
    last: list[str] = []
    reached: list[float] = []

    async def exact() -> bool:
        seen = await asyncio.to_thread(inventory, agents, cluster_id)
        if isinstance(engine, ApiView):
            tasks, not_converged = await asyncio.to_thread(engine.state, expected)
        elif engine is not None:
            tasks = engine_tasks(engine)
            not_converged = [f"{a}: engine says not converged" for a in expected if not engine.converged(a)]
        else:
            tasks, not_converged = None, []
        problems = exactness(seen, expected, tasks) + not_converged
        last[:] = problems
        if not problems and not reached:
            reached.append(time.monotonic())
        elif problems:
            reached.clear()
        return not problems

    try:
        await wait_until(exact, timeout, interval=0.2, message="an exact cluster")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {last}") from None
    first = reached[0]
    deadline = time.monotonic() + stable
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        assert await exact(), f"the cluster did not stay exact: {last}"
    return first


async def running_on(agents: Sequence[Agent], cluster_id: str, app_id: str) -> dict[str, int]:
    """Running containers of an app per agent, as the daemons say."""
    seen = await asyncio.to_thread(inventory, agents, cluster_id)
    counts: dict[str, int] = {}
    for s in seen:
        if s.app_id == app_id and s.state == "running":
            counts[s.agent] = counts.get(s.agent, 0) + 1
    return counts


# --------------------------------------------------------------------------- recovery times


@pytest.fixture
def record_recovery(request: pytest.FixtureRequest) -> Callable[..., None]:
    """record_recovery(name, seconds): print it, keep it for the session summary, append it to recovery.json."""

    def record(name: str, seconds: float, **details: Any) -> None:
        entry = {"scenario": name, "seconds": round(seconds, 2), "test": request.node.nodeid,
                 "at": time.strftime("%Y-%m-%dT%H:%M:%S"), **details}
        _recoveries.append(entry)
        print(f"\nrecovery: {name}: {seconds:.2f} s")
        try:
            history = json.loads(RECOVERY_FILE.read_text())
            if not isinstance(history, list):
                history = []
        except (OSError, ValueError):
            history = []
        history.append(entry)
        RECOVERY_FILE.write_text(json.dumps(history, indent=1) + "\n")

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _recoveries:
        return
    terminalreporter.section("chaos: time to recover")
    width = max(len(r["scenario"]) for r in _recoveries)
    for r in _recoveries:
        terminalreporter.write_line(f"{r['scenario']:<{width}}  {r['seconds']:7.2f} s")


# --------------------------------------------------------------------------- engines


@pytest.fixture
async def make_engine(tmp_path: Path, chaos_cluster: str, agents: list[Agent]) -> Any:
    """make_engine(agents=None, **engine_config kwargs): a started in-process Engine, stopped after the test."""
    from engine import Engine

    engines: list[Any] = []

    async def make(selected: Sequence[Agent] | None = None, **kwargs: Any) -> Any:
        engine = Engine(engine_config(tmp_path, chaos_cluster, selected if selected is not None else agents, **kwargs))
        await engine.start()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.stop()


def describe(engine: Any) -> str:
    """The engine's state, for assertion messages."""
    lines = []
    for t in sorted(engine.tasks.values(), key=lambda t: t.task_id):
        lines.append(f"  {t.task_id} {t.agent} {t.state.value} health={engine.health.get(t.task_id)} "
                     f"ports={t.host_ports} container={(t.container_id or '')[:12]}")
    for app_id, w in engine.waiting.items():
        lines.append(f"  waiting {app_id}: {w.reason} {dict(w.rejections)}")
    for app_id, f in engine.failures.items():
        lines.append(f"  failure {app_id}: {f.get('message', '')[:300]}")
    for slot in engine.snapshot().agents:
        lines.append(f"  agent {slot.name}: reachable={slot.reachable} error={slot.error}")
    return "\n".join(lines)


async def wait_engine(engine: Any, predicate: Callable[[], bool], timeout: float, message: str) -> None:
    """wait_until on the engine's state; a timeout shows that state."""
    try:
        await wait_until(predicate, timeout, message=message)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{describe(engine)}") from None

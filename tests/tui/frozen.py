"""A fixed cluster view for snapshot tests: no engine, no clock, no random ids."""

from __future__ import annotations

from typing import Any

from engine import (
    AgentView,
    AppView,
    ClusterSnapshot,
    Deployment,
    TaskRecord,
    TaskState,
    parse_app,
)
from engine.events import DeploymentStepStarted, DeploymentSucceeded, EngineEvent, TaskStatusChanged
from engine.health import HealthResult
from engine.model import format_ts, task_id_for, with_version
from engine.scheduler.placement import Rejection
from engine.scheduler.reconcile import Waiting
from engine.scheduler.state import Resources
from tui.engine_host import ConsoleView, StaticHost, Update

NOW = 1_767_000_000.0
V1 = format_ts(NOW - 86_400)
V2 = format_ts(NOW - 120)


def _app(data: dict[str, Any], version: str = V1, config: str = V1) -> Any:
    return with_version(parse_app(data, default_image="busybox:latest"), version,
                        {"lastScalingAt": version, "lastConfigChangeAt": config})


def _task(app_id: str, n: int, agent: str, *, state: TaskState = TaskState.RUNNING, ports: tuple[int, ...] = (),
          up: float = 3_600, cpus: float = 0.5, mem: float = 128, config: str = V1, attempt: int = 1) -> TaskRecord:
    return TaskRecord(
        task_id=task_id_for(app_id, f"{n:08x}-0000-4000-8000-000000000000", attempt), app_id=app_id, agent=agent,
        version=config, config_version=config, state=state, resources=Resources(cpus, mem, 0), host_ports=ports,
        container_id=f"c{n}", staged_at=NOW - up - 2, started_at=None if state == TaskState.STAGING else NOW - up,
        ip_address="10.0.0.1",
    )


def frozen_view() -> ConsoleView:
    web = _app({"id": "/web", "cmd": "python3 -m http.server 8080", "cpus": 0.5, "mem": 128, "instances": 3,
                "container": {"type": "DOCKER", "docker": {"image": "python:3", "network": "BRIDGE",
                                                          "portMappings": [{"containerPort": 8080, "hostPort": 0}]}},
                "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "intervalSeconds": 5}]})
    orders = _app({"id": "/shop/orders", "cmd": "serve", "cpus": 0.25, "mem": 64, "instances": 2,
                   "container": {"type": "DOCKER", "docker": {"image": "busybox:latest"}}}, V2, V2)
    big = _app({"id": "/big-batch", "cmd": "crunch", "cpus": 20, "mem": 1024, "instances": 2}, V2, V2)
    crash = _app({"id": "/crash-loop", "cmd": "exit 1", "cpus": 0.1, "mem": 16, "instances": 1})
    web_tasks = (_task("/web", 1, "sim-1", ports=(31000,)), _task("/web", 2, "sim-2", ports=(31004,), up=95),
                 _task("/web", 3, "sim-1", ports=(31001,), up=42, attempt=3))  # relaunched twice after failing
    order_tasks = (_task("/shop/orders", 4, "sim-2", cpus=0.25, mem=64, config=V1, up=7_300),
                   _task("/shop/orders", 5, "sim-1", cpus=0.25, mem=64, config=V2, state=TaskState.STAGING, up=0))
    tasks = {"/web": web_tasks, "/shop/orders": order_tasks}
    rejections = {"sim-1": Rejection("cpus", "needs 20 cpus, 2.75 free"),
                  "sim-2": Rejection("cpus", "needs 20 cpus, 3.25 free"),
                  "sim-3": Rejection("agent", "unreachable: simulated outage")}
    failure = {"appId": "/crash-loop", "host": "sim-2", "message": "exited with code 1\ncrash-loop: exiting",
               "state": "TASK_FAILED", "taskId": task_id_for("/crash-loop", "0000000a-0000-4000-8000-000000000000"),
               "timestamp": format_ts(NOW - 12), "version": V1, "slaveId": "sim-2"}
    apps = (
        AppView(big, 0, 0, 0, 0, Waiting("/big-batch", 2, "no agent fits: cpus: 2 agent(s), agent: 1 agent(s)",
                                         rejections), None),
        AppView(crash, 0, 0, 0, 0, Waiting("/crash-loop", 1, "launch delayed after 4 failures", {}, NOW + 12),
                failure),
        AppView(orders, 1, 1, 0, 0, None, None),
        AppView(web, 0, 3, 2, 1, None, None),
    )
    agents = (
        AgentView("sim-1", "sim", "sim-1", True, Resources(4, 8192, 0), Resources(1.75, 448, 0), 3, 2,
                  (31000, 32000), {"rack": "r1", "zone": "z1"}),
        AgentView("sim-2", "sim", "sim-2", True, Resources(4, 8192, 0), Resources(0.75, 192, 0), 2, 1,
                  (31000, 32000), {"rack": "r2", "zone": "z0"}, None, True),
        AgentView("sim-3", "sim", "sim-3", False, Resources(4, 8192, 0), Resources(0, 0, 0), 0, 0,
                  (31000, 32000), {"rack": "r3", "zone": "z1"}, "agent sim-3: simulated outage"),
    )
    snapshot = ClusterSnapshot("demo-cluster", NOW, agents, apps, tasks, 42)
    deployments = (
        Deployment("0f1e2d3c-aaaa-4bbb-8ccc-000000000001", V2, "/shop/orders", (("RestartApplication",),), 1,
                   NOW - 120, None, {}, reason="1 of 2 new task(s) ready, 1 old task(s) left"),
        Deployment("9a8b7c6d-aaaa-4bbb-8ccc-000000000002", V2, "/big-batch",
                   (("StartApplication",), ("ScaleApplication",)), 1, NOW - 300, None, {},
                   reason="no agent fits: cpus: 2 agent(s), agent: 1 agent(s)"),
    )
    health = {web_tasks[0].task_id: True, web_tasks[1].task_id: True, web_tasks[2].task_id: False}
    results = {web_tasks[2].task_id: {0: HealthResult(False, 2, NOW - 600, NOW - 60, NOW - 4, "HTTP 503", 40)}}
    return ConsoleView.of(7, snapshot, deployments, health, results)


def frozen_events() -> tuple[EngineEvent, ...]:
    web3 = task_id_for("/web", "00000003-0000-4000-8000-000000000000", 3)

    def status(app_id: str, task_id: str, state: TaskState, agent: str, message: str, at: float) -> TaskStatusChanged:
        return TaskStatusChanged(app_id=app_id, task_id=task_id, state=state, message=message, agent=agent,
                                 host=agent, ip_address=None, ports=(), version="", timestamp=at)

    return (
        DeploymentStepStarted(plan={"id": "0f1e2d3c-aaaa"}, app_id="/shop/orders", actions=("RestartApplication",),
                              timestamp=NOW - 120),
        status("/shop/orders", task_id_for("/shop/orders", "00000005-0000-4000-8000-000000000000"),
               TaskState.STAGING, "sim-1", "scale up", NOW - 2),
        status("/web", web3, TaskState.RUNNING, "sim-1", "", NOW - 42),
        DeploymentSucceeded(deployment_id="5e6f7a8b-aaaa-4bbb-8ccc-000000000003", plan={}, timestamp=NOW - 30),
        status("/crash-loop", failure_task(), TaskState.FAILED, "sim-2", "exited with code 1", NOW - 12),
    )


def failure_task() -> str:
    return task_id_for("/crash-loop", "0000000a-0000-4000-8000-000000000000")


def frozen_logs() -> dict[str, list[str]]:
    return {
        task.task_id: [
            f'10.0.0.{n} - - [01/Jan/2026 10:00:0{i}] "GET /health HTTP/1.1" 200 -' for i in range(4)]
        + ([f"Serving HTTP on 0.0.0.0 port 8080 (http://0.0.0.0:8080/) ... and a much longer line to show "
            f"wrapping of long lines in the logs pane when w is on {'x' * 60}"] if n == 1 else [])
        for n, task in enumerate(frozen_view().snapshot.tasks["/web"], start=1)
    }


class FrozenHost(StaticHost):
    def __init__(self) -> None:
        super().__init__(frozen_view(), frozen_logs())

    async def feed(self, post: Any, *, interval: float = 0.25) -> None:
        post(Update(self._view, frozen_events()))
        import asyncio

        await asyncio.Event().wait()

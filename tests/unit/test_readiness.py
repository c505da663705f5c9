"""Readiness checks, the pure part: a new task counts toward minimumHealthCapacity and toward the deployment's
target only once ready; the results appear in Marathon's deployment JSON. Also the probe's answer reader."""

from __future__ import annotations

import asyncio

from engine.readiness import HttpAnswer, ReadinessResult, http_answer
from engine.scheduler.deployments import Deployment, deployments_json, progress, steps_for
from engine.scheduler.reconcile import reconcile
from engine.scheduler.state import UpgradePolicy
from tests.unit.factories import agent, app, new_id_factory, task, view


def _upgrade(ready: dict[str, bool] | None):  # type: ignore[no-untyped-def]
    """2 instances, minimumHealthCapacity 1.0: two v1 tasks and two running v2 tasks."""
    old = app(instances=2, version="v1")
    new = app(instances=2, version="v2", upgrade=UpgradePolicy(1.0, 1.0), has_readiness_checks=True)
    olds = [task(old, "a1"), task(old, "a2")]
    news = [task(new, "a1", task_id="web.instance-n1._app.1"), task(new, "a2", task_id="web.instance-n2._app.1")]
    readiness = {} if ready is None else {"/web": ready}
    plan = reconcile(view([new], [agent("a1"), agent("a2")], olds + news, readiness=readiness), new_id_factory())
    return plan, olds


def test_old_tasks_stay_until_new_ones_are_ready() -> None:
    plan, _ = _upgrade({})
    assert plan.kills == [] and plan.launches == []


def test_each_ready_new_task_lets_one_old_task_go() -> None:
    plan, olds = _upgrade({"web.instance-n1._app.1": True, "web.instance-n2._app.1": False})
    assert len(plan.kills) == 1 and plan.kills[0].task in olds
    plan, _ = _upgrade({"web.instance-n1._app.1": True, "web.instance-n2._app.1": True})
    assert len(plan.kills) == 2


def test_without_a_deployment_checking_readiness_running_tasks_count() -> None:
    plan, _ = _upgrade(None)
    assert len(plan.kills) == 2


def _deployment() -> Deployment:
    return Deployment(id="d1", version="2025-01-01T00:00:00.000Z", app_id="/web", steps=steps_for("config"),
                      current_step=1, started_at=0.0, original={"id": "/web"}, target={"id": "/web"})


def test_progress_counts_only_ready_new_tasks_and_says_why() -> None:
    new = app(instances=3, version="v2")
    tasks = [task(new, "a1", task_id=f"web.instance-n{i}._app.1") for i in (1, 2, 3)]
    p = progress(_deployment(), tasks, instances=3, config_version="v2", healthy={}, has_health_checks=False,
                 readiness={"web.instance-n1._app.1": True, "web.instance-n2._app.1": True,
                            "web.instance-n3._app.1": False},
                 readiness_cause="GET http://127.0.0.1:31000/ready answered 503")
    assert not p.done
    assert p.reason == ("2 of 3 new task(s) ready, 0 old task(s) left; 1 running but not ready yet "
                        "(readiness check: GET http://127.0.0.1:31000/ready answered 503)")
    done = progress(_deployment(), tasks, instances=3, config_version="v2", healthy={}, has_health_checks=False,
                    readiness={t.task_id: True for t in tasks})
    assert done.done


def test_deployment_json_carries_readiness_results_in_marathon_shape() -> None:
    result = ReadinessResult("readiness", "web.instance-n1._app.1", False,
                             HttpAnswer(503, "text/plain", "warming up"), cause="answered 503")
    [entry] = deployments_json([_deployment()], {"/web": [result.to_json()]})
    assert entry["currentActions"] == [{"action": "RestartApplication", "app": "/web", "readinessCheckResults": [
        {"name": "readiness", "taskId": "web.instance-n1._app.1", "ready": False,
         "lastResponse": {"status": 503, "contentType": "text/plain", "body": "warming up"}}]}]
    assert ReadinessResult("r", "t", True).to_json() == {"name": "r", "taskId": "t", "ready": True}
    assert deployments_json([_deployment()])[0]["currentActions"][0]["readinessCheckResults"] == []


async def test_http_answer_reads_status_type_and_body_on_loopback() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        assert request.startswith(b"GET /ready?x=1 HTTP/1.1\r\n")
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n"
                     b"warming up")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        answer = await http_answer("127.0.0.1", port, "/ready?x=1", tls=None)
    assert answer == HttpAnswer(503, "text/plain", "warming up")


class _Driver:
    def simulated_health(self, container_id: str | None) -> None:
        return None


class _Host:
    """engine.readiness.ReadinessHost over plain data."""

    def __init__(self, tasks: list, check, index: int | None) -> None:  # type: ignore[no-untyped-def]
        self.tasks = {t.task_id: t for t in tasks}
        self.check, self.index = check, index
        self.woken: list[str | None] = []

    def tasks_of(self, app_id: str) -> list:  # type: ignore[type-arg]
        return [t for t in self.tasks.values() if t.app_id == app_id]

    def readiness_check_for(self, task):  # type: ignore[no-untyped-def]
        return self.check, self.index

    def wake(self, app_id: str | None = None) -> None:
        self.woken.append(app_id)

    def driver(self, agent: str) -> _Driver:
        return _Driver()

    def probe_host(self, agent: str) -> str:
        return "127.0.0.1"


async def test_monitor_probes_new_tasks_until_ready_and_forgets_after_the_deployment() -> None:
    from engine.model import ReadinessCheck
    from engine.readiness import ReadinessMonitor
    from tests.conftest import wait_until

    warm = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        status = b"200 OK" if warm.is_set() else b"503 Service Unavailable"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    old, new = app(version="v1"), app(version="v2")
    old_task = task(old, "a1", task_id="web.instance-o1._app.1", ports=(port,))
    new_task = task(new, "a1", task_id="web.instance-n1._app.1", ports=(port,))
    check = ReadinessCheck(name="warm", path="/ready", port_name="http", interval_seconds=1, timeout_seconds=1,
                           http_status_codes_for_ready=[200], preserve_last_response=True)
    host = _Host([old_task, new_task], check, 0)
    monitor = ReadinessMonitor(host)  # type: ignore[arg-type]
    async with server:
        monitor.sync({"/web": "v2"})
        await wait_until(lambda: bool(monitor.results_of("/web")), 5, message="first probe")
        [result] = monitor.results_of("/web")
        assert result.task_id == new_task.task_id and not result.ready, "only the new version is probed"
        assert result.last_response == HttpAnswer(503, "text/plain", "ok")
        assert monitor.ready({"/web": "v2"}) == {"/web": {new_task.task_id: False}}
        warm.set()
        await wait_until(lambda: monitor.results_of("/web")[0].ready, 5, message="ready")
        assert "/web" in host.woken
        probes = monitor.results_of("/web")[0].probes
        monitor.sync({"/web": "v2"})  # a ready task is probed no more
        await asyncio.sleep(0)
        assert monitor.results_of("/web")[0].probes == probes and not monitor._loops
        monitor.sync({})  # the deployment ended
        assert monitor.results_of("/web") == [] and monitor.ready({}) == {}
        await monitor.close()

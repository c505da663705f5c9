"""`pacer deploy|apps|tasks|scale|restart|rm|logs|deployments` against a live API; exit codes; `--api`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine import Engine
from engine.api import ApiServer, start_api
from tests.api.conftest import app_body
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


async def pacer(*args: str, url: str | None, stdin: str | None = None, env: dict[str, str] | None = None,
                timeout: float = 60) -> tuple[int, str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PACER_")}
    if url is not None:
        environ["PACER_URL"] = url
    environ.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", *args, cwd=ROOT, env=environ,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_deploy_json_waits_and_lists(server: ApiServer, engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "web.json"
    f.write_text(json.dumps(app_body("/shop/web", instances=3)))
    rc, out, err = await pacer("deploy", str(f), url=server.url)
    assert rc == 0, err
    assert "/shop/web: deployed" in out
    assert engine.running_count("/shop/web") == 3, "deploy returned after the deployment finished"
    assert "step 1/2" in err or "running" in err, "progress went to stderr"
    rc, out, _ = await pacer("apps", url=server.url)
    assert rc == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:2] == ["ID", "RUNNING"] and row.split()[:2] == ["/shop/web", "3/3"]
    rc, out, _ = await pacer("tasks", "shop/web", url=server.url)
    assert rc == 0 and len(out.splitlines()) == 4 and out.count("TASK_RUNNING") == 3
    rc, out, _ = await pacer("apps", "--json", url=server.url)
    assert rc == 0 and json.loads(out)["apps"][0]["id"] == "/shop/web"


async def test_deploy_toml_from_stdin_replaces_the_app(server: ApiServer, engine: Engine) -> None:
    await engine.create_app(app_body("/web", instances=1, env={"OLD": "1"}))
    toml = """
id = "/web"
cmd = "sleep 100"
cpus = 0.1
mem = 16
instances = 2
[container.docker]
image = "busybox:latest"
"""
    rc, out, err = await pacer("deploy", "-", url=server.url, stdin=toml)
    assert rc == 0, err
    app = engine.get_app("/web")
    assert app.instances == 2 and app.env == {} and app.cmd == "sleep 100", "the file is the whole definition"


async def test_scale_restart_rm_and_deployments(server: ApiServer, engine: Engine) -> None:
    await engine.create_app(app_body("/web", instances=1))
    await wait_until(lambda: engine.converged("/web") and not engine.deployments, 5, message="running")
    rc, _, err = await pacer("scale", "/web", "3", url=server.url)
    assert rc == 0, err
    assert engine.running_count("/web") == 3
    before = {t.task_id for t in engine.tasks_of("/web")}
    rc, _, err = await pacer("restart", "web", url=server.url)
    assert rc == 0, err
    assert not before & {t.task_id for t in engine.tasks_of("/web")}
    rc, out, _ = await pacer("deployments", url=server.url)
    assert rc == 0 and out.split() == ["ID", "APPS", "STEP", "ACTIONS", "AGE", "REASON"]
    await engine.put_app({"cpus": 99}, app_id="/web")
    rc, out, _ = await pacer("deployments", url=server.url)
    assert rc == 0 and "/web" in out and "RestartApplication" in out
    rc, _, err = await pacer("rm", "/web", url=server.url)
    assert rc == 0, err
    assert "/web" not in engine.apps and not engine.tasks_of("/web")


async def test_logs(server: ApiServer, engine: Engine) -> None:
    await engine.create_app(app_body("/web", instances=1))
    await wait_until(lambda: engine.running_count("/web") == 1, 5, message="running")
    rc, out, _ = await pacer("logs", "web", url=server.url)
    assert rc == 0 and "started" in out and out.startswith("[web.")
    (task,) = engine.tasks_of("/web")
    rc, out, _ = await pacer("logs", task.task_id, "--tail", "1", url=server.url)
    assert rc == 0 and out.strip().endswith(f"started {task.task_id} on {task.agent}")


@pytest.mark.parametrize(
    ("args", "stdin", "code", "words"),
    [
        (["deploy", "-"], "{not json", 2, "not valid TOML"),
        (["deploy", "-"], '{"cmd": "x"}', 2, "needs an \"id\""),
        (["deploy", "-"], '{"id": "/bad", "cpus": -1, "cmd": "x"}', 2, "/cpus"),
        (["deploy", "/nonexistent/app.json"], None, 2, "cannot read"),
        (["scale", "nope", "2"], None, 3, "does not exist"),
        (["rm", "nope"], None, 3, "does not exist"),
        (["tasks", "nope"], None, 3, "does not exist"),
        (["logs", "nope"], None, 3, "does not exist"),
    ],
)
async def test_exit_codes_for_bad_input(server: ApiServer, args: list[str], stdin: str | None, code: int,
                                        words: str) -> None:
    rc, _, err = await pacer(*args, url=server.url, stdin=stdin)
    assert rc == code, err
    assert words in err and "Traceback" not in err


async def test_conflict_and_timeout_exit_codes(server: ApiServer, engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "big.json"
    f.write_text(json.dumps(app_body("/big", instances=1, cpus=99)))
    rc, _, err = await pacer("deploy", str(f), "--timeout", "1", url=server.url)
    assert rc == 5 and "timed out" in err
    rc, _, err = await pacer("scale", "big", "2", url=server.url)
    assert rc == 4 and "locked" in err
    rc, out, _ = await pacer("scale", "big", "0", "--force", "--no-wait", url=server.url)
    assert rc == 0 and "accepted" in out


async def test_failed_deployment_exit_code(server: ApiServer, engine: Engine) -> None:
    await engine.create_app(app_body("/big", instances=1, cpus=99))

    async def cancel_soon() -> None:
        await wait_until(lambda: any(d.app_id == "/big" and d.target and d.target.get("instances") == 2
                                     for d in engine.deployments.values()), 10, message="second deployment")
        (d,) = [d for d in engine.deployments.values() if d.app_id == "/big"]
        await engine.cancel_deployment(d.id, rollback=False)

    canceller = asyncio.ensure_future(cancel_soon())
    rc, _, err = await pacer("scale", "big", "2", "--force", url=server.url)
    await canceller
    assert rc == 1 and "failed" in err


async def test_unreachable_and_bad_token(engine: Engine) -> None:
    rc, _, err = await pacer("apps", url="http://127.0.0.1:1")
    assert rc == 6 and "cannot reach" in err
    sched = engine.config.scheduler.model_copy(update={"api_token": "right-token"})
    server = await start_api(engine, sched, bind="127.0.0.1:0")
    try:
        rc, _, err = await pacer("apps", url=server.url, env={"PACER_TOKEN": "wrong-token"})
        assert rc == 6 and "401" in err and "wrong-token" not in err
        rc, _, err = await pacer("apps", url=server.url, env={"PACER_TOKEN": "right-token"})
        assert rc == 0, err
    finally:
        await server.stop()


async def test_target_from_config(engine: Engine, tmp_path: Path) -> None:
    sched = engine.config.scheduler.model_copy(update={"api_token": "cfg-token-0123456789"})
    server = await start_api(engine, sched, bind="127.0.0.1:0")
    try:
        config = tmp_path / "pacer.toml"
        config.write_text(f'[scheduler]\napi = "127.0.0.1:{server.port}"\napi_token = "cfg-token-0123456789"\n')
        rc, out, err = await pacer("--config", str(config), "apps", url=None)
        assert rc == 0, err
        rc, out, err = await pacer("apps", "--config", str(config), url=None)
        assert rc == 0, err
    finally:
        await server.stop()


def _cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACER_")}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("bind", ["0.0.0.0:8080", "10.0.0.1:80", "nonsense"])
def test_api_flag_refuses_unsafe_or_bad_bindings(tmp_path: Path, bind: str) -> None:
    result = _cli("--serve", "--demo", "--state", str(tmp_path / "s.db"), "--api", bind)
    assert result.returncode == 2
    assert "bad config" in result.stderr and "Traceback" not in result.stderr


def test_bad_config_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "pacer.toml"
    config.write_text('[scheduler]\napi = "0.0.0.0:9000"\n')
    result = _cli("--serve", "--config", str(config))
    assert result.returncode == 2 and "api_token" in result.stderr and "Traceback" not in result.stderr


def test_serve_with_api_flag_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    import signal
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACER_")}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "--serve", "--demo", "--state", str(tmp_path / "s.db"),
                             "--api", f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        answer: Any = None
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer is not None and answer.status_code == 200 and answer.text == "pong"
        assert httpx.get(f"http://127.0.0.1:{port}/v2/info", timeout=5).json()["leader"] == f"127.0.0.1:{port}"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "API serving on" in err and "stopping" in err and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
async def test_tls_api_with_token(engine: Engine, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    sched = engine.config.scheduler.model_copy(update={"api_token": "tls-token", "api_tls_cert": str(cert),
                                                       "api_tls_key": str(key)})
    server = await start_api(engine, sched, bind="127.0.0.1:0")
    try:
        assert server.url.startswith("https://")
        import ssl

        async with httpx.AsyncClient(base_url=server.url, verify=ssl.create_default_context(cafile=str(cert))) as c:
            r = await c.get("/v2/info", headers={"Authorization": "Bearer tls-token"})
            assert r.status_code == 200 and r.json()["http_config"]["https_port"] == server.port
            assert r.headers["x-marathon-leader"] == server.url
        rc, _, err = await pacer("apps", url=server.url, env={"PACER_TOKEN": "tls-token", "PACER_CACERT": str(cert)})
        assert rc == 0, err
    finally:
        await server.stop()


async def test_deploy_a_group_file_or_several_apps_as_one_deployment(server: ApiServer, engine: Engine,
                                                                     tmp_path: Path) -> None:
    group = tmp_path / "shop.json"
    group.write_text(json.dumps({"id": "/shop", "apps": [app_body("web", instances=2), app_body("api", instances=1)],
                                 "groups": [{"id": "db", "apps": [app_body("main", instances=1)]}]}))
    rc, out, err = await pacer("deploy", str(group), url=server.url)
    assert rc == 0, err
    assert "group /shop: deployed" in out
    assert {a: engine.running_count(a) for a in engine.apps} == {"/shop/web": 2, "/shop/api": 1, "/shop/db/main": 1}
    # The file is the truth: an app it no longer names is removed.
    group.write_text(json.dumps({"id": "/shop", "apps": [app_body("web", instances=1)], "groups": []}))
    rc, out, err = await pacer("deploy", str(group), url=server.url)
    assert rc == 0, err
    assert set(engine.apps) == {"/shop/web"} and engine.running_count("/shop/web") == 1
    several = tmp_path / "two.json"
    several.write_text(json.dumps([app_body("/a", instances=1), app_body("/b", instances=1)]))
    rc, out, err = await pacer("deploy", str(several), url=server.url)
    assert rc == 0, err
    assert "/a, /b: deployed" in out and out.count("deployed") == 1, "one deployment for both"
    assert engine.running_count("/a") == engine.running_count("/b") == 1


async def test_an_unusable_ca_certificate_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    for args in (("image", "signatures"), ("apps",)):
        rc, out, err = await pacer(*args, url="https://127.0.0.1:9", env={"PACER_CACERT": str(missing)})
        assert rc == 2, (args, out, err)
        assert "Traceback" not in err and str(missing) in err and len(err.strip().splitlines()) == 1, err

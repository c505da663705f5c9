"""A token on a loopback API keeps host-network tasks out, and the CLI on the same machine gets in by its config.

The probe of issue #19: a command app (host networking, Marathon's default) ran
`wget -qO- http://127.0.0.1:PORT/v2/apps` and printed another app's secrets, and could deploy anything.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from engine import Engine
from engine.api import start_api
from tests.conftest import wait_until

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "host-network-test-token-5f1c9a"
SECRET = "db-password-7d41e0c2"


async def pacer_cli(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACER_")}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli.main", *args, cwd=ROOT, env=env,
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_host_network_task_gets_401_and_the_cli_uses_the_config_token(docker_engine: Engine,
                                                                             tmp_path: Path) -> None:
    sched = docker_engine.config.scheduler.model_copy(update={"api_token": TOKEN})
    api = await start_api(docker_engine, sched, bind="127.0.0.1:0")
    try:
        await docker_engine.create_app({"id": "/db", "cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 0,
                                        "env": {"DB_PASSWORD": SECRET}})
        base = f"http://127.0.0.1:{api.port}"
        script = (
            f"wget -qO- {base}/ping 2>&1; echo; "
            f"for p in /v2/apps /v2/apps/db /v2/tasks /v2/info /metrics; do echo \"GET $p\"; "
            f"wget -qO- {base}$p 2>&1; echo; done; "
            "echo POST; wget -qO- --header 'Content-Type: application/json' "
            f"--post-data '{{\"id\":\"/evil\",\"cmd\":\"sleep 600\"}}' {base}/v2/apps 2>&1; echo; "
            "echo PROBE-DONE; sleep 600"
        )
        # a command app: no container, so Marathon's default applies (host networking) in the default image
        await docker_engine.create_app({"id": "/intruder", "cmd": script, "cpus": 0.05, "mem": 16, "instances": 1})
        assert docker_engine.get_app("/intruder").network_mode == "host"
        await wait_until(lambda: docker_engine.running_count("/intruder") == 1, 120, message="the task running")
        (task,) = docker_engine.tasks_of("/intruder")
        output: list[str] = []

        async def probe_done() -> bool:
            output[:] = await docker_engine.task_logs(task.task_id)
            return any("PROBE-DONE" in line for line in output)

        await wait_until(probe_done, 120, interval=0.5, message="the task's requests")
        text = "\n".join(output)
        assert "pong" in text, f"the task reached the API (the public /ping): {text}"
        assert text.count("401") >= 6, f"every other request was refused with 401: {text}"
        assert SECRET not in text and "DB_PASSWORD" not in text
        assert "/evil" not in docker_engine.apps

        # the CLI on this machine, given the server's config, needs no typed token
        config = tmp_path / "pacer.toml"
        config.write_text(f'[scheduler]\napi = "127.0.0.1:{api.port}"\napi_token = "{TOKEN}"\n')
        rc, out, err = await pacer_cli("apps", "--config", str(config))
        assert rc == 0, err
        assert "/db" in out and "/intruder" in out
        rc, out, err = await pacer_cli("scale", "/intruder", "0", "--config", str(config), "--timeout", "90")
        assert rc == 0, err
        assert docker_engine.get_app("/intruder").instances == 0
        # without it, the CLI is refused and says where a token comes from
        rc, _, err = await pacer_cli("apps", "--url", base)
        assert rc == 6 and "401" in err and "--config" in err and "PACER_TOKEN" in err
        assert TOKEN not in err
    finally:
        await api.stop()

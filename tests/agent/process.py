"""A real `pacer --serve --agent-config` subprocess on 127.0.0.1, for docker and chaos tests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from engine.agentd.tls import fingerprint_pem
from tests.agent.support import free_port

ROOT = Path(__file__).resolve().parents[2]


class AgentProcess:
    """`pacer --serve --agent-config FILE` with generated TLS in `folder`; same files on every (re)start."""

    def __init__(self, folder: Path, docker_url: str, *, port: int | None = None, policy: str = "") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.state = folder / "state"
        self.config = folder / "agent.toml"
        self.log = folder / "agent.log"
        self.config.write_text(textwrap.dedent(f"""
            [agent]
            listen = "127.0.0.1:{self.port}"
            docker_url = "{docker_url}"
            generate_tls = true
            state_dir = "state"
            name = "remote-agent"
            heartbeat = 1.0
            attributes = {{ zone = "z1" }}

            [agent.policy]
            image_allowlist = ["busybox:*", "python:3"]
        """) + textwrap.dedent(policy))
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"pacer+https://127.0.0.1:{self.port}"

    @property
    def token_file(self) -> Path:
        return self.state / "token"

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    @property
    def fingerprint(self) -> str:
        return fingerprint_pem((self.state / "agent.crt").read_bytes())

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self, timeout: float = 30.0) -> float:
        """Start and wait until the port accepts connections; returns the monotonic time it did."""
        self.starts += 1
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "--serve", "--agent-config", str(self.config)],
                cwd=ROOT, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return time.monotonic()
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"agent did not listen on {self.port} within {timeout} s:\n{self.output()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(30)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

"""Helpers for agent tests: certificates (CA, signed, expired), a fake backend, in-process agents."""

from __future__ import annotations

import datetime
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from engine.agentd.tls import fingerprint_pem
from engine.agents.base import LABEL_CLUSTER, AgentCapacity, TaskSpec
from engine.agents.sim import SimAgent
from engine.scheduler.state import ObservedContainer

TOKEN = "test-token-0123456789abcdef"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Pem:
    cert: Path
    key: Path

    @property
    def fingerprint(self) -> str:
        return fingerprint_pem(self.cert.read_bytes())


def _key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class CertFactory:
    """A test CA in `folder` that issues server and client certificates, valid or expired."""

    def __init__(self, folder: Path, name: str = "pacer test CA") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name).issuer_name(self.name).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, *, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), client: bool = False,
              expired: bool = False, self_signed: bool = False) -> Pem:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        if expired:
            start, end = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
        else:
            start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=7)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, stem)])
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if self_signed else self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        cert = builder.sign(key if self_signed else self.key, hashes.SHA256())
        pem = Pem(self.folder / f"{stem}.crt", self.folder / f"{stem}.key")
        pem.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem.key.write_bytes(_key_bytes(key))
        pem.key.chmod(0o600)
        return pem


class FakeBackend(SimAgent):
    """A sim agent with what the agent server also needs (labels and stats of a container)."""

    def __init__(self, name: str = "fake", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.launched: list[TaskSpec] = []
        self.foreign: set[str] = set()
        """Container ids that exist on the 'daemon' without pacer's labels."""
        self.calls: list[tuple[str, str]] = []
        """(operation, container id) of every call on one container that reached the 'daemon'."""

    def running_task_ids(self) -> set[str]:
        return {c.observed.task_id for c in self._containers.values() if c.observed.state == "running"}

    async def stop(self, container_id: str, grace_seconds: float) -> None:
        self.calls.append(("stop", container_id))
        await super().stop(container_id, grace_seconds)

    async def remove(self, container_id: str) -> None:
        self.calls.append(("remove", container_id))
        await super().remove(container_id)

    async def tail_logs(self, container_id: str, lines: int) -> list[str]:
        self.calls.append(("logs", container_id))
        return await super().tail_logs(container_id, lines)

    async def follow_logs(self, container_id: str, tail: int) -> AsyncIterator[str]:
        self.calls.append(("follow", container_id))
        async for line in super().follow_logs(container_id, tail):
            yield line

    async def exec_check(self, container_id: str, command: str) -> tuple[int, str]:
        self.calls.append(("exec", container_id))
        return await super().exec_check(container_id, command)

    async def launch(self, spec: TaskSpec) -> ObservedContainer:
        observed = await super().launch(spec)
        self.launched.append(spec)
        return observed

    async def inspect_labels(self, container_id: str) -> tuple[str, dict[str, str]] | None:
        if container_id in self.foreign:
            return container_id, {"com.example": "not ours"}
        c = self._containers.get(container_id)
        if c is None:
            return None
        spec = next(s for s in reversed(self.launched) if s.task_id == c.observed.task_id)
        return container_id, spec.container_labels()

    async def stats(self, container_id: str) -> dict[str, Any]:
        self.calls.append(("stats", container_id))
        return {"id": container_id, "cpu_stats": {}, "memory_stats": {"usage": 1024}}

    async def connect(self) -> AgentCapacity:
        return await super().connect()


def spec(task: str = "t1", *, image: str = "busybox:latest", cluster: str = "c1", **changes: Any) -> TaskSpec:
    base: dict[str, Any] = dict(
        task_id=task, app_id="/web", version="v1", config_version="v1", cluster_id=cluster, name=f"pacer.web.{task}",
        image=image, entrypoint=("/bin/sh", "-c"), command=("sleep 100",), env={"A": "1"}, labels={},
        cpus=0.1, mem_mib=32.0, network_mode="bridge",
    )
    base.update(changes)
    return TaskSpec(**base)


assert LABEL_CLUSTER == "pacer.cluster"

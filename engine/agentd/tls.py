"""Certificates and tokens of an agent: generated on first start, fingerprinted for pinning.

`prepare_credentials` turns an `[agent]` config into the files the server
uses. With ``generate_tls = true`` and no files configured it creates, once,
in ``state_dir``:

- ``agent.key``: an ECDSA P-256 private key (mode 0600);
- ``agent.crt``: a self-signed certificate for the listen host, this host's
  name, ``localhost`` and 127.0.0.1;
- ``token``: a random bearer token (mode 0600), unless ``token``/``token_file``
  names one already.

Later starts reuse them, so engines that pinned the fingerprint keep working.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from engine.agentd.config import AgentServerConfig, parse_listen
from engine.config import token_problem
from engine.errors import ConfigError


def fingerprint_der(der: bytes) -> str:
    """``sha256:<hex>`` of a DER certificate, the form engines pin."""
    return "sha256:" + hashlib.sha256(der).hexdigest()


def fingerprint_pem(pem: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return fingerprint_der(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER))


def normalize_fingerprint(text: str) -> str:
    """Accept ``sha256:AB:CD:...``, ``ab cd ...`` or bare hex; return lowercase hex without separators."""
    raw = text.strip().lower()
    if raw.startswith("sha256:"):
        raw = raw[len("sha256:"):]
    raw = raw.replace(":", "").replace(" ", "")
    if len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
        raise ValueError(f"not a SHA-256 fingerprint: {text!r}")
    return raw


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _san_for(hosts: list[str]) -> list[object]:
    from cryptography import x509

    names: list[object] = []
    seen: set[str] = set()
    for host in hosts:
        if not host or host in seen or host in ("0.0.0.0", "::"):
            continue
        seen.add(host)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def generate_self_signed(cert_path: Path, key_path: Path, hosts: list[str], *, days: int = 825) -> str:
    """Write a new ECDSA P-256 key and a self-signed server certificate; return its fingerprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"pacer agent {hosts[0] if hosts else ''}".strip())])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_san_for(hosts)), critical=False)  # type: ignore[arg-type]
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(
        key_path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return fingerprint_der(cert.public_bytes(serialization.Encoding.DER))


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the server runs with: the token, and the TLS files when TLS is on."""

    token: str
    token_file: str | None
    tls_cert: str | None
    tls_key: str | None
    fingerprint: str | None
    generated: tuple[str, ...] = ()
    """Paths created by this start (first start with generate_tls)."""


def _read_token(path: Path, source: str) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(source, None, "agent.token_file", f"cannot read {path}: {exc.strerror or exc}") from None
    problem = token_problem(token)
    if problem:
        raise ConfigError(source, None, "agent.token_file", f"{path}: the token {problem}")
    return token


def prepare_credentials(config: AgentServerConfig) -> Credentials:
    """Read (or, with generate_tls, create once) the token and TLS files; ConfigError if missing."""
    source = config.source
    state = Path(config.state_dir)
    generated: list[str] = []
    cert, key = config.tls_cert, config.tls_key
    if not cert and config.generate_tls:
        cert_path, key_path = state / "agent.crt", state / "agent.key"
        if not (cert_path.exists() and key_path.exists()):
            host, _ = parse_listen(config.listen)
            generate_self_signed(cert_path, key_path, [host, socket.gethostname(), "localhost", "127.0.0.1", "::1"])
            generated += [str(cert_path), str(key_path)]
        cert, key = str(cert_path), str(key_path)
    fingerprint = None
    if cert:
        try:
            fingerprint = fingerprint_pem(Path(cert).read_bytes())
        except OSError as exc:
            raise ConfigError(source, None, "agent.tls_cert", f"cannot read {cert}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ConfigError(source, None, "agent.tls_cert", f"{cert} is not a PEM certificate: {exc}") from None
    token_file = config.token_file
    if config.token:
        token = config.token
    else:
        path = Path(token_file) if token_file else state / "token"
        if not path.exists() and config.generate_tls:
            _write_private(path, (secrets.token_urlsafe(32) + "\n").encode())
            generated.append(str(path))
        elif not path.exists():
            raise ConfigError(
                source, None, "agent.token",
                "the agent needs a token: set token or token_file, or generate_tls = true to create one",
            )
        token_file = str(path)
        token = _read_token(path, source)
    return Credentials(token=token, token_file=token_file, tls_cert=cert, tls_key=key,
                       fingerprint=fingerprint, generated=tuple(generated))

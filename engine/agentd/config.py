"""The `[agent]` table: what `pacer --serve` needs to offer its Docker daemon to engines.

    [agent]
    listen = "127.0.0.1:7443"          # HOST:PORT; plain HTTP only on loopback
    docker_url = "unix:///var/run/docker.sock"   # tcp:// only on loopback, unless insecure_tcp = true
    token_file = "agent-state/token"   # or token = "..."; at least 16 characters
    tls_cert = "agent.crt"             # with tls_key; or generate_tls = true
    tls_key = "agent.key"
    generate_tls = true                # create a self-signed cert, key and token on first start
    state_dir = "agent-state"          # where generated files live
    client_ca = "engines-ca.pem"       # optional: require client certificates signed by this CA
    name = "edge-1"
    clusters = ["prod"]                # serve only these clusters' engines (default: any cluster)
    attributes = { rack = "r1" }
    cpus = 2                           # override what dockerd reports
    reserve_mem = 256
    pull_timeout = 600                 # image pulls (engine.registries): seconds per pull,
    max_concurrent_pulls = 3           # pulls at once
    image_gc = 86400                   # optional: remove images this agent pulled, unused that long

    [agent.policy]                     # engine.policy.AgentPolicy: the same model as the engine's [policy]
    allow_privileged = false
    allow_host_volumes = false
    allow_host_network = false
    image_allowlist = ["busybox:*", "python:3"]   # fnmatch patterns; empty = every image
    pids_limit = 256                   # and capabilities, allow_capabilities, allow_root_user, read_only_rootfs
    require_signature = true           # images signed with `pacer image sign` by one of these keys
    trusted_keys = ["release.pub"]
    allowed_registries = ["registry.local:5000"]  # pull only from these (fnmatch; "docker.io" = Docker Hub)

    [agent.registries."registry.local:5000"]       # credentials for pulls (engine.registries)
    username = "deploy"
    password_file = "registry.pass"

A bad table is a ConfigError naming file, line and field (exit code 2 in the CLI).
Relative paths are taken from the config file's folder.
"""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.config import (
    DEFAULT_DOCKER_URL,
    Token,
    _line_of,
    config_problem,
    field_error,
    plain_tcp_host,
    read_toml,
    token_problem,
)
from engine.errors import ConfigError
from engine.netaddr import parse_host_port
from engine.policy import AgentPolicy, policy_problems, resolve_key_paths
from engine.registries import PullOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the declared fallback for older Pythons
    import tomli as tomllib

DEFAULT_LISTEN = "127.0.0.1:7443"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


__all__ = ["AgentPolicy", "AgentServerConfig", "agent_config_from_table", "load_agent_config", "parse_listen"]


class AgentServerConfig(_Strict, PullOptions):
    listen: str = DEFAULT_LISTEN
    docker_url: str = DEFAULT_DOCKER_URL
    token: Token = None
    token_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    generate_tls: bool = False
    state_dir: str = "pacer-agent"
    client_ca: str | None = None
    name: str = Field(default_factory=socket.gethostname, min_length=1)
    clusters: tuple[str, ...] = ()
    """The clusters whose engines this agent serves (their ids); empty: any cluster an engine names."""
    insecure_tcp: bool = False
    """Allow a plain tcp:// docker_url on a non-loopback address (no TLS: anyone on the path owns the daemon)."""
    attributes: dict[str, str] = Field(default_factory=dict)
    cpus: float | None = Field(default=None, ge=0)
    mem: float | None = Field(default=None, ge=0)
    reserve_cpus: float = Field(default=0.0, ge=0)
    reserve_mem: float = Field(default=0.0, ge=0)
    heartbeat: float = Field(default=5.0, gt=0, le=10)
    """Seconds between keep-alive lines on /v1/events (engines notice a dead agent within ~3 of them)."""
    policy: AgentPolicy = Field(default_factory=AgentPolicy)
    source: str = "<defaults>"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("docker_url")
    @classmethod
    def _docker_scheme(cls, url: str) -> str:
        if not re.match(r"^(unix|tcp|ssh|npipe)://", url):
            raise ValueError("must start with unix://, tcp:// or ssh://")
        return url

    @field_validator("clusters")
    @classmethod
    def _cluster_ids(cls, clusters: tuple[str, ...]) -> tuple[str, ...]:
        for cluster in clusters:
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", cluster):
                raise config_problem(f"{cluster!r} is not a cluster id (letters, digits, '_', '.', '-')")
        return tuple(dict.fromkeys(clusters))

    @model_validator(mode="after")
    def _pairs(self) -> "AgentServerConfig":
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("give both tls_cert and tls_key, or neither")
        if self.token and self.token_file:
            raise ValueError("give token or token_file, not both")
        return self

    @model_validator(mode="after")
    def _plain_tcp(self) -> "AgentServerConfig":
        host = plain_tcp_host(self.docker_url)
        if host is not None and not self.insecure_tcp:
            raise field_error("AgentServerConfig", "docker_url", self.docker_url, (
                f"plain tcp:// to the Docker daemon at {host!r} is refused: without TLS anyone on the path "
                "can drive that daemon (root on its host); use unix:// or ssh://, or set insecure_tcp = true "
                "to accept it (tcp:// is allowed without it only on loopback addresses)"))
        return self

    @property
    def insecure_docker(self) -> bool:
        """The Docker daemon is reached over plain TCP off loopback (allowed by insecure_tcp)."""
        return plain_tcp_host(self.docker_url) is not None

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key) or self.generate_tls


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); ValueError when malformed."""
    return parse_host_port(text, example=DEFAULT_LISTEN)


def _loc_for_line(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(loc) >= 2 and loc[0] == "policy":
        return ("agent.policy", *loc[1:])
    return ("agent", *loc)


def agent_config_from_table(table: Any, *, source: str = "<config>", text: str = "",
                            base: Path | None = None) -> AgentServerConfig:
    """Validate an `[agent]` table (already parsed from TOML); ConfigError names the field and line."""
    if not isinstance(table, dict):
        raise ConfigError(source, _line_of(text, ("agent",)) if text else None, "agent", "must be a table")
    try:
        config = AgentServerConfig.model_validate({**table, "source": source})
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        loc = tuple(first["loc"])
        field = "agent" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        problems = [first["msg"]]
        for other in errors[1:]:
            other_loc = tuple(other["loc"])
            other_field = "agent" + "".join(f".{p}" for p in other_loc)
            line = _line_of(text, _loc_for_line(other_loc)) if text else None
            problems.append(f"also {other_field} (line {line or '?'}): {other['msg']}")
        line = _line_of(text, _loc_for_line(loc)) if text and loc else None
        raise ConfigError(source, line, field, "; ".join(problems)) from None
    config = _resolve_paths(config, base) if base is not None else config
    if config.token_file and Path(config.token_file).is_file():
        try:
            token = Path(config.token_file).read_text(encoding="utf-8").strip()
        except OSError:
            token = None  # prepare_credentials reports the unreadable file
        weak = token_problem(token) if token is not None else None
        if weak:
            line = _line_of(text, ("agent", "token_file")) if text else None
            raise ConfigError(source, line, "agent.token_file", f"{config.token_file}: the token {weak}")
    for name, problem in policy_problems(config.policy):
        line = _line_of(text, ("agent.policy", name)) if text else None
        raise ConfigError(source, line, f"agent.policy.{name}", problem)
    return config


def load_agent_config(path: str | Path, *, required: bool = True) -> AgentServerConfig | None:
    """The `[agent]` table of a TOML file; None when there is none and it is not `required`."""
    path = Path(path)
    text, data = read_toml(path)
    if "agent" not in data:
        if required:
            raise ConfigError(str(path), None, "agent", "no [agent] table: nothing to serve as an agent")
        return None
    return agent_config_from_table(data["agent"], source=str(path), text=text, base=path.parent)


def has_scheduler(path: str | Path) -> bool:
    """True when a config file declares the engine too (a `[scheduler]` table or `[[agents]]`)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return True  # let the engine's loader report the problem
    return "scheduler" in data or "agents" in data


def _resolve_paths(config: AgentServerConfig, base: Path) -> AgentServerConfig:
    def resolve(value: str | None) -> str | None:
        if value is None:
            return None
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())

    return config.model_copy(
        update={
            "token_file": resolve(config.token_file),
            "tls_cert": resolve(config.tls_cert),
            "tls_key": resolve(config.tls_key),
            "client_ca": resolve(config.client_ca),
            "state_dir": resolve(config.state_dir),
            "policy": resolve_key_paths(config.policy, resolve),
            **config.with_resolved_paths(resolve),
        }
    )

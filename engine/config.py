"""The config file: agents, scheduler settings, API binding.

A bad config is reported as file, line and field (ConfigError), never as a
traceback. Relative paths are taken from the config file's folder.
"""

from __future__ import annotations

import logging
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from engine.errors import ConfigError
from engine.netaddr import is_loopback
from engine.policy import AgentPolicy, ClusterPolicy, merge_policies, policy_problems, resolve_key_paths
from engine.registries import PullOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the declared fallback for older Pythons
    import tomli as tomllib

DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"

ROLE_RE = re.compile(r"\*|[A-Za-z0-9_][A-Za-z0-9_./-]*")
"""A Mesos resource role: "*" (unreserved) or a name."""

MIN_TOKEN_LENGTH = 16
"""Bearer tokens (the API's, an agent's) shorter than this are refused: they can be guessed."""

log = logging.getLogger("pacer.config")


def token_problem(token: str | None) -> str | None:
    """Why a bearer token is too weak to accept, or None (also for no token at all)."""
    if token is None:
        return None
    length = len(token.strip())
    if length < MIN_TOKEN_LENGTH:
        return (f"must have at least {MIN_TOKEN_LENGTH} characters, got {length}: a short token can be guessed "
                "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))' makes a good one)")
    return None


def config_problem(message: str) -> PydanticCustomError:
    """A validator's error whose message is shown as it is (no "Value error, " before it)."""
    return PydanticCustomError("pacer_config", "{message}", {"message": message})


def _strong_token(token: str | None) -> str | None:
    weak = token_problem(token)
    if weak:
        raise config_problem(weak)
    return token


Token = Annotated[str | None, AfterValidator(_strong_token)]
"""A bearer token in a config file: None, or at least MIN_TOKEN_LENGTH characters."""


def field_error(model: str, field: str, value: Any, message: str) -> ValidationError:
    """A validation error at `field`, for a check across fields made by a model validator (the config
    error then names that field and its line, not the whole table)."""
    return ValidationError.from_exception_data(model, [InitErrorDetails(type=config_problem(message), loc=(field,),
                                                                         input=value)])


def plain_tcp_host(url: str) -> str | None:
    """The host of a Docker URL that speaks plain TCP (tcp://, http://) to a non-loopback address, else None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("tcp", "http"):
        return None
    try:
        host = parts.hostname or ""
    except ValueError:
        host = ""
    return None if host and is_loopback(host) else (host or url)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentConfig(_Strict, PullOptions):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    url: str
    """unix:///var/run/docker.sock, tcp://127.0.0.2:2375, ssh://host, sim://, pacer+https://host:port"""
    cpus: float | None = Field(default=None, ge=0)
    mem: float | None = Field(default=None, ge=0)
    disk: float = Field(default=0.0, ge=0)
    reserve_cpus: float = Field(default=0.0, ge=0)
    reserve_mem: float = Field(default=0.0, ge=0)
    attributes: dict[str, str] = Field(default_factory=dict)
    roles: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    """Resource roles this agent offers (Marathon's reservations): "*" is unreserved, usable by every app; an
    app is placed here only if its acceptedResourceRoles (default "*" and its role) names one of them."""
    hostname: str | None = None
    port_range: tuple[int, int] = (31000, 32000)
    probe_host: str | None = None
    """Address where this agent's published ports answer (health probes); default from the URL."""
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    token: str | None = None
    """pacer agents: the bearer token of that agent (or `token_file`)."""
    token_file: str | None = None
    tls_fingerprint: str | None = Field(default=None, pattern=r"^(sha256:)?([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$")
    """pacer agents: pin the agent's certificate by its SHA-256 fingerprint (instead of tls_ca)."""
    timeout: float = Field(default=10.0, gt=0)
    """pacer agents: seconds allowed for each call (launches and stops get more)."""
    insecure_tcp: bool = False
    """docker agents: accept a plain tcp:// URL to a non-loopback address (no TLS; a warning at start)."""
    sandbox_root: str | None = None
    """docker agents on this host (unix://): the directory under which each task gets its sandbox directory,
    mounted at /mnt/mesos/sandbox (default: `sandboxes/<agent name>` beside the state file). A daemon on another
    host keeps each task's sandbox in an anonymous docker volume instead, removed with the container: only the
    daemon can create, read and remove files on its host."""
    sandbox_grace: float = Field(default=3600.0, ge=0)
    """Seconds a task's sandbox directory is kept after its container is gone (for reading a crash's files)."""
    policy: ClusterPolicy | None = None
    """This agent's exceptions to the cluster's [policy] (only the keys given), e.g.
    `policy = { allow_privileged = true }`. A pacer agent enforces its own [agent.policy] as well."""

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not re.match(r"^(unix|tcp|ssh|sim|pacer\+https?|https?)://", url):
            raise ValueError("must start with unix://, tcp://, ssh://, sim:// or pacer+https://")
        return url

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[str]) -> list[str]:
        for role in roles:
            if not ROLE_RE.fullmatch(role):
                raise ValueError(f"each role must be '*' or a name of letters, digits and ._-/ "
                                 f"(not starting with '.', '-' or '/'), got {role!r}")
        return roles

    @field_validator("port_range")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        lo, hi = value
        if not (1 <= lo <= hi <= 65535):
            raise ValueError(f"must be [low, high] within 1-65535 with low <= high, got [{lo}, {hi}]")
        return value

    @model_validator(mode="after")
    def _plain_tcp(self) -> "AgentConfig":
        host = plain_tcp_host(self.url)
        if host is not None and not (self.tls_ca or self.tls_cert) and not self.insecure_tcp:
            raise field_error("AgentConfig", "url", self.url, (
                f"plain tcp:// to the Docker daemon at {host!r} is refused: without TLS anyone on the path can "
                "drive that daemon (root on its host); give tls_ca (and tls_cert, tls_key), use ssh://, or set "
                "insecure_tcp = true to accept it (tcp:// without TLS is allowed only on loopback addresses)"))
        return self

    @model_validator(mode="after")
    def _sandbox_on_this_host(self) -> "AgentConfig":
        if self.sandbox_root is not None and not self.url.startswith("unix://"):
            raise field_error("AgentConfig", "sandbox_root", self.sandbox_root, (
                "sandbox_root is for a docker daemon on this host (unix://); a daemon reached over the network "
                "keeps each task's sandbox in an anonymous docker volume, removed with the task's container"))
        return self

    @property
    def insecure(self) -> bool:
        """A docker agent reached over plain TCP off loopback (allowed by insecure_tcp)."""
        return plain_tcp_host(self.url) is not None and not (self.tls_ca or self.tls_cert)

    @model_validator(mode="after")
    def _pacer_agent(self) -> "AgentConfig":
        if self.url.startswith("pacer+"):
            if not (self.token or self.token_file):
                raise ValueError("a pacer agent needs token or token_file")
            host = re.sub(r"^pacer\+https?://", "", self.url).split("/")[0].rsplit(":", 1)[0].strip("[]")
            if self.url.startswith("pacer+http://") and not is_loopback(host):
                raise ValueError(f"plain HTTP to agent host {host!r} is refused: use pacer+https:// "
                                 "(pacer+http:// is allowed only on loopback addresses)")
        return self

    @property
    def kind(self) -> str:
        if self.url.startswith("sim://"):
            return "sim"
        return "pacer" if self.url.startswith("pacer+") else "docker"


class SchedulerConfig(_Strict):
    state: str = "pacer-state/state.db"
    apps_dir: str | None = None
    default_image: str | None = None
    cluster_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    reconcile_interval: float = Field(default=5.0, gt=0)
    orphan_grace_seconds: float = Field(default=30.0, ge=0)
    strategy: Literal["spread", "binpack"] = "spread"
    preemption: bool = False
    """Stop lower-priority tasks (label pacer.priority) when a higher-priority app cannot be placed."""
    preemption_keeps_min_health: bool = True
    """Preemption never takes an app below ceil(instances * minimumHealthCapacity) running tasks."""
    max_versions: int = Field(default=50, ge=2, le=10_000)
    """Versions kept per app (Marathon's --max_versions): the oldest go first; the current one and any a running
    task uses are always kept."""
    api: str | None = None
    api_token: Token = None
    """At least 16 characters (MIN_TOKEN_LENGTH)."""
    api_tls_cert: str | None = None
    api_tls_key: str | None = None


class PacerConfig(_Strict):
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    agents: list[AgentConfig] = Field(default_factory=list)
    agent: dict[str, Any] | None = None
    """The `[agent]` table of `pacer --serve` as an agent, validated by engine.agentd.config."""
    policy: ClusterPolicy | None = None
    """`[policy]`: what containers may do on this cluster's agents, and which images they may run
    (engine.policy). Without it, docker and sim agents use the defaults (hardened containers; no
    privileged mode, no host paths; host networking allowed) and pacer agents only their own policy."""
    source: str = "<defaults>"

    def policy_for(self, agent: AgentConfig) -> AgentPolicy | None:
        """The policy the engine applies to `agent`: [policy] with the agent's own keys over it.
        None for a pacer agent that neither names: its own [agent.policy] alone decides."""
        if agent.kind == "pacer" and self.policy is None and agent.policy is None:
            return None
        return merge_policies(self.policy or ClusterPolicy(), agent.policy)

    @model_validator(mode="after")
    def _default_sandboxes(self) -> "PacerConfig":
        """Local docker agents keep task sandboxes beside the state file unless they name a sandbox_root."""
        state = self.scheduler.state
        if state and state != ":memory:":
            base = Path(state).expanduser().parent / "sandboxes"
            agents = [a.model_copy(update={"sandbox_root": str(base / a.name)})
                      if a.sandbox_root is None and a.url.startswith("unix://") else a for a in self.agents]
            object.__setattr__(self, "agents", agents)
        return self

    @model_validator(mode="after")
    def _unique_agents(self) -> "PacerConfig":
        seen: set[str] = set()
        for agent in self.agents:
            if agent.name in seen:
                raise ValueError(f"agent name {agent.name!r} is used twice")
            seen.add(agent.name)
        return self


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The line that defines the field at `loc` (such as ('agents', 1, 'url')), best effort."""
    lines = text.splitlines()
    table: str | None = None
    index = -1
    want_table = str(loc[0]) if loc else None
    want_index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    rest = [str(p) for p in loc[2:]] if want_index is not None else [str(p) for p in loc[1:]]
    key = rest[0] if rest else None
    table_line: int | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", line)
        if header:
            table = header.group(1)
            if table == want_table:
                index += 1 if line.startswith("[[") else 0
                if want_index is None or index == want_index:
                    table_line = number
            continue
        if table == want_table and (want_index is None or index == want_index) and key:
            if re.match(rf"^{re.escape(key)}\s*=", line):
                return number
    return table_line


def read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """A TOML file's text and data; ConfigError naming the file (and line) when unreadable or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), None, "file", f"cannot read: {exc.strerror or exc}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError(str(path), int(match.group(1)) if match else None, "syntax", str(exc)) from None


def load_config(path: str | Path) -> PacerConfig:
    path = Path(path)
    text, data = read_toml(path)
    try:
        config = PacerConfig.model_validate({**data, "source": str(path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[") or "config"
        problems = [first["msg"]]
        for other in exc.errors()[1:]:
            other_field = ".".join(str(p) for p in other["loc"])
            problems.append(f"also {other_field} (line {_line_of(text, tuple(other['loc'])) or '?'}): {other['msg']}")
        raise ConfigError(str(path), _line_of(text, loc), field, "; ".join(problems)) from None
    config = _resolve_paths(config, path.parent)
    checks: list[tuple[tuple[Any, ...], AgentPolicy | None]] = [(("policy",), config.policy)]
    checks += [(("agents", i, "policy"), config.policy_for(a)) for i, a in enumerate(config.agents)]
    for loc, policy in checks:
        for name, problem in policy_problems(policy) if policy is not None else ():
            line = _line_of(text, (*loc, name)) or _line_of(text, loc)
            field = "policy" if loc == ("policy",) else f"agents[{loc[1]}].policy"
            raise ConfigError(str(path), line, f"{field}.{name}", problem)
    for agent in config.agents:
        if agent.insecure:
            log.warning("%s: agent %s: plain tcp:// to %s without TLS (insecure_tcp = true): anyone on the path "
                        "can drive that Docker daemon", path, agent.name, agent.url)
    return config


def _resolve_paths(config: PacerConfig, base: Path) -> PacerConfig:
    def resolve(value: str | None) -> str | None:
        if value is None or value == ":memory:":
            return value
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())

    scheduler = config.scheduler.model_copy(
        update={
            "state": resolve(config.scheduler.state),
            "apps_dir": resolve(config.scheduler.apps_dir),
            "api_tls_cert": resolve(config.scheduler.api_tls_cert),
            "api_tls_key": resolve(config.scheduler.api_tls_key),
        }
    )
    agents = [
        a.model_copy(update={"tls_ca": resolve(a.tls_ca), "tls_cert": resolve(a.tls_cert), "tls_key": resolve(a.tls_key),
                             "token_file": resolve(a.token_file), "sandbox_root": resolve(a.sandbox_root),
                             "policy": resolve_key_paths(a.policy, resolve), **a.with_resolved_paths(resolve)})
        for a in config.agents
    ]
    return config.model_copy(update={"scheduler": scheduler, "agents": agents,
                                     "policy": resolve_key_paths(config.policy, resolve)})


def default_config(*, state: str | None = None, demo: bool = False) -> PacerConfig:
    """No config file: the local Docker daemon, or a few sim agents with --demo."""
    if demo:
        agents = [
            AgentConfig(name=f"sim-{i}", url="sim://", cpus=4, mem=8192, attributes={"zone": f"z{i % 2}", "rack": f"r{i}"})
            for i in range(1, 4)
        ]
    else:
        agents = [AgentConfig(name="local", url=DEFAULT_DOCKER_URL, reserve_mem=256)]
    scheduler = SchedulerConfig(
        state=state or str(Path.home() / ".local/share/pacer/state.db"),
        default_image="busybox:latest",
    )
    return PacerConfig(scheduler=scheduler, agents=agents, source="<defaults>")

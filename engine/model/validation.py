"""Marathon app definitions: parse, validate, normalise, emit.

`parse_app` turns a request body (a JSON object, already decoded) into a
frozen, normalised `AppDefinition`, or raises `AppValidationError` naming
every problem with its JSON pointer. It runs in three passes:

1. pydantic checks types, required fields and unknown fields (refused, with a
   did-you-mean), using Marathon's camelCase names;
2. `_Checks` checks values and combinations on the raw body; it is tolerant
   of wrong types, so a type error and a range error elsewhere are reported
   together;
3. when both passed, `_normalize` builds Marathon 1.10's canonical form
   (deprecated `docker.network`, `docker.portMappings`, `ports`, `uris`,
   `ipAddress` translated; defaults filled in), and the checks that need the
   normalised ports run (health check `portIndex`, readiness `portName`).

`app_to_json` emits the canonical form with only the keys marathon-python
0.13 accepts, and `parse_app(app_to_json(a)) == a` holds for any `a` that
`parse_app` produced.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic.alias_generators import to_camel

from engine.autoscale import policy_errors
from engine.errors import AppValidationError, FieldError
from engine.model.ids import app_id_problems, group_of, normalize_app_id, resolve_app_id
from engine.policy import isolation_errors

__all__ = [
    "READ_ONLY_APP_FIELDS",
    "VERSION_ONLY_MESSAGE",
    "AppDefinition",
    "Artifact",
    "Container",
    "Docker",
    "DockerCredential",
    "DockerParameter",
    "ExecutorResources",
    "ExternalVolume",
    "HealthCheck",
    "HealthCommand",
    "IpAddress",
    "IpDiscovery",
    "IpDiscoveryPort",
    "Network",
    "PersistentVolume",
    "PortDefinition",
    "PortMapping",
    "PullConfig",
    "ReadinessCheck",
    "Residency",
    "ResourceLimits",
    "SecretDef",
    "UnreachableStrategy",
    "UpgradeStrategy",
    "Volume",
    "app_from_json",
    "app_to_json",
    "config_equal",
    "constraint_problem",
    "merge_app_json",
    "parse_app",
    "parse_app_version_only",
    "with_version",
]


# --------------------------------------------------------------------------- #
# Models
# --------------------------------------------------------------------------- #


def _whole_number(v: Any) -> Any:
    # Marathon (Play JSON) reads 2.0 as the integer 2; 1.5 stays a float and fails.
    if type(v) is float and v.is_integer():
        return int(v)
    return v


Int = Annotated[int, BeforeValidator(_whole_number)]
Protocol = Literal["tcp", "udp", "udp,tcp"]
NetworkModeName = Literal["host", "container/bridge", "container"]
NetworkMode = Literal["bridge", "host", "none", "container"]


_JSON_INPUT: dict[str, bool] = {"json": True}  # validation context of parse_app


class _Model(BaseModel):
    """Marathon JSON object: camelCase aliases, strict JSON types, unknown keys refused."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any, info: ValidationInfo) -> Any:
        # Clients send `"field": null` for unset optional fields; Marathon reads it as absent.
        # Only for JSON input: in Python, AppDefinition(unreachable_strategy=None) means "disabled".
        if info.context is _JSON_INPUT and type(data) is dict and None in data.values():
            return {k: v for k, v in data.items() if v is not None}
        return data


class PortMapping(_Model):
    """`container.portMappings[]`. `container_port` 0 means "same as the host port"."""

    container_port: Int = 0
    host_port: Int | None = None  # bridge: 0 = pick one; container networks: None = no host port
    service_port: Int = 0
    protocol: Protocol = "tcp"
    name: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    network_names: list[str] = Field(default_factory=list)


class PortDefinition(_Model):
    """`portDefinitions[]` (host networking). `port` 0 = assign one."""

    port: Int = 0
    protocol: Protocol = "tcp"
    name: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class DockerParameter(_Model):
    key: str
    value: str


class PullConfig(_Model):
    secret: str


class DockerCredential(_Model):
    principal: str
    secret: str | None = None


class Docker(_Model):
    """`container.docker`. Extra keys are accepted and dropped (marathon-python accepts extras here)."""

    model_config = ConfigDict(extra="ignore")

    image: str
    network: Literal["BRIDGE", "HOST", "USER", "NONE"] | None = None  # deprecated; canonical keeps only NONE
    port_mappings: list[PortMapping] | None = None  # deprecated; moved to container.portMappings
    privileged: bool = False
    parameters: list[DockerParameter] = Field(default_factory=list)
    force_pull_image: bool = False
    pull_config: PullConfig | None = None
    credential: DockerCredential | None = None  # accepted by the schema, refused by validation


class PersistentVolume(_Model):
    size: Int
    type: Literal["root", "path", "mount"] = "root"
    max_size: Int | None = None
    constraints: list[list[str]] = Field(default_factory=list)


class ExternalVolume(_Model):
    name: str | None = None
    provider: str | None = None
    size: Int | None = None
    options: dict[str, str] = Field(default_factory=dict)


class Volume(_Model):
    """Host (`hostPath`), persistent, external or secret volume."""

    container_path: str
    host_path: str | None = None
    mode: Literal["RO", "RW"] = "RW"
    persistent: PersistentVolume | None = None
    external: ExternalVolume | None = None
    secret: str | None = None


class Container(_Model):
    type: Literal["DOCKER", "MESOS"] = "DOCKER"
    docker: Docker | None = None
    port_mappings: list[PortMapping] | None = None
    volumes: list[Volume] = Field(default_factory=list)
    linux_info: dict[str, Any] | None = None


class Network(_Model):
    mode: NetworkModeName = "container"
    name: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class IpDiscoveryPort(_Model):
    number: Int
    name: str
    protocol: Literal["tcp", "udp"] = "tcp"
    labels: dict[str, str] = Field(default_factory=dict)


class IpDiscovery(_Model):
    ports: list[IpDiscoveryPort] = Field(default_factory=list)


class IpAddress(_Model):
    """Deprecated `ipAddress` (IP per container); translated to `networks`."""

    groups: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    discovery: IpDiscovery | None = None
    network_name: str | None = None


class HealthCommand(_Model):
    value: str


HealthProtocol = Literal["HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"]


class HealthCheck(_Model):
    """`healthChecks[]`. Extra keys are accepted and dropped (marathon-python accepts extras here)."""

    model_config = ConfigDict(extra="ignore")

    protocol: HealthProtocol = "HTTP"
    path: str = "/"
    port_index: Int | None = None  # normalised to 0 when neither port nor portIndex is given
    port: Int | None = None
    command: HealthCommand | None = None
    grace_period_seconds: Int = 300
    interval_seconds: Int = 60
    timeout_seconds: Int = 20
    max_consecutive_failures: Int = 3  # 0 = never kill
    ignore_http1xx: bool = Field(default=False, alias="ignoreHttp1xx")
    delay_seconds: Int = 15
    ip_protocol: Literal["IPv4", "IPv6"] = "IPv4"


class ReadinessCheck(_Model):
    name: str = "readinessCheck"
    protocol: Literal["HTTP", "HTTPS"] = "HTTP"
    path: str = "/"
    port_name: str = "http-api"
    interval_seconds: Int = 30
    timeout_seconds: Int = 10
    http_status_codes_for_ready: list[Int] = Field(default_factory=lambda: [200])
    preserve_last_response: bool = False


class UpgradeStrategy(_Model):
    minimum_health_capacity: float = 1.0
    maximum_over_capacity: float = 1.0


class UnreachableStrategy(_Model):
    # Marathon's code default is {0, 0} (1.4-1.11); pacer uses the values of
    # Marathon's docs page, 300 s / 600 s, so a briefly unreachable agent does
    # not cause an immediate replacement.
    inactive_after_seconds: Int = 300
    expunge_after_seconds: Int = 600


class Artifact(_Model):
    """`fetch[]`."""

    uri: str
    extract: bool = True
    executable: bool = False
    cache: bool = False
    dest_path: str | None = None


class SecretDef(_Model):
    source: str


class Residency(_Model):
    relaunch_escalation_timeout_seconds: Int = 3600
    task_lost_behavior: Literal["WAIT_FOREVER", "RELAUNCH_AFTER_TIMEOUT"] = "WAIT_FOREVER"


class ExecutorResources(_Model):
    cpus: float = 0.1
    mem: float = 32.0
    disk: float = 10.0


class ResourceLimits(_Model):
    """Each limit is a number >= the request, or the string "unlimited"."""

    cpus: Any = None
    mem: Any = None


def _host_networks() -> list[Network]:
    return [Network(mode="host")]


class AppDefinition(_Model):
    """A Marathon app (reference §3): camelCase aliases, snake_case attributes.

    Instances built by `parse_app` are normalised: `networks` is the canonical
    list, legacy fields (`ports`, `uris`, `ip_address`, `docker.network` except
    NONE, `docker.port_mappings`) are None, defaults are filled in.
    """

    id: str
    cmd: str | None = None
    args: list[str] = Field(default_factory=list)
    cpus: float = 1.0
    mem: float = 128.0
    disk: float = 0.0
    gpus: Int = 0
    instances: Int = 1
    executor: str = ""
    container: Container | None = None
    networks: list[Network] = Field(default_factory=_host_networks)
    port_definitions: list[PortDefinition] = Field(default_factory=list)
    ports: list[Int] | None = None  # deprecated input -> portDefinitions
    uris: list[str] | None = None  # deprecated input -> fetch
    ip_address: IpAddress | None = None  # deprecated input -> networks
    require_ports: bool = False
    env: dict[str, Any] = Field(default_factory=dict)  # value: str or {"secret": name}
    labels: dict[str, str] = Field(default_factory=dict)
    constraints: list[list[str]] = Field(default_factory=list)
    accepted_resource_roles: list[str] | None = None
    role: str | None = None
    fetch: list[Artifact] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)
    health_checks: list[HealthCheck] = Field(default_factory=list)
    readiness_checks: list[ReadinessCheck] = Field(default_factory=list)
    upgrade_strategy: UpgradeStrategy = Field(default_factory=UpgradeStrategy)
    backoff_seconds: Int = 1
    backoff_factor: float = 1.15
    max_launch_delay_seconds: Int = 300
    kill_selection: Literal["YOUNGEST_FIRST", "OLDEST_FIRST"] = "YOUNGEST_FIRST"
    unreachable_strategy: UnreachableStrategy | None = Field(default_factory=UnreachableStrategy)  # None = "disabled"
    task_kill_grace_period_seconds: Int | None = None
    user: str | None = None
    secrets: dict[str, SecretDef] = Field(default_factory=dict)
    residency: Residency | None = None
    check: dict[str, Any] | None = None
    tty: bool | None = None
    executor_resources: ExecutorResources | None = None
    resource_limits: ResourceLimits | None = None
    store_urls: list[str] = Field(default_factory=list)
    task_rate_limit: float | None = None
    version: str | None = None
    version_info: dict[str, str] | None = None

    @property
    def image(self) -> str | None:
        c = self.container
        return c.docker.image if c is not None and c.docker is not None else None

    @property
    def network_mode(self) -> NetworkMode:
        c = self.container
        legacy = c.docker.network if c is not None and c.docker is not None else None
        if legacy is not None:  # normalised apps keep only NONE here
            return _LEGACY_MODE[legacy]
        return _mode_of(self.networks)

    @property
    def port_mappings(self) -> list[PortMapping]:
        c = self.container
        if c is None:
            return []
        if c.port_mappings is not None:
            return c.port_mappings
        if c.docker is not None and c.docker.port_mappings is not None:
            return c.docker.port_mappings
        return []

    @property
    def is_command_app(self) -> bool:
        """True when the app has no docker image: its cmd runs in the cluster's default image."""
        return self.image is None


_LEGACY_MODE: dict[str, NetworkMode] = {"BRIDGE": "bridge", "HOST": "host", "USER": "container", "NONE": "none"}
_LEGACY_TO_NETWORK = {"BRIDGE": "container/bridge", "HOST": "host", "USER": "container"}


def _mode_of(networks: list[Network]) -> NetworkMode:
    if not networks:
        return "host"
    modes = {n.mode for n in networks}
    if "container/bridge" in modes:
        return "bridge"
    if "container" in modes:
        return "container"
    return "host"


READ_ONLY_APP_FIELDS = frozenset(
    {
        "tasks",
        "tasksStaged",
        "tasksRunning",
        "tasksHealthy",
        "tasksUnhealthy",
        "deployments",
        "lastTaskFailure",
        "taskStats",
        "tasksStats",
        "readinessCheckResults",
        "versionInfo",
    }
)

VERSION_ONLY_MESSAGE = "The 'version' field may only be combined with the 'id' field."

NO_DEFAULT_IMAGE_MESSAGE = (
    "an app without a container runs in the cluster's default image, but [scheduler] default_image is not set"
)

# --------------------------------------------------------------------------- #
# pydantic errors -> FieldError
# --------------------------------------------------------------------------- #


def _inner_model(tp: Any) -> tuple[type[_Model], int] | None:
    """The model reachable through `tp` and how many loc steps (list index, dict key) lead to it."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _inner_model(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            found = _inner_model(arg)
            if found is not None:
                return found
        return None
    if origin is list:
        found = _inner_model(typing.get_args(tp)[0])
        return (found[0], found[1] + 1) if found else None
    if origin is dict:
        found = _inner_model(typing.get_args(tp)[1])
        return (found[0], found[1] + 1) if found else None
    if isinstance(tp, type) and issubclass(tp, _Model):
        return tp, 0
    return None


def _children(cls: type[_Model]) -> dict[str, tuple[type[_Model], int]]:
    out: dict[str, tuple[type[_Model], int]] = {}
    for name, info in cls.model_fields.items():
        found = _inner_model(info.annotation)
        if found is not None:
            out[info.alias or name] = found
    return out


_MODELS: tuple[type[_Model], ...] = (
    PortMapping,
    PortDefinition,
    DockerParameter,
    PullConfig,
    DockerCredential,
    Docker,
    PersistentVolume,
    ExternalVolume,
    Volume,
    Container,
    Network,
    IpDiscoveryPort,
    IpDiscovery,
    IpAddress,
    HealthCommand,
    HealthCheck,
    ReadinessCheck,
    UpgradeStrategy,
    UnreachableStrategy,
    Artifact,
    SecretDef,
    Residency,
    ExecutorResources,
    ResourceLimits,
    AppDefinition,
)
_CHILDREN = {cls: _children(cls) for cls in _MODELS}
_ALIASES = {cls: tuple(info.alias or name for name, info in cls.model_fields.items()) for cls in _MODELS}


def _model_at(loc: tuple[Any, ...]) -> type[_Model] | None:
    cls: type[_Model] = AppDefinition
    i = 0
    while i < len(loc):
        entry = _CHILDREN[cls].get(loc[i]) if isinstance(loc[i], str) else None
        if entry is None:
            return None
        cls, skip = entry
        i += 1 + skip
    return cls


def _escape(part: Any) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    return "/" + "/".join(_escape(p) for p in loc) if loc else "/"


def _num_text(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    if v is True or v is False:
        return f"boolean {'true' if v else 'false'}"
    if isinstance(v, int):
        return f"integer {v}"
    if isinstance(v, float):
        return f"number {v!r}"
    if isinstance(v, str):
        return f"string {(v if len(v) <= 40 else v[:37] + '...')!r}"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _suggest(key: str, loc: tuple[Any, ...]) -> str:
    cls = _model_at(loc)
    if cls is None:
        return ""
    known = _ALIASES[cls]
    camel = to_camel(key)
    if camel != key and camel in known:
        return f" (did you mean '{camel}'?)"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _translate(exc: ValidationError) -> list[FieldError]:
    out: list[FieldError] = []
    for err in exc.errors(include_url=False, include_context=True):
        loc = tuple(err["loc"])
        kind = err["type"]
        value = err.get("input")
        path = _pointer(loc)
        if kind == "missing":
            msg = "is required"
        elif kind == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            msg = "unknown field" + _suggest(key, loc[:-1])
        elif kind == "finite_number":
            msg = f"must be a finite number, got {_describe(value)}"
        elif kind == "literal_error":
            expected = (err.get("ctx") or {}).get("expected", "")
            msg = f"must be one of {expected}, got {_describe(value)}"
        elif kind in _TYPE_WORDS:
            if path == "/unreachableStrategy":
                msg = f'must be an object or "disabled", got {_describe(value)}'
            else:
                msg = f"must be {_TYPE_WORDS[kind]}, got {_describe(value)}"
        else:
            msg = str(err.get("msg", kind))
        out.append(FieldError(path, msg))
    return out


# --------------------------------------------------------------------------- #
# Value checks on the raw body (type tolerant)
# --------------------------------------------------------------------------- #

_PORT_NAME_RE = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_EXECUTOR_RE = re.compile(r"//cmd|/?[^/]+(?:/[^/]+)*|")
_JAVA_INT_RE = re.compile(r"[+-]?\d+")
_IS_VALUE_RE = re.compile(r"[a-zA-Z0-9_/.-]*")
_CONSTRAINT_OPERATORS = frozenset({"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"})
_OPERATOR_MESSAGE = "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"
_HEALTH_PORT_MESSAGE = (
    "Health check port indices must address an element of the ports array or container port mappings."
)
_MESOS_BRIDGE_NAME = "mesos-bridge"


def _is_num(v: Any) -> bool:
    return (type(v) is int or type(v) is float) and not math.isnan(v)


def _is_int(v: Any) -> bool:
    return type(v) is int or (type(v) is float and v.is_integer())


def _obj(v: Any) -> dict[str, Any] | None:
    return v if type(v) is dict else None


def _lst(v: Any) -> list[Any]:
    return v if type(v) is list else []


def _nonempty_list(v: Any) -> bool:
    return type(v) is list and len(v) > 0


def _get(obj: dict[str, Any] | None, key: str) -> Any:
    return None if obj is None else obj.get(key)


def _java_int(text: str) -> bool:
    return bool(_JAVA_INT_RE.fullmatch(text)) and -(2**31) <= int(text) < 2**31


def constraint_problem(constraint: list[str]) -> str | None:
    """Marathon's message for a bad constraint (reference §3.3), or None when it is valid."""
    if len(constraint) not in (2, 3):
        return "Each constraint must have either 2 or 3 fields"
    field, op = constraint[0], constraint[1].upper()
    value = constraint[2] if len(constraint) == 3 else None
    if not field:
        return "missing field for constraint declaration"
    if op not in _CONSTRAINT_OPERATORS:
        return _OPERATOR_MESSAGE
    if op == "UNIQUE":
        return "UNIQUE does not accept a value" if value is not None else None
    if op == "CLUSTER":
        return None
    if op == "GROUP_BY":
        if value is not None and not _java_int(value):
            return "GROUP BY must define an integer value or else no value at all"
        return None
    if op == "MAX_PER":
        return None if value is not None and _java_int(value) else "MAX_PER requires an integer value"
    if op in ("LIKE", "UNLIKE"):
        if not value:
            return "LIKE and UNLIKE require a non-empty, regular expression value"
        try:
            re.compile(value)
        except re.error:
            return f"'{value}' is not a valid regular expression"
        return None
    # IS
    if value is None:
        return "IS requires a value"
    if not _IS_VALUE_RE.fullmatch(value):
        return (
            "IS only supports Mesos text and float values "
            "(see http://mesos.apache.org/documentation/latest/attributes-resources/)"
        )
    return None


class _Checks:
    """Value and combination rules on the raw (null-stripped) body."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors

    def add(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    # small helpers ------------------------------------------------------- #

    def at_least(self, obj: dict[str, Any] | None, key: str, path: str, low: float) -> None:
        v = _get(obj, key)
        if _is_num(v) and v < low:
            self.add(path, f"must be >= {_num_text(low)}, got {_num_text(v)}")

    def between(self, obj: dict[str, Any] | None, key: str, path: str, low: float, high: float) -> None:
        v = _get(obj, key)
        if _is_num(v) and not low <= v <= high:
            self.add(path, f"must be between {_num_text(low)} and {_num_text(high)}, got {_num_text(v)}")

    def port(self, obj: dict[str, Any] | None, key: str, path: str) -> None:
        self.between(obj, key, path, 0, 65535)

    def app_id(self, value: Any, path: str) -> None:
        if isinstance(value, str):
            for problem in app_id_problems(normalize_app_id(value)):
                self.add(path, problem)

    # the rules ----------------------------------------------------------- #

    def run(self, d: dict[str, Any], *, default_image: str | None, check_image: bool) -> None:
        self.app_id(d.get("id"), "/id")
        self.command(d, default_image=default_image, check_image=check_image)
        self.resources(d)
        self.networking(d)
        self.ports_and_fetch(d)
        self.env_and_secrets(d)
        self.constraints(d)
        self.strategies(d)
        self.health_checks(d)
        self.readiness_checks(d)
        own = d.get("id")
        group = group_of(own) if isinstance(own, str) else "/"
        for i, dep in enumerate(_lst(d.get("dependencies"))):
            if isinstance(dep, str):
                resolved = resolve_app_id(dep, group)
                if resolved is None:
                    self.add(f"/dependencies/{i}", f"'{dep}' climbs above the root group from {group}")
                else:
                    self.app_id(resolved, f"/dependencies/{i}")
        roles = d.get("acceptedResourceRoles")
        if type(roles) is list and not roles:
            self.add("/acceptedResourceRoles", "must not be empty when given")
        executor = d.get("executor")
        if isinstance(executor, str) and not _EXECUTOR_RE.fullmatch(executor):
            self.add("/executor", f"must be '//cmd', a path or empty, got {_describe(executor)}")

    def command(self, d: dict[str, Any], *, default_image: str | None, check_image: bool) -> None:
        cmd, args, container = d.get("cmd"), d.get("args"), d.get("container")
        if cmd == "":
            self.add("/cmd", "must not be an empty string")
        has_cmd = cmd is not None
        has_args = _nonempty_list(args)
        if has_cmd and has_args:
            self.add("/", "cmd and args are mutually exclusive: give one of them, not both")
        elif not has_cmd and not has_args and container is None:
            self.add("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")
        if check_image and default_image is None:
            c = _obj(container)
            if container is None and (has_cmd or has_args):
                self.add("/container", NO_DEFAULT_IMAGE_MESSAGE)
            elif c is not None and c.get("type") == "MESOS" and c.get("docker") is None:
                self.add(
                    "/container/docker",
                    "a MESOS container without docker.image runs in the cluster's default image, "
                    "but [scheduler] default_image is not set",
                )

    def resources(self, d: dict[str, Any]) -> None:
        for key in ("cpus", "mem", "disk", "instances", "gpus", "backoffSeconds", "maxLaunchDelaySeconds"):
            self.at_least(d, key, f"/{key}", 0)
        self.at_least(d, "taskKillGracePeriodSeconds", "/taskKillGracePeriodSeconds", 0)
        self.at_least(d, "taskRateLimit", "/taskRateLimit", 0)
        self.at_least(d, "backoffFactor", "/backoffFactor", 1)
        gpus = d.get("gpus")
        if _is_num(gpus) and gpus > 0:
            self.add("/gpus", f"GPUs are not supported by pacer: must be 0, got {_num_text(gpus)}")
        ex = _obj(d.get("executorResources"))
        for key in ("cpus", "mem", "disk"):
            self.at_least(ex, key, f"/executorResources/{key}", 0)
        limits = _obj(d.get("resourceLimits"))
        if limits is not None:
            for key, default in (("cpus", 1.0), ("mem", 128.0)):
                v = limits.get(key)
                if v is None or v == "unlimited":
                    continue
                request = d.get(key, default)
                if not _is_num(v):
                    self.add(f"/resourceLimits/{key}", f'must be a number or "unlimited", got {_describe(v)}')
                elif _is_num(request) and v < request:
                    self.add(
                        f"/resourceLimits/{key}",
                        f'must be >= {key} ({_num_text(request)}) or "unlimited", got {_num_text(v)}',
                    )

    def port_mappings(self, mappings: Any, base: str) -> None:
        seen: set[str] = set()
        for i, pm in enumerate(_lst(mappings)):
            pm = _obj(pm)
            if pm is None:
                continue
            for key in ("containerPort", "hostPort", "servicePort"):
                self.port(pm, key, f"{base}/{i}/{key}")
            self.port_name(pm.get("name"), f"{base}/{i}/name", seen, "port mapping")

    def port_name(self, name: Any, path: str, seen: set[str], what: str) -> None:
        if not isinstance(name, str):
            return
        if not _PORT_NAME_RE.fullmatch(name):
            self.add(path, f"must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$, got {_describe(name)}")
        elif name in seen:
            self.add(path, f"duplicate {what} name '{name}'")
        seen.add(name)

    def networking(self, d: dict[str, Any]) -> None:
        c = _obj(d.get("container"))
        ctype = _get(c, "type") or "DOCKER"
        dk = _obj(_get(c, "docker"))
        legacy = _get(dk, "network")
        networks = d.get("networks")
        ip = d.get("ipAddress")
        has_networks = _nonempty_list(networks)
        if c is not None:
            if ctype == "DOCKER" and c.get("docker") is None:
                self.add("/container/docker", "is required for container type DOCKER")
            if dk is not None:
                image = dk.get("image")
                if isinstance(image, str) and not image.strip():
                    self.add("/container/docker/image", "must not be empty")
                if dk.get("credential") is not None:
                    self.add(
                        "/container/docker/credential",
                        "is not supported: agents pull images with their own registry credentials",
                    )
                pull = dk.get("pullConfig")
                if pull is not None and ctype == "DOCKER":
                    self.add("/container/docker/pullConfig", "is only supported with container type MESOS")
                secret = _get(_obj(pull), "secret")
                if isinstance(secret, str) and secret not in (_obj(d.get("secrets")) or {}):
                    self.add("/container/docker/pullConfig/secret", f"references an undefined secret '{secret}'")
            if c.get("linuxInfo") is not None and ctype == "DOCKER":
                self.add("/container/linuxInfo", "is only supported with container type MESOS")
            pms, dpms = c.get("portMappings"), _get(dk, "portMappings")
            if _nonempty_list(pms) and _nonempty_list(dpms):
                self.add("/container/docker/portMappings", "cannot specify both portMappings and docker.portMappings")
            self.port_mappings(pms, "/container/portMappings")
            self.port_mappings(dpms, "/container/docker/portMappings")
            self.volumes(c.get("volumes"))
            if legacy is not None and has_networks:
                self.add(
                    "/container/docker/network",
                    "cannot mix deprecated and canonical network APIs: use networks, not docker.network",
                )
            if legacy == "NONE":
                for path, value in (("/container/portMappings", pms), ("/container/docker/portMappings", dpms)):
                    if _nonempty_list(value):
                        self.add(path, "port mappings are not allowed with docker network NONE")
                for key in ("portDefinitions", "ports"):
                    if _nonempty_list(d.get(key)):
                        self.add(f"/{key}", "ports are not allowed with docker network NONE")
                if ip is not None:
                    self.add("/ipAddress", "unsupported docker network type NONE with ipAddress")
        if has_networks:
            modes = [n.get("mode") or "container" for n in networks if type(n) is dict]
            if len(networks) > 1 and ("host" in modes or "container/bridge" in modes):
                self.add("/networks", "host and container/bridge networking cannot be combined with other networks")
            if ctype == "DOCKER" and modes.count("container") > 1:
                self.add("/networks", "a DOCKER container can join at most one container network")
            if ip is not None:
                self.add("/ipAddress", "cannot mix deprecated and canonical network APIs: use networks, not ipAddress")
        ipo = _obj(ip)
        discovery_ports = _get(_obj(_get(ipo, "discovery")), "ports")
        if _nonempty_list(discovery_ports):
            if c is not None and ctype == "DOCKER":
                self.add(
                    "/ipAddress/discovery/ports", "ipAddress.discovery.ports do not apply for container type DOCKER"
                )
            elif _nonempty_list(_get(c, "portMappings")):
                self.add(
                    "/ipAddress/discovery/ports",
                    "container.portMappings and ipAddress.discovery.ports must not both be set",
                )
            for i, p in enumerate(discovery_ports):
                self.between(_obj(p), "number", f"/ipAddress/discovery/ports/{i}/number", 0, 65535)

    def volumes(self, volumes: Any) -> None:
        for i, vol in enumerate(_lst(volumes)):
            vol = _obj(vol)
            if vol is None:
                continue
            base = f"/container/volumes/{i}"
            kinds = [k for k in ("hostPath", "persistent", "external", "secret") if vol.get(k) is not None]
            if len(kinds) != 1:
                self.add(base, "a volume needs exactly one of hostPath, persistent, external or secret")
            cpath = vol.get("containerPath")
            if cpath == "":
                self.add(f"{base}/containerPath", "must not be empty")
            if vol.get("hostPath") == "":
                self.add(f"{base}/hostPath", "must not be empty")
            persistent = _obj(vol.get("persistent"))
            if persistent is not None:
                size = persistent.get("size")
                if _is_num(size) and size <= 0:
                    self.add(f"{base}/persistent/size", f"must be > 0, got {_num_text(size)}")
                if isinstance(cpath, str) and "/" in cpath:
                    self.add(f"{base}/containerPath", "a persistent volume's containerPath must not contain '/'")
                if vol.get("mode") not in (None, "RW"):
                    self.add(f"{base}/mode", "must be RW for a persistent volume")

    def ports_and_fetch(self, d: dict[str, Any]) -> None:
        if _nonempty_list(d.get("ports")) and _nonempty_list(d.get("portDefinitions")):
            self.add("/ports", "cannot specify both ports and portDefinitions")
        if _nonempty_list(d.get("uris")) and _nonempty_list(d.get("fetch")):
            self.add("/uris", "cannot specify both uris and fetch fields")
        for i, p in enumerate(_lst(d.get("ports"))):
            if _is_num(p) and not 0 <= p <= 65535:
                self.add(f"/ports/{i}", f"must be between 0 and 65535, got {_num_text(p)}")
        names: set[str] = set()
        ports: set[int] = set()
        for i, pd in enumerate(_lst(d.get("portDefinitions"))):
            pd = _obj(pd)
            if pd is None:
                continue
            self.port(pd, "port", f"/portDefinitions/{i}/port")
            port = pd.get("port")
            if _is_int(port) and port:
                if port in ports:
                    self.add(f"/portDefinitions/{i}/port", f"duplicate port {_num_text(port)}")
                ports.add(port)
            self.port_name(pd.get("name"), f"/portDefinitions/{i}/name", names, "port definition")
        for i, art in enumerate(_lst(d.get("fetch"))):
            if _get(_obj(art), "uri") == "":
                self.add(f"/fetch/{i}/uri", "must not be empty")
        for key in ("uris", "storeUrls"):
            for i, uri in enumerate(_lst(d.get(key))):
                if uri == "":
                    self.add(f"/{key}/{i}", "must not be empty")

    def env_and_secrets(self, d: dict[str, Any]) -> None:
        env = _obj(d.get("env"))
        secrets = _obj(d.get("secrets")) or {}
        if env is None:
            return
        for key, value in env.items():
            if isinstance(value, str):
                continue
            path = f"/env/{_escape(key)}"
            ref = _obj(value)
            if ref is not None and set(ref) == {"secret"} and isinstance(ref["secret"], str):
                if ref["secret"] not in secrets:
                    self.add(path, f"references an undefined secret '{ref['secret']}'")
                continue
            self.add(path, f'must be a string or {{"secret": "<name>"}}, got {_describe(value)}')

    def constraints(self, d: dict[str, Any]) -> None:
        for i, c in enumerate(_lst(d.get("constraints"))):
            if type(c) is not list or not all(isinstance(x, str) for x in c):
                continue  # pydantic reports the types
            problem = constraint_problem(c)
            if problem is not None:
                self.add(f"/constraints/{i}", problem)

    def strategies(self, d: dict[str, Any]) -> None:
        up = _obj(d.get("upgradeStrategy"))
        for key in ("minimumHealthCapacity", "maximumOverCapacity"):
            self.between(up, key, f"/upgradeStrategy/{key}", 0, 1)
        un = _obj(d.get("unreachableStrategy"))
        if un is not None:
            self.at_least(un, "inactiveAfterSeconds", "/unreachableStrategy/inactiveAfterSeconds", 0)
            self.at_least(un, "expungeAfterSeconds", "/unreachableStrategy/expungeAfterSeconds", 0)
            inactive = un.get("inactiveAfterSeconds", 300)
            expunge = un.get("expungeAfterSeconds", 600)
            if _is_num(inactive) and _is_num(expunge) and inactive > expunge:
                self.add(
                    "/unreachableStrategy/inactiveAfterSeconds",
                    f"must be <= expungeAfterSeconds ({_num_text(expunge)}), got {_num_text(inactive)}",
                )
        res = _obj(d.get("residency"))
        if res is not None and not _is_resident(d):
            self.add("/residency", "is only allowed for resident apps (with persistent volumes)")
        self.at_least(res, "relaunchEscalationTimeoutSeconds", "/residency/relaunchEscalationTimeoutSeconds", 0)
        labels = _obj(d.get("labels")) or {}
        if labels.get("MARATHON_SINGLE_INSTANCE_APP") == "true":
            instances = d.get("instances")
            if _is_num(instances) and instances > 1:
                self.add("/instances", "Single instance app may only have one instance")
            for key in ("minimumHealthCapacity", "maximumOverCapacity"):
                v = _get(up, key)
                if _is_num(v) and v != 0:
                    self.add(
                        f"/upgradeStrategy/{key}",
                        f"must be 0 for a single instance app (label MARATHON_SINGLE_INSTANCE_APP), got {_num_text(v)}",
                    )
        if _is_resident(d):
            v = _get(up, "maximumOverCapacity")
            if _is_num(v) and v != 0:
                self.add(
                    "/upgradeStrategy/maximumOverCapacity",
                    f"must be 0 for a resident app (persistent volumes), got {_num_text(v)}",
                )

    def health_checks(self, d: dict[str, Any]) -> None:
        c = _obj(d.get("container"))
        is_docker = c is not None and (c.get("type") or "DOCKER") == "DOCKER"
        mesos = 0
        for i, hc in enumerate(_lst(d.get("healthChecks"))):
            hc = _obj(hc)
            if hc is None:
                continue
            base = f"/healthChecks/{i}"
            protocol = hc.get("protocol") or "HTTP"
            if protocol == "COMMAND":
                command = hc.get("command")
                if command is None:
                    self.add(f"{base}/command", "is required for protocol COMMAND")
                elif _get(_obj(command), "value") == "":
                    self.add(f"{base}/command/value", "must not be empty")
            if hc.get("port") is not None and hc.get("portIndex") is not None:
                self.add(base, "give either port or portIndex, not both")
            self.port(hc, "port", f"{base}/port")
            self.at_least(hc, "portIndex", f"{base}/portIndex", 0)
            for key, low in (
                ("gracePeriodSeconds", 0),
                ("intervalSeconds", 1),
                ("timeoutSeconds", 1),
                ("maxConsecutiveFailures", 0),
                ("delaySeconds", 0),
            ):
                self.at_least(hc, key, f"{base}/{key}", low)
            if isinstance(protocol, str) and protocol.startswith("MESOS_"):
                mesos += 1
            if hc.get("ipProtocol") == "IPv6" and not (is_docker and str(protocol).startswith("MESOS_")):
                self.add(
                    f"{base}/ipProtocol", "IPv6 is only supported with DOCKER containers and MESOS_* health checks"
                )
        if mesos > 1:
            self.add("/healthChecks", "AppDefinition can contain at most one Mesos health check")

    def readiness_checks(self, d: dict[str, Any]) -> None:
        checks = _lst(d.get("readinessChecks"))
        if len(checks) > 1:
            self.add("/readinessChecks", "an app can have at most one readiness check")
        for i, rc in enumerate(checks):
            rc = _obj(rc)
            if rc is None:
                continue
            base = f"/readinessChecks/{i}"
            self.at_least(rc, "intervalSeconds", f"{base}/intervalSeconds", 1)
            self.at_least(rc, "timeoutSeconds", f"{base}/timeoutSeconds", 1)
            interval, timeout = rc.get("intervalSeconds", 30), rc.get("timeoutSeconds", 10)
            if _is_num(interval) and _is_num(timeout) and timeout >= interval:
                self.add(
                    f"{base}/timeoutSeconds",
                    f"must be less than intervalSeconds ({_num_text(interval)}), got {_num_text(timeout)}",
                )
            for j, code in enumerate(_lst(rc.get("httpStatusCodesForReady"))):
                if _is_num(code) and not 100 <= code <= 599:
                    self.add(
                        f"{base}/httpStatusCodesForReady/{j}",
                        f"must be an HTTP status (100-599), got {_num_text(code)}",
                    )


def _is_resident(d: dict[str, Any]) -> bool:
    c = _obj(d.get("container"))
    return any(_get(_obj(v), "persistent") is not None for v in _lst(_get(c, "volumes")))


def _cross_checks(app: AppDefinition, errors: list[FieldError]) -> None:
    """Rules that need the normalised ports."""
    host = app.network_mode == "host"
    n_ports = len(app.port_definitions) if host else len(app.port_mappings)
    for i, hc in enumerate(app.health_checks):
        if hc.protocol == "COMMAND":
            continue
        if hc.port is None and hc.port_index is None:
            errors.append(
                FieldError(
                    f"/healthChecks/{i}",
                    f"a health check with protocol {hc.protocol} needs a port or portIndex, but the app has no ports",
                )
            )
        elif hc.port_index is not None and not 0 <= hc.port_index < n_ports:
            errors.append(FieldError(f"/healthChecks/{i}/portIndex", _HEALTH_PORT_MESSAGE))
    if app.readiness_checks:
        names = [p.name for p in (app.port_definitions if host else app.port_mappings) if p.name]
        for i, rc in enumerate(app.readiness_checks):
            if rc.port_name not in names:
                known = ", ".join(f"'{n}'" for n in names) or "none"
                errors.append(
                    FieldError(
                        f"/readinessChecks/{i}/portName", f"no port named '{rc.port_name}' (named ports: {known})"
                    )
                )


# --------------------------------------------------------------------------- #
# Normalisation to Marathon 1.10's canonical form
# --------------------------------------------------------------------------- #

_EXTRACT_SUFFIXES = (".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip")
_DEFAULT_PORT_DEFINITIONS = (PortDefinition(port=0, protocol="tcp", name="default"),)


def _normalize(m: AppDefinition, d: dict[str, Any], *, disabled: bool) -> AppDefinition:
    container = m.container
    docker = container.docker if container is not None else None
    legacy = docker.network if docker is not None else None
    ip = m.ip_address

    # networks (NetworkTranslation): deprecated ipAddress / docker.network -> networks
    if ip is not None:
        if legacy is not None:
            mode = _LEGACY_TO_NETWORK[legacy]
        elif ip.network_name == _MESOS_BRIDGE_NAME:
            mode = "container/bridge"
        else:
            mode = "container"
        name = ip.network_name if mode == "container" else None
        networks = [Network(mode="host")] if mode == "host" else [Network(mode=mode, name=name, labels=ip.labels)]
    elif legacy == "NONE":
        networks = []
    elif legacy is not None:
        networks = [Network(mode=_LEGACY_TO_NETWORK[legacy])]
    else:
        networks = m.networks if "networks" in d and m.networks else _host_networks()
    none = legacy == "NONE" and ip is None
    mode_name = "none" if none else _mode_of(networks)
    host = mode_name == "host"

    # ports: deprecated `ports` -> portDefinitions
    migrated_defs: list[PortDefinition] | None
    if "portDefinitions" in d:
        migrated_defs = list(m.port_definitions)
    elif m.ports is not None:
        migrated_defs = [PortDefinition(port=p) for p in m.ports]
    else:
        migrated_defs = None
    if host:
        port_definitions = migrated_defs if migrated_defs is not None else list(_DEFAULT_PORT_DEFINITIONS)
    else:
        port_definitions = []

    # container: a non-host network without a container gets an empty MESOS one
    if container is None and (ip is not None or not host) and not none:
        container = Container(type="MESOS")
    if container is not None:
        docker = container.docker
        mappings = container.port_mappings
        if docker is not None and docker.port_mappings is not None and not mappings:
            mappings = docker.port_mappings
        if ip is not None and ip.discovery is not None and ip.discovery.ports and container.type == "MESOS":
            mappings = [
                PortMapping(container_port=p.number, name=p.name, protocol=p.protocol, labels=p.labels)
                for p in ip.discovery.ports
            ]
        if host or none:
            mappings = None
        else:
            if mappings is None:
                mappings = [PortMapping(name="default")]
            if migrated_defs and len(migrated_defs) > len(mappings):
                mappings = list(mappings) + [PortMapping() for _ in range(len(migrated_defs) - len(mappings))]
            if mode_name == "bridge":
                mappings = [pm.model_copy(update={"host_port": 0}) if pm.host_port is None else pm for pm in mappings]
        if docker is not None:
            docker = docker.model_copy(update={"network": "NONE" if none else None, "port_mappings": None})
        linux_info = copy.deepcopy(container.linux_info) if container.linux_info is not None else None
        container = container.model_copy(update={"docker": docker, "port_mappings": mappings, "linux_info": linux_info})

    n_ports = len(port_definitions) if host else len(container.port_mappings or []) if container else 0
    health_checks = [
        hc.model_copy(update={"port_index": 0})
        if hc.protocol != "COMMAND" and hc.port is None and hc.port_index is None and n_ports > 0
        else hc
        for hc in m.health_checks
    ]

    fetch = m.fetch
    if m.uris and not fetch:
        fetch = [Artifact(uri=u, extract=u.endswith(_EXTRACT_SUFFIXES)) for u in m.uris]

    resident = container is not None and any(v.persistent is not None for v in container.volumes)
    upgrade = m.upgrade_strategy
    if "upgradeStrategy" not in d:
        if m.labels.get("MARATHON_SINGLE_INSTANCE_APP") == "true":
            upgrade = UpgradeStrategy(minimum_health_capacity=0.0, maximum_over_capacity=0.0)
        elif resident:
            upgrade = UpgradeStrategy(minimum_health_capacity=0.5, maximum_over_capacity=0.0)
    unreachable = m.unreachable_strategy
    if disabled or (resident and "unreachableStrategy" not in d):
        unreachable = None
    residency = m.residency if m.residency is not None or not resident else Residency()

    readiness = [
        rc if rc.http_status_codes_for_ready else rc.model_copy(update={"http_status_codes_for_ready": [200]})
        for rc in m.readiness_checks
    ]
    constraints = [[c[0], c[1].upper(), *c[2:]] for c in m.constraints]
    # values kept as `Any` are the caller's objects: copy them so the frozen app owns its data
    env = {k: dict(v) if isinstance(v, dict) else v for k, v in m.env.items()}

    return m.model_copy(
        update={
            "id": normalize_app_id(m.id),
            "container": container,
            "networks": networks,
            "port_definitions": port_definitions,
            "ports": None,
            "uris": None,
            "ip_address": None,
            "require_ports": m.require_ports and host,
            "fetch": fetch,
            "health_checks": health_checks,
            "readiness_checks": readiness,
            "constraints": constraints,
            "env": env,
            "check": copy.deepcopy(m.check) if m.check is not None else None,
            "dependencies": [resolve_app_id(x, group_of(m.id)) or normalize_app_id(x) for x in m.dependencies],
            "upgrade_strategy": upgrade,
            "unreachable_strategy": unreachable,
            "residency": residency,
        }
    )


# --------------------------------------------------------------------------- #
# Public functions
# --------------------------------------------------------------------------- #


def _path_key(e: FieldError) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isascii() and p.isdigit() else (1, p) for p in e.path.split("/") if p)


def _raise(errors: list[FieldError]) -> None:
    unique = list(dict.fromkeys(errors))
    unique.sort(key=_path_key)
    raise AppValidationError(unique)


def _parse(data: object, *, default_image: str | None, stored: bool) -> AppDefinition:
    if type(data) is not dict:
        raise AppValidationError([FieldError("/", f"must be a JSON object, got {_describe(data)}")])
    errors: list[FieldError] = []
    d: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue  # null = absent (marathon-python sends "version": null)
        if key in READ_ONLY_APP_FIELDS and not (stored and key == "versionInfo"):
            continue  # clients echo what GET returned; the server sets these
        d[key] = value
    if "version" in d and not stored:
        if set(d) - {"id", "version"}:
            errors.append(FieldError("/version", VERSION_ONLY_MESSAGE))
        else:
            errors.append(
                FieldError("/version", "a body with only 'version' (and 'id') is a rollback request, not an app")
            )
        del d["version"]
    disabled = d.get("unreachableStrategy") == "disabled"
    if disabled:
        del d["unreachableStrategy"]

    raw: AppDefinition | None
    try:
        raw = AppDefinition.model_validate(d, by_alias=True, by_name=False, context=_JSON_INPUT)
    except ValidationError as exc:
        raw = None
        errors.extend(_translate(exc))
    _Checks(errors).run(d, default_image=default_image, check_image=not stored)
    if not stored:
        errors.extend(policy_errors(d.get("labels")))  # pacer.autoscale.* labels: engine/autoscale.py
        errors.extend(isolation_errors(d.get("labels"), d.get("container")))  # pacer.read-only &c.: engine/policy.py
    if errors or raw is None:
        _raise(errors)
    assert raw is not None
    app = _normalize(raw, d, disabled=disabled)
    _cross_checks(app, errors)
    if errors:
        _raise(errors)
    return app


def parse_app(data: object, *, default_image: str | None = None) -> AppDefinition:
    """Validate and normalise an app body (decoded JSON); AppValidationError lists every problem.

    `default_image` is the cluster's ``[scheduler] default_image``: an app with
    no docker image (only cmd/args) runs in it, and is refused when it is None.
    Read-only fields that clients echo (tasks, deployments, counts,
    versionInfo...) are dropped; `version` is refused unless it is null (use
    `parse_app_version_only` for rollback bodies).
    """
    return _parse(data, default_image=default_image, stored=False)


def app_from_json(data: object) -> AppDefinition:
    """Load an app pacer itself emitted with `app_to_json` (the store): keeps
    `version` and `versionInfo`, and does not ask for a default image."""
    return _parse(data, default_image=None, stored=True)


def parse_app_version_only(data: object) -> str | None:
    """The version of a rollback body (``{"version": v}`` or ``{"id": x, "version": v}``), else None."""
    if type(data) is not dict:
        return None
    version = data.get("version")
    if version is None or set(data) - {"id", "version"}:
        return None
    if not isinstance(version, str):
        raise AppValidationError(
            [FieldError("/version", f"must be a string (an app version), got {_describe(version)}")]
        )
    return version


def merge_app_json(existing: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Partial update (PUT/PATCH with partialUpdate): top-level keys of `patch` replace `existing`.

    Read-only keys of the patch are ignored and `version`/`versionInfo` are
    dropped, so the result can go to `parse_app`. A patch that uses a
    deprecated form (`docker.network`, `ipAddress`, `ports`, `uris`) replaces
    the canonical field it stands for.
    """
    merged = {k: v for k, v in existing.items() if k not in READ_ONLY_APP_FIELDS and k != "version"}
    changes = {k: v for k, v in patch.items() if k not in READ_ONLY_APP_FIELDS and k != "version"}
    container = _obj(changes.get("container"))
    legacy_network = _get(_obj(_get(container, "docker")), "network")
    if "networks" not in changes and ("ipAddress" in changes or legacy_network is not None):
        merged.pop("networks", None)
    if "ports" in changes and "portDefinitions" not in changes:
        merged.pop("portDefinitions", None)
    if "uris" in changes and "fetch" not in changes:
        merged.pop("fetch", None)
    if "portDefinitions" not in changes and "ports" not in changes and _raw_non_host({**merged, **changes}):
        # portDefinitions only mean something with host networking; a patch
        # moving the app off the host network leaves none behind.
        merged.pop("portDefinitions", None)
    merged.update(changes)
    if "id" in patch and patch["id"] is None:
        merged["id"] = existing.get("id")
    return merged


def _raw_non_host(d: dict[str, Any]) -> bool:
    dk = _obj(_get(_obj(d.get("container")), "docker"))
    legacy = _get(dk, "network")
    if d.get("ipAddress") is not None:
        return legacy != "HOST"
    if legacy is not None:
        return legacy != "HOST"
    networks = d.get("networks")
    if not _nonempty_list(networks):
        return False
    return any(type(n) is dict and (n.get("mode") or "container") != "host" for n in networks)


def with_version(app: AppDefinition, version: str, version_info: dict[str, str]) -> AppDefinition:
    """A copy with `version` and `versionInfo` ({"lastScalingAt", "lastConfigChangeAt"}) set."""
    return app.model_copy(update={"version": version, "version_info": dict(version_info)})


_NON_CONFIG = {"instances": 0, "version": None, "version_info": None}


def config_equal(a: AppDefinition, b: AppDefinition) -> bool:
    """True when `a` and `b` differ at most in instances, version and versionInfo (a scale, not a config change)."""
    return a.model_copy(update=_NON_CONFIG) == b.model_copy(update=_NON_CONFIG)


# --------------------------------------------------------------------------- #
# Emitting canonical JSON
# --------------------------------------------------------------------------- #


def _port_mapping_json(pm: PortMapping) -> dict[str, Any]:
    out: dict[str, Any] = {"containerPort": pm.container_port}
    if pm.host_port is not None:
        out["hostPort"] = pm.host_port
    out["servicePort"] = pm.service_port
    out["protocol"] = pm.protocol
    if pm.name is not None:
        out["name"] = pm.name
    if pm.labels:
        out["labels"] = dict(pm.labels)
    if pm.network_names:
        out["networkNames"] = list(pm.network_names)
    return out


def _port_definition_json(pd: PortDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {"port": pd.port, "protocol": pd.protocol}
    if pd.name is not None:
        out["name"] = pd.name
    if pd.labels:
        out["labels"] = dict(pd.labels)
    return out


def _volume_json(v: Volume) -> dict[str, Any]:
    out: dict[str, Any] = {"containerPath": v.container_path}
    if v.host_path is not None:
        out["hostPath"] = v.host_path
    out["mode"] = v.mode
    if v.persistent is not None:
        p = v.persistent
        pj: dict[str, Any] = {"size": p.size, "type": p.type}
        if p.max_size is not None:
            pj["maxSize"] = p.max_size
        if p.constraints:
            pj["constraints"] = [list(c) for c in p.constraints]
        out["persistent"] = pj
    if v.external is not None:
        e = v.external
        ej: dict[str, Any] = {}
        for key, value in (("name", e.name), ("provider", e.provider), ("size", e.size)):
            if value is not None:
                ej[key] = value
        if e.options:
            ej["options"] = dict(e.options)
        out["external"] = ej
    if v.secret is not None:
        out["secret"] = v.secret
    return out


def _container_json(c: Container) -> dict[str, Any]:
    out: dict[str, Any] = {"type": c.type}
    if c.docker is not None:
        d = c.docker
        dj: dict[str, Any] = {"image": d.image}
        if d.network is not None:
            dj["network"] = d.network
        if d.port_mappings is not None:
            dj["portMappings"] = [_port_mapping_json(pm) for pm in d.port_mappings]
        dj["privileged"] = d.privileged
        dj["parameters"] = [{"key": p.key, "value": p.value} for p in d.parameters]
        dj["forcePullImage"] = d.force_pull_image
        if d.pull_config is not None:
            dj["pullConfig"] = {"secret": d.pull_config.secret}
        if d.credential is not None:
            cred: dict[str, Any] = {"principal": d.credential.principal}
            if d.credential.secret is not None:
                cred["secret"] = d.credential.secret
            dj["credential"] = cred
        out["docker"] = dj
    if c.port_mappings is not None:
        out["portMappings"] = [_port_mapping_json(pm) for pm in c.port_mappings]
    out["volumes"] = [_volume_json(v) for v in c.volumes]
    if c.linux_info is not None:
        out["linuxInfo"] = dict(c.linux_info)
    return out


def _network_json(n: Network) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": n.mode}
    if n.name is not None:
        out["name"] = n.name
    if n.labels:
        out["labels"] = dict(n.labels)
    return out


def _health_check_json(hc: HealthCheck) -> dict[str, Any]:
    out: dict[str, Any] = {"protocol": hc.protocol, "path": hc.path}
    if hc.port_index is not None:
        out["portIndex"] = hc.port_index
    if hc.port is not None:
        out["port"] = hc.port
    if hc.command is not None:
        out["command"] = {"value": hc.command.value}
    out.update(
        {
            "gracePeriodSeconds": hc.grace_period_seconds,
            "intervalSeconds": hc.interval_seconds,
            "timeoutSeconds": hc.timeout_seconds,
            "maxConsecutiveFailures": hc.max_consecutive_failures,
            "ignoreHttp1xx": hc.ignore_http1xx,
            "delaySeconds": hc.delay_seconds,
            "ipProtocol": hc.ip_protocol,
        }
    )
    return out


def _readiness_json(rc: ReadinessCheck) -> dict[str, Any]:
    return {
        "name": rc.name,
        "protocol": rc.protocol,
        "path": rc.path,
        "portName": rc.port_name,
        "intervalSeconds": rc.interval_seconds,
        "timeoutSeconds": rc.timeout_seconds,
        "httpStatusCodesForReady": list(rc.http_status_codes_for_ready),
        "preserveLastResponse": rc.preserve_last_response,
    }


def _artifact_json(a: Artifact) -> dict[str, Any]:
    out: dict[str, Any] = {"uri": a.uri, "extract": a.extract, "executable": a.executable, "cache": a.cache}
    if a.dest_path is not None:
        out["destPath"] = a.dest_path
    return out


def app_to_json(app: AppDefinition) -> dict[str, Any]:
    """Marathon 1.10 canonical JSON of the definition (no AppInfo extras such as tasks or counts).

    Only keys marathon-python 0.13 accepts are emitted, plus `check`, `tty`,
    `executorResources`, `resourceLimits`, `role`, `linuxInfo` and
    `networkNames` when (and only when) the app sets them.
    """
    out: dict[str, Any] = {"id": app.id}
    if app.cmd is not None:
        out["cmd"] = app.cmd
    if app.args:
        out["args"] = list(app.args)
    out["cpus"] = app.cpus
    out["mem"] = app.mem
    out["disk"] = app.disk
    out["gpus"] = app.gpus
    out["instances"] = app.instances
    out["executor"] = app.executor
    if app.container is not None:
        out["container"] = _container_json(app.container)
    if app.networks:
        out["networks"] = [_network_json(n) for n in app.networks]
    if app.network_mode == "host":
        out["portDefinitions"] = [_port_definition_json(pd) for pd in app.port_definitions]
    if app.ports is not None:  # only on apps not built by parse_app
        out["ports"] = list(app.ports)
    if app.uris is not None:
        out["uris"] = list(app.uris)
    out["requirePorts"] = app.require_ports
    if app.env:
        out["env"] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in app.env.items()}
    out["labels"] = dict(app.labels)
    if app.constraints:
        out["constraints"] = [list(c) for c in app.constraints]
    if app.accepted_resource_roles is not None:
        out["acceptedResourceRoles"] = list(app.accepted_resource_roles)
    if app.role is not None:
        out["role"] = app.role
    if app.fetch:
        out["fetch"] = [_artifact_json(a) for a in app.fetch]
    if app.dependencies:
        out["dependencies"] = list(app.dependencies)
    if app.health_checks:
        out["healthChecks"] = [_health_check_json(hc) for hc in app.health_checks]
    if app.readiness_checks:
        out["readinessChecks"] = [_readiness_json(rc) for rc in app.readiness_checks]
    out["upgradeStrategy"] = {
        "minimumHealthCapacity": app.upgrade_strategy.minimum_health_capacity,
        "maximumOverCapacity": app.upgrade_strategy.maximum_over_capacity,
    }
    out["backoffSeconds"] = app.backoff_seconds
    out["backoffFactor"] = app.backoff_factor
    out["maxLaunchDelaySeconds"] = app.max_launch_delay_seconds
    out["killSelection"] = app.kill_selection
    u = app.unreachable_strategy
    out["unreachableStrategy"] = (
        "disabled"
        if u is None
        else {"inactiveAfterSeconds": u.inactive_after_seconds, "expungeAfterSeconds": u.expunge_after_seconds}
    )
    if app.task_kill_grace_period_seconds is not None:
        out["taskKillGracePeriodSeconds"] = app.task_kill_grace_period_seconds
    if app.user is not None:
        out["user"] = app.user
    if app.secrets:
        out["secrets"] = {k: {"source": s.source} for k, s in app.secrets.items()}
    if app.residency is not None:
        out["residency"] = {
            "relaunchEscalationTimeoutSeconds": app.residency.relaunch_escalation_timeout_seconds,
            "taskLostBehavior": app.residency.task_lost_behavior,
        }
    if app.check is not None:
        out["check"] = dict(app.check)
    if app.tty is not None:
        out["tty"] = app.tty
    if app.executor_resources is not None:
        er = app.executor_resources
        out["executorResources"] = {"cpus": er.cpus, "mem": er.mem, "disk": er.disk}
    if app.resource_limits is not None:
        rl = app.resource_limits
        out["resourceLimits"] = {k: v for k, v in (("cpus", rl.cpus), ("mem", rl.mem)) if v is not None}
    if app.store_urls:
        out["storeUrls"] = list(app.store_urls)
    if app.task_rate_limit is not None:
        out["taskRateLimit"] = app.task_rate_limit
    if app.version is not None:
        out["version"] = app.version
    if app.version_info is not None:
        out["versionInfo"] = dict(app.version_info)
    return out

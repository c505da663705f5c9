"""Marathon app definitions as pydantic models: camelCase aliases, strict JSON types, unknown keys refused.

`AppDefinition` and the objects it holds, as Marathon 1.10 documents them; the
legacy fields (`ports`, `uris`, `ipAddress`, `docker.network`,
`docker.portMappings`) are accepted here and translated away by
engine.model.normalize. Values and combinations are checked by
engine.model.validation, not by the models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator
from pydantic.alias_generators import to_camel

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
]


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
    """`container.docker`. Unknown keys are refused, as at every depth (a typo such as `forcePull` is named)."""

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
    """`healthChecks[]`. Unknown keys are refused, as at every depth."""

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
_LEGACY_TO_NETWORK: dict[str, NetworkModeName] = {"BRIDGE": "container/bridge", "HOST": "host", "USER": "container"}


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

"""AppDefinition: parsing, validation (every error with its JSON path), normalisation, canonical JSON."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.errors import AppValidationError, FieldError
from engine.model import (
    VERSION_ONLY_MESSAGE,
    AppDefinition,
    HealthCheck,
    PortDefinition,
    PortMapping,
    UnreachableStrategy,
    app_from_json,
    app_to_json,
    config_equal,
    constraint_problem,
    merge_app_json,
    parse_app,
    parse_app_version_only,
    with_version,
)

IMG = "busybox:pacer"

SEED = {
    "id": "example-app",
    "cmd": "python3 -m http.server 8080",
    "cpus": 0.5,
    "mem": 128,
    "instances": 2,
    "container": {
        "type": "DOCKER",
        "docker": {"image": "python:3", "network": "BRIDGE", "portMappings": [{"containerPort": 8080, "hostPort": 0}]},
    },
}

# What marathon-python 0.13 sends for `update_app(id, c.get_app(id))` of a docker app it created with
# MarathonDockerContainer(network="BRIDGE", port_mappings=[...]): legacy docker fields, filled-in
# defaults, and the read-only fields of the GET echoed back (version nulled).
PYTHON_CLIENT_ECHO = {
    "id": "/shop/web",
    "cmd": "python3 -m http.server 8080",
    "cpus": 0.25,
    "mem": 64,
    "disk": 0,
    "instances": 3,
    "version": None,
    "container": {
        "type": "DOCKER",
        "docker": {
            "image": "python:3",
            "network": "BRIDGE",
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "servicePort": 10000, "protocol": "tcp"}],
            "privileged": False,
            "forcePullImage": False,
        },
        "volumes": [],
    },
    "healthChecks": [
        {
            "protocol": "HTTP",
            "path": "/",
            "portIndex": 0,
            "gracePeriodSeconds": 30,
            "intervalSeconds": 5,
            "timeoutSeconds": 2,
            "maxConsecutiveFailures": 3,
            "ignoreHttp1xx": False,
        },
        {"protocol": "COMMAND", "command": {"value": "test -f /tmp/ok"}, "gracePeriodSeconds": 10},
    ],
    "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
    "constraints": [["hostname", "UNIQUE"]],
    "labels": {"team": "shop"},
    "env": {"MODE": "prod"},
    "backoffFactor": 1.15,
    "backoffSeconds": 1,
    "maxLaunchDelaySeconds": 300,
    "tasks": [
        {
            "id": "shop_web.instance-3c2f8b1e-0f4c-4b8a-9d3e-5a6b7c8d9e0f._app.1",
            "appId": "/shop/web",
            "host": "agent1",
            "stagedAt": "2026-11-26T06:32:12.123456Z",
            "startedAt": "2026-11-26T06:32:13.654321Z",
            "state": "TASK_RUNNING",
            "ports": [31000],
            "healthCheckResults": [{"alive": True, "lastSuccess": "2026-11-26T06:33:00.000001Z"}],
        }
    ],
    "deployments": [],
    "tasksRunning": 1,
    "tasksStaged": 0,
    "tasksHealthy": 1,
    "tasksUnhealthy": 0,
    "versionInfo": {
        "lastScalingAt": "2026-11-26T06:32:12.123456Z",
        "lastConfigChangeAt": "2026-11-26T06:32:12.123456Z",
    },
    "lastTaskFailure": {"appId": "/shop/web", "message": "boom", "timestamp": "2026-11-26T06:30:00.000000Z"},
    "taskStats": {"totalSummary": {"stats": {"counts": {"staged": 0, "running": 1, "healthy": 1, "unhealthy": 0}}}},
    "tasksStats": {},
    "readinessCheckResults": [],
}

# Keys marathon-python 0.13 accepts (marathon-client.md §3), plus the extras the app may set itself.
CLIENT_APP_KEYS = set(
    "acceptedResourceRoles args backoffFactor backoffSeconds cmd constraints container cpus dependencies "
    "deployments disk env executor fetch gpus healthChecks id instances ipAddress killSelection labels "
    "lastTaskFailure maxLaunchDelaySeconds mem networks portDefinitions ports readinessCheckResults "
    "readinessChecks requirePorts residency role secrets storeUrls taskKillGracePeriodSeconds taskRateLimit "
    "taskStats tasks tasksHealthy tasksRunning tasksStaged tasksUnhealthy unreachableStrategy upgradeStrategy "
    "uris user version versionInfo".split()
)
USER_SET_ONLY = {"check", "tty", "executorResources", "resourceLimits", "role"}
CLIENT_CONTAINER_KEYS = {"docker", "type", "portMappings", "volumes"}
CLIENT_PORT_MAPPING_KEYS = {"name", "containerPort", "hostPort", "servicePort", "protocol", "labels"}
CLIENT_VOLUME_KEYS = {"containerPath", "hostPath", "mode", "persistent", "external"}


def errors_of(data: Any, **kw: Any) -> list[FieldError]:
    with pytest.raises(AppValidationError) as info:
        parse_app(data, **kw)
    return info.value.errors


def paths_of(data: Any, **kw: Any) -> set[str]:
    return {e.path for e in errors_of(data, **kw)}


def message_at(data: Any, path: str, **kw: Any) -> str:
    found = [e.message for e in errors_of(data, **kw) if e.path == path]
    assert found, f"no error at {path}: {errors_of(data, **kw)}"
    return found[0]


def docker_app(**extra: Any) -> dict[str, Any]:
    app: dict[str, Any] = {"id": "/web", "container": {"type": "DOCKER", "docker": {"image": "nginx"}}}
    app.update(extra)
    return app


def cmd_app(**extra: Any) -> dict[str, Any]:
    app: dict[str, Any] = {"id": "/job", "cmd": "sleep 100"}
    app.update(extra)
    return app


# ------------------------------------------------------------------ seed and clients


def test_seed_app_parses_unchanged() -> None:
    before = copy.deepcopy(SEED)
    app = parse_app(SEED)
    assert SEED == before  # input not mutated
    assert app.id == "/example-app"
    assert app.network_mode == "bridge"
    assert app.image == "python:3"
    assert not app.is_command_app
    assert app.cmd == "python3 -m http.server 8080"
    assert (app.cpus, app.mem, app.disk, app.instances) == (0.5, 128, 0, 2)
    assert app.port_mappings == [PortMapping(container_port=8080, host_port=0, service_port=0, protocol="tcp")]
    assert app.port_definitions == []
    assert app.container is not None and app.container.docker is not None
    assert app.container.docker.network is None and app.container.docker.port_mappings is None
    out = app_to_json(app)
    assert out["networks"] == [{"mode": "container/bridge"}]
    assert "network" not in out["container"]["docker"] and "portMappings" not in out["container"]["docker"]
    assert out["container"]["portMappings"] == [
        {"containerPort": 8080, "hostPort": 0, "servicePort": 0, "protocol": "tcp"}
    ]
    assert parse_app(out) == app


def test_seed_needs_no_default_image() -> None:
    assert parse_app(SEED, default_image=None) == parse_app(SEED, default_image=IMG)


def test_python_client_echo_is_accepted() -> None:
    app = parse_app(PYTHON_CLIENT_ECHO)
    assert app.id == "/shop/web"
    assert app.version is None and app.version_info is None
    assert app.network_mode == "bridge"
    assert app.port_mappings == [PortMapping(container_port=8080, host_port=0, service_port=10000)]
    assert [hc.protocol for hc in app.health_checks] == ["HTTP", "COMMAND"]
    assert app.health_checks[1].command is not None and app.health_checks[1].command.value == "test -f /tmp/ok"
    assert app.health_checks[1].port_index is None
    assert app.upgrade_strategy.minimum_health_capacity == 0.5
    assert app.upgrade_strategy.maximum_over_capacity == 0.2
    out = app_to_json(app)
    for key in ("tasks", "deployments", "tasksRunning", "versionInfo", "lastTaskFailure", "taskStats", "tasksStats"):
        assert key not in out


def test_python_client_minimal_create() -> None:
    app = parse_app({"cmd": "sleep 1", "cpus": 0.1, "id": "x", "instances": 2, "mem": 16}, default_image=IMG)
    assert app.id == "/x" and app.is_command_app and app.image is None
    assert app.network_mode == "host"
    assert app.port_definitions == [PortDefinition(port=0, protocol="tcp", name="default")]


def test_unknown_keys_are_refused_at_every_depth_with_a_hint() -> None:
    errors = errors_of(
        docker_app(
            container={"docker": {"image": "nginx", "forcePull": True, "requirePorts": True}},
            healthChecks=[{"protocol": "TCP", "portIndex": 0, "gracePeriodSecond": 5}],
            portDefinitions=[{"port": 0}],
        )
    )
    by_path = {e.path: e.message for e in errors}
    assert by_path == {
        "/container/docker/forcePull": "unknown field (did you mean 'forcePullImage'?)",
        "/container/docker/requirePorts": "unknown field ('requirePorts' is a field of the app itself, at the top level)",
        "/healthChecks/0/gracePeriodSecond": "unknown field (did you mean 'gracePeriodSeconds'?)",
    }


UNHONOURED: list[tuple[dict[str, Any], str, str]] = [
    (docker_app(secrets={"s": {"source": "vault/s"}}), "/secrets", "no secret store"),
    (docker_app(container={"docker": {"image": "i"}, "volumes": [{"containerPath": "/s", "secret": "s"}]}),
     "/container/volumes/0/secret", "no secret store"),
    (docker_app(container={"docker": {"image": "i"}, "volumes": [{"containerPath": "d", "persistent": {"size": 1}}]}),
     "/container/volumes/0/persistent", "use an absolute hostPath volume"),
    (docker_app(container={"docker": {"image": "i"},
                           "volumes": [{"containerPath": "/d", "external": {"name": "v", "provider": "dvdi"}}]}),
     "/container/volumes/0/external", "no volume provider"),
    (docker_app(networks=[{"mode": "container", "name": "dcos"}]), "/networks/0/name", "default docker bridge"),
    (docker_app(networks=[{"mode": "container", "labels": {"a": "b"}}]), "/networks/0/labels", "CNI"),
    (cmd_app(ipAddress={"networkName": "dcos"}), "/ipAddress/networkName", "named container networks"),
    (docker_app(fetch=[{"uri": "http://a/b.tgz"}]), "/fetch", "do not download artifacts"),
    (cmd_app(uris=["http://a/b.tgz"]), "/uris", "do not download artifacts"),
    (docker_app(storeUrls=["http://s"]), "/storeUrls", "Mesos-only"),
    (docker_app(executor="/opt/exec"), "/executor", "custom executors are Mesos-only"),
    (docker_app(executorResources={"cpus": 0.1}), "/executorResources", "Mesos-only"),
    (docker_app(resourceLimits={"cpus": "unlimited"}), "/resourceLimits", "container's limits"),
    (docker_app(taskRateLimit=1.0), "/taskRateLimit", "backoffSeconds"),
    (docker_app(check={"http": {"portIndex": 0}}), "/check", "use healthChecks"),
    (docker_app(tty=True), "/tty", "without one"),
    (docker_app(container={"type": "MESOS", "docker": {"image": "i"}, "linuxInfo": {"seccomp": {}}}),
     "/container/linuxInfo", "Mesos-only"),
    (docker_app(healthChecks=[{"protocol": "TCP", "port": 80, "delaySeconds": 5}], portDefinitions=[{"port": 80}]),
     "/healthChecks/0/delaySeconds", "gracePeriodSeconds"),
]


@pytest.mark.parametrize(("body", "path", "fragment"), UNHONOURED, ids=[row[1] for row in UNHONOURED])
def test_unhonoured_fields_are_refused(body: dict[str, Any], path: str, fragment: str) -> None:
    """A field pacer would store without honouring is refused by name, saying what pacer offers instead."""
    messages = [e.message for e in errors_of(body, default_image=IMG) if e.path == path]
    assert any(fragment in m for m in messages), messages


def test_marathon_defaults_of_unhonoured_fields_pass() -> None:
    """Empty lists and maps and Marathon's defaults ask for nothing: an export with them is accepted."""
    parse_app(docker_app(secrets={}, fetch=[], storeUrls=[], executor="//cmd", tty=False,
                         healthChecks=[{"protocol": "TCP", "port": 80, "delaySeconds": 15, "ipProtocol": "IPv4"}],
                         portDefinitions=[{"port": 80}]))


def test_fetch_defaults_and_uris_migration() -> None:
    app = app_from_json(cmd_app(uris=["http://x/a.tar.gz", "http://x/b.txt"]))  # refused at submission
    assert [(a.uri, a.extract, a.executable, a.cache) for a in app.fetch] == [
        ("http://x/a.tar.gz", True, False, False),
        ("http://x/b.txt", False, False, False),
    ]
    assert app.uris is None
    assert "uris" not in app_to_json(app)


# ------------------------------------------------------------------ network modes


@pytest.mark.parametrize(
    ("data", "mode", "networks_json"),
    [
        (cmd_app(), "host", [{"mode": "host"}]),
        (docker_app(), "host", [{"mode": "host"}]),
        (docker_app(container={"docker": {"image": "i", "network": "HOST"}}), "host", [{"mode": "host"}]),
        (
            docker_app(container={"docker": {"image": "i", "network": "BRIDGE"}}),
            "bridge",
            [{"mode": "container/bridge"}],
        ),
        (docker_app(container={"docker": {"image": "i", "network": "USER"}}), "container", [{"mode": "container"}]),
        (docker_app(networks=[{"mode": "container/bridge"}]), "bridge", [{"mode": "container/bridge"}]),
        (
            docker_app(networks=[{"mode": "container"}]),
            "container",
            [{"mode": "container"}],
        ),
        (docker_app(networks=[{"mode": "host"}]), "host", [{"mode": "host"}]),
        (docker_app(networks=[]), "host", [{"mode": "host"}]),
        (cmd_app(networks=[{"mode": "container/bridge"}]), "bridge", [{"mode": "container/bridge"}]),
        (cmd_app(ipAddress={}), "container", [{"mode": "container"}]),
        (cmd_app(ipAddress={"networkName": "mesos-bridge"}), "bridge", [{"mode": "container/bridge"}]),
        (docker_app(container={"docker": {"image": "i", "network": "NONE"}}), "none", None),
    ],
)
def test_network_mode(data: dict[str, Any], mode: str, networks_json: list[dict[str, Any]] | None) -> None:
    app = parse_app(data, default_image=IMG)
    assert app.network_mode == mode
    assert app_to_json(app).get("networks") == networks_json
    assert parse_app(app_to_json(app), default_image=IMG) == app


def test_bridge_without_mappings_gets_the_default_mapping() -> None:
    app = parse_app(docker_app(networks=[{"mode": "container/bridge"}]))
    assert app.port_mappings == [PortMapping(container_port=0, host_port=0, name="default")]
    assert app.port_definitions == []


def test_explicit_empty_mappings_stay_empty() -> None:
    app = parse_app(
        docker_app(networks=[{"mode": "container/bridge"}], container={"docker": {"image": "i"}, "portMappings": []})
    )
    assert app.port_mappings == []
    assert parse_app(app_to_json(app)) == app


def test_container_network_keeps_unset_host_ports() -> None:
    app = parse_app(
        docker_app(
            networks=[{"mode": "container"}],
            container={
                "docker": {"image": "i"},
                "portMappings": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 0}],
            },
        )
    )
    assert [pm.host_port for pm in app.port_mappings] == [None, 0]


def test_bridge_fills_unset_host_ports_with_zero() -> None:
    app = parse_app(
        docker_app(
            networks=[{"mode": "container/bridge"}],
            container={"docker": {"image": "i"}, "portMappings": [{"containerPort": 80}]},
        )
    )
    assert app.port_mappings[0].host_port == 0


def test_host_networking_drops_port_mappings() -> None:
    app = parse_app(docker_app(container={"docker": {"image": "i"}, "portMappings": [{"containerPort": 80}]}))
    assert app.network_mode == "host" and app.port_mappings == []
    assert app.container is not None and app.container.port_mappings is None


def test_host_port_definitions_and_deprecated_ports() -> None:
    app = parse_app(
        cmd_app(portDefinitions=[{"port": 8080, "name": "http"}, {"port": 0, "protocol": "udp"}], requirePorts=True),
        default_image=IMG,
    )
    assert app.port_definitions == [PortDefinition(port=8080, name="http"), PortDefinition(port=0, protocol="udp")]
    assert app.require_ports is True
    legacy = parse_app(cmd_app(ports=[0, 9000]), default_image=IMG)
    assert legacy.port_definitions == [PortDefinition(port=0), PortDefinition(port=9000)]
    assert legacy.ports is None
    none = parse_app(cmd_app(portDefinitions=[]), default_image=IMG)
    assert none.port_definitions == []
    assert app_to_json(none)["portDefinitions"] == []


def test_require_ports_only_for_host_networking() -> None:
    app = parse_app(docker_app(networks=[{"mode": "container/bridge"}], requirePorts=True))
    assert app.require_ports is False


def test_port_definitions_on_bridge_become_extra_mappings_like_marathon() -> None:
    app = parse_app(
        cmd_app(networks=[{"mode": "container/bridge"}], portDefinitions=[{"port": 0}, {"port": 0}]), default_image=IMG
    )
    assert app.port_definitions == []
    assert len(app.port_mappings) == 2 and all(pm.host_port == 0 for pm in app.port_mappings)


def test_ip_address_discovery_ports_become_mappings() -> None:
    # refused at submission (pacer publishes no discovery info), translated when an older store holds it
    app = app_from_json(
        cmd_app(
            ipAddress={
                "networkName": "dev",
                "discovery": {"ports": [{"number": 80, "name": "http", "protocol": "tcp"}]},
            }
        ),
    )
    assert app.port_mappings == [PortMapping(container_port=80, host_port=None, name="http")]
    assert app.ip_address is None and app.container is not None and app.container.type == "MESOS"


def test_health_check_port_index_defaults_only_with_ports() -> None:
    bridge = parse_app(dict(SEED, healthChecks=[{"protocol": "HTTP"}]))
    assert bridge.health_checks[0].port_index == 0
    command = parse_app(dict(SEED, healthChecks=[{"protocol": "COMMAND", "command": {"value": "true"}}]))
    assert command.health_checks[0].port_index is None


def test_constraints_operator_upper_cased() -> None:
    app = parse_app(
        docker_app(constraints=[["hostname", "unique"], ["rack", "group_by", "3"], ["zone", "Like", "eu-.*"]])
    )
    assert app.constraints == [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "3"], ["zone", "LIKE", "eu-.*"]]


def test_env_values_and_secrets() -> None:
    body = docker_app(env={"A": "1", "DB": {"secret": "db"}}, secrets={"db": {"source": "/vault/db"}})
    assert paths_of(body) == {"/env/DB", "/secrets"}  # no secret store: refused at submission
    app = app_from_json(body)  # what an older store holds still loads
    assert app.env == {"A": "1", "DB": {"secret": "db"}}
    assert app.secrets["db"].source == "/vault/db"


def test_unreachable_disabled_and_custom() -> None:
    assert parse_app(docker_app(unreachableStrategy="disabled")).unreachable_strategy is None
    u = parse_app(
        docker_app(unreachableStrategy={"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0})
    ).unreachable_strategy
    assert u == UnreachableStrategy(inactive_after_seconds=0, expunge_after_seconds=0)


def test_single_instance_label_defaults_upgrade_strategy_to_zero() -> None:
    app = parse_app(docker_app(labels={"MARATHON_SINGLE_INSTANCE_APP": "true"}))
    assert (app.upgrade_strategy.minimum_health_capacity, app.upgrade_strategy.maximum_over_capacity) == (0, 0)


def test_resident_app_defaults() -> None:
    app = app_from_json(  # refused at submission (test_unhonoured_fields_are_refused); loads from a store
        docker_app(
            container={
                "docker": {"image": "i"},
                "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"size": 10}}],
            }
        )
    )
    assert app.unreachable_strategy is None
    assert app.residency is not None and app.residency.relaunch_escalation_timeout_seconds == 3600
    assert (app.upgrade_strategy.minimum_health_capacity, app.upgrade_strategy.maximum_over_capacity) == (0.5, 0)


def test_dependencies_are_normalised() -> None:
    assert parse_app(docker_app(dependencies=["db", "//cache/redis/"])).dependencies == ["/db", "/cache/redis"]


def test_relative_and_messy_ids_are_normalised() -> None:
    assert parse_app(docker_app(id="x")).id == "/x"
    assert parse_app(docker_app(id="//shop//web/")).id == "/shop/web"


def test_mesos_container_without_image_needs_default_image() -> None:
    app = parse_app(cmd_app(container={"type": "MESOS"}), default_image=IMG)
    assert app.image is None and app.is_command_app
    assert message_at(cmd_app(container={"type": "MESOS"}), "/container/docker").startswith("a MESOS container")


# ------------------------------------------------------------------- invalid apps


INVALID_CASES: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    # name, body, {path: message fragment} (exactly these paths)
    ("negative cpus", docker_app(cpus=-1), {"/cpus": "must be >= 0, got -1"}),
    ("negative mem and disk", docker_app(mem=-0.5, disk=-2), {"/mem": "got -0.5", "/disk": "got -2"}),
    ("instances -1", docker_app(instances=-1), {"/instances": "must be >= 0, got -1"}),
    ("bad id", docker_app(id="Bad_ID"), {"/id": "segment 'Bad_ID' is invalid"}),
    ("reserved id", docker_app(id="/a//restart"), {"/id": "must not be 'restart'"}),
    ("root id", docker_app(id="/"), {"/id": "root"}),
    ("missing id", {"container": {"docker": {"image": "i"}}}, {"/id": "is required"}),
    (
        "missing docker image",
        docker_app(container={"type": "DOCKER", "docker": {}}),
        {"/container/docker/image": "is required"},
    ),
    (
        "empty docker image",
        docker_app(container={"docker": {"image": " "}}),
        {"/container/docker/image": "must not be empty"},
    ),
    (
        "DOCKER without docker",
        docker_app(container={"type": "DOCKER"}),
        {"/container/docker": "is required for container type DOCKER"},
    ),
    (
        "hostPort 70000",
        dict(
            SEED,
            container={
                "docker": {
                    "image": "i",
                    "network": "BRIDGE",
                    "portMappings": [{"containerPort": 80, "hostPort": 70000}],
                }
            },
        ),
        {"/container/docker/portMappings/0/hostPort": "must be between 0 and 65535, got 70000"},
    ),
    (
        "container and service ports out of range",
        docker_app(
            networks=[{"mode": "container/bridge"}],
            container={"docker": {"image": "i"}, "portMappings": [{"containerPort": -1, "servicePort": 65536}]},
        ),
        {"/container/portMappings/0/containerPort": "got -1", "/container/portMappings/0/servicePort": "got 65536"},
    ),
    ("unknown field", docker_app(instance=3), {"/instance": "unknown field (did you mean 'instances'?)"}),
    (
        "unknown nested field",
        docker_app(upgradeStrategy={"minimumHealthCapacty": 0.5}),
        {"/upgradeStrategy/minimumHealthCapacty": "did you mean 'minimumHealthCapacity'?"},
    ),
    (
        "snake_case field",
        docker_app(kill_selection="OLDEST_FIRST"),
        {"/kill_selection": "did you mean 'killSelection'?"},
    ),
    ("unknown field, no suggestion", docker_app(zzzz=1), {"/zzzz": "unknown field"}),
    ("cpus string", docker_app(cpus="lots"), {"/cpus": "must be a number, got string 'lots'"}),
    ("instances 1.5", docker_app(instances=1.5), {"/instances": "must be an integer, got number 1.5"}),
    ("instances bool", docker_app(instances=True), {"/instances": "must be an integer, got boolean true"}),
    ("env int", docker_app(env={"A": 1}), {"/env/A": "must be a string or"}),
    ("env list", docker_app(env=["A=1"]), {"/env": "must be an object, got an array"}),
    ("label int", docker_app(labels={"a/b": 1}), {"/labels/a~1b": "must be a string, got integer 1"}),
    ("args not strings", docker_app(args=["a", 2]), {"/args/1": "must be a string"}),
    ("cmd empty", cmd_app(cmd=""), {"/cmd": "must not be an empty string"}),
    ("cmd and args", cmd_app(args=["a"]), {"/": "mutually exclusive"}),
    (
        "no cmd no container",
        {"id": "/x"},
        {"/": "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."},
    ),
    ("backoffFactor < 1", docker_app(backoffFactor=0.5), {"/backoffFactor": "must be >= 1, got 0.5"}),
    (
        "negative backoff",
        docker_app(backoffSeconds=-1, maxLaunchDelaySeconds=-5),
        {"/backoffSeconds": "got -1", "/maxLaunchDelaySeconds": "got -5"},
    ),
    ("negative kill grace", docker_app(taskKillGracePeriodSeconds=-1), {"/taskKillGracePeriodSeconds": "must be >= 0"}),
    ("gpus", docker_app(gpus=1), {"/gpus": "not supported"}),
    (
        "protocol",
        docker_app(portDefinitions=[{"port": 1, "protocol": "sctp"}]),
        {"/portDefinitions/0/protocol": "must be one of 'tcp', 'udp' or 'udp,tcp', got string 'sctp'"},
    ),
    (
        "port mapping names",
        docker_app(
            networks=[{"mode": "container/bridge"}],
            container={"docker": {"image": "i"}, "portMappings": [{"name": "Http"}, {"name": "web"}, {"name": "web"}]},
        ),
        {
            "/container/portMappings/0/name": "must match",
            "/container/portMappings/2/name": "duplicate port mapping name 'web'",
        },
    ),
    (
        "port definitions duplicate",
        docker_app(portDefinitions=[{"port": 80, "name": "a"}, {"port": 80, "name": "a"}, {"port": 0}, {"port": 0}]),
        {
            "/portDefinitions/1/port": "duplicate port 80",
            "/portDefinitions/1/name": "duplicate port definition name 'a'",
        },
    ),
    (
        "NONE with port mappings",
        docker_app(container={"docker": {"image": "i", "network": "NONE", "portMappings": [{"containerPort": 80}]}}),
        {"/container/docker/portMappings": "not allowed with docker network NONE"},
    ),
    (
        "both port mapping places",
        docker_app(
            container={
                "docker": {"image": "i", "network": "BRIDGE", "portMappings": [{"containerPort": 80}]},
                "portMappings": [{"containerPort": 81}],
            }
        ),
        {"/container/docker/portMappings": "cannot specify both portMappings and docker.portMappings"},
    ),
    (
        "docker.network with networks",
        docker_app(container={"docker": {"image": "i", "network": "BRIDGE"}}, networks=[{"mode": "container/bridge"}]),
        {"/container/docker/network": "cannot mix deprecated and canonical network APIs"},
    ),
    (
        "bad network mode",
        docker_app(networks=[{"mode": "bridge"}]),
        {"/networks/0/mode": "must be one of 'host', 'container/bridge' or 'container'"},
    ),
    (
        "host mixed",
        docker_app(networks=[{"mode": "host"}, {"mode": "container"}]),
        {"/networks": "cannot be combined"},
    ),
    (
        "two docker container networks",
        docker_app(networks=[{"mode": "container"}, {"mode": "container"}]),
        {"/networks": "at most one container network"},
    ),
    (
        "legacy network value",
        docker_app(container={"docker": {"image": "i", "network": "bridge"}}),
        {"/container/docker/network": "must be one of 'BRIDGE', 'HOST', 'USER' or 'NONE'"},
    ),
    (
        "container type",
        docker_app(container={"type": "RKT", "docker": {"image": "i"}}),
        {"/container/type": "must be one of 'DOCKER' or 'MESOS'"},
    ),
    (
        "credential",
        docker_app(container={"docker": {"image": "i", "credential": {"principal": "p"}}}),
        {"/container/docker/credential": "not supported"},
    ),
    (
        "ports and portDefinitions",
        docker_app(ports=[1], portDefinitions=[{"port": 2}]),
        {"/ports": "cannot specify both ports and portDefinitions"},
    ),
    (
        "uris and fetch",
        docker_app(uris=["http://a"], fetch=[{"uri": "http://b"}]),
        {"/uris": "cannot specify both uris and fetch fields", "/fetch": "agents do not download artifacts"},
    ),
    (
        "upgrade strategy range",
        docker_app(upgradeStrategy={"minimumHealthCapacity": 1.5, "maximumOverCapacity": -0.1}),
        {
            "/upgradeStrategy/minimumHealthCapacity": "must be between 0 and 1, got 1.5",
            "/upgradeStrategy/maximumOverCapacity": "got -0.1",
        },
    ),
    (
        "killSelection",
        docker_app(killSelection="YoungestFirst"),
        {"/killSelection": "must be one of 'YOUNGEST_FIRST' or 'OLDEST_FIRST'"},
    ),
    (
        "unreachable order",
        docker_app(unreachableStrategy={"inactiveAfterSeconds": 700}),
        {"/unreachableStrategy/inactiveAfterSeconds": "must be <= expungeAfterSeconds (600), got 700"},
    ),
    (
        "unreachable negative",
        docker_app(unreachableStrategy={"inactiveAfterSeconds": -1, "expungeAfterSeconds": 10}),
        {"/unreachableStrategy/inactiveAfterSeconds": "must be >= 0"},
    ),
    (
        "unreachable string",
        docker_app(unreachableStrategy="off"),
        {"/unreachableStrategy": 'must be an object or "disabled"'},
    ),
    (
        "single instance",
        docker_app(
            labels={"MARATHON_SINGLE_INSTANCE_APP": "true"},
            instances=2,
            upgradeStrategy={"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0},
        ),
        {
            "/instances": "Single instance app may only have one instance",
            "/upgradeStrategy/minimumHealthCapacity": "must be 0 for a single instance app",
        },
    ),
    (
        "COMMAND without command",
        docker_app(healthChecks=[{"protocol": "COMMAND"}]),
        {"/healthChecks/0/command": "is required for protocol COMMAND"},
    ),
    (
        "health protocol",
        docker_app(healthChecks=[{"protocol": "GRPC"}]),
        {"/healthChecks/0/protocol": "must be one of"},
    ),
    (
        "health port index",
        dict(SEED, healthChecks=[{"protocol": "HTTP", "portIndex": 1}]),
        {"/healthChecks/0/portIndex": "Health check port indices must address an element of the ports array"},
    ),
    (
        "health without ports",
        docker_app(portDefinitions=[], healthChecks=[{"protocol": "TCP"}]),
        {"/healthChecks/0": "needs a port or portIndex"},
    ),
    (
        "health port and index",
        docker_app(healthChecks=[{"port": 80, "portIndex": 0}]),
        {"/healthChecks/0": "either port or portIndex"},
    ),
    (
        "health ranges",
        docker_app(healthChecks=[{"intervalSeconds": 0, "gracePeriodSeconds": -1, "port": 70000}]),
        {
            "/healthChecks/0/intervalSeconds": "must be >= 1",
            "/healthChecks/0/gracePeriodSeconds": "must be >= 0",
            "/healthChecks/0/port": "between 0 and 65535",
        },
    ),
    (
        "two mesos checks",
        docker_app(healthChecks=[{"protocol": "MESOS_HTTP"}, {"protocol": "MESOS_TCP"}]),
        {"/healthChecks": "at most one Mesos health check"},
    ),
    (
        "ipv6 check",
        docker_app(healthChecks=[{"protocol": "HTTP", "ipProtocol": "IPv6"}]),
        {"/healthChecks/0/ipProtocol": "IPv6"},
    ),
    (
        "readiness port name",
        docker_app(readinessChecks=[{"portName": "api"}]),
        {"/readinessChecks/0/portName": "no port named 'api'"},
    ),
    (
        "readiness timeout",
        docker_app(portDefinitions=[{"name": "http-api"}], readinessChecks=[{"timeoutSeconds": 30}]),
        {"/readinessChecks/0/timeoutSeconds": "must be less than intervalSeconds (30)"},
    ),
    (
        "two readiness checks",
        docker_app(portDefinitions=[{"name": "http-api"}], readinessChecks=[{}, {}]),
        {"/readinessChecks": "at most one"},
    ),
    ("secret ref", docker_app(env={"DB": {"secret": "db"}}), {"/env/DB": "secrets are not supported"}),
    ("accepted roles empty", docker_app(acceptedResourceRoles=[]), {"/acceptedResourceRoles": "must not be empty"}),
    ("dependencies", docker_app(dependencies=["ok", "Not_Ok"]), {"/dependencies/1": "segment 'Not_Ok' is invalid"}),
    ("executor", docker_app(executor="a//b"), {"/executor": "must be '//cmd', a path or empty"}),
    (
        "resource limits",
        docker_app(cpus=1, resourceLimits={"cpus": 0.5, "mem": "lots"}),
        {"/resourceLimits/cpus": "must be >= cpus (1)", "/resourceLimits/mem": 'must be a number or "unlimited"',
         "/resourceLimits": "cpus and mem are the container's limits"},
    ),
    (
        "volume kinds",
        docker_app(container={"docker": {"image": "i"}, "volumes": [{"containerPath": "/a"}]}),
        {"/container/volumes/0": "exactly one of hostPath"},
    ),
    (
        "volume mode",
        docker_app(
            container={"docker": {"image": "i"}, "volumes": [{"containerPath": "/a", "hostPath": "/b", "mode": "rw"}]}
        ),
        {"/container/volumes/0/mode": "must be one of 'RO' or 'RW'"},
    ),
    (
        "relative volume paths stay in the sandbox",
        docker_app(container={"docker": {"image": "i"}, "volumes": [
            {"containerPath": "/a", "hostPath": "data/../../etc", "mode": "RW"},
            {"containerPath": "../x", "hostPath": "ok", "mode": "RO"}]}),
        {"/container/volumes/0/hostPath": "inside the task's sandbox and must not contain '..'",
         "/container/volumes/1/containerPath": "inside the task's sandbox and must not contain '..'"},
    ),
    (
        "persistent volume",
        docker_app(
            container={
                "docker": {"image": "i"},
                "volumes": [{"containerPath": "a/b", "mode": "RO", "persistent": {"size": 0}}],
            }
        ),
        {
            "/container/volumes/0/containerPath": "must not contain '/'",
            "/container/volumes/0/mode": "must be RW",
            "/container/volumes/0/persistent/size": "must be > 0",
            "/container/volumes/0/persistent": "persistent volumes (resident apps) are not supported",
        },
    ),
    ("residency without volumes", docker_app(residency={}), {"/residency": "resident apps"}),
    (
        "nan and infinity",
        {"id": "/x", "container": {"docker": {"image": "i"}}, "cpus": float("inf")},
        {"/cpus": "finite"},
    ),
    ("version ignored in a create", docker_app(version="2026-11-26T06:32:12.123Z", cpus=-1), {"/cpus": ">= 0"}),
    (
        "rollback body is not an app",
        {"id": "/x", "version": "2026-11-26T06:32:12.123Z"},
        {"/version": "rollback", "/": "AppDefinition must either contain"},
    ),
    ("not an object", [], {"/": "must be a JSON object, got an array"}),  # type: ignore[dict-item]
]


@pytest.mark.parametrize(("body", "expected"), [(c[1], c[2]) for c in INVALID_CASES], ids=[c[0] for c in INVALID_CASES])
def test_invalid_app(body: Any, expected: dict[str, str]) -> None:
    errors = errors_of(body, default_image=IMG)
    assert {e.path for e in errors} == set(expected), errors
    for path, fragment in expected.items():
        messages = [e.message for e in errors if e.path == path]
        assert any(fragment in m for m in messages), (path, messages)


def test_many_problems_reported_at_once() -> None:
    body = {
        "id": "Bad_ID",
        "cpus": -1,
        "mem": "lots",
        "instances": 1.5,
        "instance": 3,
        "env": {"A": 1, "B": "ok"},
        "container": {
            "type": "DOCKER",
            "docker": {"network": "BRIDGE", "portMappings": [{"containerPort": 80, "hostPort": 70000}]},
        },
        "constraints": [["hostname", "UNIQUE", "x"], ["rack", "NEAR"]],
        "upgradeStrategy": {"minimumHealthCapacity": 2},
        "killSelection": "RANDOM",
        "healthChecks": [{"protocol": "COMMAND"}],
        "unreachableStrategy": {"inactiveAfterSeconds": 900, "expungeAfterSeconds": 600},
    }
    errors = errors_of(body)
    assert {e.path for e in errors} == {
        "/id",
        "/cpus",
        "/mem",
        "/instances",
        "/instance",
        "/env/A",
        "/container/docker/image",
        "/container/docker/portMappings/0/hostPort",
        "/constraints/0",
        "/constraints/1",
        "/upgradeStrategy/minimumHealthCapacity",
        "/killSelection",
        "/healthChecks/0/command",
        "/unreachableStrategy/inactiveAfterSeconds",
    }
    assert len(errors) == 14
    # sorted by path, root first
    paths = [e.path for e in errors]
    assert paths.index("/constraints/0") < paths.index("/constraints/1") < paths.index("/container/docker/image")
    text = str(AppValidationError(errors))
    assert text.startswith("Object is not valid: ")


def test_brief_example_cpus_id_unknown_field_and_image_together() -> None:
    body = {"id": "Bad_ID", "cpus": -1, "instanse": 2, "container": {"type": "DOCKER", "docker": {}}}
    assert paths_of(body) == {"/id", "/cpus", "/instanse", "/container/docker/image"}
    assert message_at(body, "/instanse") == "unknown field (did you mean 'instances'?)"


def test_cmd_app_is_valid_with_default_image() -> None:
    app = parse_app(cmd_app(), default_image=IMG)
    assert paths_of(cmd_app()) == {"/container"}
    assert paths_of(cmd_app(cpus=-1, args=["x"])) == {"/", "/cpus", "/container"}
    assert app.is_command_app and app.image is None and app.network_mode == "host"
    assert message_at(cmd_app(), "/container") == (
        "an app without a container runs in the cluster's default image, but [scheduler] default_image is not set"
    )


def test_version_null_is_accepted() -> None:
    assert parse_app(docker_app(version=None)).version is None


def test_read_only_fields_are_dropped() -> None:
    body = docker_app(
        **{
            k: v
            for k, v in PYTHON_CLIENT_ECHO.items()
            if k
            in (
                "tasks",
                "deployments",
                "tasksRunning",
                "versionInfo",
                "lastTaskFailure",
                "taskStats",
                "tasksStats",
                "readinessCheckResults",
                "tasksStaged",
                "tasksHealthy",
                "tasksUnhealthy",
            )
        }
    )
    assert parse_app(body) == parse_app(docker_app())


# --------------------------------------------------------------------- constraints


@pytest.mark.parametrize(
    ("constraint", "problem"),
    [
        (["hostname", "UNIQUE"], None),
        (["hostname", "unique"], None),
        (["hostname", "UNIQUE", "x"], "UNIQUE does not accept a value"),
        (["rack", "CLUSTER"], None),
        (["rack", "CLUSTER", "r1"], None),
        (["rack", "GROUP_BY"], None),
        (["rack", "GROUP_BY", "3"], None),
        (["rack", "GROUP_BY", "three"], "GROUP BY must define an integer value or else no value at all"),
        (["rack", "LIKE", "r[0-9]+"], None),
        (["rack", "UNLIKE", "r1|r2"], None),
        (["rack", "LIKE"], "LIKE and UNLIKE require a non-empty, regular expression value"),
        (["rack", "UNLIKE", ""], "LIKE and UNLIKE require a non-empty, regular expression value"),
        (["rack", "LIKE", "r[0-9"], "'r[0-9' is not a valid regular expression"),
        (["rack", "UNLIKE", "(x"], "'(x' is not a valid regular expression"),
        (["hostname", "MAX_PER", "2"], None),
        (["hostname", "MAX_PER"], "MAX_PER requires an integer value"),
        (["hostname", "MAX_PER", "2.5"], "MAX_PER requires an integer value"),
        (["hostname", "max_per", "x"], "MAX_PER requires an integer value"),
        (["os", "IS", "linux"], None),
        (["version", "IS", "1.5"], None),
        (["os", "IS", "a b"], "IS only supports Mesos text and float values"),
        (["os", "IS"], "IS requires a value"),
        (
            ["hostname", "IN", "a"],
            "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS",
        ),
        (
            ["hostname", "NEAR"],
            "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS",
        ),
        (["hostname"], "Each constraint must have either 2 or 3 fields"),
        (["hostname", "CLUSTER", "a", "b"], "Each constraint must have either 2 or 3 fields"),
        ([], "Each constraint must have either 2 or 3 fields"),
        (["", "UNIQUE"], "missing field for constraint declaration"),
    ],
)
def test_constraint_rules(constraint: list[str], problem: str | None) -> None:
    found = constraint_problem(constraint)
    if problem is None:
        assert found is None
        app = parse_app(docker_app(constraints=[constraint]))
        assert app.constraints == [[constraint[0], constraint[1].upper(), *constraint[2:]]]
    else:
        assert found is not None and found.startswith(problem)
        errors = errors_of(docker_app(constraints=[["hostname", "UNIQUE"], constraint]))
        assert [(e.path, e.message) for e in errors] == [("/constraints/1", found)]


def test_constraint_types() -> None:
    assert paths_of(docker_app(constraints=[["hostname", "MAX_PER", 2]])) == {"/constraints/0/2"}
    assert paths_of(docker_app(constraints=["hostname:UNIQUE"])) == {"/constraints/0"}
    assert paths_of(docker_app(constraints={"hostname": "UNIQUE"})) == {"/constraints"}


# ------------------------------------------------------------------- version only


def test_parse_app_version_only() -> None:
    assert parse_app_version_only({"version": "2026-11-26T06:32:12.123Z"}) == "2026-11-26T06:32:12.123Z"
    assert parse_app_version_only({"id": "/x", "version": "v1"}) == "v1"
    assert parse_app_version_only({"id": "/x", "version": None}) is None
    assert parse_app_version_only({"id": "/x", "version": "v", "cmd": "x"}) is None
    assert parse_app_version_only({"cmd": "x"}) is None
    assert parse_app_version_only([]) is None
    with pytest.raises(AppValidationError) as info:
        parse_app_version_only({"version": 5})
    assert info.value.errors[0].path == "/version"


# -------------------------------------------------------------- merge / versions


def test_merge_app_json_partial_update() -> None:
    existing = app_to_json(
        with_version(parse_app(SEED), "2026-01-01T00:00:00.000Z", {"lastScalingAt": "a", "lastConfigChangeAt": "b"})
    )
    merged = merge_app_json(existing, {"instances": 5, "tasksRunning": 3, "version": None, "deployments": []})
    assert "version" not in merged and "versionInfo" not in merged and "tasksRunning" not in merged
    assert merged["instances"] == 5
    new = parse_app(merged)
    assert new.instances == 5
    assert config_equal(new, parse_app(SEED))


def test_merge_with_legacy_network_replaces_networks() -> None:
    existing = app_to_json(parse_app(SEED))
    patch = {"container": {"type": "DOCKER", "docker": {"image": "python:3", "network": "HOST"}}}
    merged = merge_app_json(existing, patch)
    assert "networks" not in merged
    app = parse_app(merged)
    assert app.network_mode == "host"
    assert app.port_definitions == [PortDefinition(port=0, name="default")]


def test_merge_moving_off_host_network_drops_port_definitions() -> None:
    existing = app_to_json(parse_app(docker_app(portDefinitions=[{"port": 0}, {"port": 0}])))
    merged = merge_app_json(existing, {"networks": [{"mode": "container/bridge"}]})
    app = parse_app(merged)
    assert app.network_mode == "bridge"
    assert app.port_mappings == [PortMapping(host_port=0, name="default")]


def test_merge_keeps_existing_port_definitions_when_networking_untouched() -> None:
    existing = app_to_json(parse_app(docker_app(portDefinitions=[{"port": 8080, "name": "http"}])))
    app = parse_app(merge_app_json(existing, {"container": {"docker": {"image": "nginx:2"}}}))
    assert app.port_definitions == [PortDefinition(port=8080, name="http")]
    assert app.image == "nginx:2"


def test_merge_deprecated_ports_and_uris_replace_canonical() -> None:
    existing = app_to_json(app_from_json(cmd_app(portDefinitions=[{"port": 1}], fetch=[{"uri": "http://a"}])))
    merged = merge_app_json(existing, {"ports": [2], "uris": ["http://b"]})
    app = app_from_json(merged)
    assert app.port_definitions == [PortDefinition(port=2)]
    assert [a.uri for a in app.fetch] == ["http://b"]


def test_with_version_and_stored_round_trip() -> None:
    info = {"lastScalingAt": "2026-11-26T06:32:12.123Z", "lastConfigChangeAt": "2026-11-26T06:32:12.123Z"}
    app = with_version(parse_app(SEED), "2026-11-26T06:32:12.123Z", info)
    assert app.version == "2026-11-26T06:32:12.123Z" and app.version_info == info
    out = app_to_json(app)
    assert out["version"] == "2026-11-26T06:32:12.123Z" and out["versionInfo"] == info
    assert app_from_json(out) == app
    # an update refuses version + other fields, as Marathon does; a create ignores it (the server sets it)
    with pytest.raises(AppValidationError) as exc:
        parse_app(out, update=True)
    assert [(e.path, e.message) for e in exc.value.errors] == [("/version", VERSION_ONLY_MESSAGE)]
    assert parse_app(out) == parse_app(SEED)
    # a stored cmd-only app loads without a default image
    cmd = with_version(parse_app(cmd_app(), default_image=IMG), "v", {})
    assert app_from_json(app_to_json(cmd)) == cmd


def test_config_equal() -> None:
    a = parse_app(SEED)
    assert config_equal(a, parse_app(dict(SEED, instances=7)))
    assert config_equal(a, with_version(a, "v2", {"lastScalingAt": "x"}))
    assert not config_equal(a, parse_app(dict(SEED, cpus=1)))
    assert not config_equal(a, parse_app(dict(SEED, labels={"x": "y"})))
    assert not config_equal(
        a, parse_app(dict(SEED, container={"docker": {"image": "python:3.12", "network": "BRIDGE"}}))
    )


def test_model_is_frozen() -> None:
    app = parse_app(SEED)
    with pytest.raises(ValidationError):
        app.cpus = 2  # type: ignore[misc]


def test_direct_construction_by_python_names() -> None:
    app = AppDefinition(id="/x", cmd="sleep 1", health_checks=[HealthCheck(protocol="TCP", port_index=0)])
    assert app.network_mode == "host" and app.health_checks[0].protocol == "TCP"
    assert app.unreachable_strategy == UnreachableStrategy()
    assert AppDefinition(id="/x", cmd="y", unreachable_strategy=None).unreachable_strategy is None


def test_nested_nulls_mean_absent() -> None:
    app = parse_app(
        dict(
            SEED,
            container={
                "docker": {
                    "image": "i",
                    "network": "BRIDGE",
                    "portMappings": [{"containerPort": 80, "hostPort": None, "protocol": None}],
                }
            },
            healthChecks=[{"protocol": None, "portIndex": None}],
            upgradeStrategy={"minimumHealthCapacity": None},
        )
    )
    assert app.port_mappings == [PortMapping(container_port=80, host_port=0)]
    assert app.health_checks[0].protocol == "HTTP" and app.health_checks[0].port_index == 0
    assert app.upgrade_strategy.minimum_health_capacity == 1.0


# --------------------------------------------------------------- canonical output


def check_client_keys(out: dict[str, Any]) -> None:
    assert set(out) <= CLIENT_APP_KEYS | USER_SET_ONLY, set(out) - CLIENT_APP_KEYS
    for key in ("tasksStats", "linuxInfo", "ipAddress", "ports", "uris"):
        assert key not in out
    container = out.get("container")
    if container:
        assert set(container) <= CLIENT_CONTAINER_KEYS, container
        assert "network" not in container.get("docker", {}) or container["docker"]["network"] == "NONE"
        assert "portMappings" not in container.get("docker", {})
        for pm in container.get("portMappings", []):
            assert set(pm) <= CLIENT_PORT_MAPPING_KEYS
        for vol in container["volumes"]:
            assert set(vol) <= CLIENT_VOLUME_KEYS
    for pd in out.get("portDefinitions", []):
        assert set(pd) <= {"port", "protocol", "name", "labels"}
    for rc in out.get("readinessChecks", []):
        assert set(rc) <= {
            "name",
            "protocol",
            "path",
            "portName",
            "intervalSeconds",
            "timeoutSeconds",
            "httpStatusCodesForReady",
            "preserveLastResponse",
        }
    assert set(out["upgradeStrategy"]) == {"minimumHealthCapacity", "maximumOverCapacity"}
    assert out["unreachableStrategy"] == "disabled" or set(out["unreachableStrategy"]) == {
        "inactiveAfterSeconds",
        "expungeAfterSeconds",
    }
    for key in (
        "args",
        "constraints",
        "dependencies",
        "env",
        "fetch",
        "healthChecks",
        "readinessChecks",
        "secrets",
        "storeUrls",
    ):
        if key in out:
            assert out[key], f"omit-empty field {key} emitted empty"


def test_canonical_json_has_only_client_keys() -> None:
    for body in (SEED, PYTHON_CLIENT_ECHO, docker_app(), cmd_app()):
        check_client_keys(app_to_json(parse_app(body, default_image=IMG)))


def test_user_set_extras_are_emitted() -> None:
    body = docker_app(
        check={"http": {"portIndex": 0}},
        tty=True,
        executorResources={"cpus": 0.2},
        resourceLimits={"cpus": "unlimited"},
        role="web",
    )
    assert paths_of(body) == {"/check", "/tty", "/executorResources", "/resourceLimits"}  # none honoured
    out = app_to_json(app_from_json(body))  # an older store's app keeps them
    assert out["check"] == {"http": {"portIndex": 0}} and out["tty"] is True and out["role"] == "web"
    assert out["executorResources"] == {"cpus": 0.2, "mem": 32.0, "disk": 10.0}
    assert out["resourceLimits"] == {"cpus": "unlimited"}
    plain = app_to_json(parse_app(docker_app()))
    assert not {"check", "tty", "executorResources", "resourceLimits", "role"} & set(plain)


ROUND_TRIP_TABLE: list[dict[str, Any]] = [
    SEED,
    PYTHON_CLIENT_ECHO,
    cmd_app(),
    {"id": "/job", "args": ["sleep", "10"]},
    cmd_app(ports=[0, 0], requirePorts=True),
    cmd_app(networks=[{"mode": "container/bridge"}], portDefinitions=[{"port": 0}, {"port": 0}]),
    cmd_app(ipAddress={}),
    docker_app(),
    docker_app(container={"docker": {"image": "i", "network": "NONE"}}),
    docker_app(container={"docker": {"image": "i", "network": "USER"}}),
    docker_app(
        networks=[{"mode": "container"}],
        container={
            "docker": {"image": "i"},
            "portMappings": [{"containerPort": 80, "name": "http", "labels": {"VIP_0": "1.2.3.4:80"}}],
        },
    ),
    docker_app(
        cmd="serve",
        cpus=0.25,
        mem=512,
        disk=100,
        instances=0,
        executor="//cmd",
        container={
            "type": "DOCKER",
            "docker": {
                "image": "nginx:1",
                "privileged": True,
                "forcePullImage": True,
                "parameters": [{"key": "log-driver", "value": "none"}],
            },
            "volumes": [{"containerPath": "/data", "hostPath": "/srv/data", "mode": "RO"}],
        },
        env={"A": "1"},
        labels={"HAPROXY_GROUP": "external"},
        constraints=[["hostname", "max_per", "2"], ["rack", "GROUP_BY"]],
        acceptedResourceRoles=["*"],
        dependencies=["/db"],
        healthChecks=[
            {"protocol": "HTTPS", "path": "/health", "portIndex": 0, "ignoreHttp1xx": True},
            {"protocol": "TCP", "port": 8080},
        ],
        portDefinitions=[{"port": 0, "name": "http-api", "labels": {"a": "b"}}, {"port": 8080, "name": "admin"}],
        readinessChecks=[{"httpStatusCodesForReady": [200, 204], "preserveLastResponse": True}],
        upgradeStrategy={"minimumHealthCapacity": 0, "maximumOverCapacity": 0.5},
        backoffSeconds=2,
        backoffFactor=2.0,
        maxLaunchDelaySeconds=60,
        killSelection="OLDEST_FIRST",
        unreachableStrategy="disabled",
        taskKillGracePeriodSeconds=10,
        user="nobody",
        tty=False,
    ),
    docker_app(container={"type": "MESOS", "docker": {"image": "i"}}),
    docker_app(labels={"MARATHON_SINGLE_INSTANCE_APP": "true"}, instances=1),
]

# Apps with fields pacer refuses at submission (it does not honour them; test_unhonoured_fields_are_refused)
# but that a store written by an earlier pacer may hold: they still load and serialise unchanged.
STORED_ONLY_TABLE: list[dict[str, Any]] = [
    cmd_app(ports=[0, 0], uris=["http://x/y.zip"], requirePorts=True),
    cmd_app(
        ipAddress={"networkName": "dev", "labels": {"a": "b"}, "discovery": {"ports": [{"number": 80, "name": "http"}]}}
    ),
    docker_app(
        networks=[{"mode": "container", "name": "dev", "labels": {"x": "y"}}],
        container={
            "docker": {"image": "i"},
            "portMappings": [{"containerPort": 80, "name": "http", "labels": {"VIP_0": "1.2.3.4:80"}}],
        },
    ),
    docker_app(
        cmd="serve",
        cpus=0.25,
        mem=512,
        disk=100,
        instances=0,
        executor="//cmd",
        container={
            "type": "DOCKER",
            "docker": {
                "image": "nginx:1",
                "privileged": True,
                "forcePullImage": True,
                "parameters": [{"key": "log-driver", "value": "none"}],
            },
            "volumes": [{"containerPath": "/data", "hostPath": "/srv/data", "mode": "RO"}],
        },
        env={"A": "1", "S": {"secret": "s1"}},
        secrets={"s1": {"source": "vault/s1"}},
        labels={"HAPROXY_GROUP": "external"},
        constraints=[["hostname", "max_per", "2"], ["rack", "GROUP_BY"]],
        acceptedResourceRoles=["*"],
        fetch=[{"uri": "http://a/b", "extract": False, "executable": True, "cache": True, "destPath": "b"}],
        dependencies=["/db"],
        healthChecks=[
            {"protocol": "HTTPS", "path": "/health", "portIndex": 0, "ignoreHttp1xx": True},
            {"protocol": "TCP", "port": 8080},
        ],
        portDefinitions=[{"port": 0, "name": "http-api", "labels": {"a": "b"}}, {"port": 8080, "name": "admin"}],
        readinessChecks=[{"httpStatusCodesForReady": [200, 204], "preserveLastResponse": True}],
        upgradeStrategy={"minimumHealthCapacity": 0, "maximumOverCapacity": 0.5},
        backoffSeconds=2,
        backoffFactor=2.0,
        maxLaunchDelaySeconds=60,
        killSelection="OLDEST_FIRST",
        unreachableStrategy="disabled",
        taskKillGracePeriodSeconds=10,
        user="nobody",
        storeUrls=["http://store"],
        taskRateLimit=1.5,
        tty=False,
    ),
    docker_app(
        container={
            "docker": {"image": "i"},
            "volumes": [{"containerPath": "data", "persistent": {"size": 5, "type": "mount", "maxSize": 10}}],
        }
    ),
    docker_app(
        container={
            "type": "MESOS",
            "docker": {"image": "i"},
            "linuxInfo": {"seccomp": {"unconfined": True}},
        },
        secrets={"p": {"source": "reg"}},
    ),
]




@pytest.mark.parametrize("body", STORED_ONLY_TABLE, ids=range(len(STORED_ONLY_TABLE)))
def test_stored_apps_with_unhonoured_fields_still_load(body: dict[str, Any]) -> None:
    with pytest.raises(AppValidationError):
        parse_app(body, default_image=IMG)
    app = app_from_json(body)
    out = app_to_json(app)
    again = app_from_json(out)
    assert again == app
    assert app_to_json(again) == out


@pytest.mark.parametrize("body", ROUND_TRIP_TABLE, ids=range(len(ROUND_TRIP_TABLE)))
def test_round_trip_table(body: dict[str, Any]) -> None:
    app = parse_app(body, default_image=IMG)
    out = app_to_json(app)
    json.dumps(out)  # plain JSON
    again = parse_app(out, default_image=IMG)
    assert again == app
    assert app_to_json(again) == out


# ------------------------------------------------------------ hypothesis round trip

_label = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
_port_name = st.from_regex(r"[a-z]([a-z0-9-]{0,5}[a-z0-9])?", fullmatch=True)
_text = st.text(alphabet="abcxyz019 -_/.:", max_size=12)
_port = st.integers(min_value=0, max_value=65535)
_labels = st.dictionaries(_label, _text, max_size=3)
_finite = {"allow_nan": False, "allow_infinity": False}
_constraint = st.sampled_from(
    [
        ["hostname", "UNIQUE"],
        ["hostname", "unique"],
        ["rack", "CLUSTER", "r1"],
        ["rack", "GROUP_BY"],
        ["rack", "GROUP_BY", "2"],
        ["@zone", "LIKE", "eu-.*"],
        ["@zone", "UNLIKE", "us-.*"],
        ["hostname", "MAX_PER", "3"],
        ["os", "IS", "linux"],
        ["rack", "cluster"],
    ]
)


def _unique_names(draw: st.DrawFn, n: int) -> list[str | None]:
    names = draw(st.lists(_port_name, min_size=n, max_size=n, unique=True))
    return [name if draw(st.booleans()) else None for name in names]


@st.composite
def app_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"id": draw(st.lists(_label, min_size=1, max_size=3).map("/".join))}
    if draw(st.booleans()):
        body["id"] = "/" + body["id"]
    shape = draw(
        st.sampled_from(
            [
                "cmd",
                "cmd-bridge",
                "docker-host",
                "docker-bridge",
                "docker-bridge-legacy",
                "docker-container",
                "docker-none",
                "mesos",
            ]
        )
    )
    if shape == "cmd" or shape == "cmd-bridge" or draw(st.booleans()):
        if draw(st.booleans()):
            body["cmd"] = draw(st.text(alphabet="abc -x", min_size=1, max_size=10))
        else:
            body["args"] = draw(st.lists(_text, min_size=1, max_size=3))
    n_ports = 0
    host = shape in ("cmd", "docker-host", "mesos")
    mappings = None
    if shape.startswith("docker") or shape == "mesos":
        docker: dict[str, Any] = {"image": draw(st.sampled_from(["nginx", "python:3", "reg:5000/a/b:1"]))}
        if draw(st.booleans()):
            docker["privileged"] = draw(st.booleans())
            docker["forcePullImage"] = draw(st.booleans())
        if draw(st.booleans()):
            docker["parameters"] = [{"key": "label", "value": v} for v in draw(st.lists(_label, max_size=2))]
        container: dict[str, Any] = {"type": "MESOS" if shape == "mesos" else "DOCKER", "docker": docker}
        if draw(st.booleans()):
            container["volumes"] = [
                {"containerPath": f"/c{i}", "hostPath": f"/h{i}", "mode": draw(st.sampled_from(["RO", "RW"]))}
                for i in range(draw(st.integers(0, 2)))
            ]
        if shape in ("docker-bridge", "docker-bridge-legacy", "docker-container"):
            if shape != "docker-bridge" or draw(st.booleans()):
                n = draw(st.integers(0 if shape != "docker-bridge-legacy" else 1, 3))
                names = _unique_names(draw, n)
                mappings = []
                for i in range(n):
                    pm: dict[str, Any] = {"containerPort": draw(_port)}
                    if draw(st.booleans()):
                        pm["hostPort"] = draw(_port)
                    if draw(st.booleans()):
                        pm["servicePort"] = draw(_port)
                    if draw(st.booleans()):
                        pm["protocol"] = draw(st.sampled_from(["tcp", "udp", "udp,tcp"]))
                    if names[i] is not None:
                        pm["name"] = names[i]
                    if draw(st.booleans()):
                        pm["labels"] = draw(_labels)
                    mappings.append(pm)
            if shape == "docker-bridge-legacy":
                docker["network"] = "BRIDGE"
                docker["portMappings"] = mappings
            else:
                body["networks"] = (
                    [{"mode": "container/bridge"}]
                    if shape == "docker-bridge"
                    else [{"mode": "container"}]
                )
                if mappings is not None:
                    container["portMappings"] = mappings
            n_ports = 1 if mappings is None else len(mappings)
        elif shape == "docker-none":
            docker["network"] = "NONE"
        body["container"] = container
    if shape == "cmd-bridge":
        body["networks"] = [{"mode": "container/bridge"}]
        n_ports = 1
    port_names: list[str] = [m["name"] for m in (mappings or []) if "name" in m]
    declared_ports = sorted({p for m in (mappings or []) for k in ("hostPort", "containerPort") if (p := m.get(k))})
    if host:
        if draw(st.booleans()):
            n = draw(st.integers(0, 3))
            names = _unique_names(draw, n)
            defs = []
            for i in range(n):
                pd: dict[str, Any] = {"port": 0 if draw(st.booleans()) else 10000 + i}
                if draw(st.booleans()):
                    pd["protocol"] = draw(st.sampled_from(["tcp", "udp", "udp,tcp"]))
                if names[i] is not None:
                    pd["name"] = names[i]
                if draw(st.booleans()):
                    pd["labels"] = draw(_labels)
                defs.append(pd)
            body["portDefinitions"] = defs
            declared_ports = sorted({d["port"] for d in defs if d["port"]})
            n_ports = n
            port_names = [d["name"] for d in defs if "name" in d]
        elif draw(st.booleans()):
            body["ports"] = [0] * draw(st.integers(0, 2))
            n_ports = len(body["ports"])
            port_names = []
        else:
            n_ports = 1
            port_names = ["default"]
        body["requirePorts"] = draw(st.booleans())
    # scalars
    if draw(st.booleans()):
        body["cpus"] = draw(st.floats(0, 16, **_finite))
    if draw(st.booleans()):
        body["mem"] = draw(st.one_of(st.integers(0, 65536), st.floats(0, 65536, **_finite)))
    if draw(st.booleans()):
        body["disk"] = draw(st.floats(0, 1e6, **_finite))
    if draw(st.booleans()):
        body["instances"] = draw(st.integers(0, 50))
    if draw(st.booleans()):
        body["env"] = draw(st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True), _text, max_size=3))
    if draw(st.booleans()):
        body["labels"] = draw(_labels)
    if draw(st.booleans()):
        body["constraints"] = draw(st.lists(_constraint, max_size=3))
    if draw(st.booleans()):
        checks = []
        for _ in range(draw(st.integers(0, 2))):
            # a probe over the network needs a port of the app's (by portIndex or an explicit declared port)
            can_probe = bool(n_ports or declared_ports)
            protocol = draw(st.sampled_from(["HTTP", "HTTPS", "TCP", "COMMAND"] if can_probe else ["COMMAND"]))
            hc: dict[str, Any] = {"protocol": protocol}
            if protocol == "COMMAND":
                hc["command"] = {"value": draw(st.text(alphabet="abc /-", min_size=1, max_size=10))}
            elif n_ports and draw(st.booleans()):
                if draw(st.booleans()):
                    hc["portIndex"] = draw(st.integers(0, n_ports - 1))
            elif declared_ports:
                hc["port"] = draw(st.sampled_from(declared_ports))
            if protocol in ("HTTP", "HTTPS") and draw(st.booleans()):
                hc["path"] = draw(st.sampled_from(["/", "/health", "/ping?x=1"]))
            for key, low in (
                ("gracePeriodSeconds", 0),
                ("intervalSeconds", 1),
                ("timeoutSeconds", 1),
                ("maxConsecutiveFailures", 0),
            ):
                if draw(st.booleans()):
                    hc[key] = draw(st.integers(low, 600))
            if draw(st.booleans()):
                hc["ignoreHttp1xx"] = draw(st.booleans())
            checks.append(hc)
        body["healthChecks"] = checks
    if port_names and draw(st.booleans()):
        interval = draw(st.integers(2, 60))
        body["readinessChecks"] = [
            {
                "portName": draw(st.sampled_from(port_names)),
                "intervalSeconds": interval,
                "timeoutSeconds": draw(st.integers(1, interval - 1)),
            }
        ]
    if draw(st.booleans()):
        body["upgradeStrategy"] = {
            "minimumHealthCapacity": draw(st.floats(0, 1, **_finite)),
            "maximumOverCapacity": draw(st.floats(0, 1, **_finite)),
        }
    if draw(st.booleans()):
        if draw(st.booleans()):
            body["unreachableStrategy"] = "disabled"
        else:
            inactive = draw(st.integers(0, 1000))
            body["unreachableStrategy"] = {
                "inactiveAfterSeconds": inactive,
                "expungeAfterSeconds": draw(st.integers(inactive, 2000)),
            }
    if draw(st.booleans()):
        body["killSelection"] = draw(st.sampled_from(["YOUNGEST_FIRST", "OLDEST_FIRST"]))
    if draw(st.booleans()):
        body["backoffSeconds"] = draw(st.integers(0, 100))
        body["backoffFactor"] = draw(st.floats(1, 10, **_finite))
        body["maxLaunchDelaySeconds"] = draw(st.integers(0, 3600))
    if draw(st.booleans()):
        body["taskKillGracePeriodSeconds"] = draw(st.integers(0, 300))
    if draw(st.booleans()):
        body["user"] = draw(st.sampled_from(["root", "nobody", "1000"]))
    if draw(st.booleans()):
        uris: list[str] = []  # artifacts are refused until agents download them: only the empty list passes
        body["uris" if draw(st.booleans()) else "fetch"] = uris if draw(st.booleans()) else [{"uri": u} for u in uris]
        if isinstance(body.get("fetch"), list) and body["fetch"] and isinstance(body["fetch"][0], str):
            body["fetch"] = [{"uri": u} for u in body["fetch"]]
        if isinstance(body.get("uris"), list) and body["uris"] and isinstance(body["uris"][0], dict):
            body["uris"] = [u["uri"] for u in body["uris"]]
    if draw(st.booleans()):
        body["dependencies"] = draw(st.lists(_label, max_size=2))
    if draw(st.booleans()):
        body["acceptedResourceRoles"] = ["*"]
    if draw(st.booleans()):
        body["version"] = None
        body["tasksRunning"] = draw(st.integers(0, 3))
        body["deployments"] = []
    return body


@settings(max_examples=300, deadline=None)
@given(body=app_bodies())
def test_round_trip_property(body: dict[str, Any]) -> None:
    app = parse_app(body, default_image=IMG)
    out = app_to_json(app)
    check_client_keys(out)
    assert json.loads(json.dumps(out)) == out
    again = parse_app(out, default_image=IMG)
    assert again == app
    assert app_to_json(again) == out
    assert config_equal(app, again)
    stored = with_version(app, "2026-11-26T06:32:12.123Z", {"lastConfigChangeAt": "2026-11-26T06:32:12.123Z"})
    assert app_from_json(app_to_json(stored)) == stored


# ------------------------------------------------------------------------- speed


def test_parse_is_fast() -> None:
    bodies = [dict(PYTHON_CLIENT_ECHO, id=f"/shop/web{i}") for i in range(1000)]
    start = time.perf_counter()
    for body in bodies:
        parse_app(body)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"1000 parses took {elapsed:.3f}s"


# ------------------------------------------------------------------------ fuzzing

_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
_json = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
_APP_KEYS = sorted(app_to_json(app_from_json(STORED_ONLY_TABLE[3])).keys()) + [
    "ports",
    "uris",
    "ipAddress",
    "version",
    "tasks",
]


@st.composite
def mutated_bodies(draw: st.DrawFn) -> Any:
    """A valid app with a few fields (at any depth) replaced by arbitrary JSON."""
    body = copy.deepcopy(draw(st.sampled_from(ROUND_TRIP_TABLE)))
    for _ in range(draw(st.integers(1, 4))):
        target: Any = body
        # walk down a few levels into dicts and lists
        for _ in range(draw(st.integers(0, 3))):
            if isinstance(target, dict) and target:
                key = draw(st.sampled_from(sorted(target)))
                if not isinstance(target[key], (dict, list)) or not target[key]:
                    break
                target = target[key]
            elif isinstance(target, list) and target:
                index = draw(st.integers(0, len(target) - 1))
                if not isinstance(target[index], (dict, list)) or not target[index]:
                    break
                target = target[index]
        if isinstance(target, dict):
            key = draw(st.one_of(st.sampled_from(_APP_KEYS), st.sampled_from(sorted(target) or ["x"])))
            target[key] = draw(_json)
        elif isinstance(target, list) and target:
            target[draw(st.integers(0, len(target) - 1))] = draw(_json)
    return body


@settings(max_examples=400, deadline=None)
@given(body=mutated_bodies())
def test_garbage_is_reported_never_crashes(body: Any) -> None:
    try:
        app = parse_app(body, default_image=IMG)
    except AppValidationError as exc:
        assert exc.errors
        for error in exc.errors:
            assert error.path.startswith("/") and error.message
        return
    assert parse_app(app_to_json(app), default_image=IMG) == app


@given(body=_json)
def test_any_json_is_reported_never_crashes(body: Any) -> None:
    try:
        parse_app(body, default_image=IMG)
    except AppValidationError as exc:
        assert exc.errors


def test_health_port_index_message_is_marathons() -> None:
    assert message_at(dict(SEED, healthChecks=[{"portIndex": 1}]), "/healthChecks/0/portIndex") == (
        "Health check port indices must address an element of the ports array or container port mappings."
    )


# ------------------------------------------------------------------ health check targets (issue #19)

HOSTILE_PATHS = [
    "/h\r\nPOST /containers/create HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}",
    "/h\nX-Injected: 1",
    "/h\rx",
    "/a b",
    "/a\tb",
    "/\x00",
    "/\x7f",
    "/caf\u00e9",
    "/\u2028",
    "health",
    "",
    "/x#frag",
    "/%zz",
    "/%4",
    "/<script>",
    "/" + "a" * 2048,
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_health_and_readiness_check_paths_must_be_plain_request_targets(path: str) -> None:
    body = docker_app(healthChecks=[{"protocol": "HTTP", "path": path}],
                      portDefinitions=[{"port": 0, "name": "http-api"}], readinessChecks=[{"path": path}])
    errors = {e.path: e.message for e in errors_of(body)}
    assert set(errors) == {"/healthChecks/0/path", "/readinessChecks/0/path"}, errors
    assert "\r" not in errors["/healthChecks/0/path"] and "\n" not in errors["/healthChecks/0/path"]


@pytest.mark.parametrize("path", ["/", "/health", "/ping?x=1&y=%20z", "/a/b;c=d/@x:1/~u/(1)/!$'*+,", "/%C3%A9"])
def test_plain_health_check_paths_are_kept_and_sent_verbatim(path: str) -> None:
    from engine.health import http_probe_request

    app = parse_app(docker_app(healthChecks=[{"protocol": "HTTP", "path": path}]))
    assert app.health_checks[0].path == path
    assert http_probe_request("127.0.0.1", 80, path).startswith(f"GET {path} HTTP/1.1\r\nHost: ".encode())


@pytest.mark.parametrize(
    ("body", "index"),
    [
        (docker_app(portDefinitions=[{"port": 0}, {"port": 9000}], healthChecks=[{"port": 9000}]), 1),
        (docker_app(networks=[{"mode": "container/bridge"}],
                    container={"docker": {"image": "i"}, "portMappings": [
                        {"containerPort": 80, "hostPort": 0}, {"containerPort": 8080, "hostPort": 31999}]},
                    healthChecks=[{"protocol": "TCP", "port": 31999}]), 1),
        (docker_app(networks=[{"mode": "container/bridge"}],
                    container={"docker": {"image": "i"}, "portMappings": [
                        {"containerPort": 80, "hostPort": 0}, {"containerPort": 8080, "hostPort": 0}]},
                    healthChecks=[{"protocol": "MESOS_HTTP", "port": 8080}]), 1),
    ],
    ids=["host portDefinitions", "bridge hostPort", "bridge containerPort"],
)
def test_explicit_health_check_port_names_a_declared_port(body: dict[str, Any], index: int) -> None:
    app = parse_app(body)
    assert app.health_checks[0].port_index == index, "the probe goes to the task's host port of that declaration"
    assert parse_app(app_to_json(app)) == app


@pytest.mark.parametrize(
    "body",
    [
        docker_app(healthChecks=[{"protocol": "HTTP", "port": 2375}]),
        docker_app(portDefinitions=[{"port": 9000}], healthChecks=[{"protocol": "TCP", "port": 9001}]),
        docker_app(networks=[{"mode": "container/bridge"}],
                   container={"docker": {"image": "i"}, "portMappings": [{"containerPort": 80, "servicePort": 10001}]},
                   healthChecks=[{"protocol": "HTTP", "port": 10001}]),
    ],
    ids=["no ports declared", "another port", "a service port"],
)
def test_explicit_health_check_port_the_app_does_not_declare_is_refused(body: dict[str, Any]) -> None:
    assert "is not a port of this app" in message_at(body, "/healthChecks/0/port")
    # The same app stored by an older pacer still loads (the engine starts); the prober refuses its probe.
    stored = app_to_json(parse_app({**body, "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}}]}))
    stored["healthChecks"] = body["healthChecks"]
    loaded = app_from_json(stored)
    assert loaded.health_checks[0].port == body["healthChecks"][0]["port"]
    assert loaded.health_checks[0].port_index is None


# ------------------------------------------------------------------ limits (issue #19)

MiB_16T = 16 * 1024 * 1024
INT32 = 2**31 - 1


def _id_of_length(n: int) -> str:
    """An app id of exactly n characters (normalised), in segments of at most 63."""
    segments, left = [], n
    while left > 0:
        take = min(64, left)
        segments.append("a" * (take - 1) if take > 1 else "")
        left -= take
    assert all(segments), n
    return "/" + "/".join(segments)


def _n_labels(n: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(n)}


# (what, body at the limit, body past it, the field named)
LIMITS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("instances", docker_app(instances=100_000), docker_app(instances=100_001), "/instances"),
    ("instances 1e12", docker_app(instances=100_000), docker_app(instances=1e12), "/instances"),
    ("cpus", docker_app(cpus=1024), docker_app(cpus=1024.5), "/cpus"),
    ("mem", docker_app(mem=MiB_16T), docker_app(mem=MiB_16T + 1), "/mem"),
    ("mem 1e15", docker_app(mem=MiB_16T), docker_app(mem=1e15), "/mem"),
    ("mem 1e308", docker_app(mem=MiB_16T), docker_app(mem=1e308), "/mem"),
    ("disk", docker_app(disk=MiB_16T), docker_app(disk=MiB_16T + 1), "/disk"),
    ("id length", docker_app(id=_id_of_length(255)), docker_app(id=_id_of_length(256)), "/id"),
    ("id 10 KB", docker_app(id=_id_of_length(255)), docker_app(id="/" + "x" * 10_000), "/id"),
    ("id segment", docker_app(id="/" + "a" * 63), docker_app(id="/" + "a" * 64), "/id"),
    ("port definitions", docker_app(portDefinitions=[{"port": 0}] * 1000),
     docker_app(portDefinitions=[{"port": 0}] * 1001), "/portDefinitions"),
    ("port mappings", docker_app(networks=[{"mode": "container/bridge"}],
                                 container={"docker": {"image": "i"}, "portMappings": [{"containerPort": 80}] * 1000}),
     docker_app(networks=[{"mode": "container/bridge"}],
                container={"docker": {"image": "i"}, "portMappings": [{"containerPort": 80}] * 1001}),
     "/container/portMappings"),
    ("labels count", docker_app(labels=_n_labels(1000)), docker_app(labels=_n_labels(1001)), "/labels"),
    ("label key", docker_app(labels={"k" * 1024: "v"}), docker_app(labels={"k" * 1025: "v"}), "/labels"),
    ("label value", docker_app(labels={"k": "v" * 65_536}), docker_app(labels={"k": "v" * 65_537}), "/labels/k"),
    ("labels size", docker_app(labels={f"k{i:02d}": "v" * 65_536 for i in range(15)}),
     docker_app(labels={f"k{i:02d}": "v" * 65_536 for i in range(17)}), "/labels"),
    ("port labels", docker_app(portDefinitions=[{"port": 0, "labels": _n_labels(1000)}]),
     docker_app(portDefinitions=[{"port": 0, "labels": _n_labels(1001)}]), "/portDefinitions/0/labels"),
    ("env count", docker_app(env={f"E{i}": "1" for i in range(1000)}),
     docker_app(env={f"E{i}": "1" for i in range(1001)}), "/env"),
    ("env value", docker_app(env={"E": "v" * 65_536}), docker_app(env={"E": "v" * 65_537}), "/env/E"),
    ("backoffSeconds", docker_app(backoffSeconds=INT32), docker_app(backoffSeconds=10**15), "/backoffSeconds"),
    ("maxLaunchDelaySeconds", docker_app(maxLaunchDelaySeconds=INT32), docker_app(maxLaunchDelaySeconds=INT32 + 1),
     "/maxLaunchDelaySeconds"),
    ("backoffFactor", docker_app(backoffFactor=100), docker_app(backoffFactor=1e308), "/backoffFactor"),
    ("kill grace", docker_app(taskKillGracePeriodSeconds=INT32), docker_app(taskKillGracePeriodSeconds=INT32 + 1),
     "/taskKillGracePeriodSeconds"),
    ("health interval", docker_app(healthChecks=[{"intervalSeconds": INT32}]),
     docker_app(healthChecks=[{"intervalSeconds": 1e308}]), "/healthChecks/0/intervalSeconds"),
    ("unreachable", docker_app(unreachableStrategy={"inactiveAfterSeconds": INT32, "expungeAfterSeconds": INT32}),
     docker_app(unreachableStrategy={"inactiveAfterSeconds": 1, "expungeAfterSeconds": INT32 + 1}),
     "/unreachableStrategy/expungeAfterSeconds"),
]


@pytest.mark.parametrize(("what", "at_limit", "past_limit", "field"), LIMITS, ids=[row[0] for row in LIMITS])
def test_limits_accept_the_bound_and_refuse_past_it_at_the_field(what: str, at_limit: dict[str, Any],
                                                                 past_limit: dict[str, Any], field: str) -> None:
    parse_app(at_limit)
    errors = errors_of(past_limit)
    assert [e.path for e in errors] == [field] * len(errors) and errors, errors
    assert all("pacer's limit" in e.message for e in errors), errors
    # An app stored by an older pacer past pacer's limits still loads: the engine starts, and the operator can fix it.
    stored = app_to_json(parse_app(at_limit))
    stored.update(past_limit)
    app_from_json(stored)


def test_every_limit_is_reported_at_once() -> None:
    body = docker_app(id="/" + "x" * 10_000, instances=1e12, mem=1e15, cpus=1e308, backoffSeconds=10**15)
    assert paths_of(body) == {"/id", "/instances", "/mem", "/cpus", "/backoffSeconds"}


def test_relative_volumes_are_accepted_inside_the_sandbox() -> None:
    """Marathon's relative hostPath/containerPath live in the task's sandbox, which pacer now gives every task."""
    app = parse_app(docker_app(container={"docker": {"image": "i"},
                                          "volumes": [{"containerPath": "/d", "hostPath": "data", "mode": "RW"}]}))
    assert app.container is not None and app.container.volumes[0].host_path == "data"

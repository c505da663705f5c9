"""Normalisation to Marathon 1.10's canonical form: the deprecated `docker.network`, `docker.portMappings`,
`ports`, `uris` and `ipAddress` translated, defaults filled in (NetworkTranslation and friends)."""

from __future__ import annotations

import copy
from typing import Any

from engine.model.ids import group_of, normalize_app_id, resolve_app_id
from engine.model.schema import (
    _LEGACY_TO_NETWORK,
    AppDefinition,
    Artifact,
    Container,
    Network,
    NetworkModeName,
    PortDefinition,
    PortMapping,
    Residency,
    UpgradeStrategy,
    _host_networks,
    _mode_of,
)

_MESOS_BRIDGE_NAME = "mesos-bridge"
_EXTRACT_SUFFIXES = (".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip")
_DEFAULT_PORT_DEFINITIONS = (PortDefinition(port=0, protocol="tcp", name="default"),)


def declared_port_index(port: int, port_definitions: list[PortDefinition], mappings: list[PortMapping]) -> int | None:
    """Which of the app's ports an explicit health check `port` names: a portDefinitions[].port (host
    networking), else a portMappings[] hostPort, else a containerPort (Marathon's MESOS_* checks in bridge
    mode name the container's port); None when it names none. Port 0 ("assign one") names nothing."""
    if not port:
        return None
    for i, pd in enumerate(port_definitions):
        if pd.port == port:
            return i
    for i, pm in enumerate(mappings):
        if pm.host_port == port:
            return i
    for i, pm in enumerate(mappings):
        if pm.container_port == port:
            return i
    return None


def normalize(m: AppDefinition, d: dict[str, Any], *, disabled: bool) -> AppDefinition:
    container = m.container
    docker = container.docker if container is not None else None
    legacy = docker.network if docker is not None else None
    ip = m.ip_address

    # networks (NetworkTranslation): deprecated ipAddress / docker.network -> networks
    if ip is not None:
        mode: NetworkModeName
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

    final_mappings = (container.port_mappings or []) if container is not None else []
    n_ports = len(port_definitions) if host else len(final_mappings)
    health_checks = []
    for hc in m.health_checks:
        if hc.protocol != "COMMAND" and hc.port is None and hc.port_index is None and n_ports > 0:
            hc = hc.model_copy(update={"port_index": 0})
        elif hc.port is not None:
            # An explicit port names one the app declares; the probe goes to the task's host port for it.
            index = declared_port_index(hc.port, port_definitions if host else [], [] if host else final_mappings)
            hc = hc.model_copy(update={"port_index": index})
        health_checks.append(hc)

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

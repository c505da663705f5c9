"""Marathon's service ports: the cluster-wide port numbers a load balancer serves an app's ports on.

Each port of an app (a `portDefinitions[].port` with host networking, a `portMappings[].servicePort`
otherwise) that is 0 gets one from [10000, 20000], unique across the cluster; a port given explicitly
must not be another app's (except the ports of a host-network app with requirePorts: they are host ports
too, and two such apps may share one; their tasks never share an agent). An app updated with 0 again keeps the ports it already had, so re-submitting
the same JSON changes nothing (no restart) and a load balancer's configuration stays valid.

Pure: the caller passes the ports other apps hold.
"""

from __future__ import annotations

from typing import Mapping

from engine.errors import AppValidationError, FieldError
from engine.model.schema import AppDefinition

SERVICE_PORT_RANGE = (10000, 20000)


def service_ports(app: AppDefinition | None) -> list[int]:
    """The app's service ports, in port order (0 where none is assigned)."""
    if app is None:
        return []
    if app.network_mode == "host":
        return [pd.port for pd in app.port_definitions]
    return [pm.service_port for pm in app.port_mappings]


def _path(app: AppDefinition, index: int) -> str:
    if app.network_mode == "host":
        return f"/portDefinitions/{index}/port"
    return f"/container/portMappings/{index}/servicePort"


def assign_service_ports(app: AppDefinition, others: Mapping[int, str], previous: AppDefinition | None = None,
                         port_range: tuple[int, int] = SERVICE_PORT_RANGE) -> AppDefinition:
    """`app` with every 0 service port assigned. `others`: service port -> the app (not this one) holding it.
    Raises AppValidationError naming each port another app holds, or when the range is exhausted."""
    wanted = service_ports(app)
    # With host networking and requirePorts, the ports are the task's host ports too: two such apps may declare
    # the same one (their tasks simply never share an agent), as in Marathon, which checks conflicts among
    # container portMappings service ports.
    host_ports = app.network_mode == "host" and app.require_ports
    errors = [FieldError(_path(app, i), f"service port {p} is already used by app {others[p]}")
              for i, p in enumerate(wanted) if p and p in others and not host_ports]
    if errors:
        raise AppValidationError(errors)
    if 0 not in wanted:
        return app
    kept = service_ports(previous)
    used = set(others) | {p for p in wanted if p}
    low, high = port_range
    free = (p for p in range(low, high + 1) if p not in used)
    assigned: list[int] = []
    for i, port in enumerate(wanted):
        if port == 0:
            old = kept[i] if i < len(kept) else 0
            port = old if old and old not in used else next(free, 0)
            if port == 0:
                raise AppValidationError([FieldError(_path(app, i), f"no free service port left in {low}-{high}")])
            used.add(port)
        assigned.append(port)
    if app.network_mode == "host":
        defs = [pd.model_copy(update={"port": p}) for pd, p in zip(app.port_definitions, assigned)]
        return app.model_copy(update={"port_definitions": defs})
    assert app.container is not None  # port mappings live in the container
    mappings = [pm.model_copy(update={"service_port": p}) for pm, p in zip(app.port_mappings, assigned)]
    return app.model_copy(update={"container": app.container.model_copy(update={"port_mappings": mappings})})

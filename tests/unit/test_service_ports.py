"""Service ports: Marathon's cluster-wide ports per app port, 0 = assign one from [10000, 20000]."""

from __future__ import annotations

import pytest

from engine import AppValidationError, parse_app
from engine.model.service_ports import assign_service_ports, service_ports


def bridge(app_id: str, *service: int) -> object:
    return parse_app({"id": app_id, "cmd": "serve", "container": {"type": "DOCKER", "docker": {
        "image": "img", "network": "BRIDGE",
        "portMappings": [{"containerPort": 8080 + i, "hostPort": 0, "servicePort": p} for i, p in enumerate(service)]}}})


def host(app_id: str, *ports: int) -> object:
    return parse_app({"id": app_id, "cmd": "serve", "portDefinitions": [{"port": p} for p in ports]},
                     default_image="busybox:latest")


def test_zero_ports_get_the_lowest_free_ports_of_the_range() -> None:
    app = assign_service_ports(bridge("/a", 0, 0), {10000: "/x", 10002: "/y"})
    assert service_ports(app) == [10001, 10003]
    assert service_ports(assign_service_ports(host("/h", 0), {})) == [10000]


def test_an_app_without_ports_gets_the_default_port_definition_assigned() -> None:
    app = parse_app({"id": "/plain", "cmd": "serve"}, default_image="busybox:latest")  # host networking: Marathon's default port definition
    assert service_ports(assign_service_ports(app, {})) == [10000]


def test_explicit_ports_are_kept_and_zeros_skip_them() -> None:
    app = assign_service_ports(bridge("/a", 10000, 0), {})
    assert service_ports(app) == [10000, 10001]


def test_an_update_keeps_the_ports_it_had() -> None:
    before = assign_service_ports(bridge("/a", 0, 0), {10000: "/x"})
    assert service_ports(before) == [10001, 10002]
    again = assign_service_ports(bridge("/a", 0, 0), {10000: "/x"}, before)
    assert service_ports(again) == [10001, 10002] and again == before
    grown = assign_service_ports(bridge("/a", 0, 0, 0), {10000: "/x", 10003: "/y"}, before)
    assert service_ports(grown) == [10001, 10002, 10004]


def test_a_port_another_app_holds_is_refused_with_its_path() -> None:
    with pytest.raises(AppValidationError) as err:
        assign_service_ports(bridge("/a", 0, 10005), {10005: "/other"})
    assert [(e.path, e.message) for e in err.value.errors] == [
        ("/container/portMappings/1/servicePort", "service port 10005 is already used by app /other")]
    with pytest.raises(AppValidationError) as err:
        assign_service_ports(host("/h", 10005), {10005: "/other"})
    assert err.value.errors[0].path == "/portDefinitions/0/port"


def test_an_exhausted_range_is_an_error() -> None:
    with pytest.raises(AppValidationError) as err:
        assign_service_ports(bridge("/a", 0, 0), {10000: "/x"}, port_range=(10000, 10001))
    assert err.value.errors[0].path == "/container/portMappings/1/servicePort"
    assert "no free service port" in err.value.errors[0].message

"""JSON shapes of the agent protocol's data, shared by the agent server and the `pacer` driver.

Plain dicts with snake_case keys, one per dataclass of `engine.agents.base`.
Decoding is strict about types so that a malformed request is a 400 with the
field named, not a crash deeper down.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any, Mapping

from engine.agents.base import AgentCapacity, ImagePull, PortBinding, TaskSpec, VolumeMount
from engine.scheduler.state import ObservedContainer

API_VERSION = "v1"

# What an agent accepts in a task spec. A limit of 0 or -1 means "none at all" to Docker, and a
# value below Docker's minimum is rounded to 0 by the driver: each is refused with its field named.
MIN_CPUS = 0.01
"""Docker's smallest CPU limit (nano_cpus of 10^7)."""
MAX_CPUS = 4096.0
MIN_MEM_MIB = 6.0
"""Docker's smallest memory limit (6 MiB)."""
MAX_MEM_MIB = float(2**30)
"""1 PiB."""
MAX_PIDS_LIMIT = 4_194_304
"""Linux's largest pid_max."""
MAX_GRACE_SECONDS = 86_400.0
"""A day: the longest SIGTERM-to-SIGKILL wait an agent holds a stop request open for."""


class WireError(ValueError):
    """A request or answer body that is not the expected shape; the message names the field."""


def _get(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    if key not in data or data[key] is None:
        if optional:
            return None
        raise WireError(f"{key}: is required")
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise WireError(f"{key}: must be {name}, got {type(value).__name__}")
    return value


def _number(data: Mapping[str, Any], key: str, low: float, high: float, *, integer: bool = False,
            optional: bool = False, what: str = "") -> Any:
    """A finite number within [low, high] (an int when `integer`); WireError naming `key` otherwise."""
    value = _get(data, key, int if integer else float, optional=optional)
    if value is None:
        return None
    return number_in_range(key, value, low, high, what=what)


def number_in_range(key: str, value: float, low: float, high: float, *, what: str = "") -> Any:
    """`value` when finite and within [low, high]; WireError naming `key` otherwise (`what`: why the
    lower bound, said when the value is below it)."""
    if not math.isfinite(value):
        raise WireError(f"{key}: must be a finite number, got {value}")
    if not low <= value <= high:
        hint = f" ({what})" if what and value < low else ""
        raise WireError(f"{key}: must be between {_text(low)} and {_text(high)}{hint}, got {_text(value)}")
    return value


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _str_map(data: Mapping[str, Any], key: str) -> dict[str, str]:
    value = _get(data, key, dict, optional=True) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise WireError(f"{key}: must map strings to strings")
    return dict(value)


def _str_tuple(data: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = _get(data, key, list, optional=True)
    if value is None:
        return None
    if not all(isinstance(v, str) for v in value):
        raise WireError(f"{key}: must be a list of strings")
    return tuple(value)


def _plain(value: Any) -> Any:
    """Tuples become lists, as they will after a JSON round trip."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def spec_to_json(spec: TaskSpec) -> dict[str, Any]:
    result: dict[str, Any] = _plain(asdict(spec))
    return result


def spec_from_json(data: Any) -> TaskSpec:
    if not isinstance(data, dict):
        raise WireError("body: must be a JSON object (a task spec)")
    ports = []
    for i, raw in enumerate(_get(data, "ports", list, optional=True) or []):
        if not isinstance(raw, dict):
            raise WireError(f"ports[{i}]: must be an object")
        try:
            ports.append(PortBinding(_number(raw, "container_port", 1, 65535, integer=True),
                                     _number(raw, "host_port", 1, 65535, integer=True),
                                     _get(raw, "protocol", str, optional=True) or "tcp"))
        except WireError as exc:
            raise WireError(f"ports[{i}].{exc}") from None
    volumes = []
    for i, raw in enumerate(_get(data, "volumes", list, optional=True) or []):
        if not isinstance(raw, dict):
            raise WireError(f"volumes[{i}]: must be an object")
        mode = _get(raw, "mode", str, optional=True) or "RW"
        if mode not in ("RO", "RW"):
            raise WireError(f"volumes[{i}].mode: must be RO or RW, got {mode!r}")
        volumes.append(VolumeMount(_get(raw, "host_path", str), _get(raw, "container_path", str), mode))  # type: ignore[arg-type]
    network_mode = _get(data, "network_mode", str, optional=True) or "bridge"
    if network_mode not in ("bridge", "host", "none"):
        raise WireError(f"network_mode: must be bridge, host or none, got {network_mode!r}")
    return TaskSpec(
        task_id=_get(data, "task_id", str),
        app_id=_get(data, "app_id", str),
        version=_get(data, "version", str),
        config_version=_get(data, "config_version", str),
        cluster_id=_cluster_id(data),
        name=_get(data, "name", str),
        image=_get(data, "image", str),
        entrypoint=_str_tuple(data, "entrypoint"),
        command=_str_tuple(data, "command"),
        env=_str_map(data, "env"),
        labels=_str_map(data, "labels"),
        cpus=_number(data, "cpus", MIN_CPUS, MAX_CPUS, what="0 would be no CPU limit at all"),
        mem_mib=_number(data, "mem_mib", MIN_MEM_MIB, MAX_MEM_MIB, what="0 would be no memory limit at all"),
        network_mode=network_mode,
        ports=tuple(ports),
        user=_get(data, "user", str, optional=True),
        kill_grace_seconds=_number(data, "kill_grace_seconds", 0, MAX_GRACE_SECONDS, optional=True) or 0.0,
        privileged=bool(_get(data, "privileged", bool, optional=True)),
        volumes=tuple(volumes),
        read_only=bool(_get(data, "read_only", bool, optional=True)),
        cap_add=_str_tuple(data, "cap_add") or (),
        cap_drop=_str_tuple(data, "cap_drop") or (),
        pids_limit=_number(data, "pids_limit", 1, MAX_PIDS_LIMIT, integer=True, optional=True,
                           what="0 or -1 would be no pids limit at all; leave it out for the agent's"),
        tmpfs=_str_tuple(data, "tmpfs") or (),
        image_id=_get(data, "image_id", str, optional=True),
        signatures=_str_tuple(data, "signatures") or (),
        add_hosts=_str_tuple(data, "add_hosts") or (),
        hostname=_get(data, "hostname", str, optional=True),
        workdir=_get(data, "workdir", str, optional=True),
        ulimits=_ulimits(data),
        log_driver=_get(data, "log_driver", str, optional=True),
        log_opts=_str_map(data, "log_opts"),
        shm_size=_number(data, "shm_size", 1, 2**50, integer=True, optional=True),
        memory_swap=_number(data, "memory_swap", -1, 2**50, integer=True, optional=True),
        sysctls=_str_map(data, "sysctls"),
        security_opts=_str_tuple(data, "security_opts") or (),
        devices=_str_tuple(data, "devices") or (),
        force_pull=bool(_get(data, "force_pull", bool, optional=True)),
    )


def _ulimits(data: Mapping[str, Any]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for i, raw in enumerate(_get(data, "ulimits", list, optional=True) or []):
        if (not isinstance(raw, list) or len(raw) != 3 or not isinstance(raw[0], str)
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw[1:])):
            raise WireError(f"ulimits[{i}]: must be [name, soft, hard]")
        out.append((raw[0], raw[1], raw[2]))
    return tuple(out)


def _cluster_id(data: Mapping[str, Any]) -> str:
    cluster: str = _get(data, "cluster_id", str)
    if not cluster.strip():
        raise WireError("cluster_id: must not be empty (every container carries its cluster's label)")
    return cluster


def observed_to_json(observed: ObservedContainer) -> dict[str, Any]:
    result: dict[str, Any] = _plain(asdict(observed))
    return result


def observed_from_json(data: Any) -> ObservedContainer:
    if not isinstance(data, dict):
        raise WireError("container: must be a JSON object")
    ports = _get(data, "host_ports", list, optional=True) or []
    return ObservedContainer(
        container_id=_get(data, "container_id", str),
        task_id=_get(data, "task_id", str),
        app_id=_get(data, "app_id", str),
        version=_get(data, "version", str),
        config_version=_get(data, "config_version", str),
        state=_get(data, "state", str),
        exit_code=_get(data, "exit_code", int, optional=True),
        started_at=_get(data, "started_at", float, optional=True),
        finished_at=_get(data, "finished_at", float, optional=True),
        host_ports=tuple(int(p) for p in ports),
        ip_address=_get(data, "ip_address", str, optional=True),
        oom_killed=bool(_get(data, "oom_killed", bool, optional=True)),
    )


def capacity_to_json(capacity: AgentCapacity) -> dict[str, Any]:
    result: dict[str, Any] = _plain(asdict(capacity))
    return result


def capacity_from_json(data: Any, *, kind: str = "pacer") -> AgentCapacity:
    if not isinstance(data, dict):
        raise WireError("capacity: must be a JSON object")
    return AgentCapacity(
        cpus=_get(data, "cpus", float),
        mem_mib=_get(data, "mem_mib", float),
        disk_mib=_get(data, "disk_mib", float, optional=True) or 0.0,
        hostname=_get(data, "hostname", str),
        attributes=_str_map(data, "attributes"),
        kind=kind,
    )


_PULL_STATUSES = ("queued", "pulling", "done", "failed")


def pull_to_json(pull: ImagePull) -> dict[str, Any]:
    result: dict[str, Any] = _plain(asdict(pull))
    return result


def pull_from_json(data: Any) -> ImagePull:
    if not isinstance(data, dict):
        raise WireError("pull: must be a JSON object")
    status = _get(data, "status", str)
    if status not in _PULL_STATUSES:
        raise WireError(f"status: must be one of {', '.join(_PULL_STATUSES)}, got {status!r}")
    return ImagePull(
        agent=_get(data, "agent", str),
        image=_get(data, "image", str),
        status=status,
        downloaded=_get(data, "downloaded", int, optional=True) or 0,
        total=_get(data, "total", int, optional=True) or 0,
        layers=_get(data, "layers", int, optional=True) or 0,
        layers_done=_get(data, "layers_done", int, optional=True) or 0,
        started_at=_get(data, "started_at", float, optional=True) or 0.0,
        task_ids=_str_tuple(data, "task_ids") or (),
        message=_get(data, "message", str, optional=True) or "",
    )

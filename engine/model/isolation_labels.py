"""The isolation an app asks for through pacer.* labels and docker parameters: read and checked here,
judged by an agent's policy in engine.policy.

Marathon has no fields for these, so an app asks through labels (or the
matching ``container.docker.parameters``, as ``docker run`` flags):

    pacer.read-only  = "true"            parameters: read-only=true
    pacer.cap-add    = "NET_RAW,SYS_TIME"  parameters: cap-add=NET_RAW (repeatable)
    pacer.cap-drop   = "CHOWN" or "ALL"    parameters: cap-drop=...
    pacer.pids-limit = "64"              parameters: pids-limit=64   (may only lower the agent's limit)
    pacer.tmpfs      = "/run,/var/cache" parameters: tmpfs=/run       (writable scratch space)
    pacer.image-id   = "sha256:..."      pin the image's content id (or image "name@sha256:digest")

Other ``docker run`` flags in ``container.docker.parameters`` (SUPPORTED_PARAMETERS): env, label,
add-host, hostname, user, workdir, ulimit, log-driver, log-opt, shm-size, memory-swap; and, where the
agent's policy allows them, sysctl, security-opt and device. Any other key is refused at submission.

`isolation_errors` is what parse_app reports for them, each at its JSON path.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from engine.errors import FieldError

CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
)
"""Linux capabilities by bit number (CapEff in /proc/PID/status is a mask of these bits)."""

LABEL_READ_ONLY = "pacer.read-only"
LABEL_CAP_ADD = "pacer.cap-add"
LABEL_CAP_DROP = "pacer.cap-drop"
LABEL_PIDS_LIMIT = "pacer.pids-limit"
LABEL_TMPFS = "pacer.tmpfs"
LABEL_IMAGE_ID = "pacer.image-id"

SUPPORTED_PARAMETERS = (
    "read-only", "cap-add", "cap-drop", "pids-limit", "tmpfs", "env", "label", "add-host", "hostname", "user",
    "workdir", "ulimit", "log-driver", "log-opt", "shm-size", "memory-swap", "sysctl", "security-opt", "device",
)
"""The `docker run` flags pacer honours as container.docker.parameters keys (without the leading --)."""
_ALIASES = {"e": "env", "l": "label", "h": "hostname", "u": "user", "w": "workdir", "log-opts": "log-opt"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_SIZE = re.compile(r"^(\d+)([bkmg]?)b?$")
_ULIMITS = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nofile", "nproc", "rss",
            "sigpending", "stack")
_SCHEDULING_ULIMITS = ("nice", "rtprio", "rttime")
"""Limits that would let an unprivileged process raise its own scheduling priority past the CPU limit."""


def capability_name(text: str) -> str:
    """``cap_net_raw`` -> ``NET_RAW``; ValueError for a name Linux does not have."""
    name = text.strip().upper().removeprefix("CAP_")
    if name not in CAPABILITIES:
        raise ValueError(f"{text.strip()!r} is not a Linux capability")
    return name


@dataclass(frozen=True, slots=True)
class Isolation:
    """The isolation settings an app asks for through pacer.* labels and docker parameters."""

    read_only: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    pids_limit: int | None = None
    tmpfs: tuple[str, ...] = ()
    image_id: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    add_hosts: tuple[str, ...] = ()
    hostname: str | None = None
    user: str | None = None
    workdir: str | None = None
    ulimits: tuple[tuple[str, int, int], ...] = ()
    log_driver: str | None = None
    log_opts: tuple[tuple[str, str], ...] = ()
    shm_size: int | None = None
    memory_swap: int | None = None
    sysctls: tuple[tuple[str, str], ...] = ()
    security_opts: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()


def parameter_key(key: str) -> str:
    """A parameter's key as the `docker run` flag it names (`--env`, `e` -> `env`)."""
    bare = key.strip().lstrip("-")
    return _ALIASES.get(bare, bare)


def size_bytes(text: str, where: str) -> int:
    """`64m`, `1g`, `512k`, `1048576` as bytes (docker's units, powers of 1024)."""
    match = _SIZE.match(text.strip().lower())
    if not match:
        raise ValueError(f"{where}: must be a size such as 64m or 1g, got {text!r}")
    return int(match.group(1)) * {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[match.group(2)]


def _pair(text: str, where: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{where}: must be {what}=VALUE, got {text!r}")
    return key.strip(), value


def _ulimit(text: str, where: str) -> tuple[str, int, int]:
    name, value = _pair(text, where, "NAME")
    if name in _SCHEDULING_ULIMITS:
        raise ValueError(f"{where}: {name} is not accepted: it would let the task raise its own scheduling "
                         f"priority past its CPU share (one of {', '.join(_ULIMITS)})")
    if name not in _ULIMITS:
        raise ValueError(f"{where}: {name!r} is not a ulimit (one of {', '.join(_ULIMITS)})")
    soft_text, _, hard_text = value.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError:
        raise ValueError(f"{where}: must be NAME=SOFT[:HARD] with whole numbers, got {text!r}") from None
    if soft > hard:
        raise ValueError(f"{where}: the soft limit {soft} is above the hard limit {hard}")
    return name, soft, hard


def _other_parameter(key: str, value: str, where: str, out: dict[str, list[object]]) -> None:
    """Parse one parameter beyond the isolation ones into `out` (lists by field); ValueError names it."""
    if key == "env":
        name, val = _pair(value, where, "NAME")
        if not _ENV_NAME.match(name):
            raise ValueError(f"{where}: {name!r} is not an environment variable name")
        out["env"].append((name, val))
    elif key == "label":
        name, _, val = value.partition("=")  # `--label KEY` is KEY with an empty value, as docker has it
        name = name.strip()
        if not name:
            raise ValueError(f"{where}: must be KEY[=VALUE], got {value!r}")
        if name.startswith("pacer."):
            raise ValueError(f"{where}: pacer.* container labels are pacer's own; use the app's labels")
        out["labels"].append((name, val))
    elif key == "add-host":
        host, sep, ip = value.partition(":")
        if not sep or not _HOSTNAME.match(host) or not ip:
            raise ValueError(f"{where}: must be HOST:IP, got {value!r}")
        try:
            ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            if ip != "host-gateway":
                raise ValueError(f"{where}: {ip!r} is not an IP address (or host-gateway)") from None
        out["add_hosts"].append(value)
    elif key == "hostname":
        if not _HOSTNAME.match(value) or len(value) > 63 and "." not in value:
            raise ValueError(f"{where}: {value!r} is not a host name")
        out["hostname"] = [value]
    elif key == "user":
        if not value.strip() or any(c.isspace() for c in value):
            raise ValueError(f"{where}: must be USER[:GROUP] (a name or id), got {value!r}")
        out["user"] = [value]
    elif key == "workdir":
        if not value.startswith("/"):
            raise ValueError(f"{where}: {value!r} is not an absolute path")
        out["workdir"] = [value]
    elif key == "ulimit":
        out["ulimits"].append(_ulimit(value, where))
    elif key == "log-driver":
        if not value.strip() or any(c.isspace() for c in value):
            raise ValueError(f"{where}: must name a logging driver, got {value!r}")
        out["log_driver"] = [value]
    elif key == "log-opt":
        out["log_opts"].append(_pair(value, where, "KEY"))
    elif key == "shm-size":
        out["shm_size"] = [size_bytes(value, where)]
    elif key == "memory-swap":
        out["memory_swap"] = [-1 if value.strip() == "-1" else size_bytes(value, where)]
    elif key == "sysctl":
        out["sysctls"].append(_pair(value, where, "NAME"))
    elif key == "security-opt":
        if not value.strip():
            raise ValueError(f"{where}: must not be empty")
        out["security_opts"].append(value.strip())
    elif key == "device":
        if not value.startswith("/"):
            raise ValueError(f"{where}: must be /dev/HOST[:/dev/CONTAINER[:rwm]], got {value!r}")
        out["devices"].append(value)
    else:
        raise ValueError(f"{where}: {key!r} is not a docker parameter pacer supports "
                         f"(supported: {', '.join(SUPPORTED_PARAMETERS)})")


def _flag(text: str, where: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on", ""):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{where}: must be true or false, got {text!r}")


def _caps(text: str, where: str, *, allow_all: bool) -> list[str]:
    out = []
    for part in text.replace(" ", ",").split(","):
        if not part.strip():
            continue
        if part.strip().upper() == "ALL":
            if not allow_all:
                raise ValueError(f"{where}: ALL is not accepted here: name the capabilities")
            out.append("ALL")
            continue
        try:
            out.append(capability_name(part))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return out


def isolation_of(labels: Mapping[str, str], parameters: Iterable[tuple[str, str]] = ()) -> Isolation:
    """Parse an app's isolation labels and docker parameters; ValueError names the label or parameter."""
    read_only = False
    cap_add: list[str] = []
    cap_drop: list[str] = []
    pids: int | None = None
    tmpfs: list[str] = []
    image_id: str | None = None

    def pids_value(text: str, where: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError(f"{where}: must be a whole number, got {text!r}") from None
        if value < 1:
            raise ValueError(f"{where}: must be at least 1, got {value}")
        return value

    def tmpfs_paths(text: str, where: str) -> list[str]:
        paths = [p.strip().split(":", 1)[0] for p in text.split(",") if p.strip()]
        for p in paths:
            if not p.startswith("/"):
                raise ValueError(f"{where}: {p!r} is not an absolute path")
        return paths

    other: dict[str, list[object]] = {k: [] for k in (
        "env", "labels", "add_hosts", "hostname", "user", "workdir", "ulimits", "log_driver", "log_opts",
        "shm_size", "memory_swap", "sysctls", "security_opts", "devices")}
    for raw_key, value in parameters:
        key = parameter_key(raw_key)
        where = f"container.docker.parameters {raw_key}={value}"
        if key == "read-only":
            read_only = _flag(value, where)
        elif key == "cap-add":
            cap_add += _caps(value, where, allow_all=False)
        elif key == "cap-drop":
            cap_drop += _caps(value, where, allow_all=True)
        elif key == "pids-limit":
            pids = pids_value(value, where)
        elif key == "tmpfs":
            tmpfs += tmpfs_paths(value, where)
        else:
            _other_parameter(key, value, where, other)
    if LABEL_READ_ONLY in labels:
        read_only = _flag(labels[LABEL_READ_ONLY], f"label {LABEL_READ_ONLY}")
    if LABEL_CAP_ADD in labels:
        cap_add += _caps(labels[LABEL_CAP_ADD], f"label {LABEL_CAP_ADD}", allow_all=False)
    if LABEL_CAP_DROP in labels:
        cap_drop += _caps(labels[LABEL_CAP_DROP], f"label {LABEL_CAP_DROP}", allow_all=True)
    if LABEL_PIDS_LIMIT in labels:
        pids = pids_value(labels[LABEL_PIDS_LIMIT], f"label {LABEL_PIDS_LIMIT}")
    if LABEL_TMPFS in labels:
        tmpfs += tmpfs_paths(labels[LABEL_TMPFS], f"label {LABEL_TMPFS}")
    if LABEL_IMAGE_ID in labels:
        image_id = labels[LABEL_IMAGE_ID].strip()
        hexa = image_id.lower().removeprefix("sha256:")
        if len(hexa) < 12 or any(c not in "0123456789abcdef" for c in hexa):
            raise ValueError(f"label {LABEL_IMAGE_ID}: must be an image id (sha256: and at least 12 hex digits), "
                             f"got {image_id!r}")
    def last(name: str) -> Any:
        return other[name][-1] if other[name] else None

    return Isolation(read_only, tuple(dict.fromkeys(cap_add)), tuple(dict.fromkeys(cap_drop)), pids,
                     tuple(dict.fromkeys(tmpfs)), image_id,
                     env=tuple(other["env"]), labels=tuple(other["labels"]),  # type: ignore[arg-type]
                     add_hosts=tuple(other["add_hosts"]), hostname=last("hostname"),  # type: ignore[arg-type]
                     user=last("user"), workdir=last("workdir"),
                     ulimits=tuple(other["ulimits"]), log_driver=last("log_driver"),  # type: ignore[arg-type]
                     log_opts=tuple(other["log_opts"]), shm_size=last("shm_size"),  # type: ignore[arg-type]
                     memory_swap=last("memory_swap"), sysctls=tuple(other["sysctls"]),  # type: ignore[arg-type]
                     security_opts=tuple(other["security_opts"]),  # type: ignore[arg-type]
                     devices=tuple(other["devices"]))  # type: ignore[arg-type]


def isolation_errors(labels: object, container: object) -> list[FieldError]:
    """Every problem with an app's isolation labels and docker parameters, as FieldErrors at their JSON
    paths (/labels/pacer.pids-limit, /container/docker/parameters/0/value); [] when fine or absent."""
    errors = []
    if isinstance(labels, Mapping):
        for key in (LABEL_READ_ONLY, LABEL_CAP_ADD, LABEL_CAP_DROP, LABEL_PIDS_LIMIT, LABEL_TMPFS, LABEL_IMAGE_ID):
            value = labels.get(key)
            if isinstance(value, str):
                try:
                    isolation_of({key: value})
                except ValueError as exc:
                    errors.append(FieldError(f"/labels/{key}", str(exc).split(": ", 1)[-1]))
    docker = container.get("docker") if isinstance(container, Mapping) else None
    parameters = docker.get("parameters") if isinstance(docker, Mapping) else None
    if isinstance(parameters, list):
        for i, p in enumerate(parameters):
            if isinstance(p, Mapping) and isinstance(p.get("key"), str) and isinstance(p.get("value"), str):
                if parameter_key(p["key"]) not in SUPPORTED_PARAMETERS:
                    errors.append(FieldError(f"/container/docker/parameters/{i}/key", (
                        f"{p['key']!r} is not a docker parameter pacer supports "
                        f"(supported: {', '.join(SUPPORTED_PARAMETERS)})")))
                    continue
                try:
                    isolation_of({}, [(p["key"], p["value"])])
                except ValueError as exc:
                    errors.append(FieldError(f"/container/docker/parameters/{i}/value", str(exc).split(": ", 1)[-1]))
    return errors

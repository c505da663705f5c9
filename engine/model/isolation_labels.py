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

`isolation_errors` is what parse_app reports for them, each at its JSON path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

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

    for key, value in parameters:
        where = f"container.docker.parameters {key}={value}"
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
    return Isolation(read_only, tuple(dict.fromkeys(cap_add)), tuple(dict.fromkeys(cap_drop)), pids,
                     tuple(dict.fromkeys(tmpfs)), image_id)


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
                try:
                    isolation_of({}, [(p["key"], p["value"])])
                except ValueError as exc:
                    errors.append(FieldError(f"/container/docker/parameters/{i}/value", str(exc).split(": ", 1)[-1]))
    return errors

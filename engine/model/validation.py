"""Value and combination checks of an app body: `Checks` on the raw (decoded, null-stripped) body, before
normalisation; `cross_checks` on the normalised app (the rules that need its final ports).

`Checks` is tolerant of wrong types (pydantic reports those), so a type error
and a range error elsewhere are reported together. `constraint_problem` is
Marathon's message for a bad constraint.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeGuard

from engine.errors import FieldError
from engine.model.field_errors import _describe, _escape, _num_text
from engine.model.ids import app_id_problems, group_of, normalize_app_id, resolve_app_id
from engine.model.image_refs import docker_image_problems
from engine.model.limits import (
    MAX_BACKOFF_FACTOR,
    MAX_CPUS,
    MAX_DISK_MIB,
    MAX_HEALTH_PATH_LENGTH,
    MAX_INSTANCES,
    MAX_INT32,
    MAX_MAP_ENTRIES,
    MAX_MAP_KEY_LENGTH,
    MAX_MAP_TOTAL_LENGTH,
    MAX_MAP_VALUE_LENGTH,
    MAX_MEM_MIB,
    MAX_PORTS,
    MAX_SECONDS,
)
from engine.model.schema import AppDefinition

__all__ = ["NO_DEFAULT_IMAGE_MESSAGE", "Checks", "constraint_problem", "cross_checks", "http_path_problem"]

NO_DEFAULT_IMAGE_MESSAGE = (
    "an app without a container runs in the cluster's default image, but [scheduler] default_image is not set"
)

_PORT_NAME_RE = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_ROLE_RE = re.compile(r"\*|[A-Za-z0-9_][A-Za-z0-9_./-]*")
"""A Mesos resource role: "*" (unreserved resources) or a name."""
_EXECUTOR_RE = re.compile(r"//cmd|/?[^/]+(?:/[^/]+)*|")
_JAVA_INT_RE = re.compile(r"[+-]?\d+")
_IS_VALUE_RE = re.compile(r"[a-zA-Z0-9_/.-]*")
_CONSTRAINT_OPERATORS = frozenset({"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"})
_OPERATOR_MESSAGE = "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"
_HEALTH_PORT_MESSAGE = (
    "Health check port indices must address an element of the ports array or container port mappings."
)


def _is_num(v: Any) -> TypeGuard[float]:
    return (type(v) is int or type(v) is float) and not math.isnan(v)


def _is_int(v: Any) -> bool:
    return type(v) is int or (type(v) is float and v.is_integer())


def _obj(v: Any) -> dict[str, Any] | None:
    return v if type(v) is dict else None


def _lst(v: Any) -> list[Any]:
    return v if type(v) is list else []


def _nonempty_list(v: Any) -> TypeGuard[list[Any]]:
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


# RFC 3986 origin-form: absolute-path ["?" query]; pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
_PATH_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?")
_HEX = frozenset("0123456789abcdefABCDEF")


def http_path_problem(path: str) -> str | None:
    """Why `path` cannot be the target of a health (or readiness) check's GET, or None when it can.

    The target must be an origin-form path (and query) of printable ASCII: it starts with '/', and
    anything else (spaces, CR/LF and other control characters, non-ASCII, '#', '<'...) must be
    percent-encoded. This is what keeps a check's path from adding headers or requests to a probe.
    """
    if not path.startswith("/"):
        return f"must start with '/', got {_describe(path)}"
    if len(path) > MAX_HEALTH_PATH_LENGTH:
        return f"must be at most {MAX_HEALTH_PATH_LENGTH} characters, got {len(path)}"
    i = 0
    while i < len(path):
        ch = path[i]
        if ch == "%":
            if len(path) < i + 3 or path[i + 1] not in _HEX or path[i + 2] not in _HEX:
                return f"'%' at offset {i} must start a percent-encoding such as %2F"
            i += 3
            continue
        if ch not in _PATH_CHARS:
            if ord(ch) < 0x20 or ord(ch) == 0x7F:
                return f"must not contain control characters (CR, LF, ...): {ch!r} at offset {i}"
            if ch.isspace():
                return f"must not contain whitespace: {ch!r} at offset {i} (percent-encode it: %20 for a space)"
            if ch == "#":
                return f"must not contain a fragment ('#' at offset {i}): it is never sent to the server"
            if not ch.isascii():
                encoded = "".join(f"%{b:02X}" for b in ch.encode("utf-8"))
                return f"must be ASCII: percent-encode {ch!r} at offset {i} (as {encoded})"
            return f"character {ch!r} at offset {i} must be percent-encoded (as %{ord(ch):02X})"
        i += 1
    return None


class Checks:
    """Value and combination rules on the raw (null-stripped) body.

    With `submitted` (a body from a client, not one pacer stored itself) the limits
    (engine.model.limits) and the stricter rules of health checks apply too: an app stored by an
    earlier pacer still loads.
    """

    def __init__(self, errors: list[FieldError], *, submitted: bool = True) -> None:
        self.errors = errors
        self.submitted = submitted

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

    def at_most(self, obj: dict[str, Any] | None, key: str, path: str, high: float) -> None:
        """A limit of pacer's (engine.model.limits), on submitted bodies. An infinite number is pydantic's
        to report (finite_number)."""
        v = _get(obj, key)
        if self.submitted and _is_num(v) and math.isfinite(v) and v > high:
            self.add(path, f"must be at most {_num_text(high)} (pacer's limit), got {_num_text(v)}")

    def in_range(self, obj: dict[str, Any] | None, key: str, path: str, low: float, high: float) -> None:
        self.at_least(obj, key, path, low)
        self.at_most(obj, key, path, high)

    def seconds(self, obj: dict[str, Any] | None, key: str, path: str, low: float = 0) -> None:
        self.in_range(obj, key, path, low, MAX_SECONDS)

    def max_items(self, value: Any, path: str, limit: int, what: str) -> None:
        if self.submitted and type(value) is list and len(value) > limit:
            self.add(path, f"at most {limit} {what} (pacer's limit), got {len(value)}")

    def map_size(self, value: Any, path: str, what: str) -> None:
        """labels or env: entries, key and value lengths, and the size of them all (engine.model.limits)."""
        m = _obj(value)
        if not self.submitted or m is None:
            return
        if len(m) > MAX_MAP_ENTRIES:
            self.add(path, f"at most {MAX_MAP_ENTRIES} {what} (pacer's limit), got {len(m)}")
        total = 0
        for key, v in m.items():
            total += len(key) + (len(v) if isinstance(v, str) else 0)
            if len(key) > MAX_MAP_KEY_LENGTH:
                self.add(path, f"{what} name {_describe(key)} is {len(key)} characters long: "
                               f"at most {MAX_MAP_KEY_LENGTH} (pacer's limit)")
            elif isinstance(v, str) and len(v) > MAX_MAP_VALUE_LENGTH:
                self.add(f"{path}/{_escape(key)}",
                         f"must be at most {MAX_MAP_VALUE_LENGTH} characters (pacer's limit), got {len(v)}")
        if total > MAX_MAP_TOTAL_LENGTH:
            self.add(path, f"names and values together must be at most {MAX_MAP_TOTAL_LENGTH} characters "
                           f"(pacer's limit), got {total}")

    def app_id(self, value: Any, path: str) -> None:
        if isinstance(value, str):
            for problem in app_id_problems(normalize_app_id(value), lengths=self.submitted):
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
        self.roles(d.get("role"), _lst(roles))
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
        for key, high in (("cpus", MAX_CPUS), ("mem", MAX_MEM_MIB), ("disk", MAX_DISK_MIB),
                          ("instances", MAX_INSTANCES)):
            self.in_range(d, key, f"/{key}", 0, high)
        self.at_least(d, "gpus", "/gpus", 0)
        for key in ("backoffSeconds", "maxLaunchDelaySeconds", "taskKillGracePeriodSeconds"):
            self.seconds(d, key, f"/{key}")
        self.in_range(d, "taskRateLimit", "/taskRateLimit", 0, MAX_INT32)
        self.in_range(d, "backoffFactor", "/backoffFactor", 1, MAX_BACKOFF_FACTOR)
        gpus = d.get("gpus")
        if _is_num(gpus) and gpus > 0:
            self.add("/gpus", f"GPUs are not supported by pacer: must be 0, got {_num_text(gpus)}")
        ex = _obj(d.get("executorResources"))
        for key, high in (("cpus", MAX_CPUS), ("mem", MAX_MEM_MIB), ("disk", MAX_DISK_MIB)):
            self.in_range(ex, key, f"/executorResources/{key}", 0, high)
        limits = _obj(d.get("resourceLimits"))
        if limits is not None:
            for key, default, high in (("cpus", 1.0, MAX_CPUS), ("mem", 128.0, MAX_MEM_MIB)):
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
                else:
                    self.at_most(limits, key, f"/resourceLimits/{key}", high)

    def port_mappings(self, mappings: Any, base: str) -> None:
        self.max_items(mappings, base, MAX_PORTS, "port mappings")
        seen: set[str] = set()
        for i, pm in enumerate(_lst(mappings)):
            pm = _obj(pm)
            if pm is None:
                continue
            for key in ("containerPort", "hostPort", "servicePort"):
                self.port(pm, key, f"{base}/{i}/{key}")
            self.port_name(pm.get("name"), f"{base}/{i}/name", seen, "port mapping")
            self.map_size(pm.get("labels"), f"{base}/{i}/labels", "labels")

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
                for path, problem in docker_image_problems(dk):
                    self.add(path, problem)
                if dk.get("credential") is not None:
                    self.add(
                        "/container/docker/credential",
                        "is not supported: agents pull images with their own registry credentials",
                    )
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
        for i, n in enumerate(_lst(networks)):
            self.map_size(_get(_obj(n), "labels"), f"/networks/{i}/labels", "labels")
        if _nonempty_list(networks):
            modes = [n.get("mode") or "container" for n in networks if type(n) is dict]
            if len(networks) > 1 and ("host" in modes or "container/bridge" in modes):
                self.add("/networks", "host and container/bridge networking cannot be combined with other networks")
            if ctype == "DOCKER" and modes.count("container") > 1:
                self.add("/networks", "a DOCKER container can join at most one container network")
            if ip is not None:
                self.add("/ipAddress", "cannot mix deprecated and canonical network APIs: use networks, not ipAddress")
        ipo = _obj(ip)
        discovery_ports = _get(_obj(_get(ipo, "discovery")), "ports")
        self.max_items(discovery_ports, "/ipAddress/discovery/ports", MAX_PORTS, "ports")
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
            # Relative paths are inside the task's sandbox (Marathon's rule): they must stay there.
            for key in ("hostPath", "containerPath"):
                rel = vol.get(key)
                if isinstance(rel, str) and rel and not rel.startswith("/") and ".." in rel.split("/"):
                    self.add(f"{base}/{key}", f"a relative {key} is inside the task's sandbox and must not "
                                              f"contain '..', got {rel!r}")
            persistent = _obj(vol.get("persistent"))
            if persistent is not None:
                size = persistent.get("size")
                if _is_num(size) and size <= 0:
                    self.add(f"{base}/persistent/size", f"must be > 0, got {_num_text(size)}")
                self.at_most(persistent, "size", f"{base}/persistent/size", MAX_DISK_MIB)
                self.at_most(persistent, "maxSize", f"{base}/persistent/maxSize", MAX_DISK_MIB)
                if isinstance(cpath, str) and "/" in cpath:
                    self.add(f"{base}/containerPath", "a persistent volume's containerPath must not contain '/'")
                if vol.get("mode") not in (None, "RW"):
                    self.add(f"{base}/mode", "must be RW for a persistent volume")
            self.at_most(_obj(vol.get("external")), "size", f"{base}/external/size", MAX_DISK_MIB)

    def ports_and_fetch(self, d: dict[str, Any]) -> None:
        if _nonempty_list(d.get("ports")) and _nonempty_list(d.get("portDefinitions")):
            self.add("/ports", "cannot specify both ports and portDefinitions")
        if _nonempty_list(d.get("uris")) and _nonempty_list(d.get("fetch")):
            self.add("/uris", "cannot specify both uris and fetch fields")
        self.max_items(d.get("ports"), "/ports", MAX_PORTS, "ports")
        for i, p in enumerate(_lst(d.get("ports"))):
            if _is_num(p) and not 0 <= p <= 65535:
                self.add(f"/ports/{i}", f"must be between 0 and 65535, got {_num_text(p)}")
        names: set[str] = set()
        ports: set[int] = set()
        self.max_items(d.get("portDefinitions"), "/portDefinitions", MAX_PORTS, "port definitions")
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
            self.map_size(pd.get("labels"), f"/portDefinitions/{i}/labels", "labels")
        for i, art in enumerate(_lst(d.get("fetch"))):
            if _get(_obj(art), "uri") == "":
                self.add(f"/fetch/{i}/uri", "must not be empty")
        for key in ("uris", "storeUrls"):
            for i, uri in enumerate(_lst(d.get(key))):
                if uri == "":
                    self.add(f"/{key}/{i}", "must not be empty")

    def env_and_secrets(self, d: dict[str, Any]) -> None:
        self.map_size(d.get("labels"), "/labels", "labels")
        self.map_size(d.get("env"), "/env", "environment variables")
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
                if self.submitted:
                    continue  # no secret store: engine.model.unhonoured refuses it
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
            self.seconds(un, "inactiveAfterSeconds", "/unreachableStrategy/inactiveAfterSeconds")
            self.seconds(un, "expungeAfterSeconds", "/unreachableStrategy/expungeAfterSeconds")
            inactive = un.get("inactiveAfterSeconds", 300)
            expunge = un.get("expungeAfterSeconds", 600)
            if _is_num(inactive) and _is_num(expunge) and inactive > expunge:
                self.add(
                    "/unreachableStrategy/inactiveAfterSeconds",
                    f"must be <= expungeAfterSeconds ({_num_text(expunge)}), got {_num_text(inactive)}",
                )
        res = _obj(d.get("residency"))
        if res is not None and not _is_resident(d) and not self.submitted:  # submitted: unhonoured.py refuses it
            self.add("/residency", "is only allowed for resident apps (with persistent volumes)")
        self.seconds(res, "relaunchEscalationTimeoutSeconds", "/residency/relaunchEscalationTimeoutSeconds")
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
            self.in_range(hc, "portIndex", f"{base}/portIndex", 0, MAX_PORTS)
            for key, low in (
                ("gracePeriodSeconds", 0),
                ("intervalSeconds", 1),
                ("timeoutSeconds", 1),
                ("maxConsecutiveFailures", 0),
                ("delaySeconds", 0),
            ):
                self.in_range(hc, key, f"{base}/{key}", low, MAX_INT32)
            self.http_path(hc.get("path"), f"{base}/path")
            if isinstance(protocol, str) and protocol.startswith("MESOS_"):
                mesos += 1
            if hc.get("ipProtocol") == "IPv6" and not (is_docker and str(protocol).startswith("MESOS_")):
                self.add(
                    f"{base}/ipProtocol", "IPv6 is only supported with DOCKER containers and MESOS_* health checks"
                )
        if mesos > 1:
            self.add("/healthChecks", "AppDefinition can contain at most one Mesos health check")

    def http_path(self, path: Any, at: str) -> None:
        if self.submitted and isinstance(path, str):
            problem = http_path_problem(path)
            if problem is not None:
                self.add(at, problem)

    def roles(self, role: Any, accepted: list[Any]) -> None:
        """Roles are "*" or names; with an explicit `role`, Marathon (1.9+) accepts only "*" and that role."""
        if isinstance(role, str) and not _ROLE_RE.fullmatch(role):
            self.add("/role", f"must be '*' or a role name (letters, digits, ._-/), got {_describe(role)}")
        for i, r in enumerate(accepted):
            if not isinstance(r, str):
                continue
            if not _ROLE_RE.fullmatch(r):
                self.add(f"/acceptedResourceRoles/{i}",
                         f"must be '*' or a role name (letters, digits, ._-/), got {_describe(r)}")
            elif isinstance(role, str) and r not in ("*", role):
                self.add(f"/acceptedResourceRoles/{i}", f"can only be '*' or the app's role '{role}', got '{r}'")

    def readiness_checks(self, d: dict[str, Any]) -> None:
        checks = _lst(d.get("readinessChecks"))
        if len(checks) > 1:
            self.add("/readinessChecks", "an app can have at most one readiness check")
        for i, rc in enumerate(checks):
            rc = _obj(rc)
            if rc is None:
                continue
            base = f"/readinessChecks/{i}"
            self.seconds(rc, "intervalSeconds", f"{base}/intervalSeconds", 1)
            self.seconds(rc, "timeoutSeconds", f"{base}/timeoutSeconds", 1)
            self.http_path(rc.get("path"), f"{base}/path")
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


def _declared_ports(app: AppDefinition) -> list[int]:
    if app.network_mode == "host":
        return sorted({pd.port for pd in app.port_definitions if pd.port})
    return sorted({p for pm in app.port_mappings for p in (pm.host_port, pm.container_port) if p})


def cross_checks(app: AppDefinition, errors: list[FieldError], *, submitted: bool = True) -> None:
    """Rules that need the normalised ports. With `submitted`, an explicit health check `port` must be one
    the app declares (normalisation resolved it to its `portIndex`): a probe never goes to another port."""
    host = app.network_mode == "host"
    n_ports = len(app.port_definitions) if host else len(app.port_mappings)
    for i, hc in enumerate(app.health_checks):
        if hc.protocol == "COMMAND":
            continue
        if hc.port is not None and hc.port_index is None:
            if submitted:
                where = ("a portDefinitions[].port" if host else "a portMappings[] hostPort or containerPort")
                declared = ", ".join(str(p) for p in _declared_ports(app)) or "none"
                errors.append(
                    FieldError(
                        f"/healthChecks/{i}/port",
                        f"port {hc.port} is not a port of this app: a health check probes only the task's own "
                        f"ports; declare it as {where}, or use portIndex (declared ports: {declared})",
                    )
                )
        elif hc.port is None and hc.port_index is None:
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

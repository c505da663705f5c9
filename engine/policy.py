"""What an agent lets a container do: one policy model for the docker driver and `pacer --serve`.

Every container pacer starts runs under a hardened profile:

- ``no-new-privileges`` (setuid binaries and file capabilities gain nothing),
- a pids limit (default 256: a fork bomb stays inside its container),
- every capability dropped, then only an ordinary service's set added back
  (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETGID, SETUID),
- the app's ``user`` (non-root when the app says so, or when the policy demands it),
- a read-only root filesystem with a tmpfs on /tmp when the app asks for it
  (label ``pacer.read-only: "true"``) or the policy demands it,
- memory and CPU limits from the app (set by the driver).

Marathon has no fields for these, so an app asks through labels or docker parameters
(engine/model/isolation_labels.py reads and checks them).

The agent's policy decides what an app may relax. Privileged mode, host
networking, host path volumes, extra capabilities, a higher pids limit and
running as root are refused unless the policy allows them; the refusal names
each reason. The same policy carries the image rules: allowed repositories,
pinning, and signatures by trusted keys (see engine.trust).

The engine applies the same checks in placement (an agent whose policy forbids
an app is rejected with its reason, so "why is my app waiting?" is answered),
and the agent applies them again, with the image checks, right before it
creates the container.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.agents.base import TaskSpec, VolumeMount
from engine.errors import AgentError
from engine.model.image_refs import parse_image_ref
from engine.model.isolation_labels import CAPABILITIES, LABEL_IMAGE_ID, capability_name, isolation_of
from engine.trust import (
    TrustKeyError,
    id_matches,
    load_trusted_keys,
    normalize_ref,
    repository_of,
    short_id,
    signature_problem,
)

DEFAULT_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID")
"""What an ordinary service needs: own and chmod its files, bind ports below 1024, drop to another user,
signal its children. Docker's default adds MKNOD, NET_RAW, SETFCAP, SETPCAP, SYS_CHROOT and AUDIT_WRITE."""

DEFAULT_PIDS_LIMIT = 256
READ_ONLY_TMPFS_OPTIONS = "rw,nosuid,nodev,size=64m"

def capability_mask(names: Iterable[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << CAPABILITIES.index(capability_name(name))
    return mask


def capabilities_of_mask(mask: int) -> set[str]:
    return {name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1}


# -- the policy ------------------------------------------------------------------------------


class AgentPolicy(BaseModel):
    """What an agent allows, whatever an engine or an app asks. `[agent.policy]` of `pacer --serve`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_privileged: bool = False
    allow_host_volumes: bool = False
    allow_host_network: bool = False
    image_allowlist: tuple[str, ...] = ()
    """fnmatch patterns for images ("busybox:*", "registry.local/team/*") or repositories ("busybox");
    an image must match one. Empty: every image."""
    host_paths: tuple[str, ...] = ()
    """With allow_host_volumes: fnmatch patterns for the host paths an app may bind ("/srv/data/*").
    Empty: any path."""
    allow_root_user: bool = True
    """False: a container must run as a non-root user (the app's `user`, or the image's USER)."""
    allow_capabilities: tuple[str, ...] = ()
    """Capabilities an app may add (label pacer.cap-add) beyond `capabilities`."""
    capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES
    """The capabilities every container keeps; all others are dropped."""
    no_new_privileges: bool = True
    pids_limit: int = Field(default=DEFAULT_PIDS_LIMIT, ge=0)
    """Most processes (threads count) in one container; an app may ask for fewer. 0: no limit."""
    read_only_rootfs: bool = False
    """True: every container gets a read-only root filesystem (with a tmpfs on /tmp)."""
    require_signature: bool = False
    """Run only images whose content id is signed by one of `trusted_keys` (`pacer image sign`)."""
    trusted_keys: tuple[str, ...] = ()
    """Public keys: PEM or ssh-ed25519 files (relative to the config file), or inline "ed25519:BASE64"."""
    require_pinned_image: bool = False
    """Run only apps that pin their image's content: label pacer.image-id or image NAME@sha256:DIGEST."""
    allow_sysctls: tuple[str, ...] = ()
    """fnmatch patterns of the kernel parameters an app may set (docker.parameters sysctl), e.g.
    "net.core.somaxconn", "net.ipv4.*". Empty: none."""
    allow_security_opts: tuple[str, ...] = ()
    """fnmatch patterns of the docker --security-opt values an app may give (docker.parameters security-opt),
    e.g. "seccomp=/etc/pacer/*.json", "apparmor=*". Empty: none."""
    allow_devices: tuple[str, ...] = ()
    """fnmatch patterns of the host devices an app may map in (docker.parameters device), e.g. "/dev/fuse".
    Empty: none."""
    allowed_registries: tuple[str, ...] = ()
    """fnmatch patterns for the registries images may come from ("registry.local:5000", "*.corp.example",
    "docker.io" for Docker Hub): an image from any other is refused, pulled or not. Empty: any registry."""

    @field_validator("capabilities", "allow_capabilities")
    @classmethod
    def _capabilities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(capability_name(v) for v in value))


class ClusterPolicy(AgentPolicy):
    """The engine's `[policy]` (and an agent's `policy = {...}` override).

    The same rules as an agent's own policy, except that host networking is allowed unless
    the table says otherwise: it is Marathon's default network for an app that names none,
    and on the engine's own docker daemon the operator already holds the socket."""

    allow_host_network: bool = True


def merge_policies(base: AgentPolicy, override: AgentPolicy | None) -> AgentPolicy:
    """`base` with every field that `override` sets explicitly."""
    if override is None:
        return base
    return base.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})


def policy_problems(policy: AgentPolicy) -> list[tuple[str, str]]:
    """(field, problem) pairs that validation of a single table cannot see: keys that do not load,
    signatures required without a key."""
    problems = []
    if policy.require_signature and not policy.trusted_keys:
        problems.append(("require_signature", "needs trusted_keys: the public keys whose signatures count"))
    for spec in policy.trusted_keys:
        try:
            load_trusted_keys([spec])
        except TrustKeyError as exc:
            problems.append(("trusted_keys", str(exc)))
    return problems


def resolve_key_paths(policy: AgentPolicy | None, resolve: Any) -> AgentPolicy | None:
    """The policy with its trusted key files resolved by `resolve` (inline keys untouched)."""
    if policy is None or not policy.trusted_keys:
        return policy
    keys = tuple(k if k.startswith("ed25519:") else resolve(k) for k in policy.trusted_keys)
    return policy.model_copy(update={"trusted_keys": keys})


# -- what an app asks for ----------------------------------------------------------------


class Requirements(Protocol):
    """What the policy judges: a TaskSpec, or `app_requirements` of an app (for placement)."""

    @property
    def image(self) -> str: ...
    @property
    def privileged(self) -> bool: ...
    @property
    def volumes(self) -> tuple[VolumeMount, ...]: ...
    @property
    def network_mode(self) -> str: ...
    @property
    def user(self) -> str | None: ...
    @property
    def cap_add(self) -> tuple[str, ...]: ...
    @property
    def pids_limit(self) -> int | None: ...
    @property
    def image_id(self) -> str | None: ...
    @property
    def sysctls(self) -> dict[str, str]: ...
    @property
    def security_opts(self) -> tuple[str, ...]: ...
    @property
    def devices(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class AppRequirements:
    image: str
    privileged: bool
    volumes: tuple[VolumeMount, ...]
    network_mode: str
    user: str | None
    cap_add: tuple[str, ...]
    pids_limit: int | None
    image_id: str | None
    sysctls: dict[str, str]
    security_opts: tuple[str, ...]
    devices: tuple[str, ...]


def app_requirements(app: Any, default_image: str | None) -> AppRequirements:
    """What an AppDefinition asks of an agent (ValueError: its isolation labels are malformed)."""
    container = app.container
    docker = container.docker if container is not None else None
    parameters = [(p.key, p.value) for p in docker.parameters] if docker is not None else []
    iso = isolation_of(app.labels, parameters)
    volumes = tuple(VolumeMount(v.host_path, v.container_path, v.mode)
                    for v in (container.volumes if container is not None else ()) if v.host_path is not None)
    mode = app.network_mode
    return AppRequirements(
        image=app.image or default_image or "",
        privileged=bool(docker is not None and docker.privileged),
        volumes=volumes,
        network_mode="bridge" if mode == "container" else mode,
        user=iso.user or app.user,
        cap_add=iso.cap_add,
        pids_limit=iso.pids_limit,
        image_id=iso.image_id,
        sysctls=dict(iso.sysctls),
        security_opts=iso.security_opts,
        devices=iso.devices,
    )


# -- the checks ---------------------------------------------------------------------------


def image_allowed(image: str, allowlist: Sequence[str]) -> bool:
    if not allowlist:
        return True
    candidates = {image, normalize_ref(image), repository_of(image)}
    if ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
        candidates.add(f"{image}:latest")  # "busybox" is "busybox:latest" to docker
    return any(fnmatch.fnmatchcase(c, pattern) for c in candidates for pattern in allowlist)


def registry_of(image: str) -> str | None:
    """The registry host an image reference pulls from (``docker.io`` for Docker Hub); None for a content id
    or a reference docker cannot read."""
    try:
        return parse_image_ref(image).registry
    except ValueError:
        return None


def runs_as_root(user: str | None, image_user: str | None) -> bool:
    effective = (user or image_user or "").strip()
    name = effective.split(":", 1)[0]
    return name in ("", "root", "0")


def refusals(spec: Requirements, policy: AgentPolicy) -> list[str]:
    """One message per rule that `spec` breaks (empty: it may run). Pure; no image lookups."""
    problems = []
    if spec.privileged and not policy.allow_privileged:
        problems.append("privileged mode is not allowed on this agent")
    # A relative hostPath is inside the task's own sandbox: not a host path volume.
    host_volumes = [v for v in spec.volumes if v.host_path.startswith("/")]
    if host_volumes and not policy.allow_host_volumes:
        paths = ", ".join(sorted({v.host_path for v in host_volumes}))
        problems.append(f"host path volumes are not allowed on this agent ({paths})")
    elif host_volumes and policy.host_paths:
        outside = sorted({v.host_path for v in host_volumes
                          if not any(fnmatch.fnmatchcase(posixpath.normpath(v.host_path), p)
                                     for p in policy.host_paths)})
        if outside:
            problems.append(f"host path {', '.join(outside)} is not among this agent's allowed host paths "
                            f"({', '.join(policy.host_paths)})")
    if spec.network_mode == "host" and not policy.allow_host_network:
        problems.append("host networking is not allowed on this agent")
    if not image_allowed(spec.image, policy.image_allowlist):
        problems.append(
            f"image {spec.image!r} is not in this agent's image allowlist ({', '.join(policy.image_allowlist)})"
        )
    if not spec.privileged:
        extra = [c for c in spec.cap_add if c not in policy.capabilities
                 and c not in policy.allow_capabilities]
        if extra:
            allowed = ", ".join(policy.allow_capabilities) or "none"
            problems.append(f"capabilities {', '.join(extra)} are not allowed on this agent "
                            f"(an app may add: {allowed})")
    pids = spec.pids_limit
    if pids is not None and pids < 1:
        problems.append(f"a pids limit of {pids} would be no limit at all: it must be at least 1")
    elif pids is not None and policy.pids_limit and pids > policy.pids_limit:
        problems.append(f"a pids limit of {pids} is above this agent's limit ({policy.pids_limit})")
    user = spec.user
    if user and not policy.allow_root_user and runs_as_root(user, None):
        problems.append(f"user {user!r} is root: containers must run as a non-root user on this agent")
    checks: tuple[tuple[str, list[str], tuple[str, ...], str], ...] = (
        ("sysctl", list(spec.sysctls), policy.allow_sysctls, "allow_sysctls"),
        ("security-opt", list(spec.security_opts), policy.allow_security_opts, "allow_security_opts"),
        ("device", [d.split(":", 1)[0] for d in spec.devices], policy.allow_devices, "allow_devices"),
    )
    for kind, asked, patterns, setting in checks:
        refused = [a for a in asked if not any(fnmatch.fnmatchcase(a, p) for p in patterns)]
        if refused:
            problems.append(f"{kind} {', '.join(refused)} is not allowed on this agent (policy {setting}: "
                            f"{', '.join(patterns) or 'none'})")
    registry = registry_of(spec.image) if policy.allowed_registries else None
    if registry is not None and not any(fnmatch.fnmatchcase(registry, p) for p in policy.allowed_registries):
        problems.append(f"image {spec.image!r} comes from registry {registry}, which is not among this agent's "
                        f"allowed registries ({', '.join(policy.allowed_registries)})")
    if policy.require_pinned_image and not spec.image_id and "@sha256:" not in spec.image:
        problems.append(f"image {spec.image!r} is not pinned: this agent runs only images pinned by content "
                        f"(label {LABEL_IMAGE_ID} or NAME@sha256:DIGEST)")
    return problems


def image_refusals(spec: TaskSpec, policy: AgentPolicy, *, image_id: str, image_user: str | None = None,
                   repo_digests: Sequence[str] = ()) -> list[str]:
    """The checks that need the image as this agent's daemon has it: pin, user, signatures."""
    problems = []
    ref = normalize_ref(spec.image)
    pinned = spec.image_id
    if pinned and not id_matches(pinned, image_id):
        problems.append(f"image {ref} changed: now {short_id(image_id)}, pinned {short_id(pinned)}"
                        if ":" in pinned else
                        f"image {ref} changed: now {short_id(image_id)}, pinned {pinned[:12]}")
    if "@sha256:" in spec.image and repo_digests:
        digest = spec.image.rsplit("@", 1)[1]
        if not any(d.endswith("@" + digest) for d in repo_digests):
            problems.append(f"image {ref} is not the pinned digest {digest[:19]}")
    if not policy.allow_root_user and runs_as_root(spec.user, image_user):
        problems.append(f"image {ref} runs as root (set the app's user): containers must run as a non-root "
                        "user on this agent")
    if policy.require_signature:
        try:
            keys = load_trusted_keys(policy.trusted_keys)
        except TrustKeyError as exc:
            problems.append(f"image {ref}: this agent's trusted keys cannot be read: {exc}")
        else:
            why = signature_problem(spec.image, image_id, spec.signatures, keys)
            if why:
                problems.append(why)
    return problems


def needs_image_inspection(spec: TaskSpec, policy: AgentPolicy) -> bool:
    return bool(policy.require_signature or spec.image_id or not policy.allow_root_user)


@dataclass(frozen=True, slots=True)
class ContainerProfile:
    """The docker host-config settings that harden one container."""

    privileged: bool
    cap_drop: tuple[str, ...]
    cap_add: tuple[str, ...]
    security_opt: tuple[str, ...]
    pids_limit: int | None
    read_only: bool
    tmpfs: Mapping[str, str]

    def host_config_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for docker's APIClient.create_host_config."""
        kwargs: dict[str, Any] = {
            "privileged": self.privileged,
            "security_opt": list(self.security_opt) or None,
            "pids_limit": self.pids_limit,
            "read_only": self.read_only or None,
            "tmpfs": dict(self.tmpfs) or None,
        }
        if not self.privileged:
            kwargs["cap_drop"] = list(self.cap_drop) or None
            kwargs["cap_add"] = list(self.cap_add) or None
        return kwargs


def container_profile(spec: TaskSpec, policy: AgentPolicy) -> ContainerProfile:
    """The hardened settings for `spec` under `policy` (which must already have accepted it)."""
    drop = set(spec.cap_drop)
    caps = [] if "ALL" in drop else [c for c in policy.capabilities if c not in drop]
    caps += [c for c in spec.cap_add if c not in caps]
    read_only = bool(spec.read_only or policy.read_only_rootfs)
    tmpfs = {path: READ_ONLY_TMPFS_OPTIONS for path in (("/tmp",) if read_only else ()) + tuple(spec.tmpfs)}
    pids = spec.pids_limit
    limit = min(p for p in (pids, policy.pids_limit or None) if p) if (pids or policy.pids_limit) else None
    return ContainerProfile(
        privileged=bool(spec.privileged),
        cap_drop=("ALL",),
        cap_add=tuple(sorted(caps, key=CAPABILITIES.index)),
        # the app's own security options (which the policy allowed) after the hardened one they may replace
        security_opt=tuple(o for o in (("no-new-privileges:true",) if policy.no_new_privileges else ())
                           if not any(a.split(":", 1)[0].split("=", 1)[0] == "no-new-privileges"
                                      for a in spec.security_opts)) + tuple(spec.security_opts),
        pids_limit=limit,
        read_only=read_only,
        tmpfs=tmpfs,
    )


class PolicyRefusal(AgentError):
    """An agent's policy refuses a task; `problems` has one message per broken rule."""

    title = "refused by policy"

    def __init__(self, agent: str | None, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        text = "policy: " + "; ".join(self.problems)
        super().__init__(f"agent {agent}: {text}" if agent else text)

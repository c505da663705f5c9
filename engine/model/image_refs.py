"""Image references as docker reads them: ``[REGISTRY/]PATH[:TAG][@DIGEST]``.

The grammar is the distribution project's (``reference/regexp.go``, which dockerd uses): path components
of lowercase letters and digits joined by ``.``, ``_``, ``__`` or dashes; a tag of up to 128 word
characters, dots and dashes; a digest ``ALGORITHM:HEX`` (``sha256`` with exactly 64 lowercase hex digits);
at most 255 characters of name. The first component is a registry host when it has a ``.`` or a ``:``,
is ``localhost``, or has capitals (docker's rule); otherwise the image is on Docker Hub (``docker.io``,
``library/`` for one-component names). A full content id (``sha256:`` and 64 hex digits) is a valid
reference too: it names an image already on the daemon and cannot be pulled.

`image_ref_problem` says why a string can never name an image (None: it can); `parse_image_ref` gives
the parts an agent needs to pull it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
MAX_NAME_LENGTH = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]*)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_DIGEST_RE = re.compile(rf"^{_DIGEST}$")
_SHA256_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_IMAGE_ID_RE = re.compile(r"^(?:sha256:)?[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One parsed reference. `domain` is as docker resolves it (``docker.io`` for Docker Hub)."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """The name docker pulls, without tag or digest: ``127.0.0.1:5000/team/app``, ``busybox``."""
        if self.domain == DOCKER_HUB:
            return self.path.removeprefix("library/")
        return f"{self.domain}/{self.path}"

    @property
    def registry(self) -> str:
        """The registry host whose credentials a pull needs (``docker.io`` for Docker Hub)."""
        return self.domain

    @property
    def pull_tag(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag (``latest`` by default)."""
        return self.digest or self.tag or "latest"

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_image_id(text: str) -> bool:
    """A content id (``sha256:`` and 64 hex digits, or the 64 digits alone): local only, never pulled."""
    return bool(_IMAGE_ID_RE.match(text))


def _split_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if slash and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first):
        return first, rest
    return DOCKER_HUB, name if "/" in name else f"library/{name}"


def image_ref_problem(text: str) -> str | None:
    """Why `text` can never name an image (one line, for a 422), or None when it can."""
    if not text.strip():
        return "must not be empty"
    if text != text.strip():
        return f"invalid image reference {text!r}: leading or trailing whitespace"
    if is_image_id(text):
        return None
    name, at, digest = text.partition("@")
    if at:
        if digest.startswith("sha256:") and not _SHA256_RE.match(digest):
            return f"invalid image reference {text!r}: a sha256 digest is exactly 64 lowercase hex digits"
        if not _DIGEST_RE.match(digest):
            return f"invalid image reference {text!r}: the digest must be ALGORITHM:HEX, such as sha256:<64 hex digits>"
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            return (f"invalid image reference {text!r}: the tag {tag!r} must be up to 128 letters, digits, "
                    "'_', '.' or '-', not starting with '.' or '-'")
    if not name:
        return f"invalid image reference {text!r}: no repository name"
    if len(name) > MAX_NAME_LENGTH:
        return f"invalid image reference {text!r}: the repository name is longer than {MAX_NAME_LENGTH} characters"
    domain, path = _split_domain(name)
    if not _DOMAIN_RE.match(domain):
        return f"invalid image reference {text!r}: {domain!r} is not a registry host[:port]"
    if path.lower() != path:
        return f"invalid image reference {text!r}: repository names must be lowercase"
    if not _PATH_RE.match(path):
        return (f"invalid image reference {text!r}: a repository name is lowercase letters and digits, "
                "with components joined by '.', '_', '__' or '-' and separated by '/'")
    return None


def parse_image_ref(text: str) -> ImageRef:
    """The parts of a valid reference; ValueError (with the problem) for one that is not, or a content id."""
    problem = image_ref_problem(text)
    if problem is not None:
        raise ValueError(problem)
    if is_image_id(text):
        raise ValueError(f"{text[:19]}... is a content id: it names an image on one daemon and cannot be pulled")
    name, _, digest = text.partition("@")
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    domain, path = _split_domain(name)
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return ImageRef(domain=domain, path=path, tag=tag, digest=digest or None)


PULL_CONFIG_REFUSED = (
    "is not supported yet: pacer has no secret store to resolve a pull secret from. Give the agents "
    "registry credentials instead (registries in the agent's config: [[agents]] registries, or "
    "[agent.registries] on a pacer agent)"
)


def docker_image_problems(docker: object) -> list[tuple[str, str]]:
    """(JSON path, problem) for `container.docker` of an app document: its image reference, and a
    pullConfig (refused until pacer has secrets). Types are pydantic's to report."""
    if not isinstance(docker, dict):
        return []
    problems = []
    image = docker.get("image")
    if isinstance(image, str) and (problem := image_ref_problem(image)) is not None:
        problems.append(("/container/docker/image", problem))
    if docker.get("pullConfig") is not None:
        problems.append(("/container/docker/pullConfig", PULL_CONFIG_REFUSED))
    return problems

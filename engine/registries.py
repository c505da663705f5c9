"""Registry credentials and image pull settings of an agent (the config side; engine/agents/images.py pulls).

An engine's ``[[agents]]`` entry and a pacer agent's ``[agent]`` table take the same keys::

    pull_timeout = 600            # seconds a pull may take, start to end (then the launch fails, with backoff)
    max_concurrent_pulls = 3      # pulls of different images at once on this agent; more wait their turn
    image_gc = 86400              # optional: remove images pacer pulled that no container used for this long

    [agents.registries."registry.example.com:5000"]     # [agent.registries."..."] on a pacer agent
    username = "deploy"
    password_file = "secrets/registry.pass"               # or password = "..."

    [agents.registries."ghcr.io"]
    docker_config = "/root/.docker/config.json"           # a docker login's config.json (credential helpers too)

A registry is named by its host as image references write it (``127.0.0.1:5000``, ``docker.io`` for Docker
Hub). Credentials go to the Docker daemon with the pull (its ``X-Registry-Auth`` header) and nowhere else:
passwords are `SecretStr` (``**********`` in any repr or dump), read from their files at pull time, never
logged, never in events, API answers or the console. An agent with no entry for a registry pulls from it
anonymously (the engine's own ``~/.docker/config.json`` is never used implicitly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/")
DEFAULT_PULL_TIMEOUT = 600.0
DEFAULT_MAX_CONCURRENT_PULLS = 3


class RegistryCredentials(BaseModel):
    """How an agent authenticates to one registry: a user and a password (or its file), or a docker config.json."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str | None = Field(default=None, min_length=1)
    password: SecretStr | None = None
    password_file: str | None = None
    docker_config: str | None = None
    """A docker ``config.json`` (``docker login`` writes one): its entry for this registry, helpers included."""

    @model_validator(mode="after")
    def _one_way(self) -> "RegistryCredentials":
        if self.docker_config is not None:
            if self.username or self.password or self.password_file:
                raise ValueError("give docker_config, or username with password/password_file, not both")
            return self
        if not self.username:
            raise ValueError("needs username with password or password_file, or docker_config")
        if (self.password is None) == (self.password_file is None):
            raise ValueError("give password or password_file (one of them) with username")
        return self

    def resolved(self, resolve: Callable[[str | None], str | None]) -> "RegistryCredentials":
        """With file paths taken relative to the config file's folder (by `resolve`)."""
        return self.model_copy(update={"password_file": resolve(self.password_file),
                                       "docker_config": resolve(self.docker_config)})


def normalize_registry(host: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``Registry.Example.com:5000/`` -> ``registry.example.com:5000``."""
    text = host.strip().lower()
    if text in DOCKER_HUB_ALIASES:
        return "docker.io"
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    return text.rstrip("/").split("/", 1)[0] or text


class CredentialsError(ValueError):
    """Credentials configured for a registry that cannot be read (a missing password file, a bad config.json)."""


def auth_config(registries: Mapping[str, RegistryCredentials], registry: str) -> dict[str, Any] | None:
    """docker's auth_config for a pull from `registry` (None: anonymous). Blocking (reads files): call it off the
    event loop. CredentialsError names the file and the registry, never a secret."""
    wanted = normalize_registry(registry)
    entry = next((c for host, c in registries.items() if normalize_registry(host) == wanted), None)
    if entry is None:
        return None
    if entry.docker_config is not None:
        import docker.auth
        import docker.errors

        path = Path(entry.docker_config)
        if not path.is_file():
            raise CredentialsError(f"credentials for registry {wanted}: {path} does not exist")
        try:
            config = docker.auth.load_config(config_path=str(path))
            found = config.resolve_authconfig("index.docker.io" if wanted == "docker.io" else wanted)
        except (docker.errors.DockerException, OSError, ValueError) as exc:
            raise CredentialsError(f"credentials for registry {wanted}: {path} cannot be used "
                                   f"({exc.__class__.__name__})") from None
        if not found:
            raise CredentialsError(f"credentials for registry {wanted}: {path} has no entry for it")
        return {**dict(found), "serveraddress": wanted}
    if entry.password_file is not None:
        try:
            password = Path(entry.password_file).read_text(encoding="utf-8").strip("\r\n")
        except OSError as exc:
            raise CredentialsError(f"credentials for registry {wanted}: cannot read {entry.password_file} "
                                   f"({exc.strerror or exc.__class__.__name__})") from None
    else:
        assert entry.password is not None
        password = entry.password.get_secret_value()
    return {"username": entry.username, "password": password, "serveraddress": wanted}


class PullOptions(BaseModel):
    """The pull keys of an agent's config. `[[agents]]` entries (engine.config) and the `[agent]` table of a
    pacer agent (engine.agentd.config) inherit them; `PullOptions.of(config)` gives them alone to a driver."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registries: dict[str, RegistryCredentials] = Field(default_factory=dict)
    """Registry host -> credentials for pulls from it (Docker Hub: ``docker.io``)."""
    pull_timeout: float = Field(default=DEFAULT_PULL_TIMEOUT, gt=0)
    """Seconds one pull may take; then the launches waiting for it fail (with the app's backoff)."""
    max_concurrent_pulls: int = Field(default=DEFAULT_MAX_CONCURRENT_PULLS, ge=1, le=64)
    """Pulls of different images at once on this agent; more wait their turn (shown as queued)."""
    image_gc: float | None = Field(default=None, gt=0)
    """Seconds after which an image pacer pulled here, that no container has used since, is removed (its
    reference; the daemon deletes the content when nothing else names it). None (the default): never."""

    @classmethod
    def of(cls, config: "PullOptions") -> "PullOptions":
        return cls(registries=dict(config.registries), pull_timeout=config.pull_timeout,
                   max_concurrent_pulls=config.max_concurrent_pulls, image_gc=config.image_gc)

    def with_resolved_paths(self, resolve: Callable[[str | None], str | None]) -> dict[str, Any]:
        """The `registries` update for a config whose relative paths are taken from its file's folder."""
        return {"registries": {host: c.resolved(resolve) for host, c in self.registries.items()}}

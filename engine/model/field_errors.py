"""pydantic's ValidationError as FieldErrors: a JSON pointer and a message per problem, with a did-you-mean
for an unknown field; and how values and numbers are written in every message of the model."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Annotated, Any, Union

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from engine.errors import FieldError
from engine.model.schema import (
    AppDefinition,
    Artifact,
    Container,
    Docker,
    DockerCredential,
    DockerParameter,
    ExecutorResources,
    ExternalVolume,
    HealthCheck,
    HealthCommand,
    IpAddress,
    IpDiscovery,
    IpDiscoveryPort,
    Network,
    PersistentVolume,
    PortDefinition,
    PortMapping,
    PullConfig,
    ReadinessCheck,
    Residency,
    ResourceLimits,
    SecretDef,
    UnreachableStrategy,
    UpgradeStrategy,
    Volume,
    _Model,
)


def _inner_model(tp: Any) -> tuple[type[_Model], int] | None:
    """The model reachable through `tp` and how many loc steps (list index, dict key) lead to it."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _inner_model(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            found = _inner_model(arg)
            if found is not None:
                return found
        return None
    if origin is list:
        found = _inner_model(typing.get_args(tp)[0])
        return (found[0], found[1] + 1) if found else None
    if origin is dict:
        found = _inner_model(typing.get_args(tp)[1])
        return (found[0], found[1] + 1) if found else None
    if isinstance(tp, type) and issubclass(tp, _Model):
        return tp, 0
    return None


def _children(cls: type[_Model]) -> dict[str, tuple[type[_Model], int]]:
    out: dict[str, tuple[type[_Model], int]] = {}
    for name, info in cls.model_fields.items():
        found = _inner_model(info.annotation)
        if found is not None:
            out[info.alias or name] = found
    return out


_MODELS: tuple[type[_Model], ...] = (
    PortMapping,
    PortDefinition,
    DockerParameter,
    PullConfig,
    DockerCredential,
    Docker,
    PersistentVolume,
    ExternalVolume,
    Volume,
    Container,
    Network,
    IpDiscoveryPort,
    IpDiscovery,
    IpAddress,
    HealthCommand,
    HealthCheck,
    ReadinessCheck,
    UpgradeStrategy,
    UnreachableStrategy,
    Artifact,
    SecretDef,
    Residency,
    ExecutorResources,
    ResourceLimits,
    AppDefinition,
)
_CHILDREN = {cls: _children(cls) for cls in _MODELS}
_ALIASES = {cls: tuple(info.alias or name for name, info in cls.model_fields.items()) for cls in _MODELS}


def _model_at(loc: tuple[Any, ...]) -> type[_Model] | None:
    cls: type[_Model] = AppDefinition
    i = 0
    while i < len(loc):
        entry = _CHILDREN[cls].get(loc[i]) if isinstance(loc[i], str) else None
        if entry is None:
            return None
        cls, skip = entry
        i += 1 + skip
    return cls


def _escape(part: Any) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    return "/" + "/".join(_escape(p) for p in loc) if loc else "/"


def _num_text(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    if v is True or v is False:
        return f"boolean {'true' if v else 'false'}"
    if isinstance(v, int):
        return f"integer {v}"
    if isinstance(v, float):
        return f"number {v!r}"
    if isinstance(v, str):
        return f"string {(v if len(v) <= 40 else v[:37] + '...')!r}"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _suggest(key: str, loc: tuple[Any, ...]) -> str:
    cls = _model_at(loc)
    if cls is None:
        return ""
    known = _ALIASES[cls]
    camel = to_camel(key)
    if camel != key and camel in known:
        return f" (did you mean '{camel}'?)"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if loc and cls is not AppDefinition and key in _ALIASES[AppDefinition]:
        return f" ('{key}' is a field of the app itself, at the top level)"
    return ""


def translate_errors(exc: ValidationError) -> list[FieldError]:
    out: list[FieldError] = []
    for err in exc.errors(include_url=False, include_context=True):
        loc = tuple(err["loc"])
        kind = err["type"]
        value = err.get("input")
        path = _pointer(loc)
        if kind == "missing":
            msg = "is required"
        elif kind == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            msg = "unknown field" + _suggest(key, loc[:-1])
        elif kind == "finite_number":
            msg = f"must be a finite number, got {_describe(value)}"
        elif kind == "literal_error":
            expected = (err.get("ctx") or {}).get("expected", "")
            msg = f"must be one of {expected}, got {_describe(value)}"
        elif kind in _TYPE_WORDS:
            if path == "/unreachableStrategy":
                msg = f'must be an object or "disabled", got {_describe(value)}'
            else:
                msg = f"must be {_TYPE_WORDS[kind]}, got {_describe(value)}"
        else:
            msg = str(err.get("msg", kind))
        out.append(FieldError(path, msg))
    return out

"""Marathon group JSON (a GroupUpdate) read into the apps it declares and the apps it replaces.

Groups are implied by path ids in pacer (an app /shop/web is in group /shop). A group document names apps
and subgroups with ids relative to their group or absolute; writing it with PUT makes each group whose
`apps` (or `groups`) it gives hold exactly those. Pure: the engine plans the change (commands.plan_group),
the API and the console only pass the document.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Iterable

from engine.errors import FieldError
from engine.model.ids import normalize_app_id

GROUP_KEYS = frozenset({"id", "apps", "groups", "dependencies", "version", "scaleBy", "pods", "enforceRole"})


def is_group(data: Any) -> bool:
    """A group document rather than an app: an id with `apps` or `groups` lists."""
    return isinstance(data, dict) and isinstance(data.get("id"), str) and any(
        isinstance(data.get(key), list) for key in ("apps", "groups"))


def inside(group_id: str, app_id: str) -> bool:
    return group_id == "/" or app_id.startswith(group_id + "/")


def apps_in_group(app_ids: Iterable[str], group_id: str) -> list[str]:
    """Every app under `group_id`, at any depth (the root: every app)."""
    return sorted(a for a in app_ids if inside(group_id, a))


def absolute(raw: str, parent: str) -> str:
    return normalize_app_id(raw if raw.startswith("/") else f"{parent}/{raw}")


@dataclass
class GroupRead:
    """A group document read into the apps it declares and what it replaces."""

    apps: list[tuple[str, Any]] = field(default_factory=list)
    """(path in the document, app JSON with its absolute id)."""
    app_lists: list[str] = field(default_factory=list)
    """Groups whose `apps` the document gives: their direct apps are exactly those."""
    group_lists: list[tuple[str, set[str]]] = field(default_factory=list)
    """Groups whose `groups` the document gives, with the subgroups given: apps of other subgroups go."""
    errors: list[FieldError] = field(default_factory=list)


def read_group(node: Any, group_id: str, path: str = "", out: GroupRead | None = None) -> GroupRead:
    out = out if out is not None else GroupRead()
    if not isinstance(node, dict):
        out.errors.append(FieldError(path or "/", "must be a JSON object (a group)"))
        return out
    for key in sorted(set(node) - GROUP_KEYS):
        close = difflib.get_close_matches(key, sorted(GROUP_KEYS), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        out.errors.append(FieldError(f"{path}/{key}", f"is not a field of a group{hint}"))
    if node.get("enforceRole") is True:  # false (Marathon's default, in its exports) asks for nothing
        out.errors.append(FieldError(f"{path}/enforceRole", "is not supported: give each app its role"))
    if node.get("pods"):
        out.errors.append(FieldError(f"{path}/pods", "pods are not supported: run their containers as apps"))
    _read_apps(node.get("apps"), group_id, path, out)
    groups = node.get("groups")
    if groups is None:
        return out
    if not isinstance(groups, list):
        out.errors.append(FieldError(f"{path}/groups", "must be an array of groups"))
        return out
    given: set[str] = set()
    for i, child in enumerate(groups):
        where = f"{path}/groups/{i}"
        raw = child.get("id") if isinstance(child, dict) else None
        if not isinstance(raw, str) or not raw.strip("/"):
            out.errors.append(FieldError(f"{where}/id", "is required"))
            continue
        child_id = absolute(raw, group_id)
        if child_id.rpartition("/")[0] != ("" if group_id == "/" else group_id):
            out.errors.append(FieldError(f"{where}/id", f"group {child_id} is not in group {group_id}"))
            continue
        given.add(child_id)
        read_group(child, child_id, where, out)
    out.group_lists.append((group_id, given))
    return out


def _read_apps(apps: Any, group_id: str, path: str, out: GroupRead) -> None:
    if apps is None:
        return
    if not isinstance(apps, list):
        out.errors.append(FieldError(f"{path}/apps", "must be an array of apps"))
        return
    out.app_lists.append(group_id)
    for i, app in enumerate(apps):
        where = f"{path}/apps/{i}"
        if not isinstance(app, dict) or not isinstance(app.get("id"), str) or not app["id"].strip("/"):
            out.apps.append((where, app))  # the engine names what is wrong with it
            continue
        app_id = absolute(app["id"], group_id)
        if app_id.rpartition("/")[0] != ("" if group_id == "/" else group_id):
            out.errors.append(FieldError(f"{where}/id", f"app {app_id} is not in group {group_id}"))
            continue
        out.apps.append((where, {**app, "id": app_id}))


def replaced(read: GroupRead, app_ids: Iterable[str]) -> list[str]:
    """Of `app_ids`, those a write of the document removes: left out of a list it gives."""
    gone = []
    for app_id in app_ids:
        parent = app_id.rpartition("/")[0] or "/"
        if parent in read.app_lists:
            gone.append(app_id)
        for group_id, given in read.group_lists:
            if inside(group_id, app_id) and parent != group_id and not any(inside(g, app_id) for g in given):
                gone.append(app_id)
    kept = {app.get("id") for _, app in read.apps if isinstance(app, dict)}
    return [a for a in dict.fromkeys(gone) if a not in kept]

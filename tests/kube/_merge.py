"""Patch semantics: JSON merge patch (RFC 7386), a strategic merge patch that knows the
usual merge keys, JSON patch (RFC 6902), and server-side apply with per-manager pruning."""

from __future__ import annotations

import json
from typing import Any

MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
"""List fields merged element by element (strategic merge and apply); other lists are atomic."""
SET_LISTS = {"finalizers"}
"""Lists of scalars merged as sets."""


def copy(obj: Any) -> Any:
    """A deep copy of JSON data (faster than copy.deepcopy)."""
    if isinstance(obj, dict):
        return {k: copy(v) for k, v in obj.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(obj, list):
        return [copy(v) for v in obj]  # pyright: ignore[reportUnknownVariableType]
    return obj


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy(patch)
    out: dict[str, Any] = copy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():  # pyright: ignore[reportUnknownVariableType]
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _port_key(items: list[Any]) -> str | None:
    for key in ("containerPort", "port"):
        if items and all(isinstance(i, dict) and key in i for i in items):
            return key
    return None


def _list_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        return _port_key(items)
    key = MERGE_KEYS.get(field)
    if key and all(isinstance(i, dict) for i in items):
        return key
    return None


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """A strategic merge patch as kubectl sends it: merge-keyed lists merge by key, `$patch`
    directives (replace, delete), `$deleteFromPrimitiveList`, `$setElementOrder` (dropped)."""
    if not isinstance(patch, dict):
        return copy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy(v) for k, v in patch.items() if k != "$patch"}  # pyright: ignore[reportUnknownVariableType]
    out: dict[str, Any] = copy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():  # pyright: ignore[reportUnknownVariableType]
        key = str(key)
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            out[name] = [v for v in out.get(name, []) if v not in value]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list):
            out[key] = _merge_list(key, out.get(key), value)  # pyright: ignore[reportUnknownArgumentType]
        else:
            out[key] = strategic_merge(out.get(key), value, key)
    return out


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    old: list[Any] = current if isinstance(current, list) else []  # pyright: ignore[reportUnknownVariableType]
    if field in SET_LISTS:
        return [*old, *(v for v in patch if v not in old)]
    key = _list_key(field, [p for p in patch if not (isinstance(p, dict) and "$patch" in p)])
    if key is None:
        return copy(patch)
    out: list[Any] = copy(old)
    for item in patch:
        index = next((i for i, o in enumerate(out) if o.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                out.pop(index)
        elif index is None:
            out.append(strategic_merge({}, item))
        else:
            out[index] = strategic_merge(out[index], item)
    return out


class PatchError(Exception):
    """The patch cannot be applied (a failed `test`, a missing path)."""


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test)."""
    doc = copy(target)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(f"test failed at {path}")
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind in ("add", "replace"):
            if kind == "replace":
                _get(doc, path)
            doc = _add(doc, path, copy(op.get("value")), replace=kind == "replace")
        elif kind in ("move", "copy"):
            value = _get(doc, op["from"])
            if kind == "move":
                doc = _remove(doc, op["from"])
            doc = _add(doc, path, copy(value), replace=False)
        else:
            raise PatchError(f"unknown op {kind!r}")
    return doc


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"bad path {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _get(doc: Any, path: str) -> Any:
    for token in _tokens(path):
        try:
            doc = doc[int(token)] if isinstance(doc, list) else doc[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise PatchError(f"path {path!r} does not exist") from None
    return doc


def _parent(doc: Any, path: str) -> tuple[Any, str]:
    tokens = _tokens(path)
    if not tokens:
        raise PatchError("cannot address the root")
    return _get(
        doc, "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens[:-1])
    ), tokens[-1]


def _add(doc: Any, path: str, value: Any, replace: bool) -> Any:
    if path == "":
        return value
    parent, last = _parent(doc, path)
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)  # pyright: ignore[reportUnknownArgumentType]
        if replace:
            parent[index] = value
        else:
            parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PatchError(f"path {path!r} does not exist")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parent, last = _parent(doc, path)
    try:
        if isinstance(parent, list):
            parent.pop(int(last))  # pyright: ignore[reportUnknownMemberType]
        else:
            del parent[last]
    except (KeyError, IndexError, ValueError, TypeError):
        raise PatchError(f"path {path!r} does not exist") from None
    return doc


# --- server-side apply ----------------------------------------------------------------------


def prune(current: Any, before: Any, now: Any, field: str = "") -> Any:
    """Remove from `current` what a manager applied `before` and no longer applies `now`."""
    if isinstance(current, dict) and isinstance(before, dict):
        now_d: dict[str, Any] = now if isinstance(now, dict) else {}  # pyright: ignore[reportUnknownVariableType]
        out: dict[str, Any] = {}
        for key, value in current.items():  # pyright: ignore[reportUnknownVariableType]
            if key in before and key not in now_d:
                continue
            out[key] = (
                prune(value, before.get(key), now_d.get(key), key) if key in before else value
            )
        return out
    if isinstance(current, list) and isinstance(before, list):
        if field in SET_LISTS:
            now_l: list[Any] = now if isinstance(now, list) else []  # pyright: ignore[reportUnknownVariableType]
            return [v for v in current if v not in before or v in now_l]  # pyright: ignore[reportUnknownVariableType]
        key = _list_key(field, [*current, *before])  # pyright: ignore[reportUnknownArgumentType]
        if key is None:
            return current  # pyright: ignore[reportUnknownVariableType]
        now_items = {i.get(key): i for i in (now or [])}
        old_items = {i.get(key): i for i in before}
        return [
            prune(item, old_items[item.get(key)], now_items.get(item.get(key)))
            if item.get(key) in old_items
            else item
            for item in current  # pyright: ignore[reportUnknownVariableType]
            if item.get(key) not in old_items or item.get(key) in now_items
        ]
    return current


def apply(current: Any, applied: Any, before: Any) -> Any:
    """Server-side apply for one manager: drop what it gave up, merge in what it applies."""
    return strategic_merge(prune(current, before, applied), applied)


def conflicts(current: Any, applied: Any, owned_by_others: Any, path: str = "") -> list[str]:
    """Paths where `applied` sets a value different from the one another manager applied."""
    if isinstance(applied, dict) and isinstance(owned_by_others, dict):
        cur: dict[str, Any] = current if isinstance(current, dict) else {}  # pyright: ignore[reportUnknownVariableType]
        found: list[str] = []
        for key, value in applied.items():  # pyright: ignore[reportUnknownVariableType]
            if key in owned_by_others:
                found += conflicts(cur.get(key), value, owned_by_others[key], f"{path}.{key}")
        return found
    if isinstance(applied, dict | list) or owned_by_others is None:
        return []
    return [path] if applied != current else []


def fields_v1(applied: Any, field: str = "") -> dict[str, Any]:
    """The managedFields `fieldsV1` set for an applied configuration."""
    if isinstance(applied, dict):
        return {f"f:{k}": fields_v1(v, k) for k, v in applied.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(applied, list):
        key = _list_key(field, applied)  # pyright: ignore[reportUnknownArgumentType]
        if key is not None:
            return {
                f"k:{json.dumps({key: i.get(key)}, separators=(',', ':'))}": fields_v1(i)
                for i in applied  # pyright: ignore[reportUnknownVariableType]
            }
        if field in SET_LISTS:
            return {f"v:{json.dumps(v)}": {} for v in applied}  # pyright: ignore[reportUnknownVariableType]
    return {}

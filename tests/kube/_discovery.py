"""What clients read besides objects: discovery documents, the OpenAPI v3 index kubectl
checks before `apply`, and the Table form `kubectl get` prints."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tests.kube._resources import Resource

VERSION = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0-fake",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-11-01T00:00:00Z",
    "goVersion": "go1.25",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def group_versions(served: Iterable[Resource]) -> dict[str, list[str]]:
    """Named groups and their versions, in first-seen order (the first is preferred)."""
    out: dict[str, list[str]] = {}
    for res in served:
        if res.group:
            versions = out.setdefault(res.group, [])
            if res.version not in versions:
                versions.append(res.version)
    return out


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_versions(address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def api_groups(served: Iterable[Resource]) -> dict[str, Any]:
    groups = [_group(n, v) for n, v in group_versions(served).items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(served: Iterable[Resource], name: str) -> dict[str, Any] | None:
    versions = group_versions(served).get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(served: Iterable[Resource], group_version: str) -> dict[str, Any] | None:
    found = [r for r in served if r.group_version == group_version]
    if not found:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [entry for r in found for entry in r.discovery()],
    }


def openapi_root(served: Iterable[Resource]) -> dict[str, Any]:
    gvs = sorted({r.group_version for r in served})
    paths = {
        _prefix(gv): {"serverRelativeURL": f"/openapi/v3/{_prefix(gv)}?hash=fake"} for gv in gvs
    }
    return {"paths": paths}


def _prefix(group_version: str) -> str:
    return f"api/{group_version}" if "/" not in group_version else f"apis/{group_version}"


def openapi_doc(served: Iterable[Resource], path: str) -> dict[str, Any] | None:
    """Only what kubectl looks for: PATCH takes `fieldValidation` (so the server validates)."""
    found = [r for r in served if _prefix(r.group_version) == path]
    if not found:
        return None
    paths: dict[str, Any] = {}
    for r in found:
        scope = "/namespaces/{namespace}" if r.namespaced else ""
        paths[f"/{path}{scope}/{r.plural}/{{name}}"] = {
            "patch": {
                "x-kubernetes-group-version-kind": {
                    "group": r.group,
                    "version": r.version,
                    "kind": r.kind,
                },
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
                ],
                "responses": {},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
    }


def age(created: str, now: float) -> str:
    """kubectl's short duration ("42s", "5m3s", "3h", "12d")."""
    try:
        then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return "<unknown>"
    s = max(0, int(now - then))
    if s < 120:
        return f"{s}s"
    if s < 600:
        return f"{s // 60}m{s % 60}s" if s % 60 else f"{s // 60}m"
    if s < 3 * 3600:
        return f"{s // 60}m"
    if s < 8 * 3600:
        return f"{s // 3600}h{(s % 3600) // 60}m"
    if s < 48 * 3600:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _path(obj: Any, json_path: str) -> Any:
    for part in json_path.strip().lstrip(".").split("."):
        if not part:
            continue
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    return obj  # pyright: ignore[reportUnknownVariableType]


def _pod_cells(obj: dict[str, Any]) -> list[Any]:
    statuses = obj.get("status", {}).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    total = len(obj.get("spec", {}).get("containers", []))
    phase = obj.get("status", {}).get("phase", "Pending")
    for s in statuses:
        state = s.get("state", {})
        reason = (state.get("waiting") or state.get("terminated") or {}).get("reason")
        if reason and reason not in ("Completed",):
            phase = reason
    if obj.get("metadata", {}).get("deletionTimestamp"):
        phase = "Terminating"
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    return [f"{ready}/{total}", phase, restarts]


def _job_cells(obj: dict[str, Any]) -> list[Any]:
    status = obj.get("status", {})
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    state = (
        "Complete"
        if conditions.get("Complete") == "True"
        else ("Failed" if conditions.get("Failed") == "True" else "Running")
    )
    done = f"{status.get('succeeded', 0)}/{obj.get('spec', {}).get('completions', 1)}"
    return [state, done]


_EXTRA = {
    ("", "pods"): (["Ready", "Status", "Restarts"], _pod_cells),
    ("batch", "jobs"): (["Status", "Completions"], _job_cells),
}


def table(
    res: Resource, objects: list[dict[str, Any]], now: float, full: bool, rv: int
) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of `objects` (as the server prints them for `kubectl get`)."""
    names = ["Name"]
    extra = _EXTRA.get((res.group, res.plural))
    if extra:
        names += extra[0]
    columns = [c for c in res.columns if c.get("name", "").lower() != "age"]
    names += [c["name"] for c in columns]
    names.append("Age")
    definitions = [
        {
            "name": n,
            "type": "string",
            "format": "name" if n == "Name" else "",
            "description": n,
            "priority": 0,
        }
        for n in names
    ]
    rows: list[dict[str, Any]] = []
    for obj in objects:
        meta = obj.get("metadata", {})
        cells: list[Any] = [meta.get("name", "")]
        if extra:
            cells += extra[1](obj)
        for c in columns:
            value = _path(obj, c.get("jsonPath", ""))
            if c.get("type") == "date" and isinstance(value, str):
                value = age(value, now)
            cells.append("" if value is None else value)
        cells.append(age(meta.get("creationTimestamp", ""), now))
        shown = (
            obj
            if full
            else {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
        )
        rows.append({"cells": cells, "object": shown})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(rv)},
        "columnDefinitions": definitions,
        "rows": rows,
    }

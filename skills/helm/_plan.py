"""Planning a change before it is made: an offline render checked against the run's scope, the
server dry run of an upgrade, and what that dry run says (which objects, no secrets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import yaml

from skills._redact import dig
from skills._scope import load_scope
from skills.helm._run import helm
from skills.sdk import Context, ToolError


async def render_within_scope(
    ctx: Context, folder: Path, name: str, chart: str, flags: list[str]
) -> None:
    """Before a confined run's upgrade touches the cluster (even a server dry run reads the
    objects a chart names), render it offline and check where its objects would go."""
    scope = load_scope("HELM")
    if not scope.confined and scope.cluster_scope:
        return
    wanted = ("--namespace=", "--values=", "--version=", "--repo=")
    keep = [f for f in flags if f.startswith(wanted)]
    out = await helm(ctx, ["template"], keep, [name, chart], cwd=folder)
    within_scope({"manifest": out})


def within_scope(planned: dict[str, Any]) -> None:
    """Refuse an upgrade whose rendered objects leave the run's scope (another namespace, or a
    cluster-scoped kind such as ClusterRole when the run may not reach those)."""
    scope = load_scope("HELM")
    if not scope.confined and scope.cluster_scope:
        return
    for doc in yaml.safe_load_all(str(planned.get("manifest", ""))):
        if isinstance(doc, dict):
            scope.resource(str(dig(doc, "kind")))
            if dig(doc, "metadata", "namespace") is not None:
                scope.namespace(str(dig(doc, "metadata", "namespace")))


async def dry_run(
    ctx: Context, folder: Path, name: str, chart: str, flags: list[str], reuse_values: bool
) -> dict[str, Any]:
    """`helm upgrade --install --dry-run=server -o json`: the release the upgrade would make."""
    extra = ["--dry-run=server", "--output=json"]
    if "--install" not in flags:
        extra.append("--install")
    if reuse_values:
        extra.append("--reuse-values")
    out = await helm(
        ctx, ["upgrade"], [*flags, *extra], [name, chart], cwd=folder, release=name,
        namespace=next((f.split("=", 1)[1] for f in flags if f.startswith("--namespace=")), None),
    )  # fmt: skip
    try:
        planned: Any = json.loads(out[out.index("{") :])
    except ValueError as exc:
        raise ToolError(f"helm's dry run printed no release: {out[:500]}") from exc
    return cast(dict[str, Any], planned) if isinstance(planned, dict) else {}


def summary(planned: dict[str, Any]) -> str:
    """What a server dry run of an upgrade says: which objects, which revision, no secrets."""
    manifest = str(planned.get("manifest", ""))
    meta = dig(planned, "chart", "metadata")
    chart = f"{dig(meta, 'name')}-{dig(meta, 'version')}"
    kinds = [
        f"  {dig(doc, 'kind')} {dig(doc, 'metadata', 'name')}"
        for doc in yaml.safe_load_all(manifest)
        if isinstance(doc, dict)
    ]
    lines = [
        f"Server dry run passed: release {planned.get('name')} would become revision "
        f"{planned.get('version')} ({dig(planned, 'info', 'status')}) with chart "
        f"{chart} in namespace {planned.get('namespace')}.",
        f"{len(kinds)} object(s):",
        *kinds,
        "Nothing was changed. helm_diff shows the changes; dry_run='none' applies them.",
    ]
    return "\n".join(lines) + "\n"

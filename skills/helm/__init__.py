"""The `helm` skill: inspect, render, diff and change Helm releases with the real Helm CLI and
this sidecar's own credentials.

Safety, in order: every release, namespace, chart reference, repository URL and version is
checked before helm runs (none can start an option: `--kubeconfig=...`, `--post-renderer`,
`--repo` are refused); helm runs from an argument list, flags written `--flag=value`,
positionals after `--`, in a private empty folder; a chart is a folder or .tgz inside the
workspace (symlinks out of it refused), an `oci://` reference, `repo/chart`, or a chart name
with a checked repository URL, never a URL or a file outside the workspace; values are an
object written to a private file, never `--set` strings or files outside the workspace.
Secrets in rendered manifests and values are redacted before the model sees them. Changes
dry-run on the server first. helm's output goes to the agent, never to this skill's log.

Credentials: the kubeconfig named by `KUBECONFIG` (given to this skill only), else the
sidecar's in-cluster ServiceAccount. The binary: `PODIUM_HELM`, else the helm next to this
Python, else `helm` on PATH. Release storage follows `HELM_DRIVER` (Secrets by default).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from skills._redact import Redactor, dump, values_text
from skills._scope import load_scope
from skills.helm import _checks as check
from skills.helm import _plan as plan
from skills.helm._diff import diff
from skills.helm._run import helm, helm_binary, private_folder
from skills.sdk import Context, Skill, ToolError

__all__ = ["helm_binary", "skill"]

skill = Skill(
    "helm",
    instructions=(
        "Work with Helm releases. Read with helm_list, helm_status, helm_history, "
        "helm_get_values; render and check charts with helm_template, helm_lint, helm_show; "
        "before changing a release, show what would change with helm_diff. helm_upgrade "
        "installs or upgrades and dry-runs on the server by default: apply for real "
        "(dry_run='none') only when the task asks for the change. helm_rollback and "
        "helm_uninstall change the cluster at once. A chart is a folder inside the workspace "
        "(e.g. 'charts/web'), 'oci://registry/path/chart', 'repo/chart', or a chart name with "
        "repo='https://...'. Values are an object (values={'replicas': 2}), never --set "
        "strings; flags are not accepted. Secret values are shown as <redacted>."
    ),
)

MAX_TIMEOUT_S = 3600
_WAIT_SLACK_S = 60.0


def _namespace_flag(namespace: str | None) -> list[str]:
    """`--namespace=NS` for a command that reaches the cluster, within the run's scope (the
    run's first namespace when it is confined and none is asked for)."""
    where = load_scope("HELM").namespace(namespace)
    return [] if where is None else [f"--namespace={check.namespace(where)}"]


def _wait_limit(timeout_s: int) -> float:
    if not 1 <= timeout_s <= MAX_TIMEOUT_S:
        raise ToolError(f"timeout_s must be between 1 and {MAX_TIMEOUT_S}, not {timeout_s}")
    return timeout_s + _WAIT_SLACK_S


def _chart_flags(
    ctx: Context,
    folder: Path,
    chart: str,
    *,
    repo: str | None,
    version: str | None,
    values: dict[str, Any] | None,
    values_files: list[str] | None,
) -> tuple[str, list[str]]:
    """The chart argument and the flags that choose its version and values."""
    ref = check.chart(ctx, chart, repo)
    flags = [*ref.flags]
    if version is not None:
        flags.append(f"--version={check.version(version)}")
    flags += check.values_files(ctx, values_files)
    flags += check.values_file(folder, values)  # the object wins over files, as with helm -f
    return ref.arg, flags


@skill.tool(read_only=True)
async def helm_list(
    ctx: Context,
    namespace: str | None = None,
    all_namespaces: bool = False,
    every_state: bool = False,
) -> str:
    """List Helm releases (name, namespace, revision, status, chart, app version).

    Args:
        namespace: Namespace; omit for the default one of the credentials.
        all_namespaces: List releases in every namespace (not with namespace).
        every_state: Also list superseded, pending and uninstalling releases, not only
            deployed and failed ones.
    """
    if all_namespaces:
        if namespace is not None:
            raise ToolError("all_namespaces cannot be combined with namespace")
        load_scope("HELM").all_namespaces()
        flags = ["--all-namespaces"]
    else:
        flags = _namespace_flag(namespace)
    if every_state:
        flags += ["--deployed", "--failed", "--pending", "--superseded", "--uninstalled",
                  "--uninstalling"]  # fmt: skip
    with private_folder() as folder:
        return await helm(ctx, ["list"], flags, [], cwd=folder)


@skill.tool(read_only=True)
async def helm_status(
    ctx: Context, release: str, namespace: str | None = None, revision: int | None = None
) -> str:
    """Show a release's status: revision, when deployed, its resources and notes.

    Args:
        release: Release name.
        namespace: Namespace; omit for the default one of the credentials.
        revision: A past revision to show instead of the current one.
    """
    flags = _namespace_flag(namespace) + _revision(revision)
    with private_folder() as folder:
        return await helm(
            ctx, ["status"], flags, [check.release(release)], cwd=folder,
            release=release, namespace=namespace,
        )  # fmt: skip


@skill.tool(read_only=True)
async def helm_history(
    ctx: Context, release: str, namespace: str | None = None, max_revisions: int = 20
) -> str:
    """Show a release's revisions: when, status, chart, description.

    Args:
        release: Release name.
        namespace: Namespace; omit for the default one of the credentials.
        max_revisions: How many of the latest revisions to show (1 to 256).
    """
    if not 1 <= max_revisions <= 256:
        raise ToolError(f"max_revisions must be between 1 and 256, not {max_revisions}")
    flags = [*_namespace_flag(namespace), f"--max={max_revisions}"]
    with private_folder() as folder:
        return await helm(
            ctx, ["history"], flags, [check.release(release)], cwd=folder,
            release=release, namespace=namespace,
        )  # fmt: skip


@skill.tool(read_only=True)
async def helm_get_values(
    ctx: Context,
    release: str,
    namespace: str | None = None,
    all_values: bool = False,
    revision: int | None = None,
) -> str:
    """Show the values a release was installed or upgraded with (secret-looking ones redacted).

    Args:
        release: Release name.
        namespace: Namespace; omit for the default one of the credentials.
        all_values: Show every computed value (the chart's defaults merged in), not only those
            that were set.
        revision: A past revision's values instead of the current one.
    """
    flags = [*_namespace_flag(namespace), "--output=json", *_revision(revision)]
    if all_values:
        flags.append("--all")
    with private_folder() as folder:
        out = await helm(
            ctx, ["get", "values"], flags, [check.release(release)], cwd=folder,
            release=release, namespace=namespace,
        )  # fmt: skip
    data = json.loads(out) if out.strip() else None
    if not data:
        return "(no values were set; all_values=true shows the chart's defaults)\n"
    return dump(Redactor().values(data))


@skill.tool(read_only=True)
async def helm_template(
    ctx: Context,
    chart: str,
    release: str = "release",
    namespace: str | None = None,
    values: dict[str, Any] | None = None,
    values_files: list[str] | None = None,
    version: str | None = None,
    repo: str | None = None,
) -> str:
    """Render a chart's manifests locally, without a cluster (secret values redacted).

    Args:
        chart: A chart folder or .tgz in the workspace ("charts/web"), "oci://host/path/chart",
            "repo/chart", or a chart name with repo.
        release: The release name to render with.
        namespace: The namespace to render for.
        values: Values to set, as an object (e.g. {"replicaCount": 2}).
        values_files: Values files inside the workspace, applied before `values`.
        version: Chart version or constraint, for repository and OCI charts ("1.2.3", "^1.2").
        repo: Chart repository URL, when chart is a bare chart name.
    """
    with private_folder() as folder:
        arg, flags = _chart_flags(
            ctx, folder, chart, repo=repo, version=version, values=values,
            values_files=values_files,
        )  # fmt: skip
        out = await helm(
            ctx, ["template"], [*_template_namespace(namespace), *flags],
            [check.release(release), arg], cwd=folder,
        )  # fmt: skip
    return Redactor().manifest(out)


@skill.tool(read_only=True)
async def helm_lint(
    ctx: Context,
    chart: str,
    values: dict[str, Any] | None = None,
    values_files: list[str] | None = None,
    strict: bool = False,
) -> str:
    """Check a chart in the workspace for problems (helm lint).

    Args:
        chart: A chart folder or .tgz inside the workspace, e.g. "charts/web".
        values: Values to lint with, as an object.
        values_files: Values files inside the workspace.
        strict: Treat lint warnings as failures.
    """
    with private_folder() as folder:
        ref = check.chart(ctx, chart)
        if not ref.local:
            raise ToolError(f"helm_lint checks a chart in the workspace; {chart!r} is not one")
        flags = check.values_files(ctx, values_files) + check.values_file(folder, values)
        if strict:
            flags.append("--strict")
        out = await helm(ctx, ["lint"], flags, [ref.arg], cwd=folder, merged=True)
    if re.search(r"^Error:", out, re.M):
        raise ToolError(f"the chart did not pass lint:\n{out.strip()}")
    return out


@skill.tool(read_only=True)
async def helm_show(
    ctx: Context,
    chart: str,
    what: Literal["chart", "values", "readme", "crds"] = "chart",
    version: str | None = None,
    repo: str | None = None,
) -> str:
    """Show a chart's metadata (Chart.yaml), default values, README or CRDs.

    Args:
        chart: A chart folder or .tgz in the workspace, "oci://host/path/chart", "repo/chart",
            or a chart name with repo.
        what: "chart", "values" (secret-looking defaults redacted), "readme" or "crds".
        version: Chart version or constraint, for repository and OCI charts.
        repo: Chart repository URL, when chart is a bare chart name.
    """
    with private_folder() as folder:
        arg, flags = _chart_flags(
            ctx, folder, chart, repo=repo, version=version, values=None, values_files=None
        )
        out = await helm(ctx, ["show", what], flags, [arg], cwd=folder)
    return values_text(out) if what == "values" else out


@skill.tool(read_only=True)
async def helm_diff(
    ctx: Context,
    release: str,
    chart: str,
    namespace: str | None = None,
    values: dict[str, Any] | None = None,
    values_files: list[str] | None = None,
    version: str | None = None,
    repo: str | None = None,
    reuse_values: bool = False,
) -> str:
    """Show what an upgrade would change: the release's current manifests against those the
    upgrade renders (a server dry run; nothing changes). A release that does not exist yet
    shows every object as added.

    Args:
        release: Release name.
        chart: The chart to upgrade to (as for helm_upgrade).
        namespace: Namespace; omit for the default one of the credentials.
        values: Values for the upgrade, as an object.
        values_files: Values files inside the workspace, applied before `values`.
        version: Chart version or constraint, for repository and OCI charts.
        repo: Chart repository URL, when chart is a bare chart name.
        reuse_values: Start from the release's current values instead of the chart's defaults.
    """
    name = check.release(release)
    ns_flags = _namespace_flag(namespace)
    with private_folder() as folder:
        arg, flags = _chart_flags(
            ctx, folder, chart, repo=repo, version=version, values=values,
            values_files=values_files,
        )  # fmt: skip
        try:
            current = await helm(
                ctx, ["get", "manifest"], ns_flags, [name], cwd=folder,
                release=release, namespace=namespace,
            )  # fmt: skip
        except ToolError as exc:
            if "not found" not in str(exc):
                raise
            current = ""
        await plan.render_within_scope(ctx, folder, name, arg, ns_flags + flags)
        upgrade = await plan.dry_run(ctx, folder, name, arg, ns_flags + flags, reuse_values)
    header = f"release {name}: " + ("not installed yet; " if not current else "")
    return header + diff(current, upgrade.get("manifest", ""), namespace=namespace or "")


@skill.tool(destructive=True)
async def helm_upgrade(
    ctx: Context,
    release: str,
    chart: str,
    namespace: str | None = None,
    values: dict[str, Any] | None = None,
    values_files: list[str] | None = None,
    version: str | None = None,
    repo: str | None = None,
    dry_run: Literal["server", "none"] = "server",
    install: bool = True,
    reuse_values: bool = False,
    create_namespace: bool = False,
    wait: bool = True,
    rollback_on_failure: bool = True,
    timeout_s: int = 300,
) -> str:
    """Install or upgrade a release. Dry-runs on the server by default (nothing changes);
    dry_run="none" really upgrades, after a server dry run that must pass first.

    Args:
        release: Release name.
        chart: A chart folder or .tgz in the workspace, "oci://host/path/chart", "repo/chart",
            or a chart name with repo.
        namespace: Namespace; omit for the default one of the credentials.
        values: Values to set, as an object (e.g. {"image": {"tag": "1.2.3"}}).
        values_files: Values files inside the workspace, applied before `values`.
        version: Chart version or constraint, for repository and OCI charts.
        repo: Chart repository URL, when chart is a bare chart name.
        dry_run: "server" (rendered and checked by the cluster, not stored) or "none" (really
            upgrade).
        install: Install the release if it does not exist yet.
        reuse_values: Start from the release's current values instead of the chart's defaults.
        create_namespace: Create the namespace when installing into one that does not exist.
        wait: Wait until the release's resources are ready.
        rollback_on_failure: Roll back to the previous revision if the upgrade fails (implies
            wait).
        timeout_s: How long to wait for resources, in seconds.
    """
    name = check.release(release)
    limit = _wait_limit(timeout_s)
    ns_flags = _namespace_flag(namespace)
    with private_folder() as folder:
        arg, flags = _chart_flags(
            ctx, folder, chart, repo=repo, version=version, values=values,
            values_files=values_files,
        )  # fmt: skip
        flags = ns_flags + flags
        if install:
            flags.append("--install")
        if create_namespace:
            load_scope("HELM").resource("namespaces")
            flags.append("--create-namespace")
        await plan.render_within_scope(ctx, folder, name, arg, flags)
        planned = await plan.dry_run(ctx, folder, name, arg, flags, reuse_values)
        plan.within_scope(planned)  # again: `lookup` in a template can change what renders
        if dry_run == "server":
            return plan.summary(planned)
        if reuse_values:
            flags.append("--reuse-values")
        if rollback_on_failure:
            flags.append("--rollback-on-failure")
        if wait or rollback_on_failure:
            flags.append("--wait=watcher")
        flags.append(f"--timeout={timeout_s}s")
        return await helm(
            ctx, ["upgrade"], flags, [name, arg], cwd=folder, limit=limit,
            release=release, namespace=namespace,
        )  # fmt: skip


@skill.tool(destructive=True)
async def helm_rollback(
    ctx: Context,
    release: str,
    revision: int | None = None,
    namespace: str | None = None,
    wait: bool = True,
    timeout_s: int = 300,
) -> str:
    """Roll a release back to an earlier revision (helm_history lists them).

    Args:
        release: Release name.
        revision: The revision to return to; omit for the previous one.
        namespace: Namespace; omit for the default one of the credentials.
        wait: Wait until the rolled-back resources are ready.
        timeout_s: How long to wait, in seconds.
    """
    limit = _wait_limit(timeout_s)
    flags = [*_namespace_flag(namespace), f"--timeout={timeout_s}s"]
    if wait:
        flags.append("--wait=watcher")
    positionals = [check.release(release)]
    if revision is not None:
        positionals.append(str(_positive(revision, "revision")))
    with private_folder() as folder:
        return await helm(
            ctx, ["rollback"], flags, positionals, cwd=folder, limit=limit,
            release=release, namespace=namespace,
        )  # fmt: skip


@skill.tool(destructive=True)
async def helm_uninstall(
    ctx: Context,
    release: str,
    namespace: str | None = None,
    keep_history: bool = False,
    wait: bool = True,
    timeout_s: int = 300,
) -> str:
    """Uninstall a release: delete every resource it made (and its history, unless kept).

    Args:
        release: Release name.
        namespace: Namespace; omit for the default one of the credentials.
        keep_history: Keep the release's history (helm_rollback can bring it back).
        wait: Wait until the resources are gone.
        timeout_s: How long to wait, in seconds.
    """
    limit = _wait_limit(timeout_s)
    flags = [*_namespace_flag(namespace), f"--timeout={timeout_s}s"]
    if keep_history:
        flags.append("--keep-history")
    if wait:
        flags.append("--wait")
    with private_folder() as folder:
        return await helm(
            ctx, ["uninstall"], flags, [check.release(release)], cwd=folder, limit=limit,
            release=release, namespace=namespace,
        )  # fmt: skip


def _template_namespace(namespace: str | None) -> list[str]:
    """Rendering reaches no cluster: any valid namespace will do."""
    return [] if namespace is None else [f"--namespace={check.namespace(namespace)}"]


def _revision(revision: int | None) -> list[str]:
    return [] if revision is None else [f"--revision={_positive(revision, 'revision')}"]


def _positive(value: int, what: str) -> int:
    if value < 1:
        raise ToolError(f"{what} must be 1 or more, not {value}")
    return value

"""Checked inputs for the helm skill: every name, namespace, chart reference, repository URL
and version is matched against a strict pattern before helm runs, so none can start an option
(`--kubeconfig=...`, `--post-renderer`, `--repo`), and a chart is a workspace path, an
`oci://` reference or `repo/chart`, never a URL or a file outside the workspace.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skills.sdk import Context, ToolError

# Helm's own rule for release names (a DNS-1123 subdomain, at most 53 characters).
_RELEASE = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")
# Namespaces: DNS labels.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Chart names (in a repository) and repository names as `helm repo add` knows them.
_CHART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# `oci://registry[:port]/path/chart`: no credentials, query, fragment, spaces or `..`.
_OCI = re.compile(
    r"oci://[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::[0-9]{1,5})?"
    r"(?:/[a-z0-9](?:[a-z0-9._-]{0,127}))+"
)
# Repository URLs: http(s), a host, an optional port and a plain path.
_REPO_URL = re.compile(
    r"https?://[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%+-]*)*"
)
# Chart versions and constraints: `1.2.3`, `^2.0.0`, `>=1.0 <2.0`, `~1.2`, `1.x`, `1.0.0-rc.1`.
_VERSION = re.compile(r"[0-9A-Za-z^~=<>*|!vV.][0-9A-Za-z^~=<>*|!.+, -]{0,99}")
MAX_VALUES = 1_000_000
MAX_CHART_FILES = 20_000


def _check(pattern: re.Pattern[str], what: str, value: str, example: str) -> str:
    if not pattern.fullmatch(value):
        raise ToolError(f"invalid {what} {value!r}: expected something like {example!r}")
    return value


def release(value: str) -> str:
    _check(_RELEASE, "release name", value, "web")
    if len(value) > 53:
        raise ToolError(f"invalid release name {value!r}: at most 53 characters")
    return value


def namespace(value: str) -> str:
    return _check(_LABEL, "namespace", value, "default")


def version(value: str) -> str:
    return _check(_VERSION, "chart version", value, "1.2.3 or ^1.2.0")


def repo_url(value: str) -> str:
    if "@" in value or not _REPO_URL.fullmatch(value):
        raise ToolError(
            f"invalid repository URL {value!r}: expected an http(s) URL such as "
            "'https://charts.example.com/stable' (no credentials, no file://)"
        )
    return value


@dataclass(frozen=True)
class Chart:
    """A checked chart reference: the argument helm gets, plus flags that go with it."""

    arg: str
    flags: tuple[str, ...] = ()
    local: bool = False


def chart(ctx: Context, value: str, repo: str | None = None) -> Chart:
    """A workspace path (a chart folder or .tgz), `oci://host/path/chart`, `repo/chart` (a
    repository this sidecar has configured), or a bare chart name with `repo` a URL."""
    if not value or value.startswith("-") or "\x00" in value:
        raise ToolError(f"invalid chart {value!r}: {_CHART_HELP}")
    if repo is not None:
        _check(_CHART_NAME, "chart name (with repo)", value, "nginx")
        return Chart(value, (f"--repo={repo_url(repo)}",))
    if value.startswith("oci://"):
        return Chart(_check(_OCI, "OCI chart reference", value, "oci://ghcr.io/acme/charts/web"))
    if "://" in value or value.startswith(("file:", "http:", "https:")):
        raise ToolError(f"invalid chart {value!r}: a URL is not a chart path here; {_CHART_HELP}")
    try:
        target = ctx.path(value)
    except ToolError as exc:
        raise ToolError(f"invalid chart {value!r}: {exc}; {_CHART_HELP}") from None
    if target.exists():
        _check_tree(ctx, value, target)
        return Chart(str(target), local=True)
    parts = value.split("/")
    if len(parts) == 2 and all(_CHART_NAME.fullmatch(p) for p in parts):
        return Chart(value)  # `repo/chart`, resolved by helm from its repositories.yaml
    raise ToolError(f"chart {value!r} is not in the workspace; {_CHART_HELP}")


_CHART_HELP = (
    "give a chart folder or .tgz inside the workspace (e.g. 'charts/web'), "
    "'oci://registry/path/chart', 'repo/chart', or a chart name with repo='https://...'"
)


def _check_tree(ctx: Context, value: str, target: Path) -> None:
    """Refuse a chart folder with a symlink that leads out of the workspace (helm follows
    symlinks when it loads a folder: one to a token file would render it into a manifest)."""
    if not target.is_dir():
        if not target.is_file():
            raise ToolError(f"chart {value!r} is neither a folder nor a file")
        return
    root = ctx.workspace.resolve()
    seen = 0
    for folder, dirs, files in os.walk(target):
        for entry in dirs + files:
            seen += 1
            if seen > MAX_CHART_FILES:
                raise ToolError(f"chart {value!r} has more than {MAX_CHART_FILES} files")
            path = Path(folder) / entry
            if path.is_symlink():
                real = path.resolve()
                if real != root and root not in real.parents:
                    rel = path.relative_to(target)
                    raise ToolError(f"chart {value!r}: {rel} links outside the workspace")


def values_file(folder: Path, values: dict[str, Any] | None) -> list[str]:
    """`--values=FILE` for a values object, written as JSON into the skill's private folder."""
    if not values:
        return []
    text = json.dumps(values)
    if len(text) > MAX_VALUES:
        raise ToolError(f"values are larger than {MAX_VALUES} bytes")
    path = folder / "values.json"
    path.write_text(text, encoding="utf-8")
    return [f"--values={path}"]


def values_files(ctx: Context, paths: list[str] | None) -> list[str]:
    """`--values=FILE` for values files inside the workspace (never outside it)."""
    flags: list[str] = []
    for rel in paths or []:
        if "://" in rel:
            raise ToolError(f"invalid values file {rel!r}: give a workspace path, not a URL")
        target = ctx.path(rel)
        if not target.is_file():
            raise ToolError(f"values file {rel!r} is not a file in the workspace")
        flags.append(f"--values={target}")
    return flags

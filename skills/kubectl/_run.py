"""Running kubectl: the binary, checked names, the time limit, kubectl's failures as clear
errors (an unreachable server named, never its token), and secrets out of structured output."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from skills._redact import Redactor, dump
from skills.sdk import Context, ToolError

TIMEOUT_S = 60.0
"""Default limit for one kubectl run (`PODIUM_KUBECTL_TIMEOUT` overrides it)."""

# Resource types: `pods`, `deploy`, `deployments.apps`, `deployments.v1.apps`, `all`.
RESOURCE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*){0,8}")
# Object names: DNS subdomains, plus the upper case and colons some RBAC names use.
NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,251}[A-Za-z0-9])?")
# Namespaces and container names: DNS labels.
LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Label selectors: `app=web`, `tier in (a,b)`, `!canary`, `env!=prod,team`.
SELECTOR = re.compile(r"[A-Za-z0-9!][A-Za-z0-9_./=!,() -]{0,499}")
SECRETS = {"secret", "secrets"}
_UNREACHABLE = re.compile(
    r"connection refused|no such host|i/o timeout|no route to host|TLS handshake timeout|"
    r"network is unreachable|Unable to connect to the server"
)
_TOKENISH = re.compile(r"(?i)(bearer\s+|token[=:\s]+)[A-Za-z0-9._~+/=-]{8,}")


def check(pattern: re.Pattern[str], what: str, value: str, example: str) -> str:
    if not pattern.fullmatch(value):
        raise ToolError(f"invalid {what} {value!r}: expected something like {example!r}")
    return value


def resource(value: str) -> str:
    return check(RESOURCE, "resource type", value, "pods or deployments.apps")


def name(value: str) -> str:
    return check(NAME, "name", value, "web-7d4b9c")


def is_secret(kind: str) -> bool:
    return kind.lower().split(".")[0] in SECRETS


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


def timeout() -> float:
    try:
        return float(os.environ.get("PODIUM_KUBECTL_TIMEOUT", TIMEOUT_S))
    except ValueError:
        return TIMEOUT_S


async def kubectl(
    ctx: Context,
    verb: list[str],
    args: list[str],
    *,
    namespace: str | None = None,
    limit: float | None = None,
) -> str:
    """Run `kubectl VERB... [--namespace=NS] ARGS...`; kubectl's own errors become ToolErrors."""
    seconds = limit or timeout()
    argv = [kubectl_binary(), *verb, f"--request-timeout={max(1, int(timeout()))}s"]
    if namespace is not None:
        argv.append(f"--namespace={check(LABEL, 'namespace', namespace, 'default')}")
    argv += args
    ctx.log.info("kubectl %s (call %s)", " ".join(verb), ctx.call_id)  # never the output
    try:
        return await ctx.run(argv, timeout=seconds)
    except ToolError as exc:
        raise ToolError(explain(str(exc))) from None


def explain(message: str) -> str:
    """A kubectl failure in words the model can act on, with nothing token-like in it."""
    message = _TOKENISH.sub(r"\1<redacted>", message)
    message = re.sub(r"^\S*/kubectl exited", "kubectl exited", message)
    if _UNREACHABLE.search(message):
        server = re.search(r"https?://[^\s\"'/]+(?::\d+)?", message)
        named = f" {server.group(0)}" if server else ""
        detail = message.split(": ", 1)[-1].strip()
        return (
            f"cannot reach the Kubernetes API server{named}: {detail[-500:]}. The cluster may "
            "be down or this skill's kubeconfig may point elsewhere."
        )
    if "the server doesn't have a resource type" in message and "metrics" in message:
        return "metrics are not available in this cluster (is metrics-server installed?)"
    if re.search(r"Metrics API not available|metrics\.k8s\.io", message):
        return "metrics are not available in this cluster (is metrics-server installed?)"
    return message


def redact_structured(text: str, output: str) -> str:
    """Secret objects in `-o yaml` / `-o json` output with their values replaced (a second
    line of defence: the tools refuse to ask for secrets in those formats at all)."""
    if output not in ("yaml", "json") or "Secret" not in text:
        return text
    try:
        data: Any = json.loads(text) if output == "json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        return "(output withheld: it may hold secret values and could not be checked)\n"
    redacted = _secrets(data, Redactor())
    return json.dumps(redacted, indent=4) + "\n" if output == "json" else dump(redacted)


def _secrets(data: Any, redactor: Redactor) -> Any:
    if isinstance(data, dict):
        obj: dict[str, Any] = dict(data)  # pyright: ignore[reportUnknownArgumentType]
        if obj.get("kind") == "Secret":
            obj = redactor.document(obj)
            meta: Any = obj.get("metadata")
            if isinstance(meta, dict) and "annotations" in meta:  # last-applied holds the data
                obj["metadata"] = {**meta, "annotations": "<redacted>"}
            return obj
        return {k: _secrets(v, redactor) for k, v in obj.items()}
    if isinstance(data, list):
        return [_secrets(item, redactor) for item in data]  # pyright: ignore[reportUnknownVariableType]
    return data

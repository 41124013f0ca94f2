"""Pure builders for MCPServers, and what a run that attaches them gets.

- `managed_objects(server)`: a managed server's Deployment (restricted Pod Security, the
  stdio command wrapped by `podium mcp serve-stdio`), its Service, and a NetworkPolicy that
  admits only Pods of runs that attached this server (label `mcp.podium.dev/NAME: "true"`).
- `attach(run_mcp, servers)`: a run's `mcp: {servers: [...], selector: {...}}` resolved
  against the namespace's MCPServers into the bridge's `mcpServers` config. Header values
  from Secrets become `${env:VAR}` references, and `secret_env` says which Secret key each
  VAR comes from: the bridge sidecar gets them as env from the Secret, never in a ConfigMap.
  Servers given inline (`mcpServers`) are kept as they are.
- `egress(attachment)`: NetworkPolicy egress rules for the run's Pod to reach those servers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from controller.build import MANAGER
from controller.crd.mcpserver import MCPServer
from controller.crd.models import SecretKeyRef

__all__ = [
    "ADAPTER",
    "SERVER_LABEL",
    "Attachment",
    "attach",
    "egress",
    "managed_objects",
    "run_label",
    "selects",
    "server_url",
]

SERVER_LABEL = "podium.dev/mcpserver"
ADAPTER = ["podium", "mcp", "serve-stdio"]
UID = 10001


def run_label(server: str) -> str:
    """The label a run's Pod carries when it may reach this server."""
    return f"mcp.podium.dev/{server}"


def server_url(server: MCPServer) -> str:
    """Where runs (and discovery) reach the server."""
    if server.spec.external is not None:
        return server.spec.external.url
    managed = server.spec.managed
    assert managed is not None  # the CRD's CEL rule and the model say one of the two
    return f"http://{server.name}.{server.namespace}.svc:{managed.port}{managed.path}"


def _labels(server: MCPServer) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "podium-mcpserver",
        "app.kubernetes.io/instance": server.name,
        "app.kubernetes.io/managed-by": MANAGER,
        SERVER_LABEL: server.name,
    }


def _meta(server: MCPServer) -> dict[str, Any]:
    return {
        "name": server.name,
        "namespace": server.namespace,
        "labels": _labels(server),
        "ownerReferences": [
            {
                "apiVersion": server.apiVersion,
                "kind": server.kind,
                "name": server.name,
                "uid": server.metadata.get("uid", ""),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def managed_objects(server: MCPServer) -> list[dict[str, Any]]:
    """Deployment, Service and ingress NetworkPolicy of a managed server ([] if external)."""
    managed = server.spec.managed
    if managed is None:
        return []
    if managed.stdio:
        command = [
            *ADAPTER,
            "--host",
            "0.0.0.0",  # noqa: S104 - the Pod's address; the NetworkPolicy limits who comes
            "--port",
            str(managed.port),
            "--path",
            managed.path,
            "--",
            *managed.command,
        ]
    else:
        command = list(managed.command)
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(managed.env.items())]
    env += [
        {"name": e.name, "valueFrom": {"secretKeyRef": {"name": e.secretKeyRef.name,
                                                         "key": e.secretKeyRef.key}}}
        for e in managed.secretEnv
    ]  # fmt: skip
    limits = {k: v for k, v in managed.resources.model_dump().items() if v}
    container: dict[str, Any] = {
        "name": "server",
        "image": managed.image,
        "command": command,
        "ports": [{"name": "mcp", "containerPort": managed.port, "protocol": "TCP"}],
        "env": env,
        "readinessProbe": {"tcpSocket": {"port": managed.port}, "periodSeconds": 5},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        **({"resources": {"limits": limits, "requests": limits}} if limits else {}),
    }
    selector = {SERVER_LABEL: server.name}
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(server),
        "spec": {
            "replicas": managed.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": _labels(server)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(server),
        "spec": {
            "selector": selector,
            "ports": [{"name": "mcp", "port": managed.port, "targetPort": "mcp"}],
        },
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(server),
        "spec": {
            "podSelector": {"matchLabels": selector},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"podSelector": {"matchLabels": {run_label(server.name): "true"}}},
                        {  # the controller's discovery
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchLabels": {"app.kubernetes.io/component": "controller"}
                            },
                        },
                    ],
                    "ports": [{"protocol": "TCP", "port": managed.port}],
                }
            ],
        },
    }
    return [deployment, service, policy]


# ---------------------------------------------------------------- runs that attach servers


@dataclass
class Attachment:
    """What a run's `mcp` resolves to."""

    config: dict[str, Any]
    """The bridge's config: `{"mcpServers": {...}}`, with no secret in it."""
    secret_env: dict[str, SecretKeyRef] = field(default_factory=lambda: {})
    """Environment of the bridge sidecar only: variable -> Secret key."""
    servers: list[MCPServer] = field(default_factory=lambda: [])
    """The MCPServers attached (for labels and egress)."""
    missing: list[str] = field(default_factory=lambda: [])
    """Names asked for that do not exist."""
    not_ready: list[str] = field(default_factory=lambda: [])
    """Attached servers whose Ready condition is False."""
    pod_labels: dict[str, str] = field(default_factory=lambda: {})
    """Labels the run's Pod gets: each attached managed server admits Pods with its own."""
    egress: list[dict[str, Any]] = field(default_factory=lambda: [])
    """NetworkPolicy egress rules for the run's Pod to reach exactly those servers."""


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions) against labels."""
    match: dict[str, str] = dict(selector.get("matchLabels") or {})
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    expressions: list[dict[str, Any]] = list(selector.get("matchExpressions") or [])
    for e in expressions:
        key, op, values = str(e.get("key")), str(e.get("operator")), list(e.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _env_name(server: str, header: str) -> str:
    return "PODIUM_MCP_" + re.sub(r"[^A-Z0-9]+", "_", f"{server}_{header}".upper()).strip("_")


def _entry(server: MCPServer, secret_env: dict[str, SecretKeyRef]) -> dict[str, Any]:
    spec = server.spec
    entry: dict[str, Any] = {
        "url": server_url(server),
        "transport": spec.external.transport if spec.external else "http",
        "allow": spec.allow,
        "deny": spec.deny,
        "readOnly": spec.readOnly,
        "timeout": spec.timeoutSeconds,
        "startupTimeout": spec.startupTimeoutSeconds,
        "maxOutputBytes": spec.maxOutputBytes,
    }
    if spec.prefix is not None:
        entry["prefix"] = spec.prefix
    headers: dict[str, str] = {}
    for h in spec.external.headers if spec.external else []:
        if h.secretKeyRef is not None:
            var = _env_name(server.name, h.name)
            secret_env[var] = h.secretKeyRef
            headers[h.name] = "${env:" + var + "}"
        elif h.value is not None:
            headers[h.name] = h.value.replace("${", "$${")
    if headers:
        entry["headers"] = headers
    return entry


def _ready(server: MCPServer) -> bool | None:
    for c in server.status.conditions if server.status else []:
        if c.type == "Ready":
            return c.status == "True"
    return None


def attach(run_mcp: Mapping[str, Any] | None, servers: Sequence[MCPServer]) -> Attachment | None:
    """The run's `mcp` field against the namespace's MCPServers (None: the run has none)."""
    if run_mcp is None:
        return None
    raw_servers: Any = run_mcp.get("servers")
    if isinstance(raw_servers, dict):  # the bridge's own `servers` shape: inline servers
        inline = cast(dict[str, Any], {**raw_servers, **(run_mcp.get("mcpServers") or {})})
        raw_servers = None
    else:
        inline = cast(dict[str, Any], dict(run_mcp.get("mcpServers") or {}))
    asked: list[Any] = list(raw_servers or [])
    names = [str(n) for n in asked]
    selector = cast(dict[str, Any] | None, run_mcp.get("selector"))
    by_name = {s.name: s for s in servers}
    chosen: dict[str, MCPServer] = {}
    missing = [n for n in names if n not in by_name]
    for n in names:
        if n in by_name:
            chosen[n] = by_name[n]
    if selector is not None:
        for s in servers:
            if selects(selector, s.labels):
                chosen.setdefault(s.name, s)
    secret_env: dict[str, SecretKeyRef] = {}
    config = {**{n: _entry(s, secret_env) for n, s in sorted(chosen.items())}, **inline}
    found = Attachment(
        config={"mcpServers": config},
        secret_env=secret_env,
        servers=[chosen[n] for n in sorted(chosen)],
        missing=missing,
        not_ready=[n for n, s in sorted(chosen.items()) if _ready(s) is False],
        pod_labels={run_label(n): "true" for n in sorted(chosen)},
    )
    found.egress = egress(found)
    return found


def egress(attachment: Attachment) -> list[dict[str, Any]]:
    """Egress rules for the run's Pod: to each managed server's Pods on its port; to an
    external server's address where it is an IP (a host name cannot be matched by a
    NetworkPolicy: the model egress's CIDRs then have to cover it)."""
    rules: list[dict[str, Any]] = []
    for s in attachment.servers:
        if s.spec.managed is not None:
            rules.append(
                {
                    "to": [{"podSelector": {"matchLabels": {SERVER_LABEL: s.name}}}],
                    "ports": [{"protocol": "TCP", "port": s.spec.managed.port}],
                }
            )
            continue
        url = urlsplit(server_url(s))
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            address = ipaddress.ip_address(url.hostname or "")
        except ValueError:
            continue
        rules.append(
            {
                "to": [{"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}}],
                "ports": [{"protocol": "TCP", "port": port}],
            }
        )
    return rules

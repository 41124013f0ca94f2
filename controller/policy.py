"""What an administrator allows the controller to hand out, and the check every run passes.

The controller never grants a skill more than this config lists (`--config FILE`, the
`podium-controller` ConfigMap in deploy/):

- `allowedClusterRoles`: existing ClusterRoles a skill may have bound (RoleBinding per
  namespace; ClusterRoleBinding only with `allowClusterScope`);
- `allowedRules`: inline rules a skill may ask for must be covered by these, verb by verb,
  resource by resource (a `*` asked for is covered only by a `*` allowed);
- `allowedNamespaces`: namespaces besides the run's own a grant may reach (`*`: any);
- `allowClusterScope`: whether any grant may be cluster-wide.

Kubernetes adds its own floor: RBAC refuses to let the controller create a Role holding
permissions it lacks itself, or to bind a ClusterRole it has no `bind` verb on, so the
controller's own ClusterRole (deploy/) must hold what `allowedRules` lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from controller.crd.models import PolicyRule, SkillRBAC

__all__ = ["ControllerConfig", "NetworkPolicyConfig", "check_rbac", "load_config"]

_READ = ["get", "list", "watch"]


def _default_rules() -> list[PolicyRule]:
    return [
        PolicyRule(
            apiGroups=[""],
            resources=[
                "pods",
                "pods/log",
                "events",
                "services",
                "endpoints",
                "configmaps",
                "persistentvolumeclaims",
                "serviceaccounts",
            ],
            verbs=_READ,
        ),
        PolicyRule(
            apiGroups=["apps"],
            resources=["deployments", "replicasets", "statefulsets", "daemonsets"],
            verbs=_READ,
        ),
        PolicyRule(apiGroups=["batch"], resources=["jobs", "cronjobs"], verbs=_READ),
        PolicyRule(apiGroups=["events.k8s.io"], resources=["events"], verbs=_READ),
    ]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class NetworkPolicyConfig(_Config):
    enabled: bool = True
    """Create a NetworkPolicy per run (no ingress; egress to DNS, the model, the API server)."""
    modelCIDRs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])
    """Where the model endpoint may be (NetworkPolicy cannot name hosts)."""
    modelExceptCIDRs: list[str] = Field(
        default_factory=lambda: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    )
    """Cut out of modelCIDRs: the cluster's own networks."""
    modelPorts: list[int] = Field(default_factory=lambda: [443])
    """Ports the model endpoint listens on (a baseURL's explicit port is added)."""
    apiServerCIDRs: list[str] = Field(default_factory=list)
    """The API server's endpoint addresses, reached only by pods with cluster-facing skills
    (empty: skills reach it through modelCIDRs' rule only if it lies there)."""
    apiServerPorts: list[int] = Field(default_factory=lambda: [443, 6443])
    controllerNamespace: str = "podium-system"
    """Where the controller runs: only its pods may reach a run's control port."""
    controllerPodLabels: dict[str, str] = Field(
        default_factory=lambda: {
            "app.kubernetes.io/name": "podium",
            "app.kubernetes.io/component": "controller",
        }
    )
    """The controller pods' labels (deploy/base/deployment.yaml)."""


class ControllerConfig(_Config):
    """The controller's configuration: what it may grant, and its defaults."""

    allowedClusterRoles: list[str] = Field(default_factory=lambda: ["view"])
    allowedRules: list[PolicyRule] = Field(default_factory=_default_rules)
    allowedNamespaces: list[str] = Field(default_factory=list)
    allowClusterScope: bool = False
    imagePrefix: str = "podium/"
    """Repository prefix of Podium's images."""
    imageTag: str | None = None
    """Tag of Podium's images (default: the controller's version)."""
    defaultTTLSecondsAfterFinished: Annotated[int, Field(ge=0)] = 3600
    apiServer: str = "https://kubernetes.default.svc"
    """The API server's URL as skills in a Pod reach it."""
    tokenExtraSeconds: Annotated[int, Field(ge=0)] = 300
    """A skill's token lives this long past the run's deadline (at least 600 s in all)."""
    networkPolicy: NetworkPolicyConfig = Field(default_factory=NetworkPolicyConfig)
    agentMemory: str = "1Gi"
    """Memory limit of the agent container."""
    controlPort: Annotated[int, Field(ge=1, le=65535)] = 7070
    """TCP port of each run's control service (the `podium-control` sidecar), which the
    controller alone may reach: approvals go through it (runtime.control)."""


def load_config(path: Path | None) -> ControllerConfig:
    if path is None:
        return ControllerConfig()
    import yaml

    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return ControllerConfig.model_validate(data)


def _covers(allowed: PolicyRule, group: str, resource: str, verb: str, names: list[str]) -> bool:
    def has(values: list[str], value: str) -> bool:
        return "*" in values or value in values

    if not (has(allowed.apiGroups, group) and has(allowed.verbs, verb)):
        return False
    if not has(allowed.resources, resource):
        return False
    if allowed.resourceNames:  # allowed only for some objects: the ask must name a subset
        return bool(names) and set(names) <= set(allowed.resourceNames)
    return True


def check_rbac(
    run_namespace: str, skill: str, rbac: SkillRBAC, config: ControllerConfig
) -> list[str]:
    """Why `rbac` may not be granted to `skill` (empty: it may)."""
    problems: list[str] = []
    if rbac.clusterScope and not config.allowClusterScope:
        problems.append(f"skill {skill}: cluster-wide grants are not allowed by the administrator")
    for ns in rbac.namespaces:
        if (
            ns != run_namespace
            and "*" not in config.allowedNamespaces
            and (ns not in config.allowedNamespaces)
        ):
            problems.append(
                f"skill {skill}: grants in namespace {ns} are not allowed "
                f"(only the run's own, {run_namespace}, and allowedNamespaces)"
            )
    for role in rbac.clusterRoles:
        if role not in config.allowedClusterRoles:
            problems.append(
                f"skill {skill}: ClusterRole {role} is not in the allowed list "
                f"({', '.join(config.allowedClusterRoles) or 'none'})"
            )
    for rule in rbac.rules:
        groups = rule.apiGroups or [""]
        for group in groups:
            for resource in rule.resources:
                for verb in rule.verbs:
                    if not any(
                        _covers(a, group, resource, verb, rule.resourceNames)
                        for a in config.allowedRules
                    ):
                        shown = f"{group}/{resource}" if group else resource
                        problems.append(f"skill {skill}: {verb} {shown} is not allowed")
    return problems

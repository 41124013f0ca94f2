"""Pure builders: an `AgentRun` (with the `Skill`s it refers to and the administrator's
config) -> every object the controller creates for it. No I/O: `podium controller render`
prints exactly this, and the reconciler applies exactly this.

- the run spec ConfigMap and the Job, whose Pod is runtime's (`controller._pod`), with what a
  cluster adds: the user's Secret references, each cluster-facing skill's kubeconfig and
  token mounted into that skill's container only, blank KUBERNETES_* variables for the agent
  (the kubelet injects them into every container even with enableServiceLinks off);
- per cluster-facing skill, a ServiceAccount of this run and skill, its Role(s) and
  binding(s) (ClusterRole/ClusterRoleBinding only when asked and allowed), a Secret for its
  kubeconfig and minted token (`TokenPlan`: the reconciler asks the TokenRequest API);
- the run's keys Secret (`<pod>-keys`: approval key and call tokens, derived from the
  controller's master key, `RunKeys.derive`), its approval key mounted into the skill
  containers only, the call tokens each into its skill and the agent, the control token into
  the `podium-control` sidecar only (runtime.control: the controller's channel into the pod);
- a NetworkPolicy: ingress only from the controller's pods to the control port; egress to
  DNS, the model, and the API server only for a Pod with cluster-facing skills.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controller import _pod
from controller.crd.models import AgentRun, SkillSpec
from controller.netpol import network_policy
from controller.policy import ControllerConfig, check_rbac
from controller.runspec import ResolvedSkill, Translation, translate
from runtime.keys import CONTROL_TOKEN_SECRET, RunKeys
from runtime.layout import WORKSPACE
from runtime.spec import Resources

if TYPE_CHECKING:
    from controller.mcpservers import Attachment

__all__ = [
    "CONTROL_CONTAINER",
    "KUBE_DIR",
    "MANAGER",
    "Plan",
    "TokenPlan",
    "b64_data",
    "build",
    "control_env",
    "kubeconfig",
    "lease_name",
    "run_identity",
    "run_keys",
    "run_labels",
]

MANAGER = "podium-controller"
"""The one field manager of every server-side apply."""
KUBE_DIR = "/var/run/secrets/podium/kube"
"""Where a cluster-facing skill finds its kubeconfig, token and CA."""
AGENT_BLANK_ENV = (
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "KUBERNETES_SERVICE_PORT_HTTPS",
    "KUBERNETES_PORT",
    "KUBERNETES_PORT_443_TCP",
    "KUBERNETES_PORT_443_TCP_PROTO",
    "KUBERNETES_PORT_443_TCP_PORT",
    "KUBERNETES_PORT_443_TCP_ADDR",
)
CONTROL_CONTAINER = "podium-control"
CONTROL_TOKEN_ENV = "PODIUM_CONTROL_TOKEN"  # noqa: S105 (a variable's name; runtime.control's)
MIN_TOKEN_SECONDS = 600  # the TokenRequest API's floor


@dataclass
class TokenPlan:
    """A token the reconciler mints (TokenRequest) for one skill's ServiceAccount."""

    skill: str
    service_account: str
    secret: str
    """The Secret that holds it (and the kubeconfig), mounted into that skill only."""
    expiration_seconds: int


@dataclass
class Plan:
    """Everything one run needs, in the order it is applied."""

    run: AgentRun
    translation: Translation
    config_map: dict[str, Any]
    job: dict[str, Any]
    network_policy: dict[str, Any] | None
    service_accounts: list[dict[str, Any]] = field(default_factory=lambda: [])
    grants: list[dict[str, Any]] = field(default_factory=lambda: [])
    """Roles and RoleBindings in the run's namespace (owned by the run)."""
    foreign_grants: list[dict[str, Any]] = field(default_factory=lambda: [])
    """Grants elsewhere (other namespaces, cluster-wide): removed by the run's finalizer."""
    token_secrets: list[dict[str, Any]] = field(default_factory=lambda: [])
    keys_secret: dict[str, Any] | None = None
    """The run's keys Secret (None when built without the controller's master key, as
    `podium controller render` does: it never prints keys)."""
    tokens: list[TokenPlan] = field(default_factory=lambda: [])
    secrets: set[str] = field(default_factory=lambda: set[str]())
    """Names of the user's Secrets the run reads (they must exist)."""
    problems: list[str] = field(default_factory=lambda: [])
    """Why the administrator's config refuses this run (empty: allowed)."""

    @property
    def memory_claim(self) -> str | None:
        uses = any(s.source == "memory" for s in self.translation.skills)
        return self.run.spec.memory.claim if uses else None

    def objects(self) -> list[dict[str, Any]]:
        keys = [self.keys_secret] if self.keys_secret else []
        head = [self.config_map, *keys, *self.service_accounts, *self.token_secrets]
        tail = [self.network_policy] if self.network_policy else []
        return [*head, *self.grants, *self.foreign_grants, *tail, self.job]


def _dns(text: str, limit: int = 63) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:limit].rstrip("-")


def run_labels(run: AgentRun) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "podium",
        "app.kubernetes.io/component": "run",
        "app.kubernetes.io/managed-by": MANAGER,
        "podium.dev/run": run.name,
        "podium.dev/run-namespace": run.namespace,
    }


def lease_name(claim: str) -> str:
    return _dns(f"podium-memory-{claim}", 253)


def _meta(
    run: AgentRun, name: str, namespace: str | None = None, skill: str | None = None
) -> dict[str, Any]:
    labels = run_labels(run)
    if skill:
        labels["podium.dev/skill"] = skill
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespace is not None:
        meta["namespace"] = namespace
        uid = run.metadata.get("uid")
        if uid and namespace == run.namespace:  # owners cannot cross namespaces
            meta["ownerReferences"] = [
                {
                    "apiVersion": "podium.dev/v1alpha1",
                    "kind": "AgentRun",
                    "name": run.name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
    return meta


def run_identity(run: AgentRun) -> str:
    """What a run's keys are derived from: NAMESPACE/NAME/UID (a run made again under the
    same name gets other keys)."""
    return f"{run.namespace}/{run.name}/{run.metadata.get('uid') or ''}"


def run_keys(run: AgentRun, master: str, skills: list[str]) -> RunKeys:
    return RunKeys.derive(master, run_identity(run), skills)


def control_env(keys_secret: str) -> list[dict[str, Any]]:
    ref = {"name": keys_secret, "key": CONTROL_TOKEN_SECRET}
    return [{"name": CONTROL_TOKEN_ENV, "valueFrom": {"secretKeyRef": ref}}]


def _control_container(
    image: str, port: int, keys_secret: str, security: dict[str, Any]
) -> dict[str, Any]:
    """The run's control service (runtime.control): the controller's channel into the pod.
    A native sidecar from the agent's image, holding the control token and nothing else."""
    return {
        "name": CONTROL_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["podium"],
        "args": ["control", "serve", "--port", str(port), "--workspace", WORKSPACE],
        "env": control_env(keys_secret),
        "ports": [{"name": "control", "containerPort": port, "protocol": "TCP"}],
        "volumeMounts": [
            {"name": "workspace", "mountPath": WORKSPACE},
            {"name": f"tmp-{CONTROL_CONTAINER}", "mountPath": "/tmp"},
        ],
        "restartPolicy": "Always",
        "resources": {"limits": {"memory": "256Mi"}},
        "securityContext": security,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def b64_data(values: Mapping[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}


def kubeconfig(server: str, namespace: str, has_ca: bool) -> str:
    """The kubeconfig a cluster-facing skill reads: its own token file, the cluster's CA.
    Both are named relative to the kubeconfig (client-go, hence kubectl and helm, resolve
    them from its folder), so the files work wherever the Secret is mounted."""
    from controller import _yaml

    cluster: dict[str, Any] = {"server": server}
    if has_ca:
        cluster["certificate-authority"] = "ca.crt"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": "skill", "user": {"tokenFile": "token"}}],
        "contexts": [
            {
                "name": "skill",
                "context": {"cluster": "cluster", "user": "skill", "namespace": namespace},
            }
        ],
        "current-context": "skill",
    }
    return _yaml.dump(doc)


def _grants(run: AgentRun, skill: ResolvedSkill, sa: str, plan: Plan, allow_cluster: bool) -> None:
    rbac = skill.rbac
    assert rbac is not None
    ns = run.namespace
    subject = [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]
    local = _dns(f"podium-{run.name}-{skill.name}", 253)
    wide = _dns(f"podium-{ns}-{run.name}-{skill.name}", 253)
    rules = [r.model_dump(exclude_defaults=True) for r in rbac.rules]
    for r in rules:
        r.setdefault("apiGroups", [""])

    def add(obj: dict[str, Any], where: str | None) -> None:
        (plan.grants if where == ns else plan.foreign_grants).append(obj)

    if rbac.clusterScope and allow_cluster:
        if rules:
            role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole"}
            add({**role, "metadata": _meta(run, wide, None, skill.name), "rules": rules}, None)
            add(_binding(run, wide, None, skill.name, "ClusterRole", wide, subject), None)
        for cr in rbac.clusterRoles:
            name = _dns(f"{wide}-{cr}", 253)
            add(_binding(run, name, None, skill.name, "ClusterRole", cr, subject), None)
        return
    for where in rbac.namespaces or [ns]:
        if rules:
            role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role"}
            add({**role, "metadata": _meta(run, local, where, skill.name), "rules": rules}, where)
            add(_binding(run, local, where, skill.name, "Role", local, subject), where)
        for cr in rbac.clusterRoles:
            name = _dns(f"{local}-{cr}", 253)
            add(_binding(run, name, where, skill.name, "ClusterRole", cr, subject), where)


def _binding(
    run: AgentRun,
    name: str,
    namespace: str | None,
    skill: str,
    role_kind: str,
    role: str,
    subjects: list[dict[str, str]],
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": _meta(run, name, namespace, skill),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": subjects,
    }


def _rewrite_env(
    env: list[dict[str, Any]], run_secret: str, refs: Mapping[str, Any], plain: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The Pod builder points secret variables at one run Secret; a cluster run takes them
    from the user's own Secrets instead (and a base URL is plain)."""
    out: list[dict[str, Any]] = []
    for item in env:
        ref = item.get("valueFrom", {}).get("secretKeyRef", {})
        if ref.get("name") != run_secret:
            out.append(item)
        elif item["name"] in plain:
            out.append({"name": item["name"], "value": plain[item["name"]]})
        elif item["name"] in refs:
            target = refs[item["name"]]
            key_ref = {"name": target.name, "key": target.key}
            out.append({"name": item["name"], "valueFrom": {"secretKeyRef": key_ref}})
    return out


def _config_map(run: AgentRun, tr: Translation, pod: dict[str, Any]) -> dict[str, Any]:
    # runtime's ConfigMap builder reads config files from disk; a run carries them inline,
    # under the keys the Pod mounts (read back from the Pod, so the two cannot disagree).
    bare = tr.spec.model_copy(
        update={"skills": [s.model_copy(update={"config": None}) for s in tr.spec.skills]}
    )
    cm = _pod.render_config_map(bare)
    cm["data"]["run.json"] = tr.spec.model_dump_json(indent=2, exclude_none=True)
    by_name = {s.name: s for s in tr.skills}
    for container in pod["spec"]["initContainers"]:
        # runtime.process gives a skill its config file's path in PODIUM_SKILL_CONFIG.
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        path = env.get("PODIUM_SKILL_CONFIG")
        if not path:
            continue
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == path)
        skill = by_name[container["name"].removeprefix("skill-")]
        cm["data"][mount["subPath"]] = skill.config or ""
    cm["metadata"] = {**_meta(run, cm["metadata"]["name"], run.namespace)}
    return cm


def build(
    run: AgentRun,
    skills: Mapping[str, SkillSpec],
    config: ControllerConfig,
    ca: str | None = None,
    mcp: Attachment | None = None,
    master_key: str | None = None,
) -> Plan:
    """Every object `run` needs. `skills`: the `Skill`s it refers to, by name (all present);
    `ca`: the cluster's CA certificate (PEM) for the skills' kubeconfigs; `mcp`: the
    MCPServers the run attaches (`controller.mcpservers.attach`); `master_key`: the
    controller's, from which the run's keys Secret is derived (None: not rendered)."""
    tr = translate(run, skills, mcp.config if mcp else None, mcp.secret_env if mcp else None)
    options = _pod.RenderOptions(
        image_prefix=config.imagePrefix,
        memory_claim=run.spec.memory.claim,
        agent_resources=Resources(memory=config.agentMemory),
        **({"image_tag": config.imageTag} if config.imageTag else {}),
    )
    pod = _pod.render_pod(tr.spec, options)
    ns = run.namespace
    plan = Plan(
        run=run,
        translation=tr,
        config_map=_config_map(run, tr, pod),
        job={},
        network_policy=(
            network_policy(_meta(run, _pod.pod_name(tr.spec), run.namespace), run, tr, config)
            if config.networkPolicy.enabled
            else None
        ),
    )
    if mcp is not None and plan.network_policy is not None:
        plan.network_policy["spec"]["egress"] += mcp.egress
    plan.secrets = {r.name for r in tr.secret_refs.values()}
    pod_spec: dict[str, Any] = pod["spec"]
    deadline = int(pod_spec.pop("activeDeadlineSeconds"))
    run_secret = _pod.secret_name(tr.spec)
    by_container = {_pod.skill_container_name(s): s for s in tr.spec.skills}
    resolved = {s.name: s for s in tr.skills}
    for container in pod_spec["initContainers"]:
        skill = resolved[by_container[container["name"]].name]
        plan.secrets |= {r.name for r in skill.secret_env.values()}
        container["env"] = _rewrite_env(container["env"], run_secret, skill.secret_env, {})
        # The agent already waits for every skill's health; a startupProbe on each sidecar
        # would make the kubelet start them one after another (measured in bench/).
        container.pop("startupProbe", None)
        if not skill.cluster_facing:
            continue
        plan.problems += check_rbac(ns, skill.name, skill.rbac, config)  # type: ignore[arg-type]
        sa = _dns(f"podium-{run.name}-{skill.name}", 253)
        secret = _dns(f"podium-{run.name}-{skill.name}-kube", 253)
        plan.service_accounts.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": _meta(run, sa, ns, skill.name),
                "automountServiceAccountToken": False,
            }
        )
        _grants(run, skill, sa, plan, config.allowClusterScope)
        plan.token_secrets.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    **_meta(run, secret, ns, skill.name),
                    "annotations": {"podium.dev/token": "minted by the TokenRequest API"},
                },
                "type": "Opaque",
                "data": b64_data(
                    {
                        "kubeconfig": kubeconfig(config.apiServer, ns, ca is not None),
                        **({"ca.crt": ca} if ca else {}),
                    }
                ),
            }
        )
        plan.tokens.append(
            TokenPlan(
                skill=skill.name,
                service_account=sa,
                secret=secret,
                expiration_seconds=max(MIN_TOKEN_SECONDS, deadline + config.tokenExtraSeconds),
            )
        )
        volume = f"kube-{skill.name}"
        pod_spec["volumes"].append(
            {"name": volume, "secret": {"secretName": secret, "defaultMode": 0o440}}
        )
        container["volumeMounts"].append({"name": volume, "mountPath": KUBE_DIR, "readOnly": True})
        container["env"].append({"name": "KUBECONFIG", "value": f"{KUBE_DIR}/kubeconfig"})
    agent = next(c for c in pod_spec["containers"] if c["name"] == _pod.AGENT_CONTAINER)
    keys_name = _pod.keys_secret_name(tr.spec)
    if master_key is not None:
        keys = run_keys(run, master_key, [s.name for s in tr.spec.skills])
        secret = _pod.render_keys_secret(tr.spec, keys)
        secret["metadata"] = _meta(run, keys_name, ns)
        plan.keys_secret = secret | {"immutable": True}
    for container in [*pod_spec["initContainers"], agent]:
        for item in container["env"]:  # the controller always makes it: fail closed
            ref = item.get("valueFrom", {}).get("secretKeyRef", {})
            if ref.get("name") == keys_name:
                ref.pop("optional", None)
    pod_spec["initContainers"].append(  # after the skills: up before the agent starts
        _control_container(
            agent["image"], config.controlPort, keys_name, dict(agent["securityContext"])
        )
    )
    pod_spec["volumes"].append({"name": f"tmp-{CONTROL_CONTAINER}", "emptyDir": {}})
    env = _rewrite_env(agent["env"], run_secret, tr.secret_refs, tr.plain_env)
    agent["env"] = env + [{"name": n, "value": ""} for n in AGENT_BLANK_ENV]
    ttl = run.spec.ttlSecondsAfterFinished
    ttl = config.defaultTTLSecondsAfterFinished if ttl is None else ttl
    labels = {**pod["metadata"]["labels"], **run_labels(run), **(mcp.pod_labels if mcp else {})}
    plan.job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(run, _pod.pod_name(tr.spec), ns),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline,
            "ttlSecondsAfterFinished": ttl,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
    return plan


def deadline_seconds(plan: Plan) -> int:
    return math.ceil(plan.job["spec"]["activeDeadlineSeconds"])

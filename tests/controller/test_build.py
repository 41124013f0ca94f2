"""The pure builders: an AgentRun -> every object, checked without any server."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.build import KUBE_DIR, Plan, build
from controller.crd.models import AgentRun, SkillSpec
from controller.policy import ControllerConfig
from tests.controller._k8s import restricted_violations, validate_builtin

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((ROOT / "examples/cluster/agentrun.yaml").read_text())


def run_of(spec: dict[str, Any] | None = None, **meta: Any) -> AgentRun:
    doc = copy.deepcopy(EXAMPLE)
    doc["spec"].update(spec or {})
    doc["metadata"].update({"namespace": "team-a", "uid": "uid-1", **meta})
    return AgentRun.model_validate(doc)


def plan_of(spec: dict[str, Any] | None = None, config: ControllerConfig | None = None) -> Plan:
    return build(run_of(spec), {}, config or ControllerConfig(), ca="-----BEGIN CERTIFICATE-----")


def containers(plan: Plan) -> dict[str, dict[str, Any]]:
    pod = plan.job["spec"]["template"]["spec"]
    return {c["name"]: c for c in [*pod["initContainers"], *pod["containers"]]}


def test_every_object_validates_strictly() -> None:
    plan = plan_of()
    kinds = [o["kind"] for o in plan.objects()]
    assert kinds == [
        "ConfigMap", "ServiceAccount", "Secret", "Role", "RoleBinding", "NetworkPolicy", "Job",
    ]  # fmt: skip
    for obj in plan.objects():
        validate_builtin(obj)


def test_the_job() -> None:
    job = plan_of().job
    spec = job["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 300 + 60 + 60  # timeout, readiness, recording
    assert spec["ttlSecondsAfterFinished"] == 600
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["restartPolicy"] == "Never"
    assert restricted_violations(pod) == []
    assert [c["name"] for c in pod["initContainers"]] == [
        "skill-kubectl", "skill-workspace", "podium-control",
    ]  # fmt: skip
    assert [c["restartPolicy"] for c in pod["initContainers"]] == ["Always"] * 3
    assert all("startupProbe" not in c for c in pod["initContainers"])
    assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert spec["template"]["metadata"]["labels"]["podium.dev/run"] == "triage-pods"


def test_agent_holds_no_token_and_no_kubernetes_env() -> None:
    plan = plan_of()
    agent = containers(plan)["agent"]
    env = {e["name"]: e for e in agent["env"]}
    assert all(env[n]["value"] == "" for n in env if n.startswith("KUBERNETES_"))
    assert "KUBERNETES_SERVICE_HOST" in env and "KUBECONFIG" not in env
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "openai",
        "key": "api-key",
    }
    mounted = {m["name"] for m in agent["volumeMounts"]}
    assert not any(name.startswith("kube-") for name in mounted)


def test_only_the_cluster_facing_skill_gets_its_kubeconfig() -> None:
    plan = plan_of()
    by_name = containers(plan)
    kubectl, workspace = by_name["skill-kubectl"], by_name["skill-workspace"]
    assert {"name": "kube-kubectl", "mountPath": KUBE_DIR, "readOnly": True} in kubectl[
        "volumeMounts"
    ]
    assert {"name": "KUBECONFIG", "value": f"{KUBE_DIR}/kubeconfig"} in kubectl["env"]
    assert not any(m["name"].startswith("kube-") for m in workspace["volumeMounts"])
    assert not any("OPENAI" in e["name"] for c in (kubectl, workspace) for e in c["env"])
    (token,) = plan.tokens
    assert token.service_account == "podium-triage-pods-kubectl"
    assert token.expiration_seconds == 420 + 300
    (secret,) = plan.token_secrets
    kubeconfig = yaml.safe_load(base64.b64decode(secret["data"]["kubeconfig"]))
    assert kubeconfig["users"][0]["user"] == {"tokenFile": "token"}
    assert kubeconfig["contexts"][0]["context"]["namespace"] == "team-a"


def test_grants_are_exactly_the_skills_rules() -> None:
    plan = plan_of()
    role, binding = plan.grants
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": ["get", "list"]}
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "podium-triage-pods-kubectl", "namespace": "team-a"}
    ]
    assert plan.foreign_grants == [] and plan.problems == []


def test_two_runs_never_share_an_identity() -> None:
    a = build(run_of(), {}, ControllerConfig())
    b = build(run_of(name="other", uid="uid-2"), {}, ControllerConfig())
    names = lambda p: {o["metadata"]["name"] for o in p.objects()}  # noqa: E731
    assert not names(a) & names(b)
    assert build(run_of(), {}, ControllerConfig()).objects() == a.objects()  # deterministic


@pytest.mark.parametrize(
    ("rbac", "config", "problem"),
    [
        (
            {"rules": [{"resources": ["secrets"], "verbs": ["get"]}]},
            {},
            "get secrets is not allowed",
        ),
        ({"rules": [{"resources": ["pods"], "verbs": ["delete"]}]}, {}, "delete pods"),
        ({"rules": [{"resources": ["*"], "verbs": ["get"]}]}, {}, "get * is not allowed"),
        ({"clusterRoles": ["cluster-admin"]}, {}, "ClusterRole cluster-admin"),
        ({"clusterRoles": ["view"], "clusterScope": True}, {}, "cluster-wide"),
        ({"clusterRoles": ["view"], "namespaces": ["kube-system"]}, {}, "namespace kube-system"),
    ],
)
def test_the_administrator_bounds_every_grant(
    rbac: dict[str, Any], config: dict[str, Any], problem: str
) -> None:
    skills = [{"name": "kubectl", "builtin": "kubectl", "rbac": rbac}]
    plan = plan_of({"skills": skills}, ControllerConfig.model_validate(config))
    assert any(problem in p for p in plan.problems), plan.problems


def test_allowed_cluster_scope_and_other_namespaces_go_to_the_finalizer() -> None:
    config = ControllerConfig(allowClusterScope=True, allowedNamespaces=["apps"])
    wide = [
        {
            "name": "k",
            "builtin": "kubectl",
            "rbac": {"clusterRoles": ["view"], "clusterScope": True},
        }
    ]
    plan = plan_of({"skills": wide}, config)
    assert plan.problems == []
    (binding,) = plan.foreign_grants
    assert binding["kind"] == "ClusterRoleBinding" and "ownerReferences" not in binding["metadata"]
    assert binding["metadata"]["name"] == "podium-team-a-triage-pods-k-view"
    other = [
        {
            "name": "k",
            "builtin": "kubectl",
            "rbac": {"clusterRoles": ["view"], "namespaces": ["apps"]},
        }
    ]
    plan = plan_of({"skills": other}, config)
    (binding,) = plan.foreign_grants
    assert binding["metadata"]["namespace"] == "apps"
    for obj in plan.objects():
        validate_builtin(obj)


def test_skill_refs_secret_env_mcp_and_memory() -> None:
    skill = SkillSpec(image="acme/helm:1", source="helm", config={"a": 1}, env={"X": "1"})
    spec = {
        "skills": [
            {"name": "helm", "skillRef": {"name": "helm-reader"}, "env": {"Y": "2"},
             "secretEnv": [{"name": "TOKEN", "secretKeyRef": {"name": "gh", "key": "t"}}]},
            {"name": "memory", "builtin": "memory"},
        ],
        "mcp": {"mcpServers": {"time": {"command": "mcp-server-time"}}},
        "memory": {"claim": "team-memory", "scope": "team/agent"},
        "model": {"name": "openai:gpt-4.1", "baseURL": "http://10.1.2.3:8000/v1"},
    }  # fmt: skip
    plan = build(run_of(spec), {"helm-reader": skill}, ControllerConfig())
    by_name = containers(plan)
    helm = by_name["skill-helm"]
    assert helm["image"] == "acme/helm:1"
    env = {e["name"]: e for e in helm["env"]}
    assert env["X"]["value"] == "1" and env["Y"]["value"] == "2"
    assert env["TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "gh", "key": "t"}
    assert plan.secrets == {"gh"}
    data = plan.config_map["data"]
    assert json.loads(data["skill-helm-config.json"]) == {"a": 1}
    assert json.loads(data["skill-mcp-servers.json"])["mcpServers"]["time"]
    assert plan.memory_claim == "team-memory"
    pod = plan.job["spec"]["template"]["spec"]
    assert {"name": "memory", "persistentVolumeClaim": {"claimName": "team-memory"}} in pod[
        "volumes"
    ]
    agent_env = {e["name"]: e for e in by_name["agent"]["env"]}
    assert agent_env["OPENAI_BASE_URL"] == {
        "name": "OPENAI_BASE_URL",
        "value": "http://10.1.2.3:8000/v1",
    }
    egress = plan.network_policy["spec"]["egress"]  # type: ignore[index]
    assert {"ipBlock": {"cidr": "10.1.2.3/32"}} in egress[1]["to"]
    assert {"protocol": "TCP", "port": 8000} in egress[1]["ports"]
    assert len(egress) == 2  # no API server egress: no cluster-facing skill
    for obj in plan.objects():
        validate_builtin(obj)


def test_an_image_skill_runs_its_own_entrypoint() -> None:
    """An image-only skill (inline, and a Skill without source): its image's entrypoint runs
    (no `podium` command or args, no probe), with the launch contract's environment, its call
    token and the run spec, locked down like every container; the agent waits for it."""
    kind = SkillSpec(image="acme/ts-reader:2", env={"MODE": "read"})
    spec = {
        "skills": [
            {"name": "ts", "image": "acme/ts-skill:1.0", "config": {"greeting": "hi"}},
            {"name": "reader", "skillRef": {"name": "ts-reader"}},
        ],
    }
    plan = build(run_of(spec), {"ts-reader": kind}, ControllerConfig())
    assert plan.problems == []
    by_name = containers(plan)
    for name, image in (("skill-ts", "acme/ts-skill:1.0"), ("skill-reader", "acme/ts-reader:2")):
        c = by_name[name]
        assert c["image"] == image
        assert "command" not in c and "args" not in c and "startupProbe" not in c
        assert c["restartPolicy"] == "Always"
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        env = {e["name"]: e for e in c["env"]}
        skill = name.removeprefix("skill-")
        assert env["PODIUM_SKILL_SOCKET"]["value"] == f"/workspace/.podium/sockets/{skill}.sock"
        assert env["PODIUM_SKILL_NAME"]["value"] == skill
        assert env["PODIUM_RUN_SPEC"]["value"] == "/etc/podium/run.json"
        token = env["PODIUM_CALL_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert token["key"] == f"podium-call-token-{skill}"
    assert {e["name"]: e for e in by_name["skill-reader"]["env"]}["MODE"]["value"] == "read"
    ts_env = {e["name"]: e for e in by_name["skill-ts"]["env"]}
    assert ts_env["PODIUM_SKILL_CONFIG"]["value"] == "/etc/podium/skill-ts-config.json"
    run_json = json.loads(plan.config_map["data"]["run.json"])
    assert [(s["name"], s.get("source"), s["image"]) for s in run_json["skills"]] == [
        ("ts", None, "acme/ts-skill:1.0"), ("reader", None, "acme/ts-reader:2"),
    ]  # fmt: skip
    assert json.loads(plan.config_map["data"]["skill-ts-config.json"]) == {"greeting": "hi"}
    assert plan.memory_claim is None
    for obj in plan.objects():
        validate_builtin(obj)

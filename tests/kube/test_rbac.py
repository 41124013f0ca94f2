"""TokenRequest and RBAC: a minted ServiceAccount token gets exactly what its bindings grant,
through the real kubectl."""

# pyright: reportArgumentType=false, reportOptionalMemberAccess=false, reportOptionalSubscript=false
# pyright: reportOptionalIterable=false, reportOptionalOperand=false, reportOperatorIssue=false
# pyright: reportAttributeAccessIssue=false, reportReturnType=false
# (the official client's models are typed Optional everywhere and take model objects, not dicts)

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.kube import FakeKube

pytestmark = pytest.mark.controller
KUBECTL = Path(sys.executable).parent / "kubectl"


def kubectl(fake: FakeKube, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **fake.env(token)}
    return subprocess.run(
        [str(KUBECTL), *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def grant(
    fake: FakeKube, namespace: str, sa: str, rules: list[dict[str, Any]], cluster: bool = False
) -> None:
    c = fake.client()
    core, rbac = client.CoreV1Api(c), client.RbacAuthorizationV1Api(c)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": sa}})
    subject = [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}]
    if cluster:
        rbac.create_cluster_role({"metadata": {"name": sa}, "rules": rules})
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": sa},
                "subjects": subject,
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": sa,
                },
            }
        )
    else:
        rbac.create_namespaced_role(namespace, {"metadata": {"name": sa}, "rules": rules})
        rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": sa},
                "subjects": subject,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
            },
        )


def token_for(fake: FakeKube, namespace: str, sa: str, seconds: int = 600) -> str:
    core = client.CoreV1Api(fake.client())
    made = core.create_namespaced_service_account_token(
        sa, namespace, {"spec": {"expirationSeconds": seconds}}
    )
    assert made.status.expiration_timestamp is not None
    return made.status.token


def test_a_minted_token_gets_exactly_its_role(fake_kube: FakeKube) -> None:
    grant(
        fake_kube,
        "default",
        "reader",
        [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    )
    token = token_for(fake_kube, "default", "reader")
    allowed = kubectl(fake_kube, token, "get", "pods")
    assert allowed.returncode == 0, allowed.stderr
    refused = kubectl(fake_kube, token, "get", "secrets")
    assert refused.returncode == 1
    user = "system:serviceaccount:default:reader"
    assert f'secrets is forbidden: User "{user}" cannot list resource "secrets"' in refused.stderr
    other_ns = kubectl(fake_kube, token, "get", "pods", "-n", "kube-system")
    assert "forbidden" in other_ns.stderr
    assert (
        fake_kube.count(
            user="system:serviceaccount:default:reader", verb="list", resource="secrets"
        )
        == 1
    )
    seen = [r for r in fake_kube.requests if r.resource == "secrets"]
    assert [r.code for r in seen] == [403]


def test_resource_names_subresources_and_cluster_roles(fake_kube: FakeKube) -> None:
    grant(
        fake_kube,
        "default",
        "narrow",
        [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["mine"],
                "verbs": ["get"],
            },
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        ],
    )
    fake_kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mine"}})
    fake_kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "theirs"}})
    core = client.CoreV1Api(fake_kube.client(token_for(fake_kube, "default", "narrow")))
    assert core.read_namespaced_config_map("mine", "default").metadata.name == "mine"
    for call in (
        lambda: core.read_namespaced_config_map("theirs", "default"),
        lambda: core.list_namespaced_config_map("default"),
        lambda: core.read_namespaced_pod("p", "default"),
    ):
        with pytest.raises(ApiException) as info:
            call()
        assert info.value.status == 403
    grant(
        fake_kube,
        "default",
        "wide",
        [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]}],
        cluster=True,
    )
    wide = client.CoreV1Api(fake_kube.client(token_for(fake_kube, "default", "wide")))
    assert wide.list_namespaced_config_map("kube-system").items is not None
    assert wide.list_namespace().items
    with pytest.raises(ApiException):
        wide.read_namespace("default")


def test_a_role_binding_to_the_view_cluster_role(fake_kube: FakeKube) -> None:
    client.CoreV1Api(fake_kube.client()).create_namespaced_service_account(
        "default", {"metadata": {"name": "v"}}
    )
    client.RbacAuthorizationV1Api(fake_kube.client()).create_namespaced_role_binding(
        "default",
        {
            "metadata": {"name": "v"},
            "subjects": [{"kind": "ServiceAccount", "name": "v", "namespace": "default"}],
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view",
            },
        },
    )
    token = token_for(fake_kube, "default", "v")
    assert kubectl(fake_kube, token, "get", "pods,configmaps,jobs").returncode == 0
    assert kubectl(fake_kube, token, "get", "secrets").returncode == 1
    assert kubectl(fake_kube, token, "get", "pods", "-n", "kube-system").returncode == 1


def test_tokens_fail_after_expiry_or_once_their_service_account_is_gone(
    fake_kube: FakeKube,
) -> None:
    grant(
        fake_kube,
        "default",
        "short",
        [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    )
    token = token_for(fake_kube, "default", "short", seconds=600)
    assert kubectl(fake_kube, token, "get", "pods").returncode == 0
    fake_kube.advance(601)
    expired = kubectl(fake_kube, token, "get", "pods")
    assert expired.returncode == 1 and "Unauthorized" in expired.stderr
    fresh = token_for(fake_kube, "default", "short")
    assert kubectl(fake_kube, fresh, "get", "pods").returncode == 0
    client.CoreV1Api(fake_kube.client()).delete_namespaced_service_account("short", "default")
    assert "Unauthorized" in kubectl(fake_kube, fresh, "get", "pods").stderr
    assert "Unauthorized" in kubectl(fake_kube, "made-up", "get", "pods").stderr


def test_token_requests_are_checked(fake_kube: FakeKube) -> None:
    core = client.CoreV1Api(fake_kube.client())
    with pytest.raises(ApiException) as info:
        core.create_namespaced_service_account_token("nobody", "default", {"spec": {}})
    assert info.value.status == 404
    with pytest.raises(ApiException) as info:
        core.create_namespaced_service_account_token(
            "default", "default", {"spec": {"expirationSeconds": 60}}
        )
    assert info.value.status == 422
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "p"},
            "spec": {
                "automountServiceAccountToken": False,
                "containers": [{"name": "c", "image": "x:1"}],
            },
        },
    )
    bound = core.create_namespaced_service_account_token(
        "default",
        "default",
        {
            "spec": {
                "audiences": ["x"],
                "expirationSeconds": 3600,
                "boundObjectRef": {"kind": "Pod", "name": "p"},
            }
        },
    )
    assert fake_kube.issued[-1]["audiences"] == ["x"]
    review = client.AuthenticationV1Api(fake_kube.client()).create_token_review(
        {"spec": {"token": bound.status.token}}
    )
    assert (
        review.status.authenticated
        and review.status.user.username == "system:serviceaccount:default:default"
    )
    core.delete_namespaced_pod("p", "default")
    review = client.AuthenticationV1Api(fake_kube.client()).create_token_review(
        {"spec": {"token": bound.status.token}}
    )
    assert not review.status.authenticated


def test_self_subject_access_review(fake_kube: FakeKube) -> None:
    grant(
        fake_kube,
        "default",
        "asker",
        [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}],
    )
    authz = client.AuthorizationV1Api(fake_kube.client(token_for(fake_kube, "default", "asker")))

    def can(verb: str, resource: str, group: str) -> bool:
        spec = {
            "resourceAttributes": {
                "namespace": "default",
                "verb": verb,
                "resource": resource,
                "group": group,
            }
        }
        return authz.create_self_subject_access_review({"spec": spec}).status.allowed

    assert can("create", "jobs", "batch")
    assert not can("delete", "jobs", "batch")
    assert not can("create", "jobs", "")

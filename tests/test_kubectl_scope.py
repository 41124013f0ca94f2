"""The kubectl skill's new tools (events, delete, top, the free-form `kubectl` tool) and the
run's scope: namespaces, cluster-scoped types and verbs, enforced by the skill on every tool
whatever the arguments, and secret values kept out of every output format. Real kubectl
against the fake API server over real HTTPS (tests/kube)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from skills._scope import load_scope
from skills.kubectl import (
    kubectl_any,
    kubectl_apply,
    kubectl_delete,
    kubectl_describe,
    kubectl_events,
    kubectl_get,
    kubectl_logs,
    kubectl_rollout_status,
    kubectl_scale,
    kubectl_top,
)
from skills.kubectl._run import redact_structured
from skills.sdk import Context, ToolError
from tests.kube import FakeKube
from tests.test_kubectl_skill import pod, point_kubectl_at

pytestmark = pytest.mark.anyio
SECRET_VALUE = "c3VwZXItc2VjcmV0LXZhbHVl"  # base64 of super-secret-value
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n{ns}data:\n  mode: fast\n"


def context(workspace: Path) -> Context:
    return Context(workspace, "test", "call-1", logging.getLogger("podium.skill.kubectl"))


@pytest.fixture(autouse=True)
def no_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NAMESPACES", "VERBS", "CLUSTER_SCOPE"):
        monkeypatch.delenv(f"PODIUM_KUBECTL_{name}", raising=False)
    monkeypatch.delenv("PODIUM_SKILL_CONFIG", raising=False)


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch, workspace: Path) -> Iterator[FakeKube]:
    """A web pod and config map in default, team-a and kube-system, a Secret and a Warning
    event in team-a; kubectl pointed at it."""
    with FakeKube() as fake:
        fake.add("Namespace", "team-a")
        for ns in ("default", "team-a", "kube-system"):
            fake.create(pod(f"web-{ns}", ns, labels={"app": "web"}))
            fake.add("ConfigMap", "web", ns, {"app": "web"}, data={"mode": "fast"})
        fake.add("Secret", "db", "team-a", data={"password": SECRET_VALUE}, type="Opaque")
        fake.add("Event", "web.1", "team-a", type="Warning", reason="BackOff",
                 message="Back-off restarting failed container",
                 involvedObject={"apiVersion": "v1", "kind": "Pod", "name": "web-team-a",
                                 "namespace": "team-a"},
                 lastTimestamp="2026-11-01T00:00:00Z", count=3)  # fmt: skip
        point_kubectl_at(monkeypatch, fake, workspace)
        yield fake


def confine(monkeypatch: pytest.MonkeyPatch, *namespaces: str, verbs: str | None = None) -> None:
    monkeypatch.setenv("PODIUM_KUBECTL_NAMESPACES", ",".join(namespaces))
    if verbs is not None:
        monkeypatch.setenv("PODIUM_KUBECTL_VERBS", verbs)


# --- new tools, unconfined ----------------------------------------------------------------------


async def test_events_delete_and_top(kube: FakeKube, workspace: Path) -> None:
    ctx = context(workspace)
    out = await kubectl_events(ctx, namespace="team-a", for_object="pod/web-team-a",
                               warnings_only=True)  # fmt: skip
    assert "BackOff" in out and "Back-off restarting" in out
    [listed] = kube.seen("GET", "/api/v1/namespaces/team-a/events")
    assert "involvedObject.name=web-team-a" in listed.query["fieldSelector"]

    out = await kubectl_delete(ctx, "configmaps", "web")
    assert 'configmap "web" deleted from default namespace (server dry run)' in out
    # The server answered the DELETE and kept the object: it was told to dry-run it.
    [dry] = kube.seen("DELETE", "/api/v1/namespaces/default/configmaps/web")
    assert dry.code == 200 and kube.get("v1", "ConfigMap", "web") is not None
    out = await kubectl_delete(ctx, "configmaps", "web", namespace="team-a", dry_run="none")
    assert out == 'configmap "web" deleted from team-a namespace\n'
    assert kube.get("v1", "ConfigMap", "web", "team-a") is None

    with pytest.raises(ToolError, match="metrics are not available"):
        await kubectl_top(ctx)
    assert {r.user for r in kube.requests} == {"admin"}  # every request had the admin's token


async def test_the_kubectl_tool_runs_allowed_verbs(
    monkeypatch: pytest.MonkeyPatch, kube: FakeKube, workspace: Path
) -> None:
    ctx = context(workspace)
    out = await kubectl_any(ctx, ["get", "configmaps", "-l", "app=web", "-o", "name"])
    assert out == "configmap/web\n"
    [listed] = kube.seen("GET", "/api/v1/namespaces/default/configmaps")
    assert listed.query["labelSelector"] == "app=web"
    out = await kubectl_any(ctx, ["get", "pods", "--namespace=team-a", "-o", "json"])
    assert json.loads(out)["items"][0]["metadata"]["name"] == "web-team-a"
    assert "db" in await kubectl_any(ctx, ["get", "secrets", "-n", "team-a"])  # a table
    assert "configmaps" in await kubectl_any(ctx, ["api-resources"])
    with pytest.raises(ToolError, match="not allowed in this run"):
        await kubectl_any(ctx, ["delete", "configmap", "web"])
    monkeypatch.setenv("PODIUM_KUBECTL_VERBS", "get,delete")
    out = await kubectl_any(ctx, ["delete", "configmap", "web", "--dry-run=server"])
    assert "server dry run" in out and kube.get("v1", "ConfigMap", "web") is not None


# --- confinement: whatever the arguments --------------------------------------------------------


async def test_a_confined_run_stays_in_its_namespaces(
    monkeypatch: pytest.MonkeyPatch, kube: FakeKube, workspace: Path
) -> None:
    confine(monkeypatch, "team-a")
    ctx = context(workspace)
    # No namespace asked: the run's own, explicitly (not the kubeconfig's `default`).
    assert "web-team-a" in await kubectl_get(ctx, "pods")
    assert "web-team-a" in await kubectl_any(ctx, ["get", "pods"])
    assert "web-team-a" in await kubectl_describe(ctx, "pods", "web-team-a")
    await kubectl_apply(ctx, CM.format(ns=""))
    await kubectl_apply(ctx, CM.format(ns="  namespace: team-a\n"))
    touched = {r.path.split("/namespaces/")[1].split("/")[0] for r in kube.requests
               if "/namespaces/" in r.path}  # fmt: skip
    assert touched == {"team-a"}


CONFINED_REFUSALS: list[tuple[Any, dict[str, Any], str]] = [
    (kubectl_get, {"resource": "pods", "namespace": "kube-system"}, "outside this run"),
    (kubectl_get, {"resource": "pods", "all_namespaces": True}, "all namespaces cannot"),
    (kubectl_get, {"resource": "nodes"}, "cluster-scoped"),
    (kubectl_get, {"resource": "namespaces"}, "cluster-scoped"),
    (kubectl_get, {"resource": "clusterroles.rbac.authorization.k8s.io"}, "cluster-scoped"),
    (kubectl_describe, {"resource": "ns", "name": "kube-system"}, "cluster-scoped"),
    (kubectl_logs, {"pod": "web", "namespace": "kube-system"}, "outside this run"),
    (kubectl_events, {"all_namespaces": True}, "all namespaces cannot"),
    (kubectl_events, {"namespace": "default"}, "outside this run"),
    (kubectl_top, {"what": "nodes"}, "cluster-scoped"),
    (kubectl_delete, {"resource": "pods", "name": "x", "namespace": "kube-system"}, "outside"),
    (
        kubectl_scale,
        {"resource": "deployments", "name": "x", "replicas": 1, "namespace": "kube-system"},
        "outside",
    ),
    (kubectl_rollout_status, {"resource": "deploy", "name": "x", "namespace": "b"}, "outside"),
    (kubectl_apply, {"manifest": CM.format(ns="  namespace: kube-system\n")}, "outside"),
    (
        kubectl_apply,
        {"manifest": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"},
        "cluster-scoped",
    ),
    (kubectl_apply, {"manifest": CM.format(ns=""), "namespace": "default"}, "outside"),
    (kubectl_any, {"args": ["get", "pods", "-n", "kube-system"]}, "outside this run"),
    (kubectl_any, {"args": ["get", "pods", "--namespace=kube-system"]}, "outside this run"),
    (kubectl_any, {"args": ["get", "pods", "-n=kube-system"]}, "outside this run"),
    (kubectl_any, {"args": ["get", "pods", "-n", "team-a", "-n", "kube-system"]}, "one namespace"),
    (kubectl_any, {"args": ["get", "pods", "-nkube-system"]}, "not accepted"),
    (kubectl_any, {"args": ["get", "pods", "-A"]}, "all namespaces cannot"),
    (kubectl_any, {"args": ["get", "pods", "--all-namespaces=true"]}, "all namespaces cannot"),
    (kubectl_any, {"args": ["get", "namespaces"]}, "cluster-scoped"),
    (kubectl_any, {"args": ["get", "ns/kube-system"]}, "cluster-scoped"),
    (kubectl_any, {"args": ["get", "pods,nodes"]}, "cluster-scoped"),
    (kubectl_any, {"args": ["describe", "node", "worker-1"]}, "cluster-scoped"),
    (kubectl_any, {"args": ["top", "node"]}, "cluster-scoped"),
    (kubectl_any, {"args": ["-n", "kube-system", "get", "pods"]}, "not available"),
]


@pytest.mark.parametrize(("tool", "kwargs", "message"), CONFINED_REFUSALS)
async def test_a_confined_run_refuses(
    monkeypatch: pytest.MonkeyPatch,
    workspace: Path,
    tool: Any,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    confine(monkeypatch, "team-a")
    monkeypatch.setenv("PODIUM_KUBECTL", str(workspace / "no-kubectl-here"))
    with pytest.raises(ToolError, match=message):
        await tool(context(workspace), **kwargs)


# --- the kubectl tool: flags, verbs, files, secrets ---------------------------------------------

GENERIC_REFUSALS: list[tuple[list[str], str]] = [
    (["get", "pods", "--kubeconfig=/tmp/x"], "flag --kubeconfig is not accepted"),
    (["get", "pods", "--token", "abc"], "flag --token is not accepted"),
    (["get", "pods", "--server=https://evil.example"], "flag --server"),
    (["get", "pods", "-s", "https://evil.example"], "flag -s"),
    (["get", "pods", "--as=system:admin"], "flag --as"),
    (["auth", "can-i", "--list", "--as-group=system:masters"], "flag --as-group"),
    (["get", "pods", "--context=prod"], "flag --context"),
    (["get", "--raw", "/api/v1/namespaces/kube-system/secrets"], "flag --raw"),
    (["get", "pods", "-v=9"], "flag -v"),
    (["get", "pods", "-w"], "flag -w"),
    (["logs", "web", "-f"], "flag -f"),
    (["get", "pods", "--template={{.items}}"], "flag --template"),
    (["get", "pods", "-p"], "not -p"),
    (["get", "pods", "--bogus"], "not accepted"),
    (["get", "pods", "--", "x"], "not accepted"),
    (["get", "pods;rm -rf /"], "not accepted"),
    (["get", "$(id)"], "not accepted"),
    (["config", "view", "--raw"], "not available"),
    (["exec", "web", "--", "cat", "/etc/shadow"], "not available"),
    (["port-forward", "web", "8080"], "not available"),
    (["proxy"], "not available"),
    (["cp", "web:/etc/passwd", "x"], "not available"),
    (["edit", "deploy", "web"], "not available"),
    (["delete", "pods", "--all"], "not allowed in this run"),
    (["apply", "-f", "m.yaml"], "not allowed in this run"),
    (["get", "-f", "../outside.yaml"], "outside the workspace"),
    (["get", "-f", "/etc/passwd"], "absolute"),
    (["get", "-f", "https://evil.example/m.yaml"], "inside the workspace"),
    (["get", "-k", "."], "flag -k"),
    (["logs", "-f=x.yaml", "web"], "flag -f"),
    (["get", "secrets", "-o", "yaml"], "secret values are not shown"),
    (["get", "secret/db", "-o=json"], "secret values are not shown"),
    (["get", "configmaps,secrets", "-o", "jsonpath={.items[*].data}"], "secret values"),
    (["get", "secrets", "--output=go-template={{.data}}"], "secret values"),
    (["get", "Secrets.v1.", "-o", "custom-columns=D:.data"], "secret values"),
    (["get", "pods", "-n"], "needs a value"),
    ([], "arguments as a list"),
]


@pytest.mark.parametrize(("args", "message"), GENERIC_REFUSALS)
async def test_the_kubectl_tool_refuses(
    monkeypatch: pytest.MonkeyPatch, workspace: Path, args: list[str], message: str
) -> None:
    monkeypatch.setenv("PODIUM_KUBECTL", str(workspace / "no-kubectl-here"))
    with pytest.raises(ToolError, match=message):
        await kubectl_any(context(workspace), args)


async def test_files_and_secrets_through_the_kubectl_tool(
    monkeypatch: pytest.MonkeyPatch, kube: FakeKube, workspace: Path
) -> None:
    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: team-a\n"
    (workspace / "secret.yaml").write_text(secret)
    (workspace / "cm.yaml").write_text(CM.format(ns=""))
    ctx = context(workspace)
    with pytest.raises(ToolError, match="secret values are not shown"):
        await kubectl_any(ctx, ["get", "-f", "secret.yaml", "-o", "yaml"])
    assert "db" in await kubectl_any(ctx, ["get", "-f", "secret.yaml"])
    described = await kubectl_any(ctx, ["describe", "secret", "db", "-n", "team-a"])
    assert "password:" in described and SECRET_VALUE not in described  # sizes, not values
    monkeypatch.setenv("PODIUM_KUBECTL_VERBS", "get,apply")
    confine(monkeypatch, "team-b")
    with pytest.raises(ToolError, match="outside this run"):
        await kubectl_any(ctx, ["apply", "-f", "secret.yaml"])


def test_scope_from_the_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "kubectl.yaml"
    config.write_text("namespaces: [team-a, team-b]\nverbs: [get, delete]\n")
    monkeypatch.setenv("PODIUM_SKILL_CONFIG", str(config))
    scope = load_scope()
    assert scope.namespaces == ("team-a", "team-b") and not scope.cluster_scope
    assert scope.verbs == {"get", "delete"}
    monkeypatch.setenv("PODIUM_KUBECTL_CLUSTER_SCOPE", "true")
    assert load_scope().cluster_scope
    config.write_text("verbs: [get, exec]\n")
    with pytest.raises(ToolError, match="unknown verbs: exec"):
        load_scope()
    config.write_text("namespaces: [../x]\n")
    with pytest.raises(ToolError, match="invalid namespace"):
        load_scope()


def test_structured_output_holding_a_secret_is_redacted() -> None:
    """The second line of defence, for output that holds a Secret the checks did not foresee
    (a category, a custom resource list): values and last-applied annotations go."""
    listing = {"apiVersion": "v1", "kind": "List", "items": [
        {"kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"mode": "fast"}},
        {"kind": "Secret", "metadata": {"name": "db", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": SECRET_VALUE}},
         "data": {"password": SECRET_VALUE}}]}  # fmt: skip
    for output, text in (("json", json.dumps(listing)), ("yaml", yaml.safe_dump(listing))):
        out = redact_structured(text, output)
        assert SECRET_VALUE not in out and "password" in out and "fast" in out
    assert redact_structured("not: [valid", "yaml") == "not: [valid"  # no Secret in it
    assert "withheld" in redact_structured("kind: Secret\n  bad: [", "yaml")


@pytest.mark.e2e
def test_a_whole_run_confined_by_its_run_spec(podium: Any, kube: FakeKube, workspace: Path) -> None:
    """The run spec gives the kubectl skill its namespaces (its `env`) and its kubeconfig
    (`secret_env`; the fixture's KUBECONFIG, which `podium run` inherits): the model's attempt
    at kube-system is refused by the skill, its own namespace works, and the model never sees
    a secret value or the token."""
    from tests._runs import call

    spec = workspace / "spec.json"
    skill = {"name": "kubectl", "source": "kubectl", "secret_env": ["KUBECONFIG"],
             "env": {"PODIUM_KUBECTL_NAMESPACES": "team-a"}}  # fmt: skip
    spec.write_text(json.dumps({"task": "look around", "skills": [skill]}))
    script = {
        "steps": [
            {"tool_calls": [call("kubectl", args=["get", "pods", "-n", "kube-system"])]},
            {"tool_calls": [call("kubectl", args=["get", "secrets", "-o", "yaml"])]},
            {"tool_calls": [call("kubectl_get", resource="pods")]},
            {"content": "{{last}}"},
        ]
    }
    run = podium(script, "--spec", str(spec), "--json", timeout=90)
    assert run.code == 0, run.stdout + run.stderr
    assert "web-team-a" in run.result["output"] and "web-kube-system" not in run.result["output"]
    seen = json.dumps([r.body for r in run.requests])
    assert "outside this run's namespaces (team-a)" in seen
    assert "secret values are not shown" in seen
    assert SECRET_VALUE not in seen and kube.admin_token not in seen
    assert not [r for r in kube.requests if "/namespaces/kube-system/" in r.path]


async def test_an_unreachable_cluster_is_named_without_its_token(
    kube: FakeKube, workspace: Path
) -> None:
    url = kube.url
    kube.stop()
    with pytest.raises(ToolError) as caught:
        await kubectl_get(context(workspace), "pods")
    message = str(caught.value)
    assert message.startswith(f"cannot reach the Kubernetes API server {url}"), message
    assert kube.admin_token not in message and "/.venv/" not in message

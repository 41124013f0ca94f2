"""The `helm` skill: the real helm (scripts/helm-from-wheel.py puts it in .venv/bin) rendering
charts the test writes, offline, and changing releases on a fake Kubernetes API over real
HTTPS (tests/kube, whose Secrets hold Helm's release records); called directly and
through a real gRPC server. Every injection attempt is refused before helm runs."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skills.helm import (
    helm_diff,
    helm_get_values,
    helm_history,
    helm_lint,
    helm_list,
    helm_rollback,
    helm_show,
    helm_status,
    helm_template,
    helm_uninstall,
    helm_upgrade,
    skill,
)
from skills.sdk import Context, ToolError
from skills.serve import load_skill
from tests._grpc import served
from tests.kube import FakeKube

pytestmark = pytest.mark.anyio
HELM = Path(sys.executable).parent / "helm"
PASSWORD = "hunter2-very-secret"  # the chart's default
TOKEN_VALUE = "tok-5f1e2d3c4b"

if not HELM.is_file():  # pragma: no cover - scripts/dev setup installs it
    if os.environ.get("CI"):
        raise RuntimeError("helm is missing from .venv/bin: scripts/dev setup installs it")
    pytest.skip("helm is not installed: run scripts/dev setup", allow_module_level=True)

CHART_YAML = "apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: '1.0'\n"
VALUES_YAML = f"""\
# How fast the demo runs.
mode: fast
password: {PASSWORD}
existingSecret: ""
service:
  port: 80
"""
TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  mode: {{ .Values.mode | quote }}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-creds
stringData:
  password: {{ .Values.password | quote }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  ports:
    - port: {{ .Values.service.port }}
"""


def context(workspace: Path) -> Context:
    return Context(
        workspace=workspace, run_id="test", call_id="call-1",
        log=logging.getLogger("podium.skill.helm"),
    )  # fmt: skip


def write_chart(workspace: Path, name: str = "demo", template: str = TEMPLATE) -> str:
    chart = workspace / "charts" / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML.replace("demo", name))
    (chart / "values.yaml").write_text(VALUES_YAML)
    (chart / "templates" / "all.yaml").write_text(template)
    return f"charts/{name}"


@pytest.fixture(autouse=True)
def helm_env(monkeypatch: pytest.MonkeyPatch, workspace: Path) -> None:
    monkeypatch.setenv("PODIUM_HELM", str(HELM))
    (workspace / ".home").mkdir()
    monkeypatch.setenv("HOME", str(workspace / ".home"))  # helm's cache and config go here
    monkeypatch.delenv("HELM_DRIVER", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch, workspace: Path) -> Iterator[FakeKube]:
    """The fake API (with a team-a namespace); helm's KUBECONFIG (the admin's) points at it."""
    with FakeKube() as fake:
        fake.add("Namespace", "team-a")
        kubeconfig = fake.kubeconfig(path=workspace / ".home" / "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        yield fake


def release_record(kube: FakeKube, name: str, revision: int) -> dict[str, Any]:
    """The release Helm stored (secret driver): base64 (API) of base64 of gzip of JSON."""
    secret = kube.get("v1", "Secret", f"sh.helm.release.v1.{name}.v{revision}")
    assert secret is not None, f"no record of {name} revision {revision}"
    inner = base64.b64decode(base64.b64decode(secret["data"]["release"]))
    return json.loads(gzip.decompress(inner))


def settings(kube: FakeKube, namespace: str = "default") -> dict[str, str] | None:
    """The data of the chart's ConfigMap web-settings (None when there is none)."""
    found = kube.get("v1", "ConfigMap", "web-settings", namespace)
    return None if found is None else found.get("data", {})


# --- offline: template, lint, show ------------------------------------------------------------


async def test_template_renders_with_values_and_redacts_secrets(workspace: Path) -> None:
    chart = write_chart(workspace)
    ctx = context(workspace)
    out = await helm_template(ctx, chart, release="web", values={"mode": "slow"})
    assert 'mode: "slow"' in out and "name: web-settings" in out
    assert "# Source: demo/templates/all.yaml" in out  # documents without secrets kept as is
    assert PASSWORD not in out and "password: <redacted>" in out
    # Values are data in a file, never options: an option-looking value is just rendered.
    out = await helm_template(ctx, chart, values={"mode": "--post-renderer=/bin/sh"})
    assert 'mode: "--post-renderer=/bin/sh"' in out
    # A values file inside the workspace, then the object over it.
    (workspace / "prod.yaml").write_text("mode: prod\nservice:\n  port: 8080\n")
    out = await helm_template(ctx, chart, values_files=["prod.yaml"], values={"mode": "x"})
    assert "port: 8080" in out and 'mode: "x"' in out
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("podium-helm-*"))


async def test_lint_and_show(workspace: Path) -> None:
    chart = write_chart(workspace)
    ctx = context(workspace)
    assert "1 chart(s) linted, 0 chart(s) failed" in await helm_lint(ctx, chart)
    assert "name: demo" in await helm_show(ctx, chart)
    values = await helm_show(ctx, chart, what="values")
    assert PASSWORD not in values and "password: <redacted>" in values
    assert "port: 80" in values and "existingSecret: ''" in values
    (workspace / "charts" / "demo" / "values.yaml").write_text("# plain\nmode: fast\n")
    assert (await helm_show(ctx, chart, what="values")).startswith("# plain\nmode: fast\n")


async def test_a_chart_that_fails_to_render(workspace: Path) -> None:
    broken = write_chart(workspace, "broken", "kind: ConfigMap\ndata: {{ .Values.mode | nope }}\n")
    with pytest.raises(ToolError, match=r"the chart failed to render: .*nope"):
        await helm_template(context(workspace), broken)
    required = write_chart(workspace, "strict", '{{ required "set image.tag" .Values.image }}\n')
    with pytest.raises(ToolError, match=r"failed to render: .*set image.tag"):
        await helm_template(context(workspace), required)
    with pytest.raises(ToolError, match=r'did not pass lint:\n(.|\n)*function "nope" not defined'):
        await helm_lint(context(workspace), broken)


# --- bad input, refused before helm runs --------------------------------------------------------

BAD_CALLS: list[tuple[Any, dict[str, Any], str]] = [
    (helm_status, {"release": "--kubeconfig=/tmp/x"}, "invalid release name"),
    (helm_status, {"release": "web", "namespace": "--kubeconfig=/tmp/x"}, "invalid namespace"),
    (helm_history, {"release": "-n=kube-system"}, "invalid release name"),
    (helm_get_values, {"release": "Web"}, "invalid release name"),
    (helm_get_values, {"release": "a" * 54}, "at most 53"),
    (helm_template, {"chart": "--post-renderer=/bin/sh"}, "invalid chart"),
    (helm_template, {"chart": "--repo=https://evil.example"}, "invalid chart"),
    (helm_template, {"chart": "charts/demo", "release": "--repo=x"}, "invalid release name"),
    (helm_template, {"chart": "../outside"}, "outside the workspace"),
    (helm_template, {"chart": "/etc"}, "absolute"),
    (helm_template, {"chart": "file:///etc/passwd"}, "a URL is not a chart path"),
    (helm_template, {"chart": "https://evil.example/x.tgz"}, "a URL is not a chart path"),
    (helm_template, {"chart": "oci://evil.example/a/../b"}, "invalid OCI"),
    (helm_template, {"chart": "oci://user:pw@evil.example/x"}, "invalid OCI"),
    (helm_template, {"chart": "nginx", "repo": "file:///etc"}, "invalid repository URL"),
    (helm_template, {"chart": "nginx", "repo": "https://u:p@x.example"}, "invalid repository"),
    (helm_template, {"chart": "nginx", "repo": "--kubeconfig=/x"}, "invalid repository URL"),
    (helm_template, {"chart": "a/b", "repo": "https://x.example"}, "invalid chart name"),
    (helm_template, {"chart": "no/such/chart"}, "not in the workspace"),
    (helm_template, {"chart": "charts/demo", "version": "--devel"}, "invalid chart version"),
    (helm_template, {"chart": "charts/demo", "values_files": ["../x.yaml"]}, "outside"),
    (helm_template, {"chart": "charts/demo", "values_files": ["/etc/passwd"]}, "absolute"),
    (helm_template, {"chart": "charts/demo", "values_files": ["https://x/v.yaml"]}, "not a URL"),
    (helm_template, {"chart": "charts/demo", "namespace": "-A"}, "invalid namespace"),
    (helm_lint, {"chart": "oci://ghcr.io/acme/web"}, "chart in the workspace"),
    (helm_show, {"chart": "--help"}, "invalid chart"),
    (helm_diff, {"release": "web", "chart": "--post-renderer"}, "invalid chart"),
    (helm_upgrade, {"release": "--atomic", "chart": "charts/demo"}, "invalid release name"),
    (helm_upgrade, {"release": "web", "chart": "charts/demo", "timeout_s": 0}, "timeout_s"),
    (helm_upgrade, {"release": "web", "chart": "charts/demo", "namespace": "a/b"}, "namespace"),
    (helm_rollback, {"release": "web", "revision": 0}, "revision must be"),
    (helm_rollback, {"release": "--dry-run"}, "invalid release name"),
    (helm_uninstall, {"release": "web --no-hooks"}, "invalid release name"),
    (helm_list, {"namespace": "x", "all_namespaces": True}, "cannot be combined"),
    (helm_list, {"namespace": "--kube-token=abc"}, "invalid namespace"),
]


@pytest.mark.parametrize(("tool", "kwargs", "message"), BAD_CALLS)
async def test_bad_input_is_refused_before_helm_runs(
    monkeypatch: pytest.MonkeyPatch,
    workspace: Path,
    tool: Any,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    write_chart(workspace)
    # A helm that would only say "not found" if anything tried to run it.
    monkeypatch.setenv("PODIUM_HELM", str(workspace / "no-helm-here"))
    with pytest.raises(ToolError, match=message):
        await tool(context(workspace), **kwargs)


async def test_a_chart_linking_out_of_the_workspace_is_refused(
    monkeypatch: pytest.MonkeyPatch, workspace: Path
) -> None:
    chart = write_chart(workspace)
    secret = workspace.parent / f"{workspace.name}-token"
    secret.write_text("the-service-account-token")
    try:
        (workspace / chart / "templates" / "leak.yaml").symlink_to(secret)
        with pytest.raises(ToolError, match="links outside the workspace"):
            await helm_template(context(workspace), chart)
        (workspace / "charts" / "link").symlink_to(workspace.parent)
        with pytest.raises(ToolError, match="outside the workspace"):
            await helm_template(context(workspace), "charts/link")
    finally:
        secret.unlink()


# --- against the fake API: install, diff, upgrade, rollback, uninstall --------------------------


async def test_release_lifecycle(kube: FakeKube, workspace: Path) -> None:
    chart = write_chart(workspace)
    ctx = context(workspace)
    assert "web" not in await helm_list(ctx)
    # The default is a server dry run: the cluster sees it, nothing is stored.
    out = await helm_upgrade(ctx, "web", chart, values={"apiToken": TOKEN_VALUE})
    assert "Server dry run passed" in out and "ConfigMap web-settings" in out
    assert TOKEN_VALUE not in out and PASSWORD not in out
    assert not kube.list("v1", "Secret")
    assert kube.seen("GET", "/version")  # it did ask the cluster...
    assert {r.method for r in kube.requests} == {"GET"}  # ...and changed nothing
    # A diff against a release that does not exist: everything is added.
    out = await helm_diff(ctx, "web", chart)
    assert "not installed yet" in out and "3 added" in out and PASSWORD not in out

    out = await helm_upgrade(ctx, "web", chart, dry_run="none", values={"apiToken": "t-1"},
                             timeout_s=30)  # fmt: skip
    assert "STATUS: deployed" in out and "REVISION: 1" in out
    assert settings(kube) == {"mode": "fast"}
    assert release_record(kube, "web", 1)["config"] == {"apiToken": "t-1"}
    assert "web" in await helm_list(ctx) and "deployed" in await helm_status(ctx, "web")
    values = await helm_get_values(ctx, "web", all_values=True)
    assert "apiToken: <redacted>" in values and "t-1" not in values
    assert "mode: fast" in values and PASSWORD not in values

    out = await helm_diff(ctx, "web", chart, values={"mode": "slow", "password": "new-pw"})
    assert "2 changed, 0 added, 0 removed, 1 unchanged" in out
    assert "-  mode: fast\n+  mode: slow" in out
    assert "new-pw" not in out and PASSWORD not in out
    old_marker, new_marker = (
        line.split("password: ")[1] for line in out.splitlines() if "password: <" in line
    )
    assert old_marker != new_marker  # a changed secret shows as changed, not its value
    assert settings(kube) == {"mode": "fast"}

    out = await helm_upgrade(ctx, "web", chart, dry_run="none", values={"mode": "slow"},
                             timeout_s=30)  # fmt: skip
    assert "REVISION: 2" in out
    assert settings(kube) == {"mode": "slow"}
    assert "superseded" in await helm_history(ctx, "web")
    assert "Rollback was a success" in await helm_rollback(ctx, "web", 1, timeout_s=30)
    assert settings(kube) == {"mode": "fast"}
    history = await helm_history(ctx, "web")
    assert "Rollback to 1" in history and history.count("\n") == 4

    assert "uninstalled" in await helm_uninstall(ctx, "web", timeout_s=30)
    assert settings(kube) is None
    assert "web" not in await helm_list(ctx, every_state=True)
    assert {r.user for r in kube.requests} == {"admin"}  # every request had the admin's token


async def test_missing_release_and_unreachable_cluster(kube: FakeKube, workspace: Path) -> None:
    write_chart(workspace)
    ctx = context(workspace)
    for call in (
        helm_status(ctx, "ghost", namespace="team-a"),
        helm_history(ctx, "ghost"),
        helm_get_values(ctx, "ghost"),
        helm_rollback(ctx, "ghost", timeout_s=5),
        helm_uninstall(ctx, "ghost", timeout_s=5),
    ):
        with pytest.raises(ToolError, match="release 'ghost' not found"):
            await call
    with pytest.raises(ToolError, match="in namespace 'team-a'"):
        await helm_status(ctx, "ghost", namespace="team-a")
    url = kube.url
    kube.stop()
    # The server is gone now: the error names it, and never the token.
    with pytest.raises(ToolError) as caught:
        await helm_list(ctx)
    message = str(caught.value)
    assert message.startswith(f"cannot reach the Kubernetes API server {url}")
    assert kube.admin_token not in message


async def test_errors_and_output_keep_the_token_out_of_the_log(
    kube: FakeKube, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chart = write_chart(workspace)
    await helm_upgrade(context(workspace), "web", chart)
    assert "helm upgrade" in caplog.text
    assert kube.admin_token not in caplog.text and PASSWORD not in caplog.text


# --- through a real gRPC server -----------------------------------------------------------------


async def test_through_a_real_grpc_server(kube: FakeKube, workspace: Path) -> None:
    assert load_skill("helm") is skill
    chart = write_chart(workspace)
    async with served(skill, workspace) as client:
        tools = {t.name: t for t in (await client.describe()).tools}
        assert set(tools) == {
            "helm_list", "helm_status", "helm_history", "helm_get_values", "helm_template",
            "helm_lint", "helm_show", "helm_diff", "helm_upgrade", "helm_rollback",
            "helm_uninstall",
        }  # fmt: skip
        changing = {"helm_upgrade", "helm_rollback", "helm_uninstall"}
        assert all(tools[n].annotations.destructive for n in changing)
        assert all(tools[n].annotations.read_only for n in set(tools) - changing)
        assert not any(tools[n].annotations.read_only for n in changing)
        schema = tools["helm_upgrade"].input_schema
        assert schema["properties"]["dry_run"]["enum"] == ["server", "none"]
        assert schema["properties"]["values"]["anyOf"][0]["type"] == "object"

        deadline = time.monotonic() + 60
        got = await client.invoke(
            "c1", "helm_template", json.dumps({"chart": chart}), deadline=deadline
        )
        assert not got.is_error and "kind: ConfigMap" in got.text and PASSWORD not in got.text
        got = await client.invoke(
            "c2", "helm_upgrade",
            json.dumps({"release": "web", "chart": chart, "dry_run": "none"}),
            deadline=deadline,
        )  # fmt: skip
        assert not got.is_error and "STATUS: deployed" in got.text
        bad = await client.invoke(
            "c3", "helm_status", '{"release": "--kubeconfig=/x"}', deadline=deadline
        )
        assert bad.is_error and bad.error_kind == "tool" and "invalid release" in bad.text
        wrong = await client.invoke("c4", "helm_template", '{"chart": 5}', deadline=deadline)
        assert wrong.is_error and wrong.error_kind == "invalid_arguments"
        wrong = await client.invoke(
            "c5", "helm_template", '{"chart": "charts/demo", "values": "--set=x"}',
            deadline=deadline,
        )  # fmt: skip
        assert wrong.is_error and wrong.error_kind == "invalid_arguments"
    assert settings(kube) is not None


# --- a whole run: the agent, the scripted model, the helm skill as its own process --------------


@pytest.mark.e2e
def test_a_whole_run_installs_a_chart_from_the_workspace(
    podium: Any, kube: FakeKube, workspace: Path
) -> None:
    """`podium run` with the helm skill (cluster credentials as its `secret_env` only: the
    fixture's KUBECONFIG, which `podium run` inherits): the scripted model diffs, installs and
    lists; the release lands on the fake API server, and no secret of the chart or the token
    reaches the model, the result or the event log."""
    from tests._runs import call

    chart = write_chart(workspace / "ws")
    spec = workspace / "spec.json"
    spec.write_text(json.dumps({"task": "install the demo chart", "skills": [
        {"name": "helm", "source": "helm", "secret_env": ["KUBECONFIG"]}]}))  # fmt: skip
    upgrade = call("helm_upgrade", release="demo", chart=chart, dry_run="none", timeout_s=30)
    script = {
        "steps": [
            {"tool_calls": [call("helm_diff", release="demo", chart=chart)]},
            {"tool_calls": [upgrade]},
            {"tool_calls": [call("helm_list")]},
            {"content": "{{last}}"},
        ]
    }
    run = podium(script, "--spec", str(spec), "--json", timeout=90)
    assert run.code == 0, run.stdout + run.stderr
    assert "demo" in run.result["output"] and "deployed" in run.result["output"]
    assert release_record(kube, "demo", 1)["info"]["status"] == "deployed"
    assert run.result["tool_calls"] == 3
    seen_by_model = json.dumps([r.body for r in run.requests])
    assert "3 added" in seen_by_model and "STATUS: deployed" in seen_by_model
    events = (run.workspace / ".podium" / "events.jsonl").read_text()
    for secret in (PASSWORD, kube.admin_token):
        assert secret not in seen_by_model and secret not in events


# --- the run's scope: namespaces and cluster-scoped objects -------------------------------------

ELSEWHERE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: sneaky
  namespace: kube-system
data: {}
"""
CLUSTER_WIDE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ .Release.Name }}-ns\n"


async def test_a_confined_run_keeps_helm_in_its_namespaces(
    monkeypatch: pytest.MonkeyPatch, kube: FakeKube, workspace: Path
) -> None:
    monkeypatch.setenv("PODIUM_HELM_NAMESPACES", "team-a")
    chart = write_chart(workspace)
    elsewhere = write_chart(workspace, "elsewhere", ELSEWHERE)
    cluster_wide = write_chart(workspace, "wide", CLUSTER_WIDE)
    kube_system = {k for k in kube.store.objects if k[2] == "kube-system"}  # what it starts with
    ctx = context(workspace)
    out = await helm_upgrade(ctx, "web", chart, dry_run="none", timeout_s=30)
    assert "NAMESPACE: team-a" in out  # the run's namespace, not the kubeconfig's default
    assert settings(kube, "team-a") is not None
    assert "web" in await helm_list(ctx)
    for call, message in (
        (helm_status(ctx, "web", namespace="kube-system"), "outside this run's namespaces"),
        (helm_list(ctx, all_namespaces=True), "all namespaces cannot"),
        (helm_upgrade(ctx, "x", elsewhere, dry_run="none"), "outside this run's namespaces"),
        (helm_upgrade(ctx, "x", cluster_wide, dry_run="none"), "cluster-scoped"),
        (helm_upgrade(ctx, "x", chart, create_namespace=True), "cluster-scoped"),
        (helm_uninstall(ctx, "web", namespace="default"), "outside this run's namespaces"),
    ):
        with pytest.raises(ToolError, match=message):
            await call
    # Rendering alone reaches no cluster: any namespace renders.
    assert "web-settings" in await helm_template(ctx, chart, "web", namespace="kube-system")
    touched = {r.path.split("/namespaces/")[1].split("/")[0] for r in kube.requests
               if "/namespaces/" in r.path}  # fmt: skip
    assert touched == {"team-a"}
    assert {k for k in kube.store.objects if k[2] == "kube-system"} == kube_system
    assert kube.get("v1", "Namespace", "x-ns") is None

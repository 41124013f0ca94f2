"""The fake Kubernetes API, through the clients a cluster user has: the real kubectl and the
official Python client."""

# pyright: reportArgumentType=false, reportOptionalMemberAccess=false, reportOptionalSubscript=false
# pyright: reportOptionalIterable=false, reportOptionalOperand=false, reportOperatorIssue=false
# pyright: reportAttributeAccessIssue=false, reportReturnType=false
# (the official client's models are typed Optional everywhere and take model objects, not dicts)

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.exceptions import ApiException

from tests.kube import FakeKube

pytestmark = pytest.mark.controller
KUBECTL = Path(sys.executable).parent / "kubectl"
CM_PATH = "/api/v1/namespaces/default/configmaps"
CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.dev
spec:
  group: example.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Phase, type: string, jsonPath: .status.phase}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def kubectl(
    fake: FakeKube, *args: str, token: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **fake.env(token)}
    return subprocess.run(
        [str(KUBECTL), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def raw(fake: FakeKube, path: str, token: str | None = None) -> tuple[int, Any]:
    tls = ssl.create_default_context(cafile=str(fake.ca_path))
    req = urllib.request.Request(
        fake.url + path, headers={"Authorization": f"Bearer {token or fake.admin_token}"}
    )
    try:
        with urllib.request.urlopen(req, context=tls, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def test_kubectl_applies_gets_and_deletes_yaml(fake_kube: FakeKube) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: {}\n"
    done = kubectl(fake_kube, "apply", "-f", "-", stdin=cm.format("fast"))
    assert done.returncode == 0, done.stderr
    assert "configmap/settings created" in done.stdout
    assert kubectl(fake_kube, "apply", "-f", "-", stdin=cm.format("slow")).returncode == 0
    assert fake_kube.get("v1", "ConfigMap", "settings")["data"] == {"mode": "slow"}  # type: ignore[index]
    listed = kubectl(fake_kube, "get", "configmaps")
    assert "settings" in listed.stdout and "AGE" in listed.stdout
    got = json.loads(kubectl(fake_kube, "get", "cm", "settings", "-o", "json").stdout)
    assert got["metadata"]["uid"] and got["metadata"]["resourceVersion"]
    assert kubectl(fake_kube, "delete", "-f", "-", stdin=cm.format("slow")).returncode == 0
    assert fake_kube.get("v1", "ConfigMap", "settings") is None


def test_kubectl_server_side_apply_of_a_crd_and_its_objects(fake_kube: FakeKube) -> None:
    done = kubectl(fake_kube, "apply", "--server-side", "-f", "-", stdin=CRD)
    assert done.returncode == 0, done.stderr
    widget = "apiVersion: example.dev/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: {}\n"
    done = kubectl(fake_kube, "apply", "--server-side", "-f", "-", stdin=widget.format(3))
    assert done.returncode == 0, done.stderr
    first = fake_kube.get("example.dev/v1", "Widget", "w1")
    assert first is not None
    assert (
        kubectl(fake_kube, "apply", "--server-side", "-f", "-", stdin=widget.format(3)).returncode
        == 0
    )
    again = fake_kube.get("example.dev/v1", "Widget", "w1")
    assert again is not None
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    fake_kube.apply(
        {
            "apiVersion": "example.dev/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": "default"},
            "status": {"phase": "Ready"},
        },
        manager="ctl",
        sub="status",
    )
    table = kubectl(fake_kube, "get", "wd")
    assert table.returncode == 0, table.stderr
    assert table.stdout.split("\n")[0].split() == ["NAME", "PHASE", "AGE"]
    assert table.stdout.split("\n")[1].split()[:2] == ["w1", "Ready"]
    resources = kubectl(fake_kube, "api-resources", "--api-group=example.dev").stdout
    assert "widgets" in resources and "wd" in resources and "true" in resources


def test_the_python_client_gets_created_objects_back(fake_kube: FakeKube) -> None:
    core = client.CoreV1Api(fake_kube.client())
    made = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert made is not None and made.metadata.uid and made.metadata.resource_version
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert info.value.status == 409
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "a"}})
    assert info.value.status == 404
    gen = core.create_namespaced_config_map("default", {"metadata": {"generateName": "run-"}})
    assert gen.metadata.name.startswith("run-") and len(gen.metadata.name) == 9
    ns = core.create_namespace({"metadata": {"name": "team"}})
    assert ns.status.phase == "Active"
    assert core.read_namespaced_service_account("default", "team").metadata.uid
    assert "ca.crt" in core.read_namespaced_config_map("kube-root-ca.crt", "team").data


def test_discovery_with_trailing_slashes_and_the_core_group_version(fake_kube: FakeKube) -> None:
    assert raw(fake_kube, "/version/")[1]["major"] == "1"
    assert raw(fake_kube, "/apis/")[0] == 200
    code, core = raw(fake_kube, "/api/v1")
    assert code == 200 and core["groupVersion"] == "v1"
    assert raw(fake_kube, "/api/v1/namespaces/default/nothings")[0] == 404
    assert raw(fake_kube, "/api/v1/namespaces/default")[1]["metadata"]["name"] == "default"
    assert raw(fake_kube, "/api/v1/namespaces/default/pods")[1]["kind"] == "PodList"
    assert raw(fake_kube, "/apis/batch/v1/jobs")[1]["items"] == []
    assert raw(fake_kube, "/api/v1", token="bogus")[0] == 401


def test_label_and_field_selectors(fake_kube: FakeKube) -> None:
    core = client.CoreV1Api(fake_kube.client())
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": {"tier": tier}}}
        )

    def names(**kw: Any) -> list[str]:
        return [i.metadata.name for i in core.list_namespaced_config_map("default", **kw).items]

    assert names(label_selector="tier=web") == ["a", "c"]
    assert names(label_selector="tier in (db, cache)") == ["b"]
    assert names(label_selector="tier,tier!=web") == ["b"]
    assert names(label_selector="!tier") == ["kube-root-ca.crt"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b", label_selector="tier") == ["a", "c"]
    with pytest.raises(ApiException) as info:
        names(label_selector="tier in web")
    assert info.value.status == 400


def test_watch_follows_a_selector_and_resumes_from_a_resource_version(fake_kube: FakeKube) -> None:
    core = client.CoreV1Api(fake_kube.client())
    first = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "a", "labels": {"w": "1"}}}
    )
    seen: list[tuple[str, str]] = []

    def follow() -> None:
        for e in watch.Watch().stream(
            core.list_namespaced_config_map, "default", label_selector="w=1", timeout_seconds=3
        ):
            seen.append((e["type"], e["object"].metadata.name))
            if len(seen) == 4:
                break

    thread = threading.Thread(target=follow)
    thread.start()
    fake_kube.wait_for(lambda: any(r.verb == "watch" for r in fake_kube.requests))
    core.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"w": "2"}}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "b", "labels": {"w": "1"}}})
    core.delete_namespaced_config_map("b", "default")
    thread.join(10)
    assert seen == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "b"), ("DELETED", "b")]
    resumed = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=first.metadata.resource_version,
            timeout_seconds=1,
        )
    ]
    assert resumed == [("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "b")]
    started = time.monotonic()
    list(
        watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version="999999", timeout_seconds=1
        )
    )
    assert time.monotonic() - started < 5


def test_server_side_apply_is_idempotent_and_prunes_what_a_manager_drops(
    fake_kube: FakeKube,
) -> None:
    dyn = dynamic.DynamicClient(fake_kube.client())
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"},
        "data": {"a": "1", "b": "2"},
    }
    one = dyn.server_side_apply(cms, body=body, field_manager="ctl", namespace="default")
    two = dyn.server_side_apply(cms, body=body, field_manager="ctl", namespace="default")
    assert one.metadata.resourceVersion == two.metadata.resourceVersion
    other = {**body, "data": {"z": "9"}}
    dyn.server_side_apply(cms, body=other, field_manager="someone", namespace="default")
    smaller = {**body, "data": {"a": "1"}}
    three = dyn.server_side_apply(cms, body=smaller, field_manager="ctl", namespace="default")
    assert dict(three.data) == {"a": "1", "z": "9"}
    assert int(three.metadata.resourceVersion) > int(two.metadata.resourceVersion)
    clash = {**body, "data": {"z": "different"}}
    with pytest.raises(ApiException) as info:
        dyn.server_side_apply(cms, body=clash, field_manager="ctl", namespace="default")
    assert info.value.status == 409
    forced = dyn.server_side_apply(
        cms, body=clash, field_manager="ctl", namespace="default", force_conflicts=True
    )
    assert forced.data["z"] == "different"


def test_status_is_a_subresource_and_generation_follows_spec(fake_kube: FakeKube) -> None:
    batch = client.BatchV1Api(fake_kube.client())
    job = {
        "metadata": {"name": "j"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox:1"}],
                }
            }
        },
        "status": {"active": 5},
    }
    made = batch.create_namespaced_job("default", job)
    assert made.status.active is None and made.metadata.generation == 1
    assert made.spec.template.metadata.labels["job-name"] == "j"
    assert made.spec.template.metadata.labels["controller-uid"] == made.metadata.uid
    assert made.spec.backoff_limit == 6
    status = batch.patch_namespaced_job_status(
        "j", "default", {"status": {"active": 1}, "spec": {"parallelism": 9}}
    )
    assert status.status.active == 1 and status.spec.parallelism == 1
    assert status.metadata.generation == 1
    main = batch.patch_namespaced_job(
        "j", "default", {"status": {"active": 7}, "spec": {"parallelism": 2}}
    )
    assert main.status.active == 1 and main.spec.parallelism == 2 and main.metadata.generation == 2
    labelled = batch.patch_namespaced_job("j", "default", {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 2
    stale = client.V1Job(
        metadata=client.V1ObjectMeta(name="j", resource_version=made.metadata.resource_version),
        spec=main.spec,
    )
    with pytest.raises(ApiException) as info:
        batch.replace_namespaced_job("j", "default", stale)
    assert info.value.status == 409


def test_finalizers_hold_deletion_until_removed(fake_kube: FakeKube) -> None:
    core = client.CoreV1Api(fake_kube.client())
    core.create_namespaced_config_map("default", {"metadata": {"name": "f", "finalizers": ["x/y"]}})
    core.delete_namespaced_config_map("f", "default")
    held = core.read_namespaced_config_map("f", "default")
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("f", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("f", "default")
    assert info.value.status == 404


def _owned(fake: FakeKube, name: str, owner: dict[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "blockOwnerDeletion": True,
            }
        ]
    return fake.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})


@pytest.mark.parametrize("policy", ["Background", "Foreground"])
def test_deleting_an_owner_deletes_its_dependents_recursively(
    fake_kube: FakeKube, policy: str
) -> None:
    root = _owned(fake_kube, "root", None)
    child = _owned(fake_kube, "child", root)
    _owned(fake_kube, "grandchild", child)
    _owned(fake_kube, "bystander", None)
    core = client.CoreV1Api(fake_kube.client())
    core.delete_namespaced_config_map("root", "default", propagation_policy=policy)
    if policy == "Foreground":  # the owner waits, marked, for its dependents
        root_now = fake_kube.get("v1", "ConfigMap", "root")
        assert root_now is None or root_now["metadata"]["deletionTimestamp"]
    fake_kube.wait_for(
        lambda: all(
            fake_kube.get("v1", "ConfigMap", n) is None for n in ("root", "child", "grandchild")
        )
    )
    assert fake_kube.get("v1", "ConfigMap", "bystander") is not None


def test_orphaned_dependents_stay_and_jobs_orphan_by_default(fake_kube: FakeKube) -> None:
    root = _owned(fake_kube, "root", None)
    _owned(fake_kube, "child", root)
    client.CoreV1Api(fake_kube.client()).delete_namespaced_config_map(
        "root", "default", propagation_policy="Orphan"
    )
    child = fake_kube.get("v1", "ConfigMap", "child")
    assert child is not None and "ownerReferences" not in child["metadata"]


def test_namespace_deletion_empties_it(fake_kube: FakeKube) -> None:
    core = client.CoreV1Api(fake_kube.client())
    core.create_namespace({"metadata": {"name": "gone"}})
    core.create_namespaced_config_map("gone", {"metadata": {"name": "a"}})
    core.delete_namespace("gone")
    fake_kube.wait_for(lambda: fake_kube.get("v1", "Namespace", "gone", "") is None)
    assert fake_kube.list("v1", "ConfigMap", "gone") == []


def test_pods_get_their_service_account_token_volume_unless_opted_out(fake_kube: FakeKube) -> None:
    core = client.CoreV1Api(fake_kube.client())
    spec = {
        "containers": [{"name": "a", "image": "x:1"}],
        "initContainers": [{"name": "i", "image": "x:1"}],
    }
    pod = core.create_namespaced_pod("default", {"metadata": {"name": "p"}, "spec": spec})
    assert pod.status.phase == "Pending"
    assert [v.name.startswith("kube-api-access-") for v in pod.spec.volumes] == [True]
    mounts = [
        m.mount_path
        for c in [*pod.spec.containers, *pod.spec.init_containers]
        for m in c.volume_mounts
    ]
    assert mounts == ["/var/run/secrets/kubernetes.io/serviceaccount"] * 2
    off = core.create_namespaced_pod(
        "default",
        {"metadata": {"name": "q"}, "spec": {**spec, "automountServiceAccountToken": False}},
    )
    assert not off.spec.volumes and not off.spec.containers[0].volume_mounts
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod(
            "default",
            {"metadata": {"name": "r"}, "spec": {**spec, "serviceAccountName": "missing"}},
        )
    assert info.value.status == 403 and "serviceaccount" in info.value.body


def test_both_event_apis_store_events(fake_kube: FakeKube) -> None:
    c = fake_kube.client()
    client.CoreV1Api(c).create_namespaced_event(
        "default",
        {
            "metadata": {"name": "e1"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "Started",
            "message": "hi",
            "type": "Normal",
        },
    )
    client.EventsV1Api(c).create_namespaced_event(
        "default",
        {
            "metadata": {"name": "e2"},
            "eventTime": "2026-12-01T00:00:00.000000Z",
            "reason": "Done",
            "action": "Finish",
            "reportingController": "x",
            "reportingInstance": "x-1",
            "type": "Normal",
        },
    )
    events = client.CoreV1Api(c).list_namespaced_event(
        "default", field_selector="involvedObject.name=p"
    )
    assert [e.reason for e in events.items] == ["Started"]
    assert fake_kube.get("events.k8s.io/v1", "Event", "e2") is not None


def test_requests_are_recorded_with_their_user(fake_kube: FakeKube) -> None:
    core = client.CoreV1Api(fake_kube.client())
    before = fake_kube.count(verb="list", resource="pods")
    core.list_namespaced_pod("default")
    core.list_namespaced_pod("default")
    assert fake_kube.count(verb="list", resource="pods", user="admin") == before + 2
    fake_kube.fail(500, path="/configmaps$", method="POST")
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    assert info.value.status == 500
    assert core.create_namespaced_config_map("default", {"metadata": {"name": "x"}}).metadata.uid


def test_secret_string_data_becomes_data(fake_kube: FakeKube) -> None:
    core = client.CoreV1Api(fake_kube.client())
    made = core.create_namespaced_secret(
        "default", {"metadata": {"name": "s"}, "stringData": {"k": "v"}}
    )
    assert made.data == {"k": "dg=="} and made.string_data is None and made.type == "Opaque"
    patched = core.patch_namespaced_secret("s", "default", {"stringData": {"k": "w"}})
    assert patched.data == {"k": "dw=="}


def _pb(number: int, value: bytes) -> bytes:
    """One length-delimited protobuf field (lengths here stay under 128: one varint byte)."""
    assert len(value) < 128
    return bytes([number << 3 | 2, len(value)]) + value


def _send(fake: FakeKube, method: str, path: str, body: bytes) -> int:
    tls = ssl.create_default_context(cafile=str(fake.ca_path))
    req = urllib.request.Request(fake.url + path, data=body, method=method, headers={
        "Authorization": f"Bearer {fake.admin_token}",
        "Content-Type": "application/vnd.kubernetes.protobuf"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, context=tls, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        with e:
            return e.code


def test_protobuf_secrets_and_delete_options_as_helm_sends_them(fake_kube: FakeKube) -> None:
    def unknown(kind: str, raw: bytes) -> bytes:
        return b"k8s\x00" + _pb(1, _pb(1, b"v1") + _pb(2, kind.encode())) + _pb(2, raw)

    secret = _pb(1, _pb(1, b"rel")) + _pb(2, _pb(1, b"release") + _pb(2, b"\x00payload"))
    path = "/api/v1/namespaces/default/secrets"
    assert _send(fake_kube, "POST", path, unknown("Secret", secret)) == 201
    stored = fake_kube.get("v1", "Secret", "rel") or {}
    assert stored.get("data") == {"release": "AHBheWxvYWQ="}  # base64 of the raw bytes
    dry = unknown("DeleteOptions", _pb(5, b"All"))
    assert _send(fake_kube, "DELETE", f"{path}/rel", dry) == 200
    assert fake_kube.get("v1", "Secret", "rel") is not None  # a dry run
    assert _send(fake_kube, "DELETE", f"{path}/rel", unknown("DeleteOptions", b"")) == 200
    assert fake_kube.get("v1", "Secret", "rel") is None
    pod = unknown("Pod", _pb(1, _pb(1, b"p")))
    assert _send(fake_kube, "POST", "/api/v1/namespaces/default/pods", pod) == 415


def test_a_stalled_request_waits_while_others_are_answered(fake_kube: FakeKube) -> None:
    fake_kube.stall("/configmaps/held$")
    outcome: list[object] = []

    def get_held() -> None:
        try:
            outcome.append(raw(fake_kube, CM_PATH + "/held"))
        except OSError as e:  # the connection dropped when the fake stopped
            outcome.append(e)

    waiting = threading.Thread(target=get_held)
    waiting.start()
    fake_kube.wait_for(lambda: fake_kube.seen("GET", CM_PATH + "/held"))
    assert raw(fake_kube, CM_PATH + "/kube-root-ca.crt")[0] == 200
    waiting.join(0.3)
    assert waiting.is_alive() and not outcome
    fake_kube.stop()
    waiting.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], OSError)  # never answered

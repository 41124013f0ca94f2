"""The test kubelet and Job controller: Jobs run to Complete or Failed with real processes or
containers, volumes and env as a kubelet prepares them, native sidecars in order, deletion,
deadlines, injected failures. Each test runs in local mode, and under Docker where it runs."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from tests.kube import FakeKube, Kubelet
from tests.kube._kubelet import pod_summary

pytestmark = [pytest.mark.controller, pytest.mark.timeout(120)]
IMAGE = "local/debian:bookworm"
MODES = ["local_kubelet", pytest.param("docker_kubelet", marks=pytest.mark.docker)]
WRITE_MESSAGE = (
    "import os; path = os.environ.get('PODIUM_TERMINATION_LOG', '/dev/termination-log'); "
    "open(path, 'w').write({!r})"
)


@pytest.fixture(params=MODES)
def node(request: pytest.FixtureRequest) -> Kubelet:
    return request.getfixturevalue(request.param)


def py(code: str, name: str = "main", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "command": ["python3", "-c", code], **extra}


def run_job(
    fake: FakeKube,
    name: str,
    containers: list[dict[str, Any]],
    *,
    pod: dict[str, Any] | None = None,
    **spec: Any,
) -> None:
    template = {"spec": {"restartPolicy": "Never", "containers": containers, **(pod or {})}}
    fake.create(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": template, **spec},
        }
    )


def finished(fake: FakeKube, name: str, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = fake.get("batch/v1", "Job", name)
        types = {c["type"] for c in (job or {}).get("status", {}).get("conditions") or []}
        return job if types & {"Complete", "Failed"} else None

    return fake.wait_for(done, timeout)


def pod_of(fake: FakeKube, job: str) -> dict[str, Any]:
    pods = fake.list("v1", "Pod", "default", labels=f"job-name={job}")
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def state(pod: dict[str, Any], container: str) -> dict[str, Any]:
    status = pod.get("status", {})
    for s in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]:
        if s["name"] == container:
            return s
    return {"state": {}}


def test_a_job_runs_to_complete_with_its_termination_message(
    fake_kube: FakeKube, node: Kubelet
) -> None:
    code = "import os; print('hello', os.environ['WHO']); " + WRITE_MESSAGE.format(
        '{"status": "ok"}'
    )
    run_job(fake_kube, "hello", [py(code, env=[{"name": "WHO", "value": "world"}])])
    job = finished(fake_kube, "hello")
    assert job["status"]["succeeded"] == 1 and job["status"]["completionTime"]
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    pod = pod_of(fake_kube, "hello")
    assert pod["status"]["phase"] == "Succeeded", pod_summary(pod)
    assert pod["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert pod["metadata"]["labels"]["controller-uid"] == job["metadata"]["uid"]
    terminated = state(pod, "main")["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    assert json.loads(terminated["message"]) == {"status": "ok"}
    assert fake_kube.logs.text("default", pod["metadata"]["name"], "main") == "hello world\n"
    events = fake_kube.list("v1", "Event", "default")
    assert {"SuccessfulCreate", "Completed"} <= {e["reason"] for e in events}


def test_a_failing_container_fails_the_job(fake_kube: FakeKube, node: Kubelet) -> None:
    code = "import sys; print('boom'); sys.exit(3)"
    run_job(fake_kube, "bad", [py(code, terminationMessagePolicy="FallbackToLogsOnError")])
    job = finished(fake_kube, "bad")
    failed = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded" and job["status"]["failed"] == 1
    terminated = state(pod_of(fake_kube, "bad"), "main")["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"], terminated["message"]) == (
        3,
        "Error",
        "boom",
    )


def test_a_missing_image_waits_in_image_pull_back_off(fake_kube: FakeKube, node: Kubelet) -> None:
    node.pull_fails.add("registry.example/nothing:1")
    container = py("pass", image="registry.example/nothing:1")
    run_job(fake_kube, "pull", [container])

    def waiting() -> str | None:
        pods = fake_kube.list("v1", "Pod", "default", labels="job-name=pull")
        reason = state(pods[0], "main")["state"].get("waiting", {}).get("reason") if pods else None
        return "ImagePullBackOff" if reason == "ImagePullBackOff" else None

    assert fake_kube.wait_for(waiting, 30) == "ImagePullBackOff"
    assert pod_of(fake_kube, "pull")["status"]["phase"] == "Pending"


def test_the_active_deadline_kills_the_pod(fake_kube: FakeKube, node: Kubelet) -> None:
    run_job(fake_kube, "slow", [py("import time; time.sleep(60)")], activeDeadlineSeconds=2)
    job = finished(fake_kube, "slow", timeout=40)
    failed = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "DeadlineExceeded"
    fake_kube.wait_for(
        lambda: not fake_kube.list("v1", "Pod", "default", labels="job-name=slow"), 30
    )


def test_volumes_and_env_are_prepared_like_a_kubelet_does(
    fake_kube: FakeKube, node: Kubelet
) -> None:
    fake_kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cfg"},
            "data": {"run.json": '{"task": "x"}', "other": "y"},
        }
    )
    fake_kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "key"},
            "data": {"token": base64.b64encode(b"s3cr3t").decode()},
        }
    )
    fake_kube.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "mem"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    check = (
        "import os, sys, json; a = sys.argv[1:]; "
        "out = {'cfg': open(a[0]).read(), 'sub': open(a[1]).read(), 'secret': open(a[2]).read(), "
        "'token': open(a[3]).read(), 'ns': open(a[4]).read(), 'env': os.environ['KEY'], "
        "'pod': os.environ['POD'], 'mode': os.environ['MODE'], 'shared': open(a[5]).read(), "
        "'host': os.environ['KUBERNETES_SERVICE_HOST']}; open(a[6], 'w').write('kept'); "
        + WRITE_MESSAGE.replace("{!r}", "json.dumps(out)")
    )
    args = [
        "/etc/podium/run.json",
        "/etc/sub/run.json",
        "/secrets/token",
        "/var/run/secrets/tokens/api",
        "/var/run/secrets/tokens/namespace",
        "/workspace/hello",
        "/var/lib/memory/file",
    ]
    main = {
        **py(check),
        "args": args,
        "env": [
            {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "key", "key": "token"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "other"}}},
        ],
        "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/podium", "readOnly": True},
            {"name": "cfg", "mountPath": "/etc/sub/run.json", "subPath": "run.json"},
            {"name": "key", "mountPath": "/secrets"},
            {"name": "api", "mountPath": "/var/run/secrets/tokens"},
            {"name": "work", "mountPath": "/workspace"},
            {"name": "mem", "mountPath": "/var/lib/memory"},
        ],
    }
    init = {
        **py("import sys; open(sys.argv[1], 'w').write('from init')"),
        "name": "init",
        "args": ["/workspace/hello"],
        "volumeMounts": [{"name": "work", "mountPath": "/workspace"}],
    }
    volumes = [
        {
            "name": "cfg",
            "configMap": {"name": "cfg", "items": [{"key": "run.json", "path": "run.json"}]},
        },
        {"name": "key", "secret": {"secretName": "key"}},
        {
            "name": "api",
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"path": "api", "expirationSeconds": 600}},
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {"fieldPath": "metadata.namespace"},
                                }
                            ]
                        }
                    },
                ]
            },
        },
        {"name": "work", "emptyDir": {}},
        {"name": "mem", "persistentVolumeClaim": {"claimName": "mem"}},
    ]
    pod_spec = {"volumes": volumes, "initContainers": [init], "automountServiceAccountToken": False}
    run_job(fake_kube, "vols", [main], pod=pod_spec)
    job = finished(fake_kube, "vols")
    pod = pod_of(fake_kube, "vols")
    assert job["status"].get("succeeded") == 1, pod_summary(pod)
    seen = json.loads(state(pod, "main")["state"]["terminated"]["message"])
    assert seen["cfg"] == seen["sub"] == '{"task": "x"}'
    assert (seen["secret"], seen["env"], seen["mode"]) == ("s3cr3t", "s3cr3t", "y")
    assert (seen["pod"], seen["ns"], seen["shared"]) == (
        pod["metadata"]["name"],
        "default",
        "from init",
    )
    assert seen["host"] == "127.0.0.1"
    user = fake_kube.authenticate(f"Bearer {seen['token']}")
    assert user is not None and user.name == "system:serviceaccount:default:default"
    assert fake_kube.issued[-1]["bound"]["name"] == pod["metadata"]["name"]
    assert (node.root / "claims" / "default" / "mem" / "file").read_text() == "kept"


def test_native_sidecars_start_in_order_behind_their_startup_probe(
    fake_kube: FakeKube, node: Kubelet
) -> None:
    mount = [{"name": "work", "mountPath": "/workspace"}]
    sidecar = {
        **py(
            "import sys, time; time.sleep(1); open(sys.argv[1], 'w').write('up'); time.sleep(300)",
            name="skill",
        ),
        "args": ["/workspace/ready"],
        "restartPolicy": "Always",
        "volumeMounts": mount,
        "startupProbe": {
            "exec": {"command": ["test", "-f", "/workspace/ready"]},
            "periodSeconds": 1,
            "failureThreshold": 30,
        },
    }
    main = {
        **py("import sys; sys.exit(0 if open(sys.argv[1]).read() == 'up' else 5)"),
        "args": ["/workspace/ready"],
        "volumeMounts": mount,
    }
    started = time.monotonic()
    run_job(
        fake_kube,
        "side",
        [main],
        pod={"initContainers": [sidecar], "volumes": [{"name": "work", "emptyDir": {}}]},
    )
    job = finished(fake_kube, "side")
    pod = pod_of(fake_kube, "side")
    assert job["status"].get("succeeded") == 1, pod_summary(pod)
    assert "terminated" in state(pod, "skill")["state"]
    assert time.monotonic() - started < 30
    probes = [ok for p, c, ok, _ in node.probes if c == "skill"]
    assert probes[-1] is True


def test_deleting_a_pod_stops_its_containers(fake_kube: FakeKube, node: Kubelet) -> None:
    fake_kube.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sleeper"},
            "spec": {
                "terminationGracePeriodSeconds": 2,
                "containers": [py("import time; time.sleep(300)")],
            },
        }
    )

    def running() -> bool:
        pod = fake_kube.get("v1", "Pod", "sleeper")
        return bool(pod and "running" in state(pod, "main")["state"])

    fake_kube.wait_for(running, 30)
    run = node.run_of("default", "sleeper")
    assert run is not None
    fake_kube.delete("v1", "Pod", "sleeper")
    assert fake_kube.get("v1", "Pod", "sleeper")["metadata"]["deletionTimestamp"]  # type: ignore[index]
    fake_kube.wait_for(lambda: fake_kube.get("v1", "Pod", "sleeper") is None, 30)
    assert "running" not in run.states["main"]["state"]


def test_an_injected_oom_kill_is_reported(fake_kube: FakeKube, node: Kubelet) -> None:
    run_job(fake_kube, "oom", [py("import time; time.sleep(300)")])

    def running() -> str | None:
        pods = fake_kube.list("v1", "Pod", "default", labels="job-name=oom")
        ok = pods and "running" in state(pods[0], "main")["state"]
        return pods[0]["metadata"]["name"] if ok else None

    node.kill("default", fake_kube.wait_for(running, 30), "main", oom=True)
    finished(fake_kube, "oom")
    terminated = state(pod_of(fake_kube, "oom"), "main")["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)


def test_finished_jobs_go_after_their_ttl(fake_kube: FakeKube, local_kubelet: Kubelet) -> None:
    run_job(fake_kube, "brief", [py("pass")], ttlSecondsAfterFinished=1)
    finished(fake_kube, "brief")
    fake_kube.wait_for(lambda: fake_kube.get("batch/v1", "Job", "brief") is None, 20)
    fake_kube.wait_for(
        lambda: not fake_kube.list("v1", "Pod", "default", labels="job-name=brief"), 20
    )


def test_a_pod_reaches_the_api_with_its_own_token(fake_kube: FakeKube, node: Kubelet) -> None:
    fake_kube.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "default"}],
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view",
            },
        }
    )
    code = (
        "import os, ssl, sys, json, urllib.request, urllib.error\n"
        "d = sys.argv[1]; tls = ssl.create_default_context(cafile=d + '/ca.crt')\n"
        "e = os.environ; url = 'https://%s:%s' % (e['KUBERNETES_SERVICE_HOST'], "
        "e['KUBERNETES_SERVICE_PORT'])\n"
        "def get(p):\n"
        "    auth = {'Authorization': 'Bearer ' + open(d + '/token').read()}\n"
        "    r = urllib.request.Request(url + p, headers=auth)\n"
        "    try:\n"
        "        with urllib.request.urlopen(r, context=tls) as x: return x.status\n"
        "    except urllib.error.HTTPError as e:\n"
        "        e.close(); return e.code\n"
        "ns = '/api/v1/namespaces/default/'\n"
        "codes = [get(ns + 'pods'), get(ns + 'secrets')]\n"
        + WRITE_MESSAGE.replace("{!r}", "json.dumps(codes)")
    )
    run_job(
        fake_kube, "api", [{**py(code), "args": ["/var/run/secrets/kubernetes.io/serviceaccount"]}]
    )
    finished(fake_kube, "api")
    pod = pod_of(fake_kube, "api")
    assert json.loads(state(pod, "main")["state"]["terminated"]["message"]) == [200, 403], (
        pod_summary(pod)
    )

"""The reconciler against the fake API over HTTPS: objects applied, tokens minted, status
from what the Pod reports, credentials revoked at the end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from controller.policy import ControllerConfig
from tests.controller import _kubelet
from tests.controller.conftest import NS, Cluster, example, running, until
from tests.kube._fake import FakeKube

RBAC = "rbac.authorization.k8s.io"

pytestmark = [pytest.mark.anyio, pytest.mark.controller]

SUMMARY = {"status": "succeeded", "output": "2 pods are not Running: web-1 (CrashLoopBackOff)",
           "turns": 3, "tool_calls": 2, "duration_s": 4.2,
           "usage": {"input_tokens": 1200, "output_tokens": 80}, "error": None}  # fmt: skip


async def test_run_to_succeeded(cluster: Cluster) -> None:
    fake = cluster.fake
    cluster.apply_run(example())
    job = await until(lambda: cluster.job("triage-pods"))
    assert job["spec"]["backoffLimit"] == 0
    sa = fake.get("v1", "ServiceAccount", "podium-triage-pods-kubectl", NS)
    assert sa is not None
    secret = fake.get("v1", "Secret", "podium-triage-pods-kubectl-kube", NS)
    assert secret is not None and {"token", "kubeconfig", "ca.crt"} <= set(secret["data"])
    assert fake.issued[-1]["serviceaccount"] == "podium-triage-pods-kubectl"
    await until(lambda: cluster.phase("triage-pods") == "Pending")
    pod = _kubelet.start_pod(fake, job)
    await until(lambda: cluster.phase("triage-pods") == "Running")
    _kubelet.finish_agent(fake, NS, pod, json.dumps(SUMMARY))
    await until(lambda: cluster.phase("triage-pods") == "Succeeded")
    status = cluster.status("triage-pods")
    assert status["output"] == SUMMARY["output"]
    assert (status["turns"], status["toolCalls"]) == (3, 2)
    assert status["usage"] == {"inputTokens": 1200, "outputTokens": 80}
    assert status["completionTime"] == "2026-12-01T12:00:05Z"
    revoked = await until(lambda: cluster.condition("triage-pods", "CredentialsRevoked"))
    assert revoked["status"] == "True"
    assert fake.get("v1", "ServiceAccount", "podium-triage-pods-kubectl", NS) is None
    assert fake.get("v1", "Secret", "podium-triage-pods-kubectl-kube", NS) is None
    reasons = [r for r, _ in cluster.events("triage-pods")]
    assert sorted(reasons) == ["JobCreated", "Started", "Succeeded"]


async def _started(cluster: Cluster, name: str, **spec: object) -> str:
    cluster.apply_run(example(name, **spec))
    job = await until(lambda: cluster.job(name))
    pod = _kubelet.start_pod(cluster.fake, job)
    await until(lambda: cluster.phase(name) == "Running")
    return pod


async def _failed(cluster: Cluster, name: str, reason: str, phase: str = "Failed") -> str:
    await until(lambda: cluster.phase(name) == phase, timeout=15)
    finished = cluster.condition(name, "Finished")
    assert finished is not None and finished["reason"] == reason, finished
    return str(finished["message"])


async def test_cancel_deletes_the_job(cluster: Cluster) -> None:
    await _started(cluster, "stop-me")
    cluster.fake.apply(
        {"apiVersion": "podium.dev/v1alpha1", "kind": "AgentRun",
         "metadata": {"name": "stop-me", "namespace": NS}, "spec": {"cancel": True}},
        manager="user",
    )  # fmt: skip
    assert "spec.cancel" in await _failed(cluster, "stop-me", "Cancelled", "Cancelled")
    await until(lambda: cluster.job("stop-me") is None)
    await until(
        lambda: cluster.fake.get("v1", "ServiceAccount", "podium-stop-me-kubectl", NS) is None
    )


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ("I am not JSON", "not a valid summary"),
        (json.dumps({**SUMMARY, "output": "x" * 5000}), "bytes (at most 4096)"),
        (json.dumps({"status": "great"}), "not a valid summary"),
        (json.dumps({**SUMMARY, "turns": "3"}), "not a valid summary"),
    ],
)
async def test_hostile_termination_messages(cluster: Cluster, message: str, why: str) -> None:
    pod = await _started(cluster, "hostile")
    _kubelet.finish_agent(cluster.fake, NS, pod, message)
    assert why in await _failed(cluster, "hostile", "InvalidResult")
    assert "output" not in cluster.status("hostile")


async def test_refusals_leave_nothing_behind(cluster: Cluster) -> None:
    bad = [{"name": "kubectl", "builtin": "kubectl", "rbac": {"clusterRoles": ["cluster-admin"]}}]
    cluster.apply_run(example("greedy", skills=bad))
    message = await _failed(cluster, "greedy", "Forbidden")
    assert "ClusterRole cluster-admin is not in the allowed list" in message
    accepted = cluster.condition("greedy", "Accepted")
    assert accepted is not None and accepted["status"] == "False"
    cluster.apply_run(example("no-skill", skills=[{"name": "x", "skillRef": {"name": "nope"}}]))
    assert "Skill nope not found" in await _failed(cluster, "no-skill", "SkillNotFound")
    for name in ("greedy", "no-skill"):
        assert cluster.job(name) is None
        assert cluster.fake.list("v1", "ServiceAccount", NS, f"podium.dev/run={name}") == []
        assert cluster.fake.list("v1", "ConfigMap", NS, f"podium.dev/run={name}") == []


async def test_missing_secret_and_image_pull_fail_after_grace(cluster: Cluster) -> None:
    now = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    cluster.controller.agentruns.clock = lambda: now[0]
    pod = await _started(cluster, "blocked")
    current = _kubelet.pod(cluster.fake, NS, pod)
    status = current["status"]
    why = {"reason": "CreateContainerConfigError", "message": 'secret "openai" not found'}
    status["containerStatuses"][0]["state"] = {"waiting": why}
    _kubelet.set_status(cluster.fake, current, status)

    def blocked() -> dict[str, str] | None:
        found = cluster.condition("blocked", "Waiting")
        return found if found and found["status"] == "True" else None

    waiting = await until(blocked)
    assert waiting["reason"] == "SecretNotFound" and 'secret "openai"' in waiting["message"]
    assert cluster.phase("blocked") == "Running"
    now[0] += timedelta(seconds=121)
    message = await _failed(cluster, "blocked", "SecretNotFound")
    assert "the agent cannot start" in message
    await until(lambda: cluster.job("blocked") is None)


async def test_image_pull_names_the_skill(cluster: Cluster) -> None:
    pod = await _started(cluster, "pull")
    current = _kubelet.pod(cluster.fake, NS, pod)
    status = current["status"]
    status["initContainerStatuses"][0]["state"] = {"waiting": {
        "reason": "InvalidImageName", "message": "bad name"}}  # fmt: skip
    _kubelet.set_status(cluster.fake, current, status)
    message = await _failed(cluster, "pull", "ImagePullBackOff")
    assert "skill kubectl (container skill-kubectl): image podium/kubectl" in message


async def test_skill_oom_is_named(cluster: Cluster) -> None:
    pod = await _started(cluster, "oom")
    current = _kubelet.pod(cluster.fake, NS, pod)
    status = current["status"]
    status["initContainerStatuses"][0].update(
        restartCount=1,
        lastState={"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
    )
    _kubelet.set_status(cluster.fake, current, status)
    health = await until(lambda: cluster.condition("oom", "SkillsHealthy"))
    assert (
        health["message"]
        == "skill kubectl (container skill-kubectl) was OOMKilled (exit code 137, 1 restarts)"
    )
    failed = {**SUMMARY, "status": "failed", "error": "tool kubectl_get: skill unavailable"}
    _kubelet.finish_agent(cluster.fake, NS, pod, json.dumps(failed), code=1)
    message = await _failed(cluster, "oom", "AgentFailed")
    assert "skill unavailable" in message and "OOMKilled" in message


async def test_deadline_and_deleted_pod(cluster: Cluster) -> None:
    fake = cluster.fake
    await _started(cluster, "slow")
    job = cluster.job("slow")
    assert job is not None
    failed = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
              "message": "Job was active longer than specified deadline"}  # fmt: skip
    meta = {"name": "podium-slow", "namespace": NS}
    status = {"conditions": [failed]}
    fake.apply({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "status": status},
               manager="job-controller", sub="status")  # fmt: skip
    assert "deadline (420 s)" in await _failed(cluster, "slow", "DeadlineExceeded", "TimedOut")
    pod = await _started(cluster, "gone")
    fake.delete("v1", "Pod", pod, NS)
    assert "pod was deleted" in await _failed(cluster, "gone", "PodDeleted")


async def test_deleted_mid_run_leaves_nothing(fake: FakeKube) -> None:
    config = ControllerConfig(apiServer=fake.url, allowClusterScope=True)
    wide = [{"name": "kubectl", "builtin": "kubectl",
             "rbac": {"clusterRoles": ["view"], "clusterScope": True}}]  # fmt: skip
    async with running(fake, config) as controller:
        cluster = Cluster(fake, controller, fake.kubeconfig())
        await _started(cluster, "wide", skills=wide)
        name = "podium-team-a-wide-kubectl-view"
        assert fake.get(f"{RBAC}/v1", "ClusterRoleBinding", name, "") is not None
        assert "podium.dev/cleanup" in cluster.run("wide")["metadata"]["finalizers"]  # type: ignore[index]
        fake.delete("podium.dev/v1alpha1", "AgentRun", "wide", NS)
        await until(lambda: cluster.run("wide") is None)
        assert fake.get(f"{RBAC}/v1", "ClusterRoleBinding", name, "") is None
        await until(lambda: cluster.job("wide") is None)
        await until(lambda: fake.list("v1", "ServiceAccount", NS, "podium.dev/run=wide") == [])


async def test_restart_mid_run_resumes(fake: FakeKube) -> None:
    async with running(fake) as controller:
        cluster = Cluster(fake, controller, fake.kubeconfig())
        pod = await _started(cluster, "resume")
        applies = fake.count(verb="patch", resource="jobs")
    _kubelet.finish_agent(fake, NS, pod, json.dumps(SUMMARY))  # while no controller runs
    async with running(fake) as controller:
        cluster = Cluster(fake, controller, fake.kubeconfig())
        await until(lambda: cluster.phase("resume") == "Succeeded")
        assert fake.count(verb="patch", resource="jobs") == applies  # the Job was not re-applied
        assert len(fake.list("batch/v1", "Job", NS)) == 1


async def test_two_runs_on_one_memory_claim_take_turns(cluster: Cluster) -> None:
    skills = [{"name": "memory", "builtin": "memory"}]
    memory = {"claim": "team-memory", "scope": "team/agent"}
    cluster.apply_run(example("first", skills=skills, memory=memory))
    await until(lambda: cluster.job("first"))
    cluster.apply_run(example("second", skills=skills, memory=memory))
    waiting = await until(lambda: cluster.condition("second", "Waiting"))
    assert waiting["reason"] == "MemoryInUse" and "AgentRun first" in waiting["message"]
    assert cluster.job("second") is None
    pod = _kubelet.start_pod(cluster.fake, cluster.job("first"))  # type: ignore[arg-type]
    _kubelet.finish_agent(cluster.fake, NS, pod, json.dumps(SUMMARY))
    await until(lambda: cluster.phase("first") == "Succeeded")
    await until(lambda: cluster.job("second"), timeout=15)

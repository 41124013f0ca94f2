"""Approvals in a cluster, end to end: a whole AgentRun on the fake API, its Pod run by the
test kubelet (local processes: the workspace skill, the podium-control sidecar, the agent),
the real controller and the real `podium approve --kubernetes` CLI against the fake API's
kubeconfig.

A call the policy says to ask about shows in status.pendingApprovals (arguments redacted);
`podium approve` records the decision on the AgentRun, the controller signs and delivers it
over the control channel, and the skill runs the call; a denial comes back to the model as a
tool error and the run goes on; a decision sent to the control channel without the run's
control token is refused; bad input is one line and exit 2; every decision is in the
agent's events.jsonl, status.approvals and the run's Events."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

from controller.control import redact_arguments
from controller.policy import ControllerConfig
from protos import control_pb2 as cpb
from protos import control_pb2_grpc as cpb_grpc
from protos.approval import new_key, sign
from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script
from tests._runs import call
from tests.controller.conftest import NS, Cluster, example, free_port, running, until
from tests.controller.test_whole_run import _print_logs
from tests.kube import Kubelet

pytestmark = [pytest.mark.anyio, pytest.mark.controller, pytest.mark.timeout(180)]
PODIUM = str(Path(sys.executable).parent / "podium")
SCRIPT: dict[str, Any] = {
    "steps": [
        {"tool_calls": [call("workspace_write", path="ok.txt", content="approved\n")]},
        {"tool_calls": [call("workspace_write", path="no.txt", content="denied\n")]},
        {"content": "done: {{last}}"},
    ]
}


async def approve(cluster: Cluster, *args: str) -> tuple[int, str, str]:
    """The real CLI, as a user runs it, with the fake cluster's kubeconfig."""
    env = {**os.environ, **cluster.fake.env(namespace=NS)}
    proc = await asyncio.create_subprocess_exec(
        PODIUM, "approve", *args, "--kubernetes", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def pending(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    return cluster.status(name).get("pendingApprovals") or []


async def forged_decisions_are_refused(port: int, call_id: str) -> None:
    """Another pod (or container) sending a decision without the run's control token."""
    forged = sign(new_key(), run_id="approvals", call_id=call_id, tool="workspace_write",
                  arguments_json="{}", by="mallory")  # fmt: skip
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub: Any = cpb_grpc.ControlStub(channel)
        for metadata in (None, (("authorization", f"Bearer {new_key()}"),)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Decide(
                    cpb.Decision(call_id=call_id, approve=True, token=forged, by="mallory"),
                    metadata=metadata,
                    timeout=10,
                )
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_approve_and_deny_a_cluster_run_from_the_cli(cluster: Cluster) -> None:
    fake = cluster.fake
    server = MockLLMServer(Script.model_validate(SCRIPT))
    with server.running() as base_url, Kubelet(fake, "local") as kubelet:
        doc = example("approvals", skills=[{"name": "workspace", "builtin": "workspace"}])
        doc["spec"]["model"] = {**doc["spec"]["model"], "name": "openai:mock", "baseURL": base_url}
        doc["spec"]["policy"] = {"rules": [{"tool": "workspace_write", "action": "ask"}]}
        cluster.apply_run(doc)

        (first,) = await until(lambda: pending(cluster, "approvals"), timeout=60)
        assert (first["tool"], first["skill"], first["number"]) == ("workspace_write",
                                                                     "workspace", 1)  # fmt: skip
        assert json.loads(first["arguments"]) == {"path": "ok.txt", "content": "approved\n"}
        assert len(first["argumentsSha256"]) == 64 and first["since"]
        pod = fake.list("v1", "Pod", NS)[0]["metadata"]
        workspace = kubelet.root / "pods" / pod["uid"] / "volumes" / "workspace"
        assert not (workspace / "ok.txt").exists()  # it waits

        port = cluster.controller.agentruns.config.controlPort
        await forged_decisions_are_refused(port, first["callId"])

        # Bad input: one line, exit 2, nothing recorded.
        code, _, err = await approve(cluster, "no-such-run", first["callId"])
        assert (code, err.strip()) == (2, f"podium approve: no AgentRun 'no-such-run' in "
                                          f"namespace {NS}")  # fmt: skip
        code, _, err = await approve(cluster, "approvals", "call-nope")
        assert code == 2 and len(err.strip().splitlines()) == 1 and "call-nope" in err
        assert not (cluster.run("approvals") or {})["spec"].get("decisions")

        code, out, err = await approve(cluster, "approvals", first["callId"])
        assert code == 0, err
        assert out.startswith("approved #1 workspace_write")
        code, _, err = await approve(cluster, "approvals", first["callId"])  # again
        assert code == 2 and "already decided" in err and len(err.strip().splitlines()) == 1
        await until(lambda: (workspace / "ok.txt").exists(), timeout=30)
        assert (workspace / "ok.txt").read_text() == "approved\n"

        second = await until(
            lambda: next((p for p in pending(cluster, "approvals") if p["number"] == 2), None),
            timeout=60,
        )
        code, out, err = await approve(
            cluster, "approvals", str(second["number"]), "--deny", "--reason", "not today"
        )
        assert code == 0 and out.startswith("denied #2 workspace_write"), err

        await until(lambda: cluster.phase("approvals") in ("Succeeded", "Failed"), timeout=90)
        status = cluster.status("approvals")
        if status["phase"] != "Succeeded":
            _print_logs(cluster)
        assert status["phase"] == "Succeeded", (status, cluster.events("approvals"))
        assert not (workspace / "no.txt").exists()
        # the denial reached the model as a tool error, and the run went on
        assert status["output"].startswith(
            "done: ERROR: workspace_write was not run: a person denied"
        )
        assert "not today" in status["output"]
        assert status.get("pendingApprovals", []) == []
        records = [(r["number"], r["decision"], r["by"]) for r in status["approvals"]]
        assert records == [(1, "Approved", "fake"), (2, "Denied", "fake")]
        reasons = [reason for reason, _ in cluster.events("approvals")]
        assert "ApprovalGranted" in reasons and "ApprovalDenied" in reasons

        events = [json.loads(line) for line in
                  (workspace / ".podium/events.jsonl").read_text().splitlines()]  # fmt: skip
        decided = [(e["number"], e["decision"], e["by"], e["reason"])
                   for e in events if e["type"] == "approval_decided"]  # fmt: skip
        assert decided == [(1, "approved", "fake", ""), (2, "denied", "fake", "not today")]
        results = [e for e in events if e["type"] == "tool_result"]
        assert not results[0]["is_error"] and results[1]["error_kind"] == "denied"


def test_pending_arguments_are_shown_with_secrets_redacted() -> None:
    args = {
        "namespace": "team-a",
        "api_token": "s3cr3t-value",
        "values": {"db": {"password": "hunter2", "host": "db"}},
        "manifest": "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: {k: aHVudGVyMg==}\n",
    }
    shown = redact_arguments(json.dumps(args))
    assert "s3cr3t" not in shown and "hunter2" not in shown and "aHVudGVyMg" not in shown
    data = json.loads(shown)
    assert data["namespace"] == "team-a" and data["values"]["db"]["host"] == "db"
    assert data["api_token"] == "<redacted>" and "<redacted>" in data["manifest"]
    assert len(redact_arguments(json.dumps({"text": "x" * 10_000}))) <= 2048
    assert redact_arguments("not json") == "(arguments that are not JSON)"


async def test_a_call_nobody_decides_times_out_into_a_tool_error(cluster: Cluster) -> None:
    script = {"steps": [{"tool_calls": [call("workspace_write", path="t.txt", content="x")]},
                        {"content": "{{last}}"}]}  # fmt: skip
    server = MockLLMServer(Script.model_validate(script))
    with server.running() as base_url, Kubelet(cluster.fake, "local"):
        doc = example("timeout", skills=[{"name": "workspace", "builtin": "workspace"}])
        doc["spec"]["model"] = {**doc["spec"]["model"], "name": "openai:mock", "baseURL": base_url}
        doc["spec"]["policy"] = {"rules": [{"tool": "workspace_write", "action": "ask"}],
                                 "approvalTimeoutSeconds": 2}  # fmt: skip
        cluster.apply_run(doc)
        await until(lambda: cluster.phase("timeout") in ("Succeeded", "Failed"), timeout=90)
        status = cluster.status("timeout")
        assert status["phase"] == "Succeeded", (status, cluster.events("timeout"))
        assert "nobody approved it within 2s" in status["output"]
        assert [r["decision"] for r in status["approvals"]] == ["TimedOut"]
        assert "ApprovalTimedOut" in [reason for reason, _ in cluster.events("timeout")]


async def test_a_restarted_controller_still_delivers_the_decision(fake: Any) -> None:
    """Level-triggered: the keys come from the master key, the pending calls from the pod's
    control service again; nothing the first controller held in memory is needed."""
    script = {"steps": [{"tool_calls": [call("workspace_write", path="r.txt", content="x")]},
                        {"content": "{{last}}"}]}  # fmt: skip
    server = MockLLMServer(Script.model_validate(script))
    with server.running() as base_url, Kubelet(fake, "local") as kubelet:
        port = free_port()
        config = ControllerConfig(apiServer=fake.url, controlPort=port)
        async with running(fake, config) as first:
            cluster = Cluster(fake, first, fake.kubeconfig())
            doc = example("restart", skills=[{"name": "workspace", "builtin": "workspace"}])
            doc["spec"]["model"] = {**doc["spec"]["model"], "name": "openai:mock",
                                    "baseURL": base_url}  # fmt: skip
            doc["spec"]["policy"] = {"rules": [{"tool": "workspace_write", "action": "ask"}]}
            cluster.apply_run(doc)
            (waiting,) = await until(lambda: pending(cluster, "restart"), timeout=60)
        # no controller now: the decision is recorded, nothing delivers it yet
        code, _, err = await approve(cluster, "restart", waiting["callId"])
        assert code == 0, err
        pod = fake.list("v1", "Pod", NS)[0]["metadata"]
        written = kubelet.root / "pods" / pod["uid"] / "volumes" / "workspace" / "r.txt"
        assert not written.exists()
        async with running(fake, config) as second:
            cluster = Cluster(fake, second, fake.kubeconfig())
            await until(lambda: written.exists(), timeout=30)
            await until(lambda: cluster.phase("restart") == "Succeeded", timeout=60)
            assert [r["decision"] for r in cluster.status("restart")["approvals"]] == ["Approved"]


async def test_the_channel_survives_its_sidecar_restarting(cluster: Cluster) -> None:
    """The kubelet restarts a killed podium-control; it reads the agent's log again, the
    controller's stream reconnects, and a decision made after that is delivered."""
    fake = cluster.fake
    script = {"steps": [{"tool_calls": [call("workspace_write", path="s.txt", content="x")]},
                        {"content": "{{last}}"}]}  # fmt: skip
    server = MockLLMServer(Script.model_validate(script))
    with server.running() as base_url, Kubelet(fake, "local") as kubelet:
        doc = example("sidecar", skills=[{"name": "workspace", "builtin": "workspace"}])
        doc["spec"]["model"] = {**doc["spec"]["model"], "name": "openai:mock", "baseURL": base_url}
        doc["spec"]["policy"] = {"rules": [{"tool": "workspace_write", "action": "ask"}]}
        cluster.apply_run(doc)
        (waiting,) = await until(lambda: pending(cluster, "sidecar"), timeout=60)
        pod = fake.list("v1", "Pod", NS)[0]["metadata"]
        await asyncio.to_thread(kubelet.kill, NS, pod["name"], "podium-control")

        def restarted() -> bool:
            found = fake.get("v1", "Pod", pod["name"], NS) or {}
            states = (found.get("status") or {}).get("initContainerStatuses", [])
            control = next(s for s in states if s["name"] == "podium-control")
            return control["restartCount"] >= 1 and "running" in control["state"]

        await until(restarted, timeout=60)
        code, _, err = await approve(cluster, "sidecar", waiting["callId"])
        assert code == 0, err
        workspace = kubelet.root / "pods" / pod["uid"] / "volumes" / "workspace"
        await until(lambda: (workspace / "s.txt").exists(), timeout=30)
        await until(lambda: cluster.phase("sidecar") == "Succeeded", timeout=60)

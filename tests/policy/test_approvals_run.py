"""Whole runs with calls that need a person's approval: the run waits, `podium approve` in
another process decides, the skill verifies the signed approval, and every decision is in
the event log. Real processes, real sockets, the scripted LLM over real HTTP."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from protos.approval import new_key, sign
from tests._runs import call
from tests.policy._live import approve, live_run, of_type

pytestmark = pytest.mark.e2e


def spec_file(workspace: Path, run_id: str, **policy: object) -> str:
    path = workspace / "spec.json"
    path.write_text(json.dumps({"task": "tidy the database", "run_id": run_id, "policy": policy}))
    return str(path)


def new_run_id() -> str:
    return "run-" + secrets.token_hex(4)


def test_a_waiting_call_runs_once_approved_from_another_process(workspace: Path) -> None:
    script = {"steps": [{"tool_calls": [call("drop", table="users")]}, {"content": "{{last}}"}]}
    with live_run(workspace, script, "--approve", "ask") as run:
        asked = run.wait_for(of_type("approval_requested"))
        run_id = run.wait_for(of_type("run_started"))["run_id"]
        assert not (run.workspace / "dropped.txt").exists()  # it waits
        listed = approve(run_id, "--list")
        assert listed.returncode == 0 and "drop" in listed.stdout and "users" in listed.stdout
        decided = approve(run_id)
        assert decided.returncode == 0, decided.stderr
        assert f"approved #{asked['number']} drop" in decided.stdout
        assert run.finish() == 0
    assert run.result["output"] == "dropped users"
    assert (run.workspace / "dropped.txt").read_text() == "users\n"
    (tool_call,) = run.of("tool_call")
    assert tool_call["policy"] == "ask" and "destructive" in tool_call["policy_reason"]
    (requested,) = run.of("approval_requested")
    assert requested["skill"] == "ops" and json.loads(requested["arguments"]) == {"table": "users"}
    (decision,) = run.of("approval_decided")
    assert decision["decision"] == "approved" and decision["by"]
    assert not run.of("tool_result")[0]["is_error"]
    # a later `podium approve` finds nothing to decide
    assert approve(run_id).returncode == 2  # the run is over: no such run waits


def test_a_denied_call_comes_back_to_the_model_and_the_run_goes_on(workspace: Path) -> None:
    """A process of the run itself (here a skill's tool) cannot approve; a person denies."""
    run_id = new_run_id()
    script = {
        "steps": [
            {"tool_calls": [call("drop", table="users"), call("self_approve", run_id=run_id)]},
            {"tool_calls": [call("status")]},
            {"content": "done"},
        ]
    }
    with live_run(workspace, script, "--spec", spec_file(workspace, run_id, approve="ask")) as run:
        asked = run.wait_for(of_type("approval_requested"))
        own = run.wait_for(of_type("tool_result", name="self_approve"))
        assert "a process of the run itself cannot approve" in own["preview"]
        decided = approve(run_id, asked["id"], "--deny", "--reason", "not on a Friday")
        assert decided.returncode == 0, decided.stderr
        assert run.finish() == 0, run.events
    assert run.result["status"] == "succeeded" and run.result["output"] == "done"
    assert not (run.workspace / "dropped.txt").exists()
    drop = next(e for e in run.of("tool_result") if e["name"] == "drop")
    assert drop["is_error"] and drop["error_kind"] == "denied"
    assert "a person denied this call" in drop["preview"] and "not on a Friday" in drop["preview"]
    (decision,) = run.of("approval_decided")
    assert (decision["decision"], decision["reason"]) == ("denied", "not on a Friday")


def test_no_answer_in_time_denies_the_call(workspace: Path) -> None:
    script = {"steps": [{"tool_calls": [call("drop", table="users")]}, {"content": "{{last}}"}]}
    with live_run(workspace, script, "--approve", "ask", "--approval-timeout", "1") as run:
        assert run.finish() == 0
    assert "nobody approved it within 1s" in run.result["output"]
    assert run.of("approval_decided")[0]["decision"] == "timed_out"
    assert run.of("tool_result")[0]["error_kind"] == "approval_timeout"
    assert not (run.workspace / "dropped.txt").exists()


def test_a_forged_or_copied_approval_is_refused_by_the_skill(workspace: Path) -> None:
    """The agent can write the decision files it reads: a token it signs itself (with any
    key but the run's) or one copied from another call does not pass the skill."""
    run_id = new_run_id()
    script = {
        "steps": [
            {"tool_calls": [call("drop", table="users")]},
            {"tool_calls": [call("drop", table="orders")]},
            {"tool_calls": [call("drop", table="invoices")]},
            {"content": "done"},
        ]
    }
    spec = spec_file(workspace, run_id, approve="ask")
    with live_run(workspace, script, "--spec", spec) as run:
        first = run.wait_for(of_type("approval_requested", number=1))
        assert approve(run_id).returncode == 0  # a real approval of call 1
        run.wait_for(of_type("tool_result", id=first["id"]))
        genuine = json.loads((run.workspace / ".podium/approvals/1.json").read_text())
        second = run.wait_for(of_type("approval_requested", number=2))
        copied = {"decision": "approve", "token": genuine["token"], "by": "agent"}
        (run.workspace / ".podium/approvals/2.json").write_text(json.dumps(copied))
        run.wait_for(of_type("tool_result", id=second["id"]))
        third = run.wait_for(of_type("approval_requested", number=3))
        forged = sign(new_key(), run_id=run_id, call_id=third["id"], tool="drop",
                      arguments_json=third["arguments"], by="agent")  # fmt: skip
        (run.workspace / ".podium/approvals/3.json").write_text(
            json.dumps({"decision": "approve", "token": forged})
        )
        assert run.finish() == 0
    assert (run.workspace / "dropped.txt").read_text() == "users\n"
    results = {e["id"]: e for e in run.of("tool_result")}
    assert not results[first["id"]]["is_error"]
    assert results[second["id"]]["error_kind"] == "denied"
    assert "approval is for another call" in results[second["id"]]["preview"]
    assert results[third["id"]]["error_kind"] == "denied"
    assert "signature does not verify" in results[third["id"]]["preview"]
    log = (run.workspace / ".podium/logs/ops.log").read_text()
    assert "reason=other-call" in log and "reason=bad-signature" in log


@pytest.mark.parametrize(("mode", "ran"), [("auto", True), ("never", False)])
def test_approve_auto_and_never_decide_without_asking(
    workspace: Path, mode: str, ran: bool
) -> None:
    script = {"steps": [{"tool_calls": [call("drop", table="users")]}, {"content": "{{last}}"}]}
    with live_run(workspace, script, "--approve", mode) as run:
        assert run.finish() == 0
    assert not run.of("approval_requested")
    assert (run.workspace / "dropped.txt").exists() == ran
    (tool_call,) = run.of("tool_call")
    if ran:
        assert tool_call["policy"] == "allow" and "approve=auto" in tool_call["policy_reason"]
    else:  # never offered to the model; a call to it anyway is an unknown tool
        (withheld,) = run.of("policy_decision")
        assert (withheld["name"], withheld["action"]) == ("drop", "withheld")
        assert "approve=never" in withheld["reason"]
        assert tool_call["policy"] is None
        assert run.of("tool_result")[0]["error_kind"] == "unknown_tool"

"""The agent process replaced by a script that calls the skill's socket directly, with the
call token a compromised agent would hold: the skill still refuses a denied tool and an
ask-tool without a valid approval. Another process without the token gets nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.launchers.local import LocalLauncher
from runtime.spec import RunSpec, SkillSpec
from tests.policy._live import OPS_SKILL

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

ROGUE = """
import json, sys, time
from pathlib import Path
import grpc
from protos import skill_pb2 as pb, skill_pb2_grpc as pb_grpc
from protos.approval import CALL_TOKEN_HEADER, new_key, sign
from protos.handoff import CALL_TOKENS_ENV, take_secrets

workspace = Path(sys.argv[2])
found = take_secrets(CALL_TOKENS_ENV)  # what the launcher gave the agent: call tokens only
tokens = json.loads(found[CALL_TOKENS_ENV])
socket = workspace / ".podium" / "sockets" / "ops.sock"
while not socket.exists():
    time.sleep(0.02)
channel = grpc.insecure_channel(f"unix:{socket}")
grpc.channel_ready_future(channel).result(timeout=20)
stub = pb_grpc.SkillStub(channel)

def invoke(tool, args, approval="", token=tokens["ops"]):
    request = pb.InvokeRequest(call_id="c1", tool=tool, arguments_json=args, approval=approval)
    try:
        for event in stub.Invoke(request, metadata=((CALL_TOKEN_HEADER, token),), timeout=10):
            if event.WhichOneof("event") == "result":
                return pb.ToolResult.ErrorKind.Name(event.result.error_kind), event.result.text
    except grpc.RpcError as exc:
        return exc.code().name, exc.details()

out = {
    "keys": sorted(found),
    "denied": invoke("status", "{}"),
    "unapproved": invoke("drop", '{"table": "users"}'),
    "self_signed": invoke("drop", '{"table": "users"}', sign(new_key(), run_id="run-rogue",
                          call_id="c1", tool="drop", arguments_json='{"table": "users"}')),
    "no_token": invoke("drop", '{"table": "users"}', token=""),
}
print(json.dumps({"type": "rogue", **out}), flush=True)
(workspace / ".podium" / "result.json").write_text(json.dumps({"status": "failed"}))
"""

WRAPPER = """#!{python}
import os, sys
if sys.argv[1:4] == ["-m", "runtime.cli", "agent"]:
    os.execv({python!r}, [{python!r}, {rogue!r}, *sys.argv[4:]])
os.execv({python!r}, [{python!r}, *sys.argv[1:]])
"""


async def test_a_script_in_place_of_the_agent_is_refused_by_the_skill(workspace: Path) -> None:
    (workspace / "ops_skill.py").write_text(OPS_SKILL)
    rogue = workspace / "rogue.py"
    rogue.write_text(ROGUE)
    wrapper = workspace / "python"
    wrapper.write_text(WRAPPER.format(python=sys.executable, rogue=str(rogue)))
    wrapper.chmod(0o755)
    ws = workspace / "ws"
    spec = RunSpec(
        run_id="run-rogue",
        task="x",
        skills=[SkillSpec(name="ops", source=f"{workspace / 'ops_skill.py'}:skill")],
        policy={"deny_tools": ["status"], "approve": "ask"},  # pyright: ignore[reportArgumentType]
    )
    events: list[dict[str, Any]] = []
    async for event in LocalLauncher(spec, ws, python=str(wrapper)).launch():
        events.append(event)
    rogue_event = next(e for e in events if e["type"] == "rogue")
    assert rogue_event["keys"] == ["PODIUM_CALL_TOKENS"]  # no approval key for the agent
    assert rogue_event["denied"][0] == "DENIED"
    assert "denied by the run's policy" in rogue_event["denied"][1]
    assert rogue_event["unapproved"][0] == "DENIED"
    assert rogue_event["self_signed"][0] == "DENIED"
    assert "signature does not verify" in rogue_event["self_signed"][1]
    assert rogue_event["no_token"][0] == "UNAUTHENTICATED"
    assert not (ws / "dropped.txt").exists()
    log = (ws / ".podium" / "logs" / "ops.log").read_text()
    assert "reason=denied" in log and "reason=bad-signature" in log
    assert json.loads((ws / ".podium" / "result.json").read_text())["status"] == "failed"

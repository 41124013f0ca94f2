"""The skill enforces, whatever its caller sends: a script that replaces the agent and talks
to the socket directly is refused a denied tool, an ask-tool without a valid approval, and
every call without the skill's call token. Real gRPC servers on real Unix sockets."""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos import skill_pb2 as pb
from protos import skill_pb2_grpc as pb_grpc
from protos.approval import CALL_TOKEN_HEADER, new_key, sign
from protos.policy import ToolPolicy
from skills.sdk import Skill, serve
from skills.sdk._guard import Guard

pytestmark = pytest.mark.anyio

guarded = Skill("guarded")
RAN: list[str] = []


@guarded.tool(destructive=True)
def delete_all(namespace: str) -> str:
    """Delete everything in a namespace."""
    RAN.append(f"delete_all {namespace}")
    return f"deleted {namespace}"


@guarded.tool(read_only=True)
def look(what: str) -> str:
    """Look at something."""
    RAN.append(f"look {what}")
    return f"saw {what}"


@guarded.tool(read_only=True)
def dumpable() -> str:
    """This process's PR_GET_DUMPABLE flag."""
    return str(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))


@guarded.tool
def wipe() -> str:
    """Denied by the test policy."""
    RAN.append("wipe")
    return "wiped"


TOKEN, KEY = new_key(), new_key()
POLICY = ToolPolicy.from_dict({"deny_tools": ["wipe"]})


@asynccontextmanager
async def served(workspace: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Any]:
    RAN.clear()
    caplog.set_level(logging.INFO, "podium.skill.policy")
    socket = workspace / "guarded.sock"
    stop = asyncio.Event()
    guard = Guard(run_id="run-1", call_token=TOKEN, approval_key=KEY, policy=POLICY)
    task = asyncio.create_task(
        serve(guarded, socket=socket, workspace=workspace, stop=stop, guard=guard)
    )
    while not socket.exists():
        await asyncio.sleep(0.01)
    async with grpc.aio.insecure_channel(f"unix:{socket}") as channel:
        yield raw_stub(channel)
    stop.set()
    await task


async def invoke(stub: Any, tool: str, args: str, *, token: str | None = TOKEN,
                 approval: str = "", call_id: str = "call-1") -> pb.ToolResult:  # fmt: skip
    metadata = ((CALL_TOKEN_HEADER, token),) if token is not None else ()
    request = pb.InvokeRequest(
        call_id=call_id, tool=tool, arguments_json=args, approval=approval, run_id="run-1"
    )
    async for event in stub.Invoke(request, metadata=metadata, timeout=10):
        if event.WhichOneof("event") == "result":
            return event.result
    raise AssertionError("no result")


def raw_stub(channel: grpc.aio.Channel) -> Any:
    """The generated stub, used the way a script replacing the agent would (asyncio)."""
    return pb_grpc.SkillStub(channel)  # pyright: ignore[reportArgumentType]


def approve(call_id: str, tool: str, args: str, key: str = KEY) -> str:
    return sign(key, run_id="run-1", call_id=call_id, tool=tool, arguments_json=args, by="test")


async def test_calls_without_or_with_a_wrong_call_token_are_unauthenticated(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with served(workspace, caplog) as stub:
        for token in (None, "", new_key()):
            metadata = ((CALL_TOKEN_HEADER, token),) if token is not None else ()
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Describe(pb.DescribeRequest(), metadata=metadata, timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await invoke(stub, "look", '{"what": "x"}', token=token)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        described = await stub.Describe(
            pb.DescribeRequest(), metadata=((CALL_TOKEN_HEADER, TOKEN),)
        )
        assert {t.name for t in described.tools} == {"delete_all", "dumpable", "look", "wipe"}
        assert (await invoke(stub, "look", '{"what": "x"}')).text == "saw x"
    assert RAN == ["look x"]
    assert "refused a call without this skill's call token" in caplog.text


async def test_a_denied_tool_is_refused_by_the_skill_itself(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with served(workspace, caplog) as stub:
        result = await invoke(stub, "wipe", "{}", approval=approve("call-1", "wipe", "{}"))
    assert result.is_error and result.error_kind == pb.ToolResult.DENIED
    assert "denied by the run's policy" in result.text
    assert RAN == []
    assert "policy: refused call=call-1 tool=wipe reason=denied" in caplog.text


async def test_an_ask_tool_runs_only_with_a_valid_approval_for_exactly_that_call(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = '{"namespace": "team-a"}'
    async with served(workspace, caplog) as stub:
        missing = await invoke(stub, "delete_all", args)
        forged = await invoke(
            stub, "delete_all", args, approval=approve("call-1", "delete_all", args, new_key())
        )
        other_call = await invoke(
            stub, "delete_all", args, approval=approve("call-0", "delete_all", args)
        )
        changed = await invoke(
            stub,
            "delete_all",
            '{"namespace": "kube-system"}',
            approval=approve("call-1", "delete_all", args),
        )
        good = approve("call-1", "delete_all", args)
        ok = await invoke(stub, "delete_all", args, approval=good)
        replayed = await invoke(stub, "delete_all", args, approval=good)
    for refused in (missing, forged, other_call, changed, replayed):
        assert refused.is_error and refused.error_kind == pb.ToolResult.DENIED, refused.text
    assert "needs a person's approval" in missing.text
    assert not ok.is_error and ok.text == "deleted team-a"
    assert RAN == ["delete_all team-a"]
    for reason in ("denied", "bad-signature", "other-call", "changed-arguments", "replayed"):
        assert f"tool=delete_all reason={reason}" in caplog.text
    assert "policy: approved call=call-1 tool=delete_all by=test" in caplog.text


SERVE = """
import sys
from pathlib import Path
from skills.sdk import serve_forever
from tests.policy.test_skill_enforces import guarded
serve_forever(guarded, socket=Path(sys.argv[1]))
"""


def test_a_served_skill_reads_its_secrets_and_policy_and_hides_its_environment(
    workspace: Path,
) -> None:
    """As a launcher starts it: secrets in the environment, the policy in run.json. The
    process is not dumpable, so a same-user process cannot read /proc/PID/environ."""
    (workspace / ".podium").mkdir()
    (workspace / ".podium" / "run.json").write_text(
        json.dumps({"policy": {"deny_tools": ["look"]}})
    )
    socket = workspace / "s.sock"
    env = {**os.environ, "PODIUM_WORKSPACE": str(workspace), "PODIUM_RUN_ID": "run-1",
           "PODIUM_CALL_TOKEN": TOKEN, "PODIUM_APPROVAL_KEY": KEY}  # fmt: skip
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(socket)], env=env, cwd=root)
    try:
        deadline = time.monotonic() + 20
        while not socket.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        if os.geteuid() != 0:  # root reads any process's /proc; a Pod's UID 10001 cannot
            with pytest.raises(PermissionError):
                Path(f"/proc/{proc.pid}/environ").read_bytes()

        async def calls() -> tuple[pb.ToolResult, pb.ToolResult, grpc.StatusCode, str]:
            async with grpc.aio.insecure_channel(f"unix:{socket}") as channel:
                stub = raw_stub(channel)
                denied = await invoke(stub, "look", '{"what": "x"}')
                args = '{"namespace": "a"}'
                approved = await invoke(
                    stub, "delete_all", args, approval=approve("call-1", "delete_all", args)
                )
                flag = (await invoke(stub, "dumpable", "{}")).text
                try:
                    await stub.Describe(pb.DescribeRequest(), timeout=5)
                except grpc.aio.AioRpcError as exc:
                    return denied, approved, exc.code(), flag
                return denied, approved, grpc.StatusCode.OK, flag

        denied, approved, code, flag = asyncio.run(calls())
        assert flag == "0"  # not dumpable: /proc/PID/environ, mem and ptrace are closed
        assert denied.error_kind == pb.ToolResult.DENIED
        assert approved.text == "deleted a"
        assert code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        proc.terminate()
        proc.wait(10)

"""The run's control service (runtime.control) over real gRPC on TCP: it streams the calls
that wait for approval from the agent's event log, writes a decision where the agent's
FileApprover waits, and refuses every caller without the run's control token."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos import control_pb2 as pb
from protos import control_pb2_grpc as pb_grpc
from protos.approval import arguments_digest
from runtime.agent.approvals import FileApprover
from runtime.agent.base import ApprovalRequest, ToolAnnotations
from runtime.control import serve

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]
TOKEN = "control-token-" + "1" * 32
ARGS = '{"table": "users"}'


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _emit(workspace: Path, kind: str, **data: object) -> None:
    log = workspace / ".podium/events.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"type": kind, "ts": 1764590400.0, **data}) + "\n")


def _requested(number: int, call: str) -> dict[str, object]:
    return {"number": number, "id": call, "name": "drop", "skill": "ops", "arguments": ARGS,
            "reason": "annotated destructive -> ask", "timeout_s": 300}  # fmt: skip


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[Any]:
    port, stop = _port(), asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(tmp_path, TOKEN, port, "127.0.0.1", stop, bound))
    await asyncio.wait_for(bound, 10)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.ControlStub(channel)  # typed for sync calls by the stubs: Any
    stop.set()
    await task


AUTH = (("authorization", f"Bearer {TOKEN}"),)


async def test_pending_calls_stream_and_a_decision_reaches_the_agent(
    stub: Any, tmp_path: Path
) -> None:
    stream = stub.Watch(pb.WatchRequest(), metadata=AUTH)
    first = await asyncio.wait_for(stream.read(), 10)
    assert isinstance(first, pb.RunState) and not first.pending
    _emit(tmp_path, "approval_requested", **_requested(1, "call-1"))
    state = await asyncio.wait_for(stream.read(), 10)
    assert isinstance(state, pb.RunState)
    (pending,) = state.pending
    assert (pending.number, pending.call_id, pending.tool, pending.skill) == (
        1, "call-1", "drop", "ops",
    )  # fmt: skip
    assert pending.arguments_sha256 == arguments_digest(ARGS) and pending.arguments_json == ARGS

    waiting = asyncio.create_task(
        FileApprover(tmp_path / ".podium/approvals").decide(
            ApprovalRequest(1, "call-1", "drop", "ops", ARGS, ToolAnnotations(), ""), 10
        )
    )
    decision = pb.Decision(call_id="call-1", approve=True, token="SIGNED", by="alice")
    reply = await stub.Decide(decision, metadata=AUTH)
    assert reply.number == 1
    answer = await asyncio.wait_for(waiting, 10)
    assert answer.approved and answer.token == "SIGNED" and answer.by == "alice"

    with pytest.raises(grpc.aio.AioRpcError) as again:
        await stub.Decide(decision, metadata=AUTH)
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.Decide(pb.Decision(call_id="call-9", approve=False), metadata=AUTH)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    _emit(tmp_path, "approval_decided", number=1, id="call-1", name="drop",
          decision="approved", by="alice", reason="")  # fmt: skip
    _emit(tmp_path, "run_finished", status="succeeded")
    last = await asyncio.wait_for(stream.read(), 10)
    while last is not grpc.aio.EOF and not last.finished:
        last = await asyncio.wait_for(stream.read(), 10)
    assert isinstance(last, pb.RunState) and last.finished and not last.pending
    assert [(d.call_id, d.outcome, d.by) for d in last.decided] == [("call-1", "approved", "alice")]


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN])
async def test_a_caller_without_the_control_token_is_refused(
    stub: Any, tmp_path: Path, header: str | None
) -> None:
    _emit(tmp_path, "approval_requested", **_requested(1, "call-1"))
    metadata = (("authorization", header),) if header else None
    forged = pb.Decision(call_id="call-1", approve=True, token="FORGED", by="mallory")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Decide(forged, metadata=metadata)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as watch:
        await stub.Watch(pb.WatchRequest(), metadata=metadata).read()
    assert watch.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert not (tmp_path / ".podium/approvals/1.json").exists()

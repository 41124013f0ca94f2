"""One deadline, one message: a tool call that runs out of time ends the same way whichever
end notices, the skill (its own TIMEOUT result) or the agent (gRPC's deadline, for a skill
that cannot answer). It used to depend on which of two timers fired first: of 40 timed-out
calls, 36 said "timed out" and 4 "did not finish before its deadline"."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest

from protos import DEADLINE_GRACE_S
from protos import skill_pb2 as pb
from protos import skill_pb2_grpc as pb_grpc
from runtime.agent.base import ToolOutcome
from runtime.agent.skill_client import GrpcSkillClient
from skills.sdk import Context, Skill, serve

pytestmark = pytest.mark.anyio
MESSAGE = re.compile(r"^(nap|child_nap|deaf_nap) timed out after (\d+\.\d)s$")

sleepy = Skill("sleepy", instructions="Tools that outlive their deadline.")


@sleepy.tool
async def nap(seconds: float) -> str:
    """Sleep in the skill's own event loop."""
    await asyncio.sleep(seconds)
    return "rested"


@sleepy.tool
async def child_nap(ctx: Context, seconds: float) -> str:
    """Sleep in a child process (`ctx.run`), which the deadline kills."""
    await ctx.run([sys.executable, "-c", f"import time; time.sleep({seconds})"], timeout=60)
    return "rested"


class DeafServicer(pb_grpc.SkillServicer):
    """A skill that ignores `deadline_unix_ms` and never answers: only the agent's own
    gRPC deadline ends its calls."""

    async def Describe(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, request: pb.DescribeRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.SkillDescription:
        return pb.SkillDescription(name="deaf")

    async def Invoke(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, request: pb.InvokeRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> None:
        await asyncio.Event().wait()


@asynccontextmanager
async def sleepy_skill(workspace: Path) -> AsyncIterator[GrpcSkillClient]:
    stop = asyncio.Event()
    sock = workspace / ".podium" / "sockets" / "sleepy.sock"
    task = asyncio.create_task(serve(sleepy, socket=sock, workspace=workspace, stop=stop))
    client = GrpcSkillClient.for_socket("sleepy", sock)
    try:
        assert await client.serving(10)
        yield client
    finally:
        await client.close()
        stop.set()
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def deaf_skill(workspace: Path) -> AsyncIterator[GrpcSkillClient]:
    sock = workspace / "deaf.sock"
    server = grpc.aio.server()
    pb_grpc.add_SkillServicer_to_server(DeafServicer(), server)
    server.add_insecure_port(f"unix:{sock}")
    await server.start()
    client = GrpcSkillClient.for_socket("deaf", sock)
    try:
        yield client
    finally:
        await client.close()
        await server.stop(0)


def shape(outcome: ToolOutcome) -> tuple[bool, str, str]:
    """What the model is told, with the tool's name and the seconds taken out."""
    text = MESSAGE.sub("TOOL timed out after Ns", outcome.text)
    return outcome.is_error, outcome.error_kind, text


async def test_every_timed_out_call_says_the_same(workspace: Path) -> None:
    async with sleepy_skill(workspace) as sleepy_client, deaf_skill(workspace) as deaf:
        calls = [
            sleepy_client.invoke(f"n{i}", "nap", '{"seconds": 30}', deadline=time.monotonic() + 0.4)
            for i in range(30)
        ] + [
            sleepy_client.invoke(
                f"c{i}", "child_nap", '{"seconds": 30}', deadline=time.monotonic() + 0.4
            )
            for i in range(6)
        ]
        started = time.monotonic()
        outcomes = await asyncio.gather(*calls)
        answered_by_skill = time.monotonic() - started
        # A skill that cannot answer: the agent's own deadline, DEADLINE_GRACE_S later.
        deaf_outcomes = await asyncio.gather(
            *(
                deaf.invoke(f"d{i}", "deaf_nap", "{}", deadline=time.monotonic() + 0.4)
                for i in range(4)
            )
        )
    assert answered_by_skill < DEADLINE_GRACE_S  # the skill answered, not gRPC's deadline
    everything = [*outcomes, *deaf_outcomes]
    assert len(everything) == 40
    assert {shape(o) for o in everything} == {(True, "timeout", "TOOL timed out after Ns")}
    # The seconds are the ones the call had (less for one that waited to be read), never how
    # late the answer came (the deaf skill's came DEADLINE_GRACE_S after its deadline).
    seconds = [float(m[2]) for o in everything if (m := MESSAGE.match(o.text))]
    assert len(seconds) == 40 and all(0 < s <= 0.4 for s in seconds), seconds
    assert {o.text.split()[0] for o in everything} == {"nap", "child_nap", "deaf_nap"}

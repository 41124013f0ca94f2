"""Approval latency: `python bench/bench_approval.py [-n 200]`.

From the moment a decision is made (the launcher's RunApprover.decide signs it and writes
`.podium/approvals/N.json`) to the skill running the call: the agent's FileApprover sees
the file (watchfiles), the call goes over gRPC with the call token and the approval, the
skill verifies the HMAC and starts the tool. Real server on a real Unix socket; prints the
median and p90 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protos.approval import new_key  # noqa: E402
from protos.policy import ToolPolicy  # noqa: E402
from runtime.agent.approvals import FileApprover  # noqa: E402
from runtime.agent.base import ApprovalRequest, ToolAnnotations  # noqa: E402
from runtime.agent.skill_client import GrpcSkillClient  # noqa: E402
from runtime.launchers.approvals import Decision, RunApprover  # noqa: E402
from skills.sdk import Skill, serve  # noqa: E402
from skills.sdk._guard import Guard  # noqa: E402

STARTED: list[float] = []
skill = Skill("bench")


@skill.tool(destructive=True)
def drop(table: str) -> str:
    """Drop a table."""
    STARTED.append(time.perf_counter())
    return "dropped " + table


async def main(n: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
    key, token = new_key(), new_key()
    socket, stop = work / "bench.sock", asyncio.Event()
    guard = Guard(run_id="run-bench", call_token=token, approval_key=key, policy=ToolPolicy())
    server = asyncio.create_task(
        serve(skill, socket=socket, workspace=work, stop=stop, guard=guard)
    )
    while not socket.exists():
        await asyncio.sleep(0.01)
    client = GrpcSkillClient.for_socket("bench", socket, token)
    approver = RunApprover("run-bench", work / "approvals", key)
    waiter = FileApprover(work / "approvals")
    (work / "approvals").mkdir()
    latencies: list[float] = []
    for i in range(1, n + 1):
        args = f'{{"table": "t{i}"}}'
        request = ApprovalRequest(i, f"call-{i}", "drop", "bench", args, ToolAnnotations(), "")
        approver.on_event({"type": "approval_requested", "number": i, "id": f"call-{i}",
                           "name": "drop", "arguments": args})  # fmt: skip

        async def agent(request: ApprovalRequest = request, args: str = args) -> None:
            answer = await waiter.decide(request, 10)
            assert answer.approved
            out = await client.invoke(request.call_id, "drop", args, deadline=None,
                                      approval=answer.token)  # fmt: skip
            assert not out.is_error, out.text

        task = asyncio.create_task(agent())
        await asyncio.sleep(0.005)  # the agent is waiting
        decided = time.perf_counter()
        await approver.decide(i, Decision(True, by="bench"))
        await task
        latencies.append((STARTED[-1] - decided) * 1000)
    await client.close()
    stop.set()
    await server
    latencies.sort()
    print(f"approval latency, decision -> skill runs the call ({n} calls):")
    print(f"  median {statistics.median(latencies):.2f} ms   p90 {latencies[int(n * 0.9)]:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200)
    asyncio.run(main(parser.parse_args().n))

"""Tool-call overhead and cold start: `python bench/bench_tool_calls.py`.

Tool-call overhead, a no-op tool, three ways in one run:
  in-process      Skill.call() in the agent's own process (kagent's in-process tools)
  grpc+unix       Podium's path: GrpcSkillClient.invoke over a Unix socket to a sidecar process
  bare grpc.aio   the floor: a streaming echo with grpc.aio alone, nothing of Podium's
  file-polling    Sympozium's design: a JSON request file, the sidecar polling every 200 ms,
                  the agent polling for the result every 150 ms
Cold start: from launching `podium run` with three skills to the model's first request
(measured by the scripted LLM server when that request arrives).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protos import skill_pb2 as pb  # noqa: E402
from runtime.agent.skill_client import GrpcSkillClient, connect_skills  # noqa: E402
from skills.sdk import Context, Skill  # noqa: E402

NOOP_SKILL = '''
from skills.sdk import Skill
skill = Skill("noop")

@skill.tool(read_only=True)
async def noop() -> str:
    """Do nothing."""
    return "ok"
'''

BARE_GRPC_SERVER = """
import asyncio, sys
import grpc

async def main():
    async def echo(request, context):
        yield request
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Stream": grpc.unary_stream_rpc_method_handler(echo)})
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("unix:" + sys.argv[1])
    await server.start()
    await server.wait_for_termination()

asyncio.run(main())
"""

POLLING_SIDECAR = """
import json, os, sys, time
inbox, outbox = sys.argv[1], sys.argv[2]
while True:
    for name in os.listdir(inbox):
        if name.endswith(".json"):
            path = os.path.join(inbox, name)
            request = json.load(open(path))
            os.remove(path)
            tmp = os.path.join(outbox, name + ".tmp")
            json.dump({"id": request["id"], "result": "ok"}, open(tmp, "w"))
            os.replace(tmp, os.path.join(outbox, name))
    time.sleep(0.200)
"""


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, samples: list[float], baseline: float | None = None) -> str:
    p50, p99 = statistics.median(samples), pct(samples, 0.99)
    ratio = f"{p50 / baseline:10.1f}x" if baseline else f"{'':>11}"
    return f"{name:<14}{len(samples):>7}{p50:>12.3f}{p99:>12.3f}{ratio}"


async def bench_in_process(n: int) -> list[float]:
    skill = Skill("noop")

    @skill.tool(read_only=True)
    async def noop() -> str:  # pyright: ignore[reportUnusedFunction]
        """Do nothing."""
        return "ok"

    ctx = Context(
        workspace=Path(tempfile.gettempdir()),
        run_id="b",
        call_id="c",
        log=logging.getLogger("bench"),
    )
    request = pb.InvokeRequest(call_id="c", tool="noop", arguments_json="{}")
    samples: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        await skill.call(request, ctx)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


async def bench_grpc(n: int, workspace: Path) -> list[float]:
    skill_file = workspace / "noop_skill.py"
    skill_file.write_text(NOOP_SKILL)
    sockets = workspace / ".podium" / "sockets"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "skill",
            "serve",
            f"{skill_file}:skill",
            "--socket",
            str(sockets / "noop.sock"),
            "--workspace",
            str(workspace),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        client: GrpcSkillClient = (await connect_skills(sockets, ["noop"], 30))["noop"]
        for _ in range(200):  # warm up the channel
            await client.invoke("w", "noop", "{}", deadline=None)
        samples: list[float] = []
        for i in range(n):
            t0 = time.perf_counter()
            await client.invoke(f"c{i}", "noop", "{}", deadline=time.monotonic() + 10)
            samples.append((time.perf_counter() - t0) * 1000)
        await client.close()
        return samples
    finally:
        proc.terminate()
        proc.wait()


async def bench_bare_grpc(n: int, workspace: Path) -> list[float]:
    """The floor: grpc.aio itself, a server-streaming echo of raw bytes, nothing of ours."""
    import grpc

    sock = workspace / "bare.sock"
    proc = subprocess.Popen([sys.executable, "-c", BARE_GRPC_SERVER, str(sock)])
    try:
        async with grpc.aio.insecure_channel(f"unix:{sock}") as channel:
            stream = channel.unary_stream("/bench.Echo/Stream")

            async def once() -> None:
                async for _ in stream(b"x", wait_for_ready=True):
                    pass

            for _ in range(200):
                await once()
            samples: list[float] = []
            for _ in range(n):
                t0 = time.perf_counter()
                await once()
                samples.append((time.perf_counter() - t0) * 1000)
            return samples
    finally:
        proc.terminate()
        proc.wait()


async def bench_polling(n: int, workspace: Path) -> list[float]:
    inbox, outbox = workspace / "inbox", workspace / "outbox"
    inbox.mkdir()
    outbox.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", POLLING_SIDECAR, str(inbox), str(outbox)])
    try:
        samples: list[float] = []
        for _ in range(n):
            call_id = uuid.uuid4().hex
            t0 = time.perf_counter()
            tmp = inbox / f"{call_id}.tmp"
            tmp.write_text(json.dumps({"id": call_id, "tool": "noop", "arguments": {}}))
            tmp.replace(inbox / f"{call_id}.json")
            result = outbox / f"{call_id}.json"
            while not result.exists():
                await asyncio.sleep(0.150)
            json.loads(result.read_text())
            samples.append((time.perf_counter() - t0) * 1000)
        return samples
    finally:
        proc.terminate()
        proc.wait()


def bench_cold_start(runs: int) -> list[float]:
    """Spawn `podium run` with three skills; time until the model's first request arrives."""
    from runtime.mock_llm import MockLLMServer
    from runtime.mock_llm.script import Script

    samples: list[float] = []
    script = {"steps": [{"content": "done"}]}
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="pb-", dir="/tmp") as tmp:
            server = MockLLMServer(Script.model_validate(script))
            with server.running() as base_url:
                env = {
                    **os.environ,
                    "OPENAI_BASE_URL": base_url,
                    "OPENAI_API_KEY": "x",
                    "PODIUM_MEMORY_DB": str(Path(tmp) / "memory.db"),
                }
                t0 = time.time()
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "runtime.cli",
                        "run",
                        "say done",
                        "--model",
                        "openai:bench",
                        "--workspace",
                        f"{tmp}/ws",
                        "--skill",
                        "workspace",
                        "--skill",
                        "memory",
                        "--skill",
                        "third=workspace",
                        "--json",
                    ],
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    timeout=60,
                )
                first = server.requests[0].time
                samples.append((first - t0) * 1000)
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--polling-calls", type=int, default=20)
    parser.add_argument("--cold-starts", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pb-", dir="/tmp") as tmp:
        workspace = Path(tmp)
        local = await bench_in_process(args.calls)
        grpc_samples = await bench_grpc(args.calls, workspace)
        floor = await bench_bare_grpc(args.calls, workspace)
        polling = await bench_polling(args.polling_calls, workspace)
    print("Tool-call overhead, no-op tool (milliseconds; ratio = p50 / in-process p50)")
    print(f"{'path':<14}{'calls':>7}{'p50':>12}{'p99':>12}{'ratio':>11}")
    base = statistics.median(local)
    print(row("in-process", local, base))
    print(row("grpc+unix", grpc_samples, base))
    print(row("bare grpc.aio", floor, base) + "  (the transport alone, nothing of ours)")
    print(row("file-polling", polling, base))
    print(
        f"file-polling p50 / grpc+unix p50: "
        f"{statistics.median(polling) / statistics.median(grpc_samples):,.0f}x"
    )
    cold = bench_cold_start(args.cold_starts)
    print(
        f"\nCold start, `podium run` with 3 skills to the first model request "
        f"({len(cold)} runs): median {statistics.median(cold):.0f} ms, "
        f"max {max(cold):.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())

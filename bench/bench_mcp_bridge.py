"""The MCP bridge's added latency per call: `python bench/bench_mcp_bridge.py`.

The same tool (`echo`) on the same server (`@modelcontextprotocol/server-everything` over
stdio, each path with its own copy of the server process) called two ways in one run:

  direct     an `mcp` client session in this process, straight to the server (the baseline)
  in-proc    the bridge's own work without the gRPC hop: Skill.call() on a Bridge in this
             process -> MCP stdio -> the server
  bridge     Podium's path: the agent's GrpcSkillClient -> gRPC over a Unix socket -> the
             bridge sidecar (`podium skill serve mcp`, its own process) -> MCP stdio -> server

Calls alternate between the two paths in rounds, so drift on the machine hits both alike.
Prints p50 and p99 of each and what the bridge adds over direct. Aim: under 1 ms added at p50.
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
from pathlib import Path

from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcp_bridge import Bridge  # noqa: E402
from mcp_bridge._config import parse_config  # noqa: E402
from protos import skill_pb2 as pb  # noqa: E402
from runtime.agent.skill_client import GrpcSkillClient  # noqa: E402
from skills.sdk import Context, Skill  # noqa: E402


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def everything_server() -> str:
    """Install the third-party servers if need be; the path of server-everything."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "install-mcp-servers.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cache = Path(out.strip().splitlines()[-1])
    return str(cache / "npm" / "node_modules" / ".bin" / "mcp-server-everything")


async def timed(call: object, samples: list[float]) -> None:
    t0 = time.perf_counter()
    await call  # type: ignore[misc]
    samples.append((time.perf_counter() - t0) * 1000)


async def run(n: int, rounds: int, warmup: int) -> None:
    server = everything_server()
    workspace = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
    config = workspace / "servers.json"
    config.write_text(json.dumps({"mcpServers": {"ev": {"command": server, "args": ["stdio"]}}}))
    sock = workspace / ".podium" / "sockets" / "mcp.sock"
    sidecar = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "skill",
            "serve",
            "mcp",
            "--socket",
            str(sock),
            "--config",
            str(config),
            "--workspace",
            str(workspace),
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    bridge = GrpcSkillClient.for_socket("mcp", sock)
    try:
        if not await bridge.serving(60):
            raise SystemExit("the bridge sidecar did not become ready")
        tools = {t.name for t in (await bridge.describe()).tools}
        assert "ev_echo" in tools, tools
        args = {"message": "hello"}
        text = json.dumps(args)
        params = StdioServerParameters(command=server, args=["stdio"])
        local = Bridge(parse_config(config.read_text()), Skill("mcp"))
        assert local.skill is not None
        ctx = Context(workspace=workspace, run_id="b", call_id="c", log=logging.getLogger("b"))
        request = pb.InvokeRequest(call_id="c", tool="ev_echo", arguments_json=text)
        async with Client(params, cache=None) as direct, local.running(wait=30):
            paths = {
                "direct": lambda i: direct.call_tool("echo", args),
                "in-proc": lambda i: local.skill.call(request, ctx),  # type: ignore[union-attr]
                "bridge": lambda i: bridge.invoke(f"c{i}", "ev_echo", text, deadline=None),
            }
            samples: dict[str, list[float]] = {name: [] for name in paths}
            for i in range(warmup):  # every path warm: JIT in node, connections, caches
                for call in paths.values():
                    await call(i)
            per_round = max(1, n // rounds)
            for _ in range(rounds):
                for name, call in paths.items():
                    for i in range(per_round):
                        await timed(call(i), samples[name])
            outcome = await bridge.invoke("last", "ev_echo", text, deadline=None)
            assert outcome.text == "Echo: hello" and not outcome.is_error, outcome
    finally:
        await bridge.close()
        sidecar.terminate()
        sidecar.wait(timeout=20)

    print("MCP bridge added latency: tool `echo` on server-everything (stdio), ms per call")
    print(f"{'path':<10}{'calls':>7}{'p50':>10}{'p99':>10}{'mean':>10}{'+p50':>10}{'+p99':>10}")
    base = samples["direct"]
    for name, xs in samples.items():
        add50 = statistics.median(xs) - statistics.median(base)
        add99 = pct(xs, 0.99) - pct(base, 0.99)
        print(
            f"{name:<10}{len(xs):>7}{statistics.median(xs):>10.3f}{pct(xs, 0.99):>10.3f}"
            f"{statistics.fmean(xs):>10.3f}{add50:>10.3f}{add99:>10.3f}"
        )
    added = statistics.median(samples["bridge"]) - statistics.median(base)
    verdict = "meets" if added < 1.0 else "misses"
    print(
        f"bridge adds {added:.3f} ms at p50 over direct ({verdict} the < 1 ms aim); "
        "the in-proc row is the bridge's own share, the rest is the gRPC hop"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="calls per path")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.n, args.rounds, args.warmup))


if __name__ == "__main__":
    main()

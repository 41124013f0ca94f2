"""What `podium mcp serve-stdio` adds per MCP call: `python bench/bench_mcp_serve_stdio.py`.

The same tool (`echo`) on the same server (`@modelcontextprotocol/server-everything`), each
path with its own copy of the server process, called in one run:

  stdio      the official `mcp` client straight to the server over stdio (the baseline)
  native     the server's own streamable HTTP mode (`server-everything streamableHttp`):
             what HTTP costs when the server speaks it itself
  adapter    the same server over stdio behind `podium mcp serve-stdio` (its own process),
             reached over streamable HTTP: what a shared, managed MCPServer costs

Calls alternate between the paths in rounds, so drift on the machine hits all alike. Prints
p50 and p99 of each, and what the adapter adds over stdio and over native HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parent.parent
PODIUM = str(Path(sys.executable).with_name("podium"))


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def everything_server() -> str:
    out = subprocess.run(
        [str(ROOT / "scripts" / "install-mcp-servers.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cache = Path(out.strip().splitlines()[-1])
    return str(cache / "npm" / "node_modules" / ".bin" / "mcp-server-everything")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def process(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(
        args,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{args[0]} did not start listening on {port}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


async def run(n: int, rounds: int, warmup: int) -> None:
    server = everything_server()
    native_port, adapter_port = free_port(), free_port()
    args = {"message": "hello"}
    with (
        process([server, "streamableHttp"], native_port, {"PORT": str(native_port)}),
        process(
            [PODIUM, "mcp", "serve-stdio", "--port", str(adapter_port), "--", server, "stdio"],
            adapter_port,
        ),
    ):
        params = StdioServerParameters(command=server, args=["stdio"])
        async with (
            Client(params, cache=None) as stdio,
            Client(f"http://127.0.0.1:{native_port}/mcp", cache=None) as native,
            Client(f"http://127.0.0.1:{adapter_port}/mcp", cache=None) as adapter,
        ):
            paths = {"stdio": stdio, "native": native, "adapter": adapter}
            samples: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(warmup):
                for client in paths.values():
                    await client.call_tool("echo", args)
            per_round = max(1, n // rounds)
            for _ in range(rounds):
                for name, client in paths.items():
                    for _ in range(per_round):
                        t0 = time.perf_counter()
                        result = await client.call_tool("echo", args)
                        samples[name].append((time.perf_counter() - t0) * 1000)
                        assert not result.is_error
    print("MCP over streamable HTTP via `podium mcp serve-stdio`: tool `echo`, ms per call")
    print(f"{'path':<10}{'calls':>7}{'p50':>10}{'p99':>10}{'mean':>10}")
    for name, xs in samples.items():
        print(
            f"{name:<10}{len(xs):>7}{statistics.median(xs):>10.3f}{pct(xs, 0.99):>10.3f}"
            f"{statistics.fmean(xs):>10.3f}"
        )
    med = {name: statistics.median(xs) for name, xs in samples.items()}
    print(
        f"adapter adds {med['adapter'] - med['stdio']:.3f} ms at p50 over direct stdio, "
        f"{med['adapter'] - med['native']:.3f} ms over the server's own HTTP mode"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="calls per path")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(run(args.n, args.rounds, args.warmup))


if __name__ == "__main__":
    main()

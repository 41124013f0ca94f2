"""Any-language sidecars: `python bench/bench_skill_check.py [--calls N] [--runs N] [--images]`.

1. `podium skill check` time on each built-in skill: the whole command (the checker starts
   `podium skill serve NAME`, runs every check, stops it with SIGTERM), wall clock, median of
   --runs runs, beside the report's own duration (sidecar start to its exit) and how many
   findings it made. With --images, the same for `podium skill check --image` on each skill's
   image (IMAGE_PREFIX; build them first: scripts/build-images.sh), the TypeScript one too.
2. Per-call overhead of the TypeScript example skill (node, grpc-js) against the same tool
   written with the Python SDK, in the same run: both sidecars up at once, calls interleaved
   in rounds so both see the same machine load; the agent's GrpcSkillClient over a Unix socket.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime.agent.skill_client import GrpcSkillClient  # noqa: E402

PODIUM = str(Path(sys.executable).with_name("podium"))
TS_SKILL = ROOT / "examples" / "typescript-skill"
BUILTINS = ["workspace", "memory", "kubectl", "helm", "mcp"]

# The TypeScript skill's `text_stats`, written with the SDK.
PY_TEXT_STATS = '''
from skills.sdk import Skill

skill = Skill("py-text")


@skill.tool(read_only=True)
def text_stats(text: str) -> dict[str, int]:
    """Count the lines, words and characters of a text."""
    lines = 0 if text == "" else text.count("\\n") + (0 if text.endswith("\\n") else 1)
    return {"lines": lines, "words": len(text.split()), "characters": len(text)}
'''


def check_times(runs: int) -> list[tuple[str, float, float, int, bool]]:
    out: list[tuple[str, float, float, int, bool]] = []
    with tempfile.TemporaryDirectory(prefix="bchk-", dir="/tmp") as tmp:
        env = {**os.environ, "PODIUM_MEMORY_DB": f"{tmp}/memory.db"}
        for name in BUILTINS:
            walls: list[float] = []
            inner: list[float] = []
            checks, ok = 0, True
            for _ in range(runs):
                t0 = time.perf_counter()
                argv = [PODIUM, "skill", "check", "--json", "--command", PODIUM, "skill", "serve"]
                proc = subprocess.run(
                    [*argv, name], capture_output=True, text=True, timeout=300, env=env
                )
                walls.append(time.perf_counter() - t0)
                report = json.loads(proc.stdout)
                inner.append(report["duration_s"])
                checks = len(report["findings"])
                ok = ok and report["ok"]
            out.append((name, statistics.median(walls), statistics.median(inner), checks, ok))
    return out


IMAGES = {"workspace": "workspace", "memory": "memory", "mcp": "mcp-bridge",
          "kubectl": "kubectl", "helm": "helm", "typescript": "typescript-skill"}  # fmt: skip


def image_check_times(runs: int) -> list[tuple[str, float, float, int, bool]]:
    """`podium skill check --image` on each skill image (IMAGE_PREFIX, as the build script):
    the container is started, checked and stopped with SIGTERM as a Pod would run it."""
    from runtime.kube import RenderOptions

    options = RenderOptions(image_prefix=os.environ.get("IMAGE_PREFIX", "podium/"))
    out: list[tuple[str, float, float, int, bool]] = []
    for name, image in IMAGES.items():
        walls: list[float] = []
        inner: list[float] = []
        checks, ok = 0, True
        for _ in range(runs):
            t0 = time.perf_counter()
            argv = [PODIUM, "skill", "check", "--json", "--image", options.image(image)]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
            walls.append(time.perf_counter() - t0)
            if not proc.stdout:
                print(f"  {name}: {proc.stderr.strip()[-300:]}")
                ok = False
                break
            report = json.loads(proc.stdout)
            inner.append(report["duration_s"])
            checks = len(report["findings"])
            ok = ok and report["ok"]
        if inner:
            out.append((name, statistics.median(walls), statistics.median(inner), checks, ok))
    return out


async def _wait_socket(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no socket at {path}")
        await asyncio.sleep(0.02)


async def overhead(calls: int, rounds: int = 10) -> dict[str, list[float]]:
    tmp = Path(tempfile.mkdtemp(prefix="bts-", dir="/tmp"))
    (tmp / "py_text.py").write_text(PY_TEXT_STATS)
    sockets = {"typescript": tmp / "ts.sock", "python-sdk": tmp / "py.sock"}
    base = {**os.environ, "PODIUM_WORKSPACE": str(tmp)}
    procs = [
        subprocess.Popen(
            ["node", str(TS_SKILL / "server.js")],
            env={**base, "PODIUM_SKILL_SOCKET": str(sockets["typescript"])},
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                PODIUM,
                "skill",
                "serve",
                f"{tmp / 'py_text.py'}:skill",
                "--socket",
                str(sockets["python-sdk"]),
            ],
            env=base,
            stderr=subprocess.DEVNULL,
        ),
    ]
    clients = {k: GrpcSkillClient.for_socket(k, s) for k, s in sockets.items()}
    samples: dict[str, list[float]] = {k: [] for k in clients}
    try:
        for key, client in clients.items():
            await _wait_socket(sockets[key])
            assert await client.serving(30), key
        args = json.dumps({"text": "to be or not to be\nthat is the question"})
        for client in clients.values():  # warm both up
            for _ in range(50):
                await client.invoke("w", "text_stats", args, deadline=None)
        per_round = max(1, calls // rounds)
        for _ in range(rounds):
            for key, client in clients.items():
                for i in range(per_round):
                    t0 = time.perf_counter()
                    outcome = await client.invoke(f"c{i}", "text_stats", args, deadline=None)
                    samples[key].append((time.perf_counter() - t0) * 1000)
                    assert not outcome.is_error, outcome.text
    finally:
        for client in clients.values():
            await client.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)
    return samples


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--images", action="store_true", help="also check each skill's image (docker)"
    )
    args = parser.parse_args()

    print(f"podium skill check on the built-in skills (median of {args.runs} runs, seconds)")
    print(f"{'skill':<12}{'command':>10}{'report':>10}{'findings':>10}  verdict")
    for name, wall, inner, checks, ok in check_times(args.runs):
        verdict = "PASSED" if ok else "FAILED"
        print(f"{name:<12}{wall:>10.2f}{inner:>10.2f}{checks:>10}  {verdict}")
    print("  command = the whole `podium skill check --command podium skill serve NAME`;")
    print("  report = the report's own duration (sidecar start, every check, SIGTERM)")
    print()
    if args.images:
        print(f"podium skill check --image (median of {args.runs} runs, seconds)")
        print(f"{'skill':<12}{'command':>10}{'report':>10}{'findings':>10}  verdict")
        for name, wall, inner, checks, ok in image_check_times(args.runs):
            verdict = "PASSED" if ok else "FAILED"
            print(f"{name:<12}{wall:>10.2f}{inner:>10.2f}{checks:>10}  {verdict}")
        print("  (the MCP bridge with no servers configured: no tools to call)")
        print()
    if shutil.which("node") is None or not (TS_SKILL / "node_modules").is_dir():
        print("TypeScript skill: skipped (needs node and scripts/install-node-deps.sh)")
        return
    samples = asyncio.run(overhead(args.calls))
    print(f"Per-call overhead, text_stats, same run ({args.calls} calls each, milliseconds)")
    print(f"{'sidecar':<14}{'p50':>10}{'p99':>10}")
    for key, values in samples.items():
        print(f"{key:<14}{statistics.median(values):>10.3f}{pct(values, 0.99):>10.3f}")
    ts, py = (statistics.median(samples[k]) for k in ("typescript", "python-sdk"))
    print(f"  TypeScript (grpc-js) / Python SDK (grpc.aio) p50: {ts / py:.2f}x")


if __name__ == "__main__":
    main()

"""The helm skill's per-call time: `python bench/bench_helm.py [--runs N]`.

Renders a small chart (a ConfigMap, a Secret and a Service) N times three ways and prints the
median and best of each:
  helm template       the bare helm binary as a subprocess (the floor: helm's own start-up)
  helm_template       the skill's tool called directly: checks, a private folder, helm, and
                      secret redaction of the output
  over gRPC           the same tool through a real skill server on a Unix socket (Invoke)
Needs the helm binary (scripts/dev setup puts it in .venv/bin); prints why and exits 0 without.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime.agent.skill_client import GrpcSkillClient  # noqa: E402
from skills.helm import helm_template, skill  # noqa: E402
from skills.helm._run import helm_binary  # noqa: E402
from skills.sdk import Context, ToolError, serve  # noqa: E402

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: "{{ .Release.Name }}-settings"}
data: {mode: {{ .Values.mode | quote }}}
---
apiVersion: v1
kind: Secret
metadata: {name: "{{ .Release.Name }}-creds"}
stringData: {password: {{ .Values.password | quote }}}
---
apiVersion: v1
kind: Service
metadata: {name: "{{ .Release.Name }}"}
spec: {ports: [{port: 80}]}
"""


def write_chart(workspace: Path) -> str:
    chart = workspace / "charts" / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("mode: fast\npassword: hunter2\n")
    (chart / "templates" / "all.yaml").write_text(TEMPLATE)
    return "charts/demo"


async def timed(runs: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    await call()  # warm caches once
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return times


async def main(runs: int) -> None:
    try:
        binary = helm_binary()
    except ToolError as exc:
        print(f"skipped: {exc} (scripts/dev setup installs it)")
        return
    with tempfile.TemporaryDirectory(prefix="bh-", dir="/tmp") as folder:
        workspace = Path(folder)
        chart = write_chart(workspace)
        ctx = Context(workspace, "bench", "c", logging.getLogger("bench"))

        async def bare() -> None:
            proc = await asyncio.create_subprocess_exec(
                binary, "template", "rel", str(workspace / chart),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await proc.wait()

        async def direct() -> None:
            await helm_template(ctx, chart, values={"mode": "slow"})

        sock = workspace / ".podium" / "sockets" / "helm.sock"
        stop = asyncio.Event()
        server = asyncio.create_task(serve(skill, socket=sock, workspace=workspace, stop=stop))
        client = GrpcSkillClient.for_socket("helm", sock)
        await client.serving(timeout=10)
        arguments = json.dumps({"chart": chart, "values": {"mode": "slow"}})

        async def grpc() -> None:
            got = await client.invoke(
                "c", "helm_template", arguments, deadline=time.monotonic() + 30
            )
            assert not got.is_error, got.text

        rows = [
            ("helm template (bare binary)", await timed(runs, bare)),
            ("helm_template (direct call)", await timed(runs, direct)),
            ("helm_template (over gRPC)", await timed(runs, grpc)),
        ]
        await client.close()
        stop.set()
        await server
    print(f"helm template of a 3-object chart, {runs} runs each (ms):")
    print(f"{'path':30} {'median':>8} {'best':>8}")
    for name, times in rows:
        print(f"{name:30} {statistics.median(times):8.1f} {min(times):8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args().runs))

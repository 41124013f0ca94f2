"""Podium's container images and the docker backend: `python bench/bench_images.py [--runs N]`.

Prints each image's size (aim: agent image at most 250 MB; kagent's app image is 1.5 to
2.3 GB), then the wall time of a minimal whole run through containers (infra + workspace
skill + agent + a scripted model on 127.0.0.1), under runc and, when registered, gVisor:
median and best of N, split into "until the skill is healthy" and "the rest".
Builds the images first when they are missing; prints why and exits 0 without Docker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.kube import RenderOptions  # noqa: E402
from runtime.launchers.docker import DockerLauncher  # noqa: E402
from runtime.layout import RunPaths  # noqa: E402
from runtime.mock_llm import MockLLMServer  # noqa: E402
from runtime.mock_llm.script import Script  # noqa: E402
from runtime.spec import RunSpec, Sandbox, SkillSpec  # noqa: E402

IMAGES = ["agent", "skill-base", "workspace", "memory", "mcp-bridge", "kubectl", "helm"]
AGENT_LIMIT_MB = 250
DOCKER = os.environ.get("PODIUM_DOCKER", "docker")


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=False)


def sizes(options: RenderOptions) -> None:
    print(f"{'image':34} {'size':>8}  layers")
    for name in IMAGES:
        image = options.image(name)
        out = docker("image", "inspect", image)
        if out.returncode != 0:
            print(f"{image:34} {'(not built)':>8}")
            continue
        info = json.loads(out.stdout)[0]
        mb = info["Size"] / 1e6
        mark = ""
        if name == "agent":
            mark = "  ok (aim <= 250 MB)" if mb <= AGENT_LIMIT_MB else "  OVER the 250 MB aim"
        print(f"{image:34} {mb:6.0f} MB  {len(info['RootFS']['Layers']):>4}{mark}")


async def one_run(options: RenderOptions, runtime_class: str | None) -> tuple[float, float]:
    workspace = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
    spec = RunSpec(
        task="say done",
        model="openai:scripted",
        skills=[SkillSpec(name="workspace", source="workspace")],
        sandbox=Sandbox(network="host", runtime_class=runtime_class),
        model_env=["OPENAI_API_KEY", "OPENAI_BASE_URL"],
    )
    server = MockLLMServer(Script.model_validate({"steps": [{"content": "done"}]}))
    try:
        with server.running() as base_url:
            os.environ.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="scripted")
            start = time.perf_counter()
            ready = start
            async for event in DockerLauncher(spec, workspace=workspace, options=options).launch():
                if event["type"] == "run_started":  # the agent container is up
                    ready = time.perf_counter()
            total = time.perf_counter() - start
        status = json.loads(RunPaths(workspace).result.read_text())["status"]
        if status != "succeeded":
            raise SystemExit(f"bench run failed: {RunPaths(workspace).result.read_text()}")
        return ready - start, total
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which(DOCKER) is None or docker("version").returncode != 0:
        print("bench_images: skipped, Docker is not available (scripts/setup-docker.sh)")
        return 0
    options = RenderOptions(memory_claim=None)
    if docker("image", "inspect", options.image("agent")).returncode != 0:
        print("building images (scripts/build-images.sh) ...", flush=True)
        subprocess.run([str(ROOT / "scripts" / "build-images.sh")], cwd=ROOT, check=True)
    sizes(options)
    classes: list[str | None] = [None]
    if '"runsc"' in docker("info", "--format", "{{json .Runtimes}}").stdout:
        classes.append("gvisor")
    print(f"\nwhole run through containers ({args.runs} runs each):")
    print(f"{'runtime':8} {'agent up (median)':>18} {'total (median)':>15} {'total (best)':>13}")
    for runtime_class in classes:
        runs = [asyncio.run(one_run(options, runtime_class)) for _ in range(args.runs)]
        up = statistics.median(r[0] for r in runs)
        totals = [r[1] for r in runs]
        print(
            f"{runtime_class or 'runc':8} {up:16.2f} s {statistics.median(totals):13.2f} s "
            f"{min(totals):11.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

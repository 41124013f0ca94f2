"""Pod start to first model request, in the docker emulation of a cluster: the real controller
(in this process) turns an AgentRun into a Job against the fake Kubernetes API, the test
kubelet runs the Job's Pod from Podium's images (skills as native sidecars, then the agent;
host network), and the clock stops when the scripted LLM server gets the agent's first
request. "Pod start" is the moment the kubelet takes the Pod (as Kubernetes' pod-startup SLI
counts it, from the Pod as the kubelet sees it, image pulls aside: images are local here).

The baseline in the same run is the same AgentRun with the test kubelet in local mode (each
container's command as a host process), so the ratio is what containers add.

    IMAGE_PREFIX=podium-me/ .venv/bin/python bench/bench_pod_start.py [--skills 1 3] [--repeat 5]

The images (agent, workspace) are built first with scripts/build-images.sh under
IMAGE_PREFIX (cached layers make that quick; --no-build skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from controller.app import Controller
from controller.kube import connect
from controller.policy import ControllerConfig
from runtime.kube import RenderOptions
from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script
from tests.kube._fake import FakeKube
from tests.kube._kubelet import Kubelet, docker_available

Times = tuple[float, float]
ROOT = Path(__file__).resolve().parents[1]
NS = "bench"


def _fake() -> FakeKube:
    fake = FakeKube().start()
    for path in sorted((ROOT / "deploy/crds").glob("*.yaml")):
        fake.create(yaml.safe_load(path.read_text()))
    fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    meta = {"name": "openai", "namespace": NS}
    fake.create({"apiVersion": "v1", "kind": "Secret", "metadata": meta,
                 "data": {"api-key": "c2stYmVuY2g="}})  # fmt: skip
    return fake


def _run(name: str, skills: int, base_url: str) -> dict[str, Any]:
    return {
        "apiVersion": "podium.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "task": "Say hello.",
            "model": {"name": "openai:mock", "baseURL": base_url,
                      "apiKeySecretRef": {"name": "openai", "key": "api-key"}},
            "skills": [{"name": f"ws{i}", "builtin": "workspace"} for i in range(skills)],
            "limits": {"maxTurns": 2, "timeoutSeconds": 120},
        },
    }  # fmt: skip


async def _until(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s")
        await asyncio.sleep(0.005)
    return value


async def _one(
    fake: FakeKube, kubelet: Kubelet, server: MockLLMServer, base_url: str, name: str, n: int
) -> Times:
    """(pod start -> agent container started, pod start -> first model request), seconds."""
    seen = len(server.requests)
    fake.create(_run(name, n, base_url))

    def pod_run() -> Any:
        runs = list(kubelet.runs.values())
        return next((r for r in runs if r.name.startswith(f"podium-{name}-")), None)

    run = await _until(pod_run, 60)
    await _until(lambda: len(server.requests) > seen, 120)
    first = server.requests[seen].time

    def phase() -> str | None:
        got = fake.get("podium.dev/v1alpha1", "AgentRun", name, NS) or {}
        return (got.get("status") or {}).get("phase")

    await _until(lambda: phase() in ("Succeeded", "Failed"), 120)
    final = phase()
    if final != "Succeeded":
        raise SystemExit(f"{name}: the run ended {final}")
    t0 = run.timeline["pod"]
    return run.timeline["agent"] - t0, first - t0


@contextlib.asynccontextmanager
async def _cluster(mode: str, prefix: str) -> AsyncIterator[Callable[[str, int], Awaitable[Times]]]:
    """A fake cluster with the controller and a test kubelet in `mode`; yields `go(name, n)`,
    which runs one AgentRun with n skills there."""
    fake = _fake()
    kube = connect(fake.kubeconfig())
    config = ControllerConfig(apiServer=fake.url, imagePrefix=prefix)
    controller = Controller(kube, config, resync_s=300, master_key=secrets.token_hex(32))
    task = asyncio.create_task(controller.run())
    server = MockLLMServer(Script(final_content="hello"))
    try:
        await asyncio.wait_for(controller.runner.ready.wait(), 30)
        with server.running() as base_url, Kubelet(fake, mode) as kubelet:

            async def go(name: str, n: int) -> Times:
                return await _one(fake, kubelet, server, base_url, f"{mode}-{name}", n)

            yield go
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await kube.close()
        fake.stop()


async def _measure(
    prefix: str, skills: list[int], repeat: int
) -> dict[str, dict[int, list[Times]]]:
    """Local and docker runs interleaved (the machine's load moves: both see the same)."""
    out: dict[str, dict[int, list[Times]]] = {"local": {}, "docker": {}}
    async with _cluster("local", prefix) as local, _cluster("docker", prefix) as docker:
        for n in skills:
            # one warm-up run per size (page cache, docker's first container), not counted
            for i in range(repeat + 1):
                for mode, go in (("local", local), ("docker", docker)):
                    got = await go(f"{n}-{i}", n)
                    if i:
                        out[mode].setdefault(n, []).append(got)
    return out


def _build(prefix: str) -> None:
    env = {**os.environ, "IMAGE_PREFIX": prefix}
    build = subprocess.run(
        [str(ROOT / "scripts/build-images.sh"), "agent", "workspace"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if build.returncode != 0:
        raise SystemExit(f"scripts/build-images.sh failed:\n{build.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skills", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-build", action="store_true", help="use the images as they are")
    args = parser.parse_args()
    if not docker_available():
        print("bench_pod_start: skipped, Docker is not available (scripts/setup-docker.sh)")
        return
    prefix = os.environ.get("IMAGE_PREFIX", RenderOptions.image_prefix)
    if not args.no_build:
        _build(prefix)
    got = asyncio.run(_measure(prefix, args.skills, args.repeat))
    load = os.getloadavg()[0]
    print(f"pod start -> first model request, median of {args.repeat} runs each, local and "
          f"docker interleaved (images {prefix}*, host network; load {load:.1f}, "
          f"{os.cpu_count()} cores)")  # fmt: skip
    print("| skills | docker: agent started | docker: first request "
          "| local processes: agent started | first request | docker / local |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for n in args.skills:
        d_agent, d_first = (statistics.median(t[k] for t in got["docker"][n]) for k in (0, 1))
        l_agent, l_first = (statistics.median(t[k] for t in got["local"][n]) for k in (0, 1))
        print(f"| {n} | {d_agent:.2f} s | {d_first:.2f} s | {l_agent:.2f} s | {l_first:.2f} s "
              f"| {d_first / l_first:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()

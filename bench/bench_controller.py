"""The controller against the fake Kubernetes API (over HTTPS), run as `podium controller`
in its own process, like in a cluster:

- apply-to-Job-created latency (one AgentRun at a time), p50/p99;
- 200 AgentRuns created at once: time until every Job exists, API requests per run;
- the controller's RSS idle, and with 2,000 finished runs listed and watched.

    .venv/bin/python bench/bench_controller.py [--runs 50] [--burst 200] [--finished 2000]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.kube._fake import FakeKube

ROOT = Path(__file__).resolve().parents[1]
NS = "bench"


def _run(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "examples/cluster/agentrun.yaml").read_text())
    doc["metadata"] = {"name": name, "namespace": NS}
    return doc


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def controller(fake: FakeKube) -> Iterator[subprocess.Popen[bytes]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-ctl-"))
    config = folder / "config.yaml"
    config.write_text(json.dumps({"apiServer": fake.url}))
    port = _port()
    args = [sys.executable, "-m", "runtime.cli", "controller", "--kubeconfig",
            str(fake.kubeconfig()), "--config", str(config), "--metrics-port", str(port),
            "--workers", "8"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the controller did not become ready")
        time.sleep(0.05)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cluster() -> FakeKube:
    fake = FakeKube().start()
    for path in sorted((ROOT / "deploy/crds").glob("*.yaml")):
        fake.create(yaml.safe_load(path.read_text()))
    fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    return fake


def job(fake: FakeKube, name: str) -> bool:
    return fake.get("batch/v1", "Job", f"podium-{name}", NS) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--finished", type=int, default=2000)
    args = parser.parse_args()
    rows: list[str] = []

    fake = cluster()
    try:
        with controller(fake) as proc:
            time.sleep(1.0)
            idle = rss_mb(proc.pid)
            latencies: list[float] = []
            for i in range(args.runs):
                name = f"one-{i}"
                start = time.perf_counter()
                fake.create(_run(name))
                fake.wait_for(lambda n=name: job(fake, n), timeout=30)
                latencies.append(time.perf_counter() - start)
            latencies.sort()
            p50 = statistics.median(latencies) * 1000
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
            rows.append(f"| apply -> Job created, one at a time ({args.runs} runs) "
                        f"| p50 {p50:.0f} ms | p99 {p99:.0f} ms |")  # fmt: skip
            time.sleep(1.0)
            before = len(fake.requests)
            start = time.perf_counter()
            names = [f"burst-{i}" for i in range(args.burst)]
            for name in names:
                fake.create(_run(name))
            fake.wait_for(lambda: all(job(fake, n) for n in names), timeout=600)
            took = time.perf_counter() - start
            time.sleep(1.0)  # the status writes that follow the Jobs
            per_run = (len(fake.requests) - before) / args.burst
            rows.append(f"| {args.burst} AgentRuns at once: every Job created | {took:.2f} s "
                        f"| {per_run:.1f} API requests per run |")  # fmt: skip
            rows.append(f"| controller RSS, idle | {idle:.0f} MB | |")
    finally:
        fake.stop()

    fake = cluster()
    try:
        revoked = {"type": "CredentialsRevoked", "status": "True", "reason": "RunEnded"}
        done = {"phase": "Succeeded", "conditions": [revoked]}
        for i in range(args.finished):
            fake.create(_run(f"done-{i}"))
            fake.apply({"apiVersion": "podium.dev/v1alpha1", "kind": "AgentRun",
                        "metadata": {"name": f"done-{i}", "namespace": NS}, "status": done},
                       sub="status")  # fmt: skip
        with controller(fake) as proc:
            start = time.monotonic()
            while time.monotonic() - start < 60:  # until the first pass over every run is done
                count = fake.count(verb="get", resource="agentruns")
                if count >= args.finished:
                    break
                time.sleep(0.2)
            time.sleep(1.0)
            rows.append(f"| controller RSS, {args.finished} finished runs | "
                        f"{rss_mb(proc.pid):.0f} MB | |")  # fmt: skip
    finally:
        fake.stop()
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()

"""Approval latency in the cluster path: `python bench/bench_approval_cluster.py [-n 20]`.

One AgentRun on the fake Kubernetes API (over HTTPS), `podium controller` in its own process
as in a cluster, the test kubelet running the Pod as local processes (workspace skill,
podium-control sidecar, agent) against the scripted LLM. The model asks for N
`workspace_write` calls, each of which the run's policy says to ask about. For each call,
once it shows in status.pendingApprovals, the decision is made as `podium approve RUN CALL
--kubernetes` makes it (the same code, in this process, so Python's start-up is not counted):
get the AgentRun, append to spec.decisions with a JSON patch. Measured: from the patch being
answered to the skill running the call (the file it writes, by its mtime), through the
controller's watch and reconcile, signing, the control channel, the agent's FileApprover and
the skill's check; and the same from the start of the approve command (its client, the
SelfSubjectReview, get and patch). Prints median / p90 / max in milliseconds
(bench/bench_approval.py has the local path).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.cli.approve import build_parser  # noqa: E402
from runtime.cli.approve_kube import decide_in_cluster  # noqa: E402
from runtime.mock_llm import MockLLMServer  # noqa: E402
from runtime.mock_llm.script import Script  # noqa: E402
from tests._runs import call  # noqa: E402
from tests.kube import FakeKube, Kubelet  # noqa: E402

NS = "bench"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: Any, timeout: float = 60.0, step: float = 0.002) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError("condition not met")


def main(n: int) -> None:
    script = {
        "steps": [
            *({"tool_calls": [call("workspace_write", path=f"f{i}.txt", content="x")]}
              for i in range(1, n + 1)),
            {"content": "done"},
        ]
    }  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="bench-approval-"))
    with FakeKube() as fake, MockLLMServer(Script.model_validate(script)).running() as base:
        for path in sorted((ROOT / "deploy/crds").glob("*.yaml")):
            fake.create(yaml.safe_load(path.read_text()))
        fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        fake.create({"apiVersion": "v1", "kind": "Secret", "data": {"api-key": "c2stYmVuY2g="},
                     "metadata": {"name": "openai", "namespace": NS}})  # fmt: skip
        config = folder / "config.yaml"
        config.write_text(json.dumps({"apiServer": fake.url, "controlPort": _port()}))
        key = folder / "master-key"
        key.write_text(os.urandom(32).hex())
        args = [sys.executable, "-m", "runtime.cli", "controller", "--kubeconfig",
                str(fake.kubeconfig()), "--config", str(config), "--master-key-file", str(key),
                "--metrics-port", str(_port())]  # fmt: skip
        controller = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with Kubelet(fake, "local") as kubelet:
                latencies = _measure(fake, kubelet, base, n)
        finally:
            controller.terminate()
            controller.wait(30)
    print(f"cluster approval latency ({n} calls), median / p90 / max in ms:")
    for label, values in (
        ("decision recorded (patch answered) -> skill runs the call", [a for a, _ in latencies]),
        ("podium approve starts (in-process) -> skill runs the call", [b for _, b in latencies]),
    ):
        values.sort()
        p90 = values[min(n - 1, int(n * 0.9))]
        print(f"  {label}: {statistics.median(values):.1f} / {p90:.1f} / {values[-1]:.1f}")


def _pending(status: dict[str, Any], number: int) -> dict[str, Any] | None:
    return next((p for p in status.get("pendingApprovals", []) if p["number"] == number), None)


def _measure(fake: FakeKube, kubelet: Kubelet, base_url: str, n: int) -> list[tuple[float, float]]:
    run = {
        "apiVersion": "podium.dev/v1alpha1",
        "kind": "AgentRun",
        "metadata": {"name": "bench", "namespace": NS},
        "spec": {
            "task": "write files",
            "model": {
                "name": "openai:mock",
                "baseURL": base_url,
                "apiKeySecretRef": {"name": "openai", "key": "api-key"},
            },
            "skills": [{"name": "workspace", "builtin": "workspace"}],
            "limits": {"maxTurns": n + 5, "timeoutSeconds": 600},
            "policy": {"rules": [{"tool": "workspace_write", "action": "ask"}]},
        },
    }
    fake.create(run)
    os.environ.update(fake.env(namespace=NS))

    def status() -> dict[str, Any]:
        return (fake.get("podium.dev/v1alpha1", "AgentRun", "bench", NS) or {}).get("status") or {}

    pod = _wait(lambda: next(iter(fake.list("v1", "Pod", NS)), None))
    workspace = kubelet.root / "pods" / pod["metadata"]["uid"] / "volumes" / "workspace"
    latencies: list[tuple[float, float]] = []
    for i in range(1, n + 1):
        pending = _wait(lambda i=i: _pending(status(), i))
        args = build_parser().parse_args(["bench", pending["callId"], "--kubernetes"])
        started = time.time()
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                assert decide_in_cluster(args) == 0
            finally:
                sys.stdout = stdout
        patched = time.time()
        written = workspace / f"f{i}.txt"
        _wait(written.exists)
        ran = written.stat().st_mtime
        latencies.append(((ran - patched) * 1000, (ran - started) * 1000))
    _wait(lambda: status().get("phase") in ("Succeeded", "Failed"))
    assert status()["phase"] == "Succeeded", status()
    return latencies


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20, help="approved calls")
    main(parser.parse_args().n)

"""`podium controller` as its own process (as in its Deployment): kubeconfig, config file,
/healthz, /readyz, Prometheus /metrics with runs by phase and reconcile latency; SIGTERM ends
it with exit 0; a bad kubeconfig is one line and exit 2."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.controller.conftest import NS, example
from tests.kube._fake import FakeKube

pytestmark = pytest.mark.controller
PODIUM = [sys.executable, "-m", "runtime.cli", "controller"]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_the_process(fake: FakeKube, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"apiServer": fake.url}))
    args = [*PODIUM, "--kubeconfig", str(fake.kubeconfig()), "--config", str(config),
            "--metrics-port", str(port), "--namespace", NS]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.05)
        assert _get(f"{base}/healthz") == (200, "ok\n")
        assert _get(f"{base}/nope")[0] == 404
        fake.create({**example("metrics"), "metadata": {"name": "metrics", "namespace": NS}})
        fake.wait_for(lambda: fake.get("batch/v1", "Job", "podium-metrics", NS), timeout=20)

        def pending() -> bool:
            text = _get(f"{base}/metrics")[1]
            timed = 'podium_reconcile_seconds_count{kind="AgentRun"}' in text
            return timed and 'podium_agentruns{phase="Pending"} 1.0' in text

        fake.wait_for(pending, timeout=20)
        text = _get(f"{base}/metrics")[1]
        assert 'podium_reconcile_seconds_count{kind="AgentRun"}' in text, [
            line for line in text.splitlines() if line.startswith("podium_")
        ]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_bad_kubeconfig_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("not: [a kubeconfig")
    done = subprocess.run([*PODIUM, "--kubeconfig", str(bad)], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("podium controller: ") and done.stderr.count("\n") == 1

"""Whole runs with the built-in skills: the MCP bridge with a server written by others,
memory across runs, and cluster credentials that reach the kubectl skill only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests._runs import call

pytestmark = pytest.mark.e2e


def test_a_run_with_an_mcp_server_written_by_others(podium: Any, workspace: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    subprocess.run([str(root / "scripts" / "install-mcp-servers.sh")], check=True, timeout=600)
    server = root / ".cache" / "mcp-servers" / "venvs" / "mcp-server-time" / "bin"
    config = workspace / "servers.yaml"
    config.write_text(f"mcpServers:\n  time:\n    command: {server / 'mcp-server-time'}\n")
    run = podium(
        {
            "steps": [
                {"tool_calls": [call("time_get_current_time", timezone="Asia/Tokyo")]},
                {"content": "{{last}}"},
            ]
        },
        "what time is it in Tokyo?",
        "--mcp",
        str(config),
    )
    assert run.code == 0, run.stdout + run.stderr
    assert "Asia/Tokyo" in run.result["output"]
    ready = next(e for e in run.events if e["type"] == "skills_ready")
    assert "time_get_current_time" in ready["skills"][0]["tools"]


def test_memory_recall_and_summary_across_runs(podium: Any, workspace: Path) -> None:
    env = {"PODIUM_MEMORY_DB": str(workspace / "memory.db")}
    first = podium(
        {"steps": [{"content": "The payments service deploys on Tuesdays."}]},
        "When does payments deploy?",
        "--skill",
        "memory",
        "--summary",
        "--memory-scope",
        "acme/deployer",
        env=env,
    )
    assert first.code == 0, first.stdout + first.stderr
    assert any(e["type"] == "memory_summary" and e["ok"] for e in first.events)

    second = podium(
        {"steps": [{"content": "ok"}]},
        "When does payments deploy?",
        "--skill",
        "memory",
        "--recall",
        "--memory-scope",
        "acme/deployer",
        env=env,
    )
    system = second.requests[0].body["messages"][0]["content"]
    assert "Memories that may help" in system and "Tuesdays" in system

    # Another scope sees none of it: scopes come from the run spec, not from the model.
    other = podium(
        {"steps": [{"content": "ok"}]},
        "When does payments deploy?",
        "--skill",
        "memory",
        "--recall",
        "--memory-scope",
        "other/team",
        env=env,
    )
    assert "Tuesdays" not in other.requests[0].body["messages"][0]["content"]


def test_cluster_credentials_reach_the_kubectl_skill_only(
    podium: Any, workspace: Path, flaky: Path
) -> None:
    """The kubeconfig is the kubectl skill's `secret_env`: the skill reaches the (fake) API
    server with it, while the agent and the other skills never see it."""
    from tests.kube import FakeKube

    with FakeKube() as kube:
        kube.add("Pod", "web-1", spec={"containers": [{"name": "app", "image": "x"}]})
        spec = workspace / "spec.json"
        spec.write_text(json.dumps({"task": "list pods", "skills": [
            {"name": "kubectl", "source": "kubectl", "secret_env": ["KUBECONFIG"]},
            {"name": "flaky", "source": f"{flaky}:skill"}]}))  # fmt: skip
        script = {
            "steps": [
                {"tool_calls": [call("kubectl_get", resource="pods"), call("env_names")]},
                {"content": "{{last}}"},
            ]
        }
        env = {"KUBECONFIG": str(kube.kubeconfig()), "HOME": str(workspace)}
        run = podium(script, "--spec", str(spec), "--json", env=env, timeout=90)
    assert run.code == 0, run.stdout + run.stderr
    assert "web-1" in run.result["output"]  # kubectl reached the API server with its kubeconfig
    assert kube.requests and all(r.user == "admin" for r in kube.requests)  # with its token
    assert "KUBECONFIG" not in run.result["output"]  # the other skill never saw it
    assert kube.admin_token not in (run.workspace / ".podium" / "events.jsonl").read_text()

"""`podium controller render`: every object a run becomes, printed; bad input is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PODIUM = [sys.executable, "-m", "runtime.cli"]


def _render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PODIUM, "controller", "render", *args], capture_output=True, text=True, timeout=30
    )


def test_render_prints_every_object() -> None:
    done = _render(str(ROOT / "examples/cluster/agentrun.yaml"), "-n", "team-a")
    assert done.returncode == 0, done.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(done.stdout)]
    assert kinds == [
        "ConfigMap", "ServiceAccount", "Secret", "Role", "RoleBinding", "NetworkPolicy", "Job",
    ]  # fmt: skip


def test_render_with_a_skill_ref(tmp_path: Path) -> None:
    run = yaml.safe_load((ROOT / "examples/cluster/agentrun.yaml").read_text())
    run["spec"]["skills"] = [{"name": "helm", "skillRef": {"name": "helm-reader"}}]
    skill = yaml.safe_load((ROOT / "examples/cluster/skill.yaml").read_text())
    both = tmp_path / "run.yaml"
    both.write_text(yaml.safe_dump_all([run, skill]))
    done = _render(str(both))
    assert done.returncode == 0, done.stderr
    job = next(d for d in yaml.safe_load_all(done.stdout) if d["kind"] == "Job")
    sidecars = job["spec"]["template"]["spec"]["initContainers"]
    images = [c["image"] for c in sidecars if c["name"] != "podium-control"]
    assert images == ["podium/helm:0.1.0"]
    alone = tmp_path / "alone.yaml"
    alone.write_text(yaml.safe_dump(run))
    done = _render(str(alone))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"podium controller render: Skill not found: helm-reader (add it to {alone})"
    )


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: podium.dev/v1alpha1\nkind: AgentRun\nmetadata: {name: x}\nspec: {}\n"
    )
    done = _render(str(bad))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "spec.task" in done.stderr
    assert "Traceback" not in done.stderr
    refused = yaml.safe_load((ROOT / "examples/cluster/agentrun.yaml").read_text())
    refused["spec"]["skills"][0]["rbac"] = {"clusterRoles": ["cluster-admin"]}
    bad.write_text(yaml.safe_dump(refused))
    done = _render(str(bad))
    assert done.returncode == 2 and "refused" in done.stderr and "cluster-admin" in done.stderr
    assert _render(str(tmp_path / "missing.yaml")).returncode == 2

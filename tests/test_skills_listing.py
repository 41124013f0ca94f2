"""`podium skills`: every built-in, with the tools its own Describe gives."""

from __future__ import annotations

import json
import subprocess
import sys

from skills.catalog import BUILTINS
from skills.serve import load_skill


def _podium(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_json_lists_every_builtin_with_its_described_tools() -> None:
    out = _podium("skills", "--json")
    assert out.returncode == 0, out.stderr
    records = {r["name"]: r for r in json.loads(out.stdout)}
    assert set(records) == set(BUILTINS)
    for name, record in records.items():
        assert "error" not in record, record
        described = [t.name for t in load_skill(name).describe().tools]
        assert [t["name"] for t in record["tools"]] == described
    kubectl = {t["name"]: t for t in records["kubectl"]["tools"]}
    assert kubectl["kubectl_get"]["read_only"] and kubectl["kubectl_delete"]["destructive"]
    assert records["mcp"]["dynamic_tools"] and records["mcp"]["tools"] == []


def test_readable_list_names_skills_tools_and_annotations() -> None:
    out = _podium("skills")
    assert out.returncode == 0, out.stderr
    assert "helm: Helm releases  (needs: cluster)" in out.stdout
    assert "helm_uninstall" in out.stdout and "destructive" in out.stdout
    assert "tools come from its config at run time" in out.stdout
    assert "\x1b" not in out.stdout

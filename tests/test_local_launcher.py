"""What each local process may see of the launcher's environment, and that every child dies
with the launcher, even when it is killed outright."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime.process import Placement, agent_process, child_env, skill_process
from runtime.spec import RunSpec, SkillSpec
from tests._runs import exits_within, gone


def test_secrets_reach_only_the_process_that_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-model")
    monkeypatch.setenv("KUBECONFIG", "/secret/kubeconfig")
    monkeypatch.setenv("UNRELATED_TOKEN", "nope")
    spec = RunSpec(
        task="t",
        model="openai:gpt-4.1",
        memory={"scope": "acme/ops"},  # pyright: ignore[reportArgumentType]
        skills=[
            SkillSpec(name="kubectl", source="kubectl", secret_env=["KUBECONFIG"]),
            SkillSpec(name="workspace", source="workspace", env={"MODE": "fast"}),
        ],
    )
    where = Placement.local(Path("/ws"))
    kubectl, workspace, agent = (
        child_env(p.secret_env, p.env)
        for p in (
            skill_process(spec, spec.skills[0], where),
            skill_process(spec, spec.skills[1], where),
            agent_process(spec, where),
        )
    )
    assert kubectl["KUBECONFIG"] == "/secret/kubeconfig" and "OPENAI_API_KEY" not in kubectl
    assert "KUBECONFIG" not in workspace and "OPENAI_API_KEY" not in workspace
    assert workspace["MODE"] == "fast" and workspace["PODIUM_MEMORY_SCOPE"] == "acme/ops"
    # The model string alone gives the agent its provider's key (by name, from our env).
    assert agent["OPENAI_API_KEY"] == "sk-model" and "KUBECONFIG" not in agent
    for e in (kubectl, workspace, agent):
        assert "UNRELATED_TOKEN" not in e
        assert e["PYTHONSAFEPATH"] == "1"  # never import from the (model-writable) workspace


LAUNCHER = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from runtime.launchers.local import LocalLauncher
    from runtime.spec import RunSpec, SkillSpec

    async def main() -> None:
        spec = RunSpec(task="t", model="nosuch:model", skills=[
            SkillSpec(name="workspace", source="workspace"),
            SkillSpec(name="other", source="workspace"),
        ])
        async for event in LocalLauncher(spec, Path(sys.argv[1])).launch():
            print(json.dumps(event), flush=True)
            if event["type"] == "skill_started" and event["name"] == "other":
                await asyncio.sleep(3600)  # killed here, with both skills running

    asyncio.run(main())
    """
)


@pytest.mark.timeout(60)
def test_children_die_with_a_killed_launcher(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(tmp_path / "ws")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert proc.stdout is not None
    pids = [json.loads(proc.stdout.readline())["pid"] for _ in range(2)]
    assert all(not gone(p) for p in pids)
    proc.send_signal(signal.SIGKILL)  # no cleanup code runs: only the kernel's signal
    proc.wait(timeout=10)
    proc.stdout.close()
    for pid in pids:
        assert exits_within(pid, 20), f"skill {pid} outlived its launcher"

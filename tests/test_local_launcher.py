"""What each local process may see of the launcher's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.process import child_env, skill_env
from runtime.spec import RunSpec, SkillSpec


def test_secrets_reach_only_the_process_that_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-model")
    monkeypatch.setenv("KUBECONFIG", "/secret/kubeconfig")
    monkeypatch.setenv("UNRELATED_TOKEN", "nope")
    spec = RunSpec(
        task="t",
        memory={"scope": "acme/ops"},  # pyright: ignore[reportArgumentType]
        skills=[
            SkillSpec(name="kubectl", source="kubectl", secret_env=["KUBECONFIG"]),
            SkillSpec(name="workspace", source="workspace", env={"MODE": "fast"}),
        ],
        model_env=["OPENAI_API_KEY"],
    )
    kubectl = skill_env(spec, spec.skills[0], Path("/ws"))
    workspace = skill_env(spec, spec.skills[1], Path("/ws"))
    agent = child_env(spec.model_env, {})
    assert kubectl["KUBECONFIG"] == "/secret/kubeconfig" and "OPENAI_API_KEY" not in kubectl
    assert "KUBECONFIG" not in workspace and "OPENAI_API_KEY" not in workspace
    assert workspace["MODE"] == "fast" and workspace["PODIUM_MEMORY_SCOPE"] == "acme/ops"
    assert agent["OPENAI_API_KEY"] == "sk-model" and "KUBECONFIG" not in agent
    for env in (kubectl, workspace, agent):
        assert "UNRELATED_TOKEN" not in env
        assert env["PYTHONSAFEPATH"] == "1"  # never import from the (model-writable) workspace

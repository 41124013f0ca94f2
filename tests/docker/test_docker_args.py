"""How the rendered Pod maps onto `docker run` arguments (no Docker needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.kube import render_pod, secret_name
from runtime.launchers._docker_args import (
    DockerError,
    PodPlan,
    run_args,
    secret_values,
    shared_volumes,
)
from runtime.spec import Resources, RunSpec, Sandbox, SkillSpec


def pod_and_plan(
    tmp_path: Path, runtime_class: str | None = None, secrets: dict[str, str] | None = None
) -> tuple[dict[str, Any], PodPlan]:
    spec = RunSpec(
        run_id="run-1",
        task="t",
        skills=[
            SkillSpec(
                name="workspace",
                source="workspace",
                secret_env=["SKILL_TOKEN"],
                resources=Resources(cpu="500m", memory="64Mi"),
            ),
            SkillSpec(name="memory", source="memory"),
        ],
        sandbox=Sandbox(runtime_class=runtime_class),
        model_env=["OPENAI_API_KEY"],
    )
    plan = PodPlan(
        prefix="p",
        network="host",
        config_dir=tmp_path,
        labels={"podium.run": "run-1"},
        secrets={secret_name(spec): secrets or {}},
    )
    return render_pod(spec), plan


def flags(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_security_context_and_limits_map_to_docker_flags(tmp_path: Path) -> None:
    pod, plan = pod_and_plan(tmp_path)
    skill = run_args(pod, pod["spec"]["initContainers"][0], plan)
    assert flags(skill, "--user") == ["10001:10001"]
    assert "--read-only" in skill and "--init" in skill
    assert flags(skill, "--cap-drop") == ["ALL"]
    assert flags(skill, "--security-opt") == ["no-new-privileges"]
    assert flags(skill, "--cpus") == ["0.5"]
    assert flags(skill, "--memory") == [str(64 * 2**20)]
    assert flags(skill, "--network") == ["container:p-infra"]
    assert flags(skill, "--label") == ["podium.run=run-1"]
    assert "--runtime" not in skill
    # command replaces the entrypoint, args follow the image
    image_at = skill.index(
        "podium/workspace:" + pod["spec"]["initContainers"][0]["image"].split(":")[1]
    )
    assert skill[image_at - 2 : image_at] == ["--entrypoint", "podium"]
    assert skill[image_at + 1 : image_at + 4] == ["skill", "serve", "workspace"]


def test_gvisor_maps_to_runsc(tmp_path: Path) -> None:
    pod, plan = pod_and_plan(tmp_path, "gvisor")
    assert flags(run_args(pod, pod["spec"]["containers"][0], plan), "--runtime") == ["runsc"]
    pod["spec"]["runtimeClassName"] = "kata"
    with pytest.raises(DockerError, match="kata"):
        run_args(pod, pod["spec"]["containers"][0], plan)


def test_secrets_pass_by_name_only_and_only_where_asked(tmp_path: Path) -> None:
    given = {"SKILL_TOKEN": "very-secret", "OPENAI_API_KEY": "sk-secret"}
    pod, plan = pod_and_plan(tmp_path, secrets=given)
    workspace, memory = (run_args(pod, c, plan) for c in pod["spec"]["initContainers"])
    agent = run_args(pod, pod["spec"]["containers"][0], plan)
    assert "SKILL_TOKEN" in flags(workspace, "--env")
    assert "SKILL_TOKEN" not in flags(memory, "--env") + flags(agent, "--env")
    assert "OPENAI_API_KEY" in flags(agent, "--env")
    assert "OPENAI_API_KEY" not in flags(workspace, "--env") + flags(memory, "--env")
    for args in (workspace, memory, agent):
        assert not any("very-secret" in a or "sk-secret" in a for a in args)
    # The values reach the docker client's environment only, each for its own container.
    assert secret_values(pod["spec"]["initContainers"][0], plan) == {"SKILL_TOKEN": "very-secret"}
    assert secret_values(pod["spec"]["containers"][0], plan) == {"OPENAI_API_KEY": "sk-secret"}
    pod, plan = pod_and_plan(tmp_path)  # optional: a key the Secret lacks is simply absent
    assert "SKILL_TOKEN" not in flags(
        run_args(pod, pod["spec"]["initContainers"][0], plan), "--env"
    )


def test_volumes(tmp_path: Path) -> None:
    pod, plan = pod_and_plan(tmp_path)
    assert shared_volumes(pod) == ["workspace"]
    memory = run_args(pod, pod["spec"]["initContainers"][1], plan)
    mounts = flags(memory, "--mount")
    assert "type=volume,src=p-workspace,dst=/workspace" in mounts
    config = f"{tmp_path}/podium-run-1-config/run.json"  # each ConfigMap in its own folder
    assert f"type=bind,src={config},dst=/etc/podium/run.json,readonly" in mounts
    assert "type=volume,src=podium-memory,dst=/var/lib/podium/memory" in mounts
    assert flags(memory, "--tmpfs") == ["/tmp:rw,nosuid,nodev,mode=1777,uid=10001,gid=10001"]


def test_root_is_refused(tmp_path: Path) -> None:
    pod, plan = pod_and_plan(tmp_path)
    agent = pod["spec"]["containers"][0]
    agent["securityContext"]["runAsUser"] = 0
    with pytest.raises(DockerError, match="runAsNonRoot"):
        run_args(pod, agent, plan)

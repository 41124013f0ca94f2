"""The Pod a run spec becomes: valid for Kubernetes (strict schemas, native sidecars), safe
(no token, non-root, read-only, no capabilities), and each credential in one container."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from runtime import layout
from runtime.cli import render
from runtime.kube import (
    RenderError,
    RenderOptions,
    parse_cpu,
    parse_memory,
    render_config_map,
    render_pod,
)
from runtime.spec import Resources, RunSpec, Sandbox, SkillSpec

KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]


def full_spec(tmp_path: Path) -> RunSpec:
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"mcpServers": {"time": {"command": "mcp-server-time"}}}))
    return RunSpec(
        run_id="run-Test_1",
        task="tidy the notes",
        skills=[
            SkillSpec(name="workspace", source="workspace"),
            SkillSpec(
                name="memory",
                source="memory",
                resources=Resources(cpu="250m", memory="128Mi"),
                env={"LOG_LEVEL": "debug"},
            ),
            SkillSpec(name="mcp", source="mcp", config=str(servers), secret_env=["GITHUB_TOKEN"]),
            SkillSpec(name="weather", source="weather.py:skill", image="me/weather:1"),
        ],
        sandbox=Sandbox(runtime_class="gvisor"),
        model_env=["OPENAI_API_KEY", "OPENAI_BASE_URL"],
    )


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]


def env_names(container: dict[str, Any]) -> set[str]:
    return {e["name"] for e in container["env"]}


@pytest.mark.parametrize("k8s", KUBERNETES_VERSIONS)
def test_pods_validate_strictly(tmp_path: Path, k8s: str) -> None:
    for spec in (RunSpec(task="t"), full_spec(tmp_path)):
        kubernetes_validate.validate(render_pod(spec), k8s, strict=True)
        kubernetes_validate.validate(render_config_map(spec), k8s, strict=True)


def test_strict_validation_catches_a_typo() -> None:
    pod = render_pod(RunSpec(task="t", skills=[SkillSpec(name="workspace", source="workspace")]))
    pod["spec"]["initContainers"][0]["startupProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, "1.30.0", strict=True)


def test_skills_are_native_sidecars_probed_with_podium_health(tmp_path: Path) -> None:
    pod = render_pod(full_spec(tmp_path))
    sidecars = pod["spec"]["initContainers"]
    assert [c["name"] for c in sidecars] == [
        "skill-workspace",
        "skill-memory",
        "skill-mcp",
        "skill-weather",
    ]
    for c in sidecars:
        name = c["name"].removeprefix("skill-")
        sock = f"/workspace/.podium/sockets/{name}.sock"
        assert c["restartPolicy"] == "Always"
        assert c["startupProbe"]["exec"]["command"] == [
            "podium",
            "skill",
            "health",
            "--socket",
            sock,
        ]
        assert c["command"] == ["podium"]
        assert c["args"][:2] == ["skill", "serve"] and len(c["args"]) == 3
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["PODIUM_SKILL_SOCKET"] == sock and env["PODIUM_SKILL_NAME"] == name
        assert env["PODIUM_RUN_SPEC"] == "/etc/podium/run.json"
    (agent,) = pod["spec"]["containers"]
    assert agent["name"] == "agent"
    assert [agent["command"], agent["args"]] == [["podium"], ["agent", "--workspace", "/workspace"]]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["runtimeClassName"] == "gvisor"


def test_images_default_to_podiums_own(tmp_path: Path) -> None:
    options = RenderOptions(image_prefix="ghcr.io/acme/", image_tag="9.9")
    pod = render_pod(full_spec(tmp_path), options)
    assert [c["image"] for c in containers(pod)] == [
        "ghcr.io/acme/workspace:9.9",
        "ghcr.io/acme/memory:9.9",
        "ghcr.io/acme/mcp-bridge:9.9",
        "me/weather:1",
        "ghcr.io/acme/agent:9.9",
    ]
    module_skill = RunSpec(task="t", skills=[SkillSpec(name="w", source="skills.workspace:skill")])
    assert render_pod(module_skill, options)["spec"]["initContainers"][0]["image"] == (
        "ghcr.io/acme/skill-base:9.9"
    )


def test_every_container_is_locked_down(tmp_path: Path) -> None:
    pod = render_pod(full_spec(tmp_path))
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod["spec"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    for c in containers(pod):
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["runAsUser"] == layout.UID != 0
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
        assert {"/workspace", "/tmp"} <= writable
        assert writable <= {"/workspace", "/tmp", layout.MEMORY_DIR}
        assert not any("serviceaccount" in m["mountPath"] for m in c["volumeMounts"])
    # Each container has its own /tmp; only the workspace is shared.
    tmp_volumes = [
        m["name"] for c in containers(pod) for m in c["volumeMounts"] if m["mountPath"] == "/tmp"
    ]
    assert len(set(tmp_volumes)) == len(containers(pod))


def test_secrets_reach_only_the_container_that_asked(tmp_path: Path) -> None:
    pod = render_pod(full_spec(tmp_path))
    by_name = {c["name"]: c for c in containers(pod)}
    assert "GITHUB_TOKEN" in env_names(by_name["skill-mcp"])
    assert {"OPENAI_API_KEY", "OPENAI_BASE_URL"} <= env_names(by_name["agent"])
    for name, c in by_name.items():
        if name != "skill-mcp":
            assert "GITHUB_TOKEN" not in env_names(c)
        if name != "agent":
            assert not env_names(c) & {"OPENAI_API_KEY", "OPENAI_BASE_URL"}
    token = next(e for e in by_name["skill-mcp"]["env"] if e["name"] == "GITHUB_TOKEN")
    assert "value" not in token  # from the run's Secret, never inlined
    assert token["valueFrom"]["secretKeyRef"]["name"] == "podium-run-test-1-env"
    assert {"name": "LOG_LEVEL", "value": "debug"} in by_name["skill-memory"]["env"]


def test_resources_memory_volume_and_config_files(tmp_path: Path) -> None:
    spec = full_spec(tmp_path)
    pod = render_pod(spec)
    by_name = {c["name"]: c for c in containers(pod)}
    assert by_name["skill-memory"]["resources"] == {"limits": {"cpu": "250m", "memory": "128Mi"}}
    assert by_name["agent"]["resources"] == {"limits": {"memory": "1Gi"}}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["memory"] == {
        "name": "memory",
        "persistentVolumeClaim": {"claimName": "podium-memory"},
    }
    no_claim = render_pod(spec, RenderOptions(memory_claim=None))
    assert {"name": "memory", "emptyDir": {}} in no_claim["spec"]["volumes"]
    mcp = by_name["skill-mcp"]
    config_path = next(e["value"] for e in mcp["env"] if e["name"] == "PODIUM_SKILL_CONFIG")
    mount = next(m for m in mcp["volumeMounts"] if m["mountPath"] == config_path)
    config_map = render_config_map(spec)
    assert json.loads(config_map["data"][mount["subPath"]]) == {
        "mcpServers": {"time": {"command": "mcp-server-time"}}
    }
    assert RunSpec.model_validate_json(config_map["data"]["run.json"]) == spec
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]


@pytest.mark.parametrize(
    ("skill", "build", "message"),
    [
        (SkillSpec(name="x", source="x.py:skill"), render_pod, "needs an image"),
        (
            SkillSpec(name="x", source="workspace", resources=Resources(memory="lots")),
            render_pod,
            "bad memory",
        ),
        (
            SkillSpec(name="x", source="workspace", resources=Resources(cpu="1Gi")),
            render_pod,
            "bad CPU",
        ),
        (
            SkillSpec(name="x", source="mcp", config="/nonexistent/servers.json"),
            render_config_map,
            "config file",
        ),
    ],
)
def test_bad_specs_get_clear_errors(
    skill: SkillSpec, build: Callable[[RunSpec], object], message: str
) -> None:
    with pytest.raises(RenderError, match=message):
        build(RunSpec(task="t", skills=[skill]))


def test_a_skill_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown skill 'nosuch'"):
        SkillSpec(name="nosuch", source="nosuch")


def test_quantities() -> None:
    assert parse_memory("256Mi") == 256 * 2**20
    assert parse_memory("1G") == 10**9
    assert parse_memory("1.5Gi") == 3 * 2**29
    assert parse_memory("1048576") == 2**20
    assert parse_cpu("500m") == 0.5
    assert parse_cpu("2") == 2.0
    with pytest.raises(RenderError):
        parse_memory("100m")


def test_podium_render_prints_the_pod_as_yaml(tmp_path: Path) -> None:
    spec = full_spec(tmp_path)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(exclude_none=True)))
    out = io.StringIO()
    with redirect_stdout(out):
        assert render.main([str(path), "--tag", "1.2.3", "--with-config"]) == 0
    pod, config_map = yaml.safe_load_all(out.getvalue())
    assert pod == render_pod(spec, RenderOptions(image_tag="1.2.3"))
    assert config_map == render_config_map(spec)


def test_podium_render_reports_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"task": "t", "skills": [{"name": "x", "source": "x.py:s"}]}))
    assert render.main([str(path)]) == 2
    assert "needs an image" in capsys.readouterr().err

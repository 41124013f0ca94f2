"""The CRDs: generated from the models (never stale), structural, and their rules hold on
good and bad AgentRuns (jsonschema for the schema, cel-python for the CEL rules)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.crd.schema import FOLDERS, agentrun_crd, crds, dump, skill_crd
from tests.controller._k8s import validate_custom

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((ROOT / "examples/cluster/agentrun.yaml").read_text())
SKILL = yaml.safe_load((ROOT / "examples/cluster/skill.yaml").read_text())


@pytest.mark.parametrize("folder", FOLDERS)
def test_crd_files_are_generated_from_the_models(folder: str) -> None:
    for name, crd in crds().items():
        path = ROOT / folder / name
        assert path.read_text() == dump(crd), (
            f"{path} is stale: run python -m controller.crd.schema"
        )


def _walk(node: Any, path: str = "") -> list[str]:
    bad: list[str] = []
    if isinstance(node, dict):
        for key in ("$ref", "anyOf", "oneOf", "allOf", "$defs", "title", "const"):
            if key in node:
                bad.append(f"{path}: {key}")
        if "properties" in node and "additionalProperties" in node:
            bad.append(f"{path}: properties with additionalProperties")
        for key, value in node.items():
            if key in ("properties", "items", "additionalProperties") and isinstance(value, dict):
                children = value.items() if key == "properties" else [("[]", value)]
                for k, v in children:
                    if isinstance(v, dict) and "type" not in v:
                        bad.append(f"{path}.{k}: no type")
                    bad += _walk(v, f"{path}.{k}")
    return bad


@pytest.mark.parametrize("crd", [agentrun_crd(), skill_crd()], ids=["agentrun", "skill"])
def test_schemas_are_structural(crd: dict[str, Any]) -> None:
    version = crd["spec"]["versions"][0]
    assert _walk(version["schema"]["openAPIV3Schema"]) == []
    assert crd["spec"]["names"]["shortNames"]


def test_printer_columns_and_status_subresource() -> None:
    version = agentrun_crd()["spec"]["versions"][0]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Model": ".spec.model.name",
        "Turns": ".status.turns",
        "Tool calls": ".status.toolCalls",
        "Age": ".metadata.creationTimestamp",
    }
    assert version["subresources"] == {"status": {}}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["properties"]["phase"]["enum"] == [
        "Pending", "Running", "Succeeded", "Failed", "Cancelled", "TimedOut",
    ]  # fmt: skip
    assert status["properties"]["conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def test_examples_are_valid() -> None:
    assert validate_custom(agentrun_crd(), EXAMPLE) == []
    assert validate_custom(skill_crd(), SKILL) == []


def _run(**spec: Any) -> dict[str, Any]:
    run = copy.deepcopy(EXAMPLE)
    run["spec"].update(spec)
    return run


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"skills": [{"name": "k", "builtin": "kubectl", "image": "x"}]}, "exactly one of"),
        ({"skills": [{"name": "k"}]}, "exactly one of"),
        ({"skills": [{"name": "k", "builtin": "kubectl", "source": "x:y"}]}, "only for image"),
        (
            {"skills": [{"name": "a", "builtin": "workspace"}, {"name": "a", "builtin": "memory"}]},
            "unique",
        ),
        ({"mcp": {"mcpServers": {}}, "skills": [{"name": "mcp", "builtin": "mcp"}]}, "named mcp"),
        (
            {"skills": [{"name": "k", "builtin": "kubectl", "rbac": {"clusterScope": True}}]},
            "clusterScope needs",
        ),
        (
            {"skills": [{"name": "k", "builtin": "kubectl", "env": {"1BAD": "x"}}]},
            "keys must match",
        ),
    ],
)
def test_cel_rules_refuse_bad_runs(change: dict[str, Any], message: str) -> None:
    errors = validate_custom(agentrun_crd(), _run(**change))
    assert any(message in e for e in errors), errors


def test_an_image_skill_needs_no_source() -> None:
    """An image serving skill.proto with its own entrypoint (any language, no Podium in it):
    accepted inline in an AgentRun and as a Skill; a source still only goes with an image."""
    image_only = {"name": "ts", "image": "acme/ts-skill:1.0"}
    assert validate_custom(agentrun_crd(), _run(skills=[image_only])) == []
    python = {**image_only, "source": "weather.py:skill"}
    assert validate_custom(agentrun_crd(), _run(skills=[python])) == []
    skill = copy.deepcopy(SKILL)
    del skill["spec"]["source"]
    assert validate_custom(skill_crd(), skill) == []
    errors = validate_custom(agentrun_crd(), _run(skills=[{"name": "ts", "source": "x:y"}]))
    assert any("only for image" in e for e in errors), errors


def test_podium_run_backend_kubernetes_sends_a_valid_image_skill() -> None:
    from runtime.launchers.kubernetes import agentrun_for
    from runtime.spec import RunSpec, SkillSpec

    spec = RunSpec(
        task="t", model="openai:gpt-4.1",
        skills=[SkillSpec(name="ts", image="acme/ts-skill:1.0", command=["node", "server.js"]),
                SkillSpec(name="py", image="acme/py:1", source="weather.py:skill")],
    )  # fmt: skip
    run, _ = agentrun_for(spec, environ={})
    assert run["spec"]["skills"] == [
        {"name": "ts", "image": "acme/ts-skill:1.0"},
        {"name": "py", "image": "acme/py:1", "source": "weather.py:skill"},
    ]
    assert validate_custom(agentrun_crd(), run) == []


def test_schema_refuses_bad_fields() -> None:
    errors = validate_custom(agentrun_crd(), _run(task=""))
    assert any("task" in e for e in errors)
    bad_phase = _run()
    bad_phase["status"] = {"phase": "Exploded"}
    assert validate_custom(agentrun_crd(), bad_phase)
    assert validate_custom(agentrun_crd(), _run(limits={"maxTurns": 0}))


def test_long_names_are_refused() -> None:
    run = _run()
    run["metadata"]["name"] = "x" * 41
    assert any("at most 40" in e for e in validate_custom(agentrun_crd(), run))


def test_transition_rules() -> None:
    crd = agentrun_crd()
    cancelled = _run(cancel=True)
    assert validate_custom(crd, _run(cancel=True), old=_run()) == []
    assert any("stays cancelled" in e for e in validate_custom(crd, _run(), old=cancelled))
    assert any("immutable" in e for e in validate_custom(crd, _run(task="other"), old=_run()))

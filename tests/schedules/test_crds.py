"""The AgentSchedule and MCPServer CRDs: generated from the models, structural, examples valid,
their CEL rules refuse what they should (cel-python), printer columns as documented."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.crd.agentschedule import AgentSchedule
from controller.crd.mcpserver import MCPServer
from controller.crd.schema import agentschedule_crd, mcpserver_crd
from tests.controller._k8s import validate_custom
from tests.controller.test_crd import _walk  # pyright: ignore[reportPrivateUsage]

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE = yaml.safe_load((ROOT / "examples/cluster/agentschedule.yaml").read_text())
SERVERS = list(yaml.safe_load_all((ROOT / "examples/cluster/mcpservers.yaml").read_text()))


@pytest.mark.parametrize("crd", [agentschedule_crd(), mcpserver_crd()], ids=["sched", "mcp"])
def test_structural_with_status_and_short_names(crd: dict[str, Any]) -> None:
    version = crd["spec"]["versions"][0]
    assert _walk(version["schema"]["openAPIV3Schema"]) == []
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"] and crd["spec"]["scope"] == "Namespaced"


def test_printer_columns() -> None:
    sched = agentschedule_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in sched] == [
        "Schedule", "Time zone", "Suspend", "Active", "Last", "Next", "Age",
    ]  # fmt: skip
    mcp = mcpserver_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    assert {c["name"]: c["jsonPath"] for c in mcp}["Ready"] == (
        '.status.conditions[?(@.type=="Ready")].status'
    )
    assert {c["name"]: c["jsonPath"] for c in mcp}["Tools"] == ".status.toolCount"


def test_examples_validate_against_schema_and_models() -> None:
    assert validate_custom(agentschedule_crd(), SCHEDULE) == []
    AgentSchedule.model_validate(SCHEDULE)
    for server in SERVERS:
        assert validate_custom(mcpserver_crd(), server) == []
        MCPServer.model_validate(server)


def _edit(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node = out
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("spec.schedule", "CRON_TZ=UTC 0 * * * *", "spec.timeZone"),
        ("spec.runTemplate.spec.cancel", True, "cannot be cancelled"),
        ("metadata.name", "a-schedule-name-that-is-too-long-x", "at most 31"),
    ],
)
def test_schedule_cel_rules(path: str, value: Any, message: str) -> None:
    errors = validate_custom(agentschedule_crd(), _edit(SCHEDULE, path, value))
    assert any(message in e for e in errors), errors


def test_schedule_schema_refuses_bad_fields() -> None:
    for path, value in [
        ("spec.concurrencyPolicy", "Sometimes"),
        ("spec.timeZone", "Europe/../etc"),
        ("spec.startingDeadlineSeconds", -1),
        ("spec.successfulRunsHistoryLimit", 1000),
    ]:
        assert validate_custom(agentschedule_crd(), _edit(SCHEDULE, path, value)), path


def test_a_template_task_may_change_where_a_run_task_may_not() -> None:
    crd = agentschedule_crd()
    new = _edit(SCHEDULE, "spec.runTemplate.spec.task", "another task")
    assert validate_custom(crd, new, old=SCHEDULE) == []
    rules = str(crd["spec"]["versions"][0]["schema"])
    assert "oldSelf" not in rules


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: _edit(s, "spec.managed", {"image": "x", "command": ["y"]}), "exactly one"),
        (lambda s: _edit(s, "spec.external", None), "exactly one"),
        (
            lambda s: _edit(
                s,
                "spec.external.headers",
                [{"name": "A", "value": "v", "secretKeyRef": {"name": "s", "key": "k"}}],
            ),
            "exactly one of value or secretKeyRef",
        ),
    ],
)
def test_mcpserver_cel_rules(change: Any, message: str) -> None:
    errors = validate_custom(mcpserver_crd(), change(SERVERS[1]))
    assert any(message in e for e in errors), errors


def test_mcpserver_schema_refuses_bad_fields() -> None:
    bad_url = _edit(SERVERS[1], "spec.external.url", "ftp://x")
    assert validate_custom(mcpserver_crd(), bad_url)
    no_command = _edit(SERVERS[0], "spec.managed.command", [])
    assert validate_custom(mcpserver_crd(), no_command)

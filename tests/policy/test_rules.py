"""The policy rules engine (protos.policy): first match wins, annotation defaults, the
read-only and deny lists, and how `approve` resolves an ask."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from protos.policy import ToolPolicy


@dataclass(frozen=True)
class Flags:
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False


PLAIN, READ, DESTRUCTIVE = Flags(), Flags(read_only=True), Flags(destructive=True)


def test_defaults_ask_for_destructive_tools_and_allow_the_rest() -> None:
    policy = ToolPolicy()
    assert policy.decide("kubectl_apply", DESTRUCTIVE).action == "ask"
    assert policy.decide("kubectl_get", READ).action == "allow"
    assert policy.decide("workspace_write", PLAIN).action == "allow"
    assert "destructive" in policy.decide("kubectl_apply", DESTRUCTIVE).reason


def test_first_matching_rule_wins_over_later_rules_and_annotations() -> None:
    policy = ToolPolicy.from_dict(
        {
            "rules": [
                {"tool": "kubectl_apply", "action": "allow"},
                {"tool": "kubectl_*", "action": "deny"},
                {"tool": "*", "action": "ask"},
            ]
        }
    )
    assert policy.decide("kubectl_apply", DESTRUCTIVE).action == "allow"
    assert policy.decide("kubectl_get", READ).action == "deny"
    assert policy.decide("kubectl_get", READ).reason == "rule 2 'kubectl_*' -> deny"
    assert policy.decide("memory_store", PLAIN).action == "ask"


def test_deny_list_and_read_only_come_before_rules() -> None:
    policy = ToolPolicy.from_dict(
        {"deny_tools": ["helm_*"], "rules": [{"tool": "*", "action": "allow"}]}
    )
    assert policy.decide("helm_install", PLAIN).action == "deny"
    read_only = ToolPolicy.from_dict(
        {"read_only": True, "rules": [{"tool": "*", "action": "allow"}]}
    )
    assert read_only.decide("workspace_write", PLAIN).action == "deny"
    assert read_only.decide("workspace_read", READ).action == "allow"


def test_annotation_defaults_are_configurable_and_the_strictest_applies() -> None:
    policy = ToolPolicy.from_dict({"annotations": {"open_world": "deny", "destructive": "ask"}})
    assert policy.decide("fetch", Flags(open_world=True, destructive=True)).action == "deny"
    assert ToolPolicy.from_dict({"annotations": {}}).decide("x", DESTRUCTIVE).action == "allow"
    assert ToolPolicy.from_dict({"default": "ask"}).decide("x", PLAIN).action == "ask"


@pytest.mark.parametrize(("mode", "action"), [("ask", "ask"), ("auto", "allow"), ("never", "deny")])
def test_approve_mode_resolves_an_ask(mode: str, action: str) -> None:
    policy = ToolPolicy.from_dict({"approve": mode})
    assert policy.decide("kubectl_apply", DESTRUCTIVE).action == action
    # a deny stays a deny whatever the mode
    assert (
        ToolPolicy.from_dict({"approve": mode, "deny_tools": ["x"]}).decide("x", READ).action
        == "deny"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rules": [{"tool": "x", "action": "maybe"}]}, "rules[].action"),
        ({"rules": [{"action": "allow"}]}, "rules[0].tool"),
        ({"rules": "x"}, "policy.rules must be a list"),
        ({"annotations": {"scary": "ask"}}, "unknown annotation"),
        ({"approve": "sometimes"}, "policy.approve"),
        ({"default": "nope"}, "policy.default"),
    ],
)
def test_bad_policies_are_refused_with_a_clear_message(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ToolPolicy.from_dict(data)

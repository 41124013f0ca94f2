"""The run's tool policy as both ends of the wire apply it: which calls are allowed, denied,
or need a person's approval.

The agent uses it to decide what to offer the model and when to ask; each skill uses the
same code on the same run spec to refuse what the policy forbids, whatever the agent sends.
Pure and dependency-free (stdlib only), so the skill SDK uses it without importing the
runtime, and a skill in another language can port it in a page.

Order of evaluation for a tool (the first that applies decides):

1. `deny_tools` (globs): deny.
2. `read_only` and the tool is not annotated read-only: deny.
3. `rules`, in order, first matching `tool` glob: its action.
4. `annotations` defaults (for example `destructive: ask`): of the tool's annotations that
   have an action, the strictest (deny > ask > allow).
5. `default` (allow unless configured).

Then `approve` resolves an `ask`: `ask` waits for a person, `auto` approves it (allow),
`never` refuses it (deny).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, cast, get_args

Action = Literal["allow", "deny", "ask"]
ApproveMode = Literal["ask", "never", "auto"]
ANNOTATIONS = ("read_only", "destructive", "idempotent", "open_world")
ACTIONS: tuple[Action, ...] = get_args(Action)
APPROVE_MODES: tuple[ApproveMode, ...] = get_args(ApproveMode)
_STRICTNESS: dict[Action, int] = {"allow": 0, "ask": 1, "deny": 2}


class ToolFlags(Protocol):
    """What the policy reads of a tool's annotations (the proto's, the SDK's and the
    runtime's annotation types all have these attributes)."""

    @property
    def read_only(self) -> bool: ...
    @property
    def destructive(self) -> bool: ...
    @property
    def idempotent(self) -> bool: ...
    @property
    def open_world(self) -> bool: ...


@dataclass(frozen=True)
class ToolRule:
    """`{tool: GLOB, action: allow | deny | ask}`."""

    tool: str
    action: Action


@dataclass(frozen=True)
class Decision:
    action: Action
    """What happens to the call: allow (run it), deny (refuse it), ask (a person decides)."""
    reason: str
    """Why, for the event log and the model (`rule 2 'kubectl_*' -> ask`)."""


def _default_annotations() -> dict[str, Action]:
    return {"destructive": "ask"}


@dataclass(frozen=True)
class ToolPolicy:
    rules: tuple[ToolRule, ...] = ()
    annotations: Mapping[str, Action] = field(default_factory=_default_annotations)
    default: Action = "allow"
    read_only: bool = False
    deny_tools: tuple[str, ...] = ()
    approve: ApproveMode = "ask"

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ToolPolicy:
        """Read the `policy` object of a run spec (run.json). Unknown keys other than
        this module's are ignored (the run spec owns the full schema); bad values raise
        ValueError."""
        rules: list[ToolRule] = []
        for i, raw in enumerate(_list(data.get("rules", []), "rules")):
            if not isinstance(raw, Mapping):
                raise ValueError(f"policy.rules[{i}] must be an object with tool and action")
            rule = cast(Mapping[str, object], raw)
            rules.append(ToolRule(_str(rule.get("tool"), f"rules[{i}].tool"), _action(rule)))
        raw_ann = data.get("annotations", None)
        annotations = _default_annotations()
        if raw_ann is not None:
            if not isinstance(raw_ann, Mapping):
                raise ValueError("policy.annotations must map annotation names to actions")
            annotations = {}
            for key, value in cast(Mapping[object, object], raw_ann).items():
                if key not in ANNOTATIONS:
                    raise ValueError(
                        f"policy.annotations: unknown annotation {key!r} "
                        f"(one of {', '.join(ANNOTATIONS)})"
                    )
                annotations[cast(str, key)] = _check_action(value, f"annotations.{key}")
        approve = data.get("approve") or "ask"  # unset: the strict reading
        if approve not in APPROVE_MODES:
            raise ValueError(f"policy.approve must be one of {', '.join(APPROVE_MODES)}")
        return cls(
            rules=tuple(rules),
            annotations=annotations,
            default=_check_action(data.get("default", "allow"), "default"),
            read_only=bool(data.get("read_only", False)),
            deny_tools=tuple(
                _str(p, "deny_tools[]") for p in _list(data.get("deny_tools", []), "deny_tools")
            ),
            approve=approve,
        )

    def rule_for(self, tool: str, flags: ToolFlags) -> Decision:
        """The policy's action for a tool before `approve` resolves an `ask`."""
        for pattern in self.deny_tools:
            if fnmatch.fnmatchcase(tool, pattern):
                return Decision("deny", f"denied by deny_tools {pattern!r}")
        if self.read_only and not flags.read_only:
            return Decision("deny", "the run is read-only and this tool is not")
        for i, rule in enumerate(self.rules, 1):
            if fnmatch.fnmatchcase(tool, rule.tool):
                return Decision(rule.action, f"rule {i} {rule.tool!r} -> {rule.action}")
        best: Decision | None = None
        for name in ANNOTATIONS:
            action = self.annotations.get(name)
            if action is None or not getattr(flags, name):
                continue
            if best is None or _STRICTNESS[action] > _STRICTNESS[best.action]:
                best = Decision(action, f"annotated {name} -> {action}")
        return best or Decision(self.default, f"default -> {self.default}")

    def decide(self, tool: str, flags: ToolFlags) -> Decision:
        """The final decision: allow, deny, or ask (a person must approve this call)."""
        decision = self.rule_for(tool, flags)
        if decision.action != "ask" or self.approve == "ask":
            return decision
        if self.approve == "auto":
            return Decision("allow", f"{decision.reason}; approved automatically (approve=auto)")
        return Decision("deny", f"{decision.reason}; approvals are off (approve=never)")


def _list(value: object, name: str) -> Sequence[object]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"policy.{name} must be a list")
    return cast(Sequence[object], value)


def _str(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"policy.{name} must be a non-empty string")
    return value


def _action(rule: Mapping[str, object]) -> Action:
    return _check_action(rule.get("action"), "rules[].action")


def _check_action(value: object, name: str) -> Action:
    if value not in ACTIONS:
        raise ValueError(f"policy.{name} must be one of {', '.join(ACTIONS)}, not {value!r}")
    return value

"""The skill's own enforcement: who may call it, and which calls it runs.

The skill holds the credentials, so it checks, whatever the agent sends:

- the call token (gRPC metadata) on Describe and Invoke: a caller without it is refused
  with UNAUTHENTICATED;
- the run's policy (read from the run spec the skill was given): a denied tool is refused,
  an `ask` tool runs only with a valid approval for exactly this call, checked with the
  run's approval key, which the agent does not have.

Each refusal is one `policy:` line in the skill's log and a DENIED result to the caller.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from protos import skill_pb2 as pb
from protos.approval import ApprovalError, ApprovalVerifier, token_matches
from protos.handoff import APPROVAL_KEY_ENV, CALL_TOKEN_ENV, take_secrets
from protos.policy import ToolFlags, ToolPolicy

RUN_SPEC_ENV = "PODIUM_RUN_SPEC"


@dataclass
class Guard:
    """What a served skill enforces. `Guard()` (no token, no policy) enforces nothing: a
    skill served by hand for development."""

    run_id: str = "local"
    call_token: str | None = None
    approval_key: str | None = None
    policy: ToolPolicy | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("podium.skill.policy"))

    def __post_init__(self) -> None:
        self.verifier = ApprovalVerifier(self.approval_key, self.run_id)

    @classmethod
    def from_environment(cls, run_id: str, workspace: Path) -> Guard:
        """Secrets from the secrets pipe or the environment (then dropped from it, so the
        skill's own children never inherit them); the policy from the run spec."""
        found = take_secrets(CALL_TOKEN_ENV, APPROVAL_KEY_ENV)
        token = found.get(CALL_TOKEN_ENV) or None
        return cls(
            run_id=run_id,
            call_token=token,
            approval_key=found.get(APPROVAL_KEY_ENV) or None,
            # A skill given a token runs in a run: without its spec, it still asks for
            # destructive calls (the default policy) rather than allow everything.
            policy=load_policy(workspace) or (ToolPolicy() if token else None),
        )

    def authorised(self, metadata: Mapping[str, str | bytes]) -> bool:
        return token_matches(self.call_token, metadata)

    def admit(self, request: pb.InvokeRequest, flags: ToolFlags) -> pb.ToolResult | None:
        """None when the call may run; otherwise the DENIED result to send back."""
        if self.policy is None:
            return None
        decision = self.policy.decide(request.tool, flags)
        if decision.action == "allow":
            return None
        if decision.action == "deny":
            return self._refuse(request, "denied", f"{request.tool} is denied by the run's policy "
                                f"({decision.reason})")  # fmt: skip
        try:
            approval = self.verifier.verify(
                request.approval,
                call_id=request.call_id,
                tool=request.tool,
                arguments_json=request.arguments_json,
            )
        except ApprovalError as exc:
            return self._refuse(request, exc.reason, f"{request.tool} needs a person's approval "
                                f"({decision.reason}) and {_why(exc)}")  # fmt: skip
        self.log.info(
            "policy: approved call=%s tool=%s by=%s",
            request.call_id,
            request.tool,
            approval.by or "?",
        )
        return None

    def _refuse(self, request: pb.InvokeRequest, reason: str, message: str) -> pb.ToolResult:
        self.log.warning(
            "policy: refused call=%s tool=%s reason=%s", request.call_id, request.tool, reason
        )
        return pb.ToolResult(text=message, is_error=True, error_kind=pb.ToolResult.DENIED)


def _why(exc: ApprovalError) -> str:
    if exc.reason == "denied":
        return "none came with the call"
    return f"the approval was refused: {exc}"


def load_policy(workspace: Path) -> ToolPolicy | None:
    """The policy of the run spec given to this skill (PODIUM_RUN_SPEC, read-only in a Pod,
    else the workspace's `.podium/run.json`); None when the skill runs outside a run."""
    mounted = os.environ.get(RUN_SPEC_ENV)
    path = Path(mounted) if mounted else workspace / ".podium" / "run.json"
    try:
        data: object = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the run spec {path}: {exc}") from None
    policy: object = (
        cast(dict[str, object], data).get("policy", {}) if isinstance(data, dict) else {}
    )
    if not isinstance(policy, dict):
        raise ValueError(f"run spec {path}: policy must be an object")
    return ToolPolicy.from_dict(cast(dict[str, object], policy))

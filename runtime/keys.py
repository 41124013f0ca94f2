"""The run's secrets for approvals and calls: who gets which (see protos.approval).

| secret | held by |
|---|---|
| approval key | the launcher or CLI process (signs), every skill (verifies); never the agent |
| call token of skill S | the agent and skill S only |
| control token (cluster) | the controller and the pod's `podium-control` sidecar; never the agent |

Locally the launcher hands them over through a pipe (`protos.handoff`); in a Pod they are
keys of the run's Secret, mounted as environment into the containers named above only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from protos.approval import new_key
from protos.handoff import APPROVAL_KEY_ENV, CALL_TOKEN_ENV, CALL_TOKENS_ENV
from runtime.spec import RunSpec

APPROVAL_KEY_SECRET = "podium-approval-key"  # noqa: S105 (a key's name)
"""Key of the run's Secret holding the approval key (mounted into skill containers only)."""
AGENT_TOKENS_SECRET = "podium-call-tokens"  # noqa: S105 (a key's name)
"""Key of the run's Secret holding the agent's call tokens (JSON)."""
CONTROL_TOKEN_SECRET = "podium-control-token"  # noqa: S105 (a key's name)
"""Key of the run's Secret holding the bearer token of the pod's control service (the
controller and the control sidecar only; see runtime.control)."""


def call_token_secret(skill: str) -> str:
    """Key of the run's Secret holding one skill's call token."""
    return f"podium-call-token-{skill}"


@dataclass(frozen=True)
class RunKeys:
    approval_key: str
    call_tokens: Mapping[str, str]
    control_token: str = ""
    """Bearer token of the pod's control service (cluster runs; unused locally)."""

    @classmethod
    def new(cls, spec: RunSpec) -> RunKeys:
        return cls(new_key(), {s.name: new_key() for s in spec.skills}, new_key())

    @classmethod
    def derive(cls, master: str, run: str, skills: Iterable[str]) -> RunKeys:
        """The run's keys as HMAC-SHA-256 of a master key (the controller's) over the run's
        identity (`NAMESPACE/NAME/UID`): the same run always gets the same keys, so the
        controller signs after a restart without reading any Secret back, and two runs
        never share one."""

        def key(purpose: str) -> str:
            message = f"podium/v1/{run}/{purpose}".encode()
            return hmac.new(master.encode(), message, hashlib.sha256).hexdigest()

        return cls(key("approval"), {s: key(f"call/{s}") for s in skills}, key("control"))

    def for_skill(self, name: str) -> dict[str, str]:
        """What one skill process receives (environment names as keys)."""
        return {CALL_TOKEN_ENV: self.call_tokens[name], APPROVAL_KEY_ENV: self.approval_key}

    def for_agent(self) -> dict[str, str]:
        """What the agent receives: every skill's call token, and no approval key."""
        return {CALL_TOKENS_ENV: json.dumps(dict(self.call_tokens), sort_keys=True)}

    def secret_data(self) -> dict[str, str]:
        """The keys this adds to the run's Secret (values in clear; the caller encodes)."""
        data = {
            APPROVAL_KEY_SECRET: self.approval_key,
            AGENT_TOKENS_SECRET: self.for_agent()[CALL_TOKENS_ENV],
        }
        data.update({call_token_secret(n): t for n, t in self.call_tokens.items()})
        if self.control_token:
            data[CONTROL_TOKEN_SECRET] = self.control_token
        return data

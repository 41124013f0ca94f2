"""Approvals a compromised agent cannot forge, and the per-skill call credential.

Two secrets per run, made by the launcher (or the controller):

- the **approval key** (32 random bytes): held by whoever approves (the launcher or CLI
  process locally, the controller in a cluster) and by the skills, which verify with it.
  The agent never has it, so it cannot make an approval.
- a **call token** per skill: held by the agent and by that skill only. Every Describe and
  Invoke carries it in gRPC metadata (`podium-call-token`); a skill refuses a call without
  it (UNAUTHENTICATED), so another container of the Pod cannot use the skill's credentials.

An approval is `BASE64URL(payload).BASE64URL(HMAC-SHA256(key, BASE64URL(payload)))`, where
the payload is JSON naming the run, the call id, the tool, the SHA-256 of the call's
arguments in canonical JSON, an expiry and a nonce. The skill checks every field against the
call it received and accepts each approval once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal, cast

CALL_TOKEN_HEADER = "podium-call-token"  # noqa: S105 (a header name)
"""gRPC metadata key of the per-skill call credential (metadata keys are lowercase)."""
APPROVAL_TTL_S = 600.0
"""How long an approval stays valid after it is made."""
VERSION = 1

Refusal = Literal[
    "malformed", "bad-signature", "other-run", "other-call", "other-tool",
    "changed-arguments", "expired", "replayed", "denied", "no-key",
]  # fmt: skip


class ApprovalError(Exception):
    """An approval the skill refuses; `reason` is a stable code for logs and tests."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason: Refusal = reason


def new_key() -> str:
    """A fresh secret (approval key or call token) as 64 hex characters."""
    return secrets.token_hex(32)


def canonical_arguments(arguments_json: str) -> str:
    """The arguments as canonical JSON: keys sorted, no whitespace, UTF-8, no NaN.

    Whitespace and key order do not change an approval; any change of a value does."""
    try:
        value = json.loads(arguments_json.strip() or "{}")
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)  # fmt: skip
    except ValueError as exc:  # JSONDecodeError, or NaN/Infinity
        raise ApprovalError("malformed", f"arguments are not plain JSON: {exc}") from None


def arguments_digest(arguments_json: str) -> str:
    """SHA-256 (hex) of the canonical arguments: what an approval is bound to."""
    return hashlib.sha256(canonical_arguments(arguments_json).encode()).hexdigest()


@dataclass(frozen=True)
class Approval:
    """What a person approved: exactly one call of one run."""

    run: str
    call: str
    tool: str
    args: str
    """`arguments_digest` of the approved arguments."""
    exp: float
    """Unix time after which the approval is refused."""
    by: str = ""
    """Who approved (a user name, `terminal`, a Kubernetes user)."""
    nonce: str = ""
    v: int = VERSION


def sign(
    key: str,
    *,
    run_id: str,
    call_id: str,
    tool: str,
    arguments_json: str,
    by: str = "",
    ttl_s: float = APPROVAL_TTL_S,
    now: float | None = None,
    args_sha256: str | None = None,
) -> str:
    """Make an approval token for one call (the approver's side). `args_sha256` instead of
    the arguments: the digest a person was shown (the controller signs from the status)."""
    approval = Approval(
        run=run_id,
        call=call_id,
        tool=tool,
        args=arguments_digest(arguments_json) if args_sha256 is None else args_sha256,
        exp=round((time.time() if now is None else now) + ttl_s, 3),
        by=by,
        nonce=secrets.token_hex(8),
    )
    payload = _b64(json.dumps(asdict(approval), sort_keys=True, separators=(",", ":")).encode())
    return f"{payload}.{_b64(_mac(key, payload))}"


def read(key: str, token: str) -> Approval:
    """Check the token's signature and return what it approves (no call checks yet)."""
    payload, sep, mac = token.strip().partition(".")
    if not sep or not payload or not mac:
        raise ApprovalError("malformed", "the approval is not a Podium approval token")
    try:
        given = base64.urlsafe_b64decode(_pad(mac))
    except (binascii.Error, ValueError):
        raise ApprovalError("malformed", "the approval's signature is not base64") from None
    if not hmac.compare_digest(given, _mac(key, payload)):
        raise ApprovalError("bad-signature", "the approval's signature does not verify")
    try:
        data = cast(Mapping[str, object], json.loads(base64.urlsafe_b64decode(_pad(payload))))
        return Approval(
            run=str(data["run"]),
            call=str(data["call"]),
            tool=str(data["tool"]),
            args=str(data["args"]),
            exp=float(cast(float, data["exp"])),
            by=str(data.get("by", "")),
            nonce=str(data.get("nonce", "")),
            v=int(cast(int, data.get("v", VERSION))),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApprovalError("malformed", "the approval's payload cannot be read") from None


class ApprovalVerifier:
    """The skill's side: an approval is valid for exactly the call it names, once."""

    def __init__(self, key: str | None, run_id: str) -> None:
        self._key = key
        self.run_id = run_id
        self._used: set[str] = set()
        self._lock = threading.Lock()

    @property
    def has_key(self) -> bool:
        return bool(self._key)

    def verify(
        self, token: str, *, call_id: str, tool: str, arguments_json: str, now: float | None = None
    ) -> Approval:
        """Return the approval if it is valid for this call and unused; mark it used."""
        if not self._key:
            raise ApprovalError("no-key", "this skill was given no approval key")
        if not token:
            raise ApprovalError("denied", f"{tool} needs a person's approval and has none")
        approval = read(self._key, token)
        if approval.run != self.run_id:
            raise ApprovalError("other-run", "the approval is for another run")
        if approval.call != call_id:
            raise ApprovalError("other-call", "the approval is for another call")
        if approval.tool != tool:
            raise ApprovalError("other-tool", "the approval is for another tool")
        if not hmac.compare_digest(approval.args, arguments_digest(arguments_json)):
            raise ApprovalError("changed-arguments", "the arguments differ from those approved")
        if (time.time() if now is None else now) > approval.exp:
            raise ApprovalError("expired", "the approval has expired")
        with self._lock:
            if approval.nonce in self._used or not approval.nonce:
                raise ApprovalError("replayed", "the approval was already used")
            self._used.add(approval.nonce)
        return approval


def token_matches(expected: str | None, metadata: Mapping[str, str | bytes]) -> bool:
    """True when the call carries the expected call token (constant-time comparison)."""
    if not expected:
        return True  # a skill served by hand, without a token, accepts any caller
    given = metadata.get(CALL_TOKEN_HEADER, "")
    if isinstance(given, bytes):
        given = given.decode(errors="replace")
    return hmac.compare_digest(given.encode(), expected.encode())


def _mac(key: str, payload: str) -> bytes:
    return hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pad(text: str) -> bytes:
    return (text + "=" * (-len(text) % 4)).encode()

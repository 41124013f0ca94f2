"""Approval tokens (protos.approval): bound to one run, call, tool and argument set, signed
with a key the agent does not hold, accepted once."""

from __future__ import annotations

import time

import pytest

from protos.approval import (
    CALL_TOKEN_HEADER,
    ApprovalError,
    ApprovalVerifier,
    arguments_digest,
    new_key,
    sign,
    token_matches,
)

KEY = new_key()
ARGS = '{"manifest": "kind: ConfigMap", "namespace": "team-a"}'


def approve(run_id: str = "run-1", call_id: str = "call-1", tool: str = "kubectl_apply") -> str:
    return sign(KEY, by="tester", run_id=run_id, call_id=call_id, tool=tool, arguments_json=ARGS)


def verify(token: str, verifier: ApprovalVerifier | None = None, arguments_json: str = ARGS) -> str:
    verifier = verifier or ApprovalVerifier(KEY, "run-1")
    return verifier.verify(
        token, call_id="call-1", tool="kubectl_apply", arguments_json=arguments_json
    ).by


def refusal(
    token: str, verifier: ApprovalVerifier | None = None, arguments_json: str = ARGS
) -> str:
    with pytest.raises(ApprovalError) as info:
        verify(token, verifier, arguments_json)
    return info.value.reason


def test_a_valid_approval_is_accepted_once() -> None:
    verifier = ApprovalVerifier(KEY, "run-1")
    token = approve()
    assert verify(token, verifier) == "tester"
    assert refusal(token, verifier) == "replayed"


def test_whitespace_and_key_order_do_not_change_the_arguments_but_values_do() -> None:
    same = '{ "namespace":"team-a",\n "manifest":"kind: ConfigMap" }'
    assert arguments_digest(same) == arguments_digest(ARGS)
    assert verify(approve(), arguments_json=same) == "tester"
    assert (
        refusal(approve(), arguments_json=ARGS.replace("team-a", "kube-system"))
        == "changed-arguments"
    )


def test_an_approval_for_another_call_tool_or_run_is_refused() -> None:
    assert refusal(approve(call_id="call-2")) == "other-call"
    assert refusal(approve(tool="kubectl_get")) == "other-tool"
    assert refusal(approve(run_id="run-2")) == "other-run"


def test_a_forged_or_tampered_approval_is_refused() -> None:
    forged = sign(
        new_key(), run_id="run-1", call_id="call-1", tool="kubectl_apply", arguments_json=ARGS
    )
    assert refusal(forged) == "bad-signature"
    payload, mac = approve().split(".")
    other_payload = approve(call_id="call-9").split(".")[0]
    assert refusal(f"{other_payload}.{mac}") == "bad-signature"
    assert refusal(payload) == "malformed"
    assert refusal("") == "denied"
    assert refusal("not.base64!!") in {"malformed", "bad-signature"}


def test_an_expired_approval_is_refused() -> None:
    old = sign(KEY, run_id="run-1", call_id="call-1", tool="kubectl_apply", arguments_json=ARGS,
               ttl_s=60, now=time.time() - 120)  # fmt: skip
    assert refusal(old) == "expired"


def test_a_skill_without_the_key_refuses_every_approval() -> None:
    assert refusal(approve(), ApprovalVerifier(None, "run-1")) == "no-key"


def test_call_token_check() -> None:
    assert token_matches("abc", {CALL_TOKEN_HEADER: "abc"})
    assert not token_matches("abc", {CALL_TOKEN_HEADER: "abd"})
    assert not token_matches("abc", {})
    assert token_matches(None, {})  # a skill served by hand without a token

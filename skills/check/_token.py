"""The call-token check: a sidecar the checker started (and so gave its call token) must
refuse Describe and Invoke without the token, or with a wrong one, with UNAUTHENTICATED
(protos/README.md, "Only the agent may call you")."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import grpc

from protos import skill_pb2 as pb
from protos import skill_pb2_grpc as pb_grpc
from protos.approval import CALL_TOKEN_HEADER

if TYPE_CHECKING:
    from skills.check._checks import Report

UNKNOWN_TOOL = "podium_check_no_such_tool"
CONTRACT_SECTION = 'protos/README.md, "Only the agent may call you"'
Metadata = tuple[tuple[str, str], ...]


async def check_call_token(
    stub: pb_grpc.SkillAsyncStub, report: Report, call_token: str | None, d: pb.SkillDescription
) -> None:
    if call_token is None:
        report.add(
            "call token",
            "skip",
            "the checker did not start this sidecar, so it does not know its call token "
            "(use --command or --image to check that callers without it are refused)",
        )
        return
    # A tool the sidecar describes (one that changes nothing, if any): a sidecar that checks
    # the token only for the tools it knows must not slip through.
    safe = [t.name for t in d.tools if not t.annotations.destructive]
    tool = (safe or [UNKNOWN_TOOL])[0]
    wrong = "podium-check-wrong-" + call_token[::-1]
    for method in ("Describe", "Invoke"):
        for label, md in (
            ("without the call token", ()),
            ("with a wrong call token", ((CALL_TOKEN_HEADER, wrong),)),
        ):
            await _refused(stub, report, method, label, md, tool)


async def _refused(
    stub: pb_grpc.SkillAsyncStub, report: Report, method: str, label: str, md: Metadata, tool: str
) -> None:
    check = f"call token: {method} {label}"
    started = time.perf_counter()
    answered = ""
    try:
        if method == "Describe":
            await stub.Describe(pb.DescribeRequest(), timeout=10, metadata=md)
            answered = "answered Describe"
        else:
            request = pb.InvokeRequest(
                call_id=f"check-token-{time.monotonic_ns()}",
                tool=tool,
                arguments_json="{}",
                run_id="podium-check",
            )
            answered = f"answered Invoke {tool} (an empty stream)"
            async for event in stub.Invoke(request, timeout=10, metadata=md):
                answered = f"answered Invoke {tool} (a {event.WhichOneof('event')} event)"
                break
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            report.add(check, "pass", "UNAUTHENTICATED", _ms(started))
            return
        answered = f"refused with {exc.code().name}: {exc.details()}"
    report.add(
        check,
        "fail",
        f"{answered}; a call {label} must be refused with UNAUTHENTICATED ({CONTRACT_SECTION})",
        _ms(started),
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)

"""A sidecar written against the raw gRPC stubs (no SDK), misbehaving on request.

    BAD_SKILL=broken-schema,two-results python tests/skill_check/bad_skill.py

Serves on $PODIUM_SKILL_SOCKET like any sidecar (PYTHONPATH must reach the repository).
Modes (comma-separated in BAD_SKILL):
broken-schema (a tool whose schema is a string type, one whose schema does not compile, one
that is not JSON, next to a good tool), bad-names, two-results, no-result, lax (accepts
anything, answers success), crash-on-cancel (exits when a call is cancelled), ignore-sigterm,
ignore-token (answers callers without its call token), open-describe (checks the token on
Invoke only). Otherwise it refuses calls without its token (UNAUTHENTICATED), as the
contract asks.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from protos import skill_pb2 as pb
from protos import skill_pb2_grpc as pb_grpc
from protos.approval import token_matches
from protos.handoff import CALL_TOKEN_ENV, take_secrets

MODES = set(filter(None, os.environ.get("BAD_SKILL", "").split(",")))
TOKEN = take_secrets(CALL_TOKEN_ENV).get(CALL_TOKEN_ENV)
GOOD_SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
    "additionalProperties": False,
}


def tools() -> list[pb.Tool]:
    out = [
        pb.Tool(name="echo", description="Echo a text.", input_schema_json=json.dumps(GOOD_SCHEMA))
    ]
    if "broken-schema" in MODES:
        out += [
            pb.Tool(name="stringly", description="x", input_schema_json='{"type": "string"}'),
            pb.Tool(
                name="nocompile",
                description="x",
                input_schema_json='{"type": "object", "properties": {"a": {"type": "nonsense"}}}',
            ),
            pb.Tool(name="notjson", description="x", input_schema_json="{nope"),
        ]
    if "bad-names" in MODES:
        out.append(
            pb.Tool(name="has space", description="x", input_schema_json=json.dumps(GOOD_SCHEMA))
        )
    return out


def result(
    text: str, kind: pb.ToolResult.ErrorKind.ValueType = pb.ToolResult.NONE
) -> pb.InvokeEvent:
    return pb.InvokeEvent(result=pb.ToolResult(text=text, is_error=kind != 0, error_kind=kind))


async def authenticate(context: Any, method: str) -> None:
    if "ignore-token" in MODES or (method == "Describe" and "open-describe" in MODES):
        return
    if not token_matches(TOKEN, dict(context.invocation_metadata() or ())):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "not this skill's agent")


class Servicer(pb_grpc.SkillServicer):
    async def Describe(self, request: Any, context: Any) -> pb.SkillDescription:
        await authenticate(context, "Describe")
        name = "Bad Skill" if "bad-names" in MODES else "bad-skill"
        return pb.SkillDescription(name=name, version="0.0.1", tools=tools())

    async def Invoke(self, request: pb.InvokeRequest, context: Any) -> Any:  # pyright: ignore[reportIncompatibleMethodOverride]
        await authenticate(context, "Invoke")
        kinds = pb.ToolResult.ErrorKind
        if request.tool not in {t.name for t in tools()}:
            yield result(f"unknown tool {request.tool}", kinds.UNKNOWN_TOOL)
            return
        if "no-result" in MODES:
            yield pb.InvokeEvent(log=pb.Log(level="info", message="forgot the result"))
            return
        if "lax" in MODES:
            yield result("fine")
            return
        try:
            args = json.loads(request.arguments_json)
        except json.JSONDecodeError:
            yield result("not JSON", kinds.INVALID_ARGUMENTS)
            return
        if not isinstance(args, dict) or set(args) != {"text"} or not isinstance(args["text"], str):
            yield result("bad arguments", kinds.INVALID_ARGUMENTS)
            return
        if "crash-on-cancel" in MODES:  # the checker cancels after this first event
            yield pb.InvokeEvent(progress=pb.Progress(progress=0, total=1, message="working"))
        try:
            await asyncio.sleep(1.0 if "crash-on-cancel" in MODES else 0.3)
        except asyncio.CancelledError:
            if "crash-on-cancel" in MODES:
                os._exit(3)  # a sidecar that dies when a call is cancelled
            raise
        yield result(args["text"])
        if "two-results" in MODES:
            yield result("again")


async def main() -> None:
    socket = Path(os.environ["PODIUM_SKILL_SOCKET"])
    server = grpc.aio.server()
    pb_grpc.add_SkillServicer_to_server(Servicer(), server)
    status = health.aio.HealthServicer()  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownVariableType]
    health_pb2_grpc.add_HealthServicer_to_server(status, server)  # pyright: ignore[reportUnknownArgumentType]
    server.add_insecure_port(f"unix:{socket}")
    await server.start()
    await status.set("", health_pb2.HealthCheckResponse.SERVING)  # pyright: ignore[reportUnknownMemberType]
    stop = asyncio.Event()
    if "ignore-sigterm" not in MODES:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    else:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    await stop.wait()
    await server.stop(1)
    socket.unlink(missing_ok=True)


if __name__ == "__main__":
    asyncio.run(main())

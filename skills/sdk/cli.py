"""`podium skill serve` and `podium skill health`: serve a skill, or probe one, with nothing
but the SDK (a skill image need not carry the agent). Also `python -m skills.sdk ...`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from skills.sdk._load import SkillLoadError, check_skill, load_skill

__all__ = [
    "SkillLoadError",
    "build_parser",
    "check_skill",
    "health_check",
    "load_skill",
    "main",
]


def build_parser(prog: str = "podium skill") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Serve or probe a skill.")
    sub = parser.add_subparsers(dest="skill_command", required=True)
    serve = sub.add_parser("serve", help="serve a skill over gRPC")
    serve.add_argument("spec", help="built-in name, MODULE:ATTR or file.py:ATTR")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--socket", type=Path, help="Unix socket (default: $PODIUM_SKILL_SOCKET)")
    where.add_argument("--port", type=int, help="serve on TCP instead")
    serve.add_argument("--host", default="127.0.0.1", help="with --port: the address to bind")
    serve.add_argument(
        "--config", type=Path, help="the skill's config file (default: $PODIUM_SKILL_CONFIG)"
    )
    serve.add_argument(
        "--workspace", type=Path, help="the run's workspace (default: $PODIUM_WORKSPACE)"
    )
    health = sub.add_parser("health", help="exit 0 when the skill answers SERVING")
    health.add_argument("--socket", type=Path, required=True, help="the skill's Unix socket")
    health.add_argument(
        "--timeout", type=float, default=2.0, help="seconds to wait for an answer (default 2)"
    )
    return parser


def main(
    argv: list[str] | None = None,
    builtins: Mapping[str, str] | None = None,
    prog: str = "podium skill",
) -> int:
    args = build_parser(prog).parse_args(sys.argv[1:] if argv is None else argv)
    if args.skill_command == "serve":
        return _serve(args, builtins or {}, prog)
    ok = args.socket.exists() and asyncio.run(health_check(args.socket, args.timeout))
    print("SERVING" if ok else "NOT_SERVING")
    return 0 if ok else 1


def _serve(args: argparse.Namespace, builtins: Mapping[str, str], prog: str) -> int:
    from protos.handoff import make_undumpable
    from skills.sdk._server import serve

    make_undumpable()  # before the skill's code runs: it is given the run's secrets
    if args.config:
        os.environ["PODIUM_SKILL_CONFIG"] = str(args.config.resolve())
    if args.workspace:
        os.environ["PODIUM_WORKSPACE"] = str(args.workspace.resolve())
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    socket = args.socket
    if socket is None and args.port is None:
        named = os.environ.get("PODIUM_SKILL_SOCKET")
        if not named:
            print(f"{prog} serve: give --socket or --port (or set PODIUM_SKILL_SOCKET)",
                  file=sys.stderr)  # fmt: skip
            return 2
        socket = Path(named)
    try:
        skill = load_skill(args.spec, builtins)
        asyncio.run(serve(skill, socket=socket, port=args.port, host=args.host))
    except (SkillLoadError, ValueError) as exc:
        print(f"{prog} serve: {exc}", file=sys.stderr)
        return 2
    return 0


async def health_check(socket: Path, timeout: float) -> bool:
    """True once the skill on `socket` answers the standard gRPC health check with SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2

    async with grpc.aio.insecure_channel(f"unix:{socket.absolute()}") as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            reply = await check(
                health_pb2.HealthCheckRequest(), timeout=timeout, wait_for_ready=True
            )
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

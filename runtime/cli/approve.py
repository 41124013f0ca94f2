"""`podium approve RUN [CALL] [--deny] [--reason TEXT]`: decide a call that waits for a
person's approval, from another terminal.

It asks the process that launched the run (which holds the run's approval key and signs)
over that run's control socket; see runtime.launchers.approvals. Without CALL it decides
the one waiting call, or lists them when several wait; `--list` only lists.

With `--kubernetes` the run is an AgentRun: the decision goes on the AgentRun and the
controller signs and delivers it (runtime.cli.approve_kube).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import socket
import sys
from typing import Any, cast

from runtime.cli.display import short
from runtime.launchers.approvals import control_socket


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium approve", description="Approve or deny a tool call that waits for you."
    )
    parser.add_argument("run", help="the run's id (run-...)")
    parser.add_argument("call", nargs="?", help="the call's id or number (default: the one)")
    parser.add_argument("--deny", action="store_true", help="deny the call instead")
    parser.add_argument("--reason", default="", help="why (the model is told)")
    parser.add_argument("--list", action="store_true", help="only list the waiting calls")
    parser.add_argument(
        "--kubernetes",
        action="store_true",
        help="RUN is an AgentRun in the cluster (KUBECONFIG): the controller delivers the decision",
    )
    parser.add_argument(
        "--namespace", "-n", help="with --kubernetes: the AgentRun's namespace (default: the "
        "kubeconfig's)",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.kubernetes:
        from runtime.cli.approve_kube import decide_in_cluster

        return decide_in_cluster(args)
    request: dict[str, Any] = {"op": "list"} if args.list else {
        "op": "decide",
        "call": args.call or "",
        "approve": not args.deny,
        "reason": args.reason,
        "by": _user(),
    }  # fmt: skip
    path = control_socket(args.run)
    try:
        reply = _ask(str(path), request)
    except (FileNotFoundError, ConnectionRefusedError):
        print(f"podium approve: no run {args.run!r} is waiting on this machine", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"podium approve: {exc}", file=sys.stderr)
        return 1
    for item in reply.get("decided", []):
        verb = "denied" if args.deny else "approved"
        print(f"{verb} {_describe(item)}")
    if not reply.get("ok"):
        print(f"podium approve: {reply.get('error', 'refused')}", file=sys.stderr)
    if args.list or not reply.get("ok"):
        for item in reply.get("pending", []):
            print(f"waiting: {_describe(item)}")
    return 0 if reply.get("ok") else 1


def _ask(path: str, request: dict[str, Any]) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return cast(dict[str, Any], json.loads(data or b"{}"))


def _describe(item: dict[str, Any]) -> str:
    return (
        f"#{item.get('number')} {short(str(item.get('tool')), 60)} "
        f"(call {short(str(item.get('call')), 60)}, skill {short(str(item.get('skill')), 40)}) "
        f"{short(str(item.get('arguments')), 200)}"
    )


def _user() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return "podium approve"

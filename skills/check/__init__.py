"""`podium skill check`: does a sidecar keep the launch contract (protos/README.md)?

    podium skill check --socket PATH          a sidecar someone else started
    podium skill check --command CMD ARGS...  started, checked and stopped by the checker
    podium skill check --image IMAGE          the same, as a container (docker)

Health, Describe (names, object schemas that compile, annotations), that a sidecar the
checker started (and so gave its call token) refuses Describe and Invoke without it or with
a wrong one (UNAUTHENTICATED), every tool invoked with
arguments made from its schema and with broken ones, an unknown tool, cancelled calls, and
SIGTERM for a sidecar the checker started. A readable report, or `--json`; exit 1 on any
failure, 2 on bad input. Needs only gRPC, the stubs and jsonschema: no agent code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from skills.check._checks import CheckOptions, Finding, Report, check_socket
from skills.check._targets import (
    CommandTarget,
    ImageTarget,
    SocketTarget,
    Target,
    TargetError,
    extra_env,
    resolve_command,
)

__all__ = ["CheckOptions", "Finding", "Report", "build_parser", "main", "run_check"]


async def run_check(target: Target, options: CheckOptions) -> Report:
    """Start the target (if it is ours), run every check, stop it; never raises for a
    misbehaving sidecar (TargetError when it cannot be started at all)."""
    report = Report(target=target.describe)
    started = time.perf_counter()
    try:
        await target.start()
        await check_socket(target.socket, report, options, target.alive, target.call_token)
        if any(f.check == "health" and f.status == "pass" for f in report.findings):
            if target.alive():
                await target.sigterm(report)
            else:
                report.add("still running", "fail", "the sidecar exited during the checks")
        if not report.ok:
            report.log_tail = await target.log_tail()
    finally:
        await target.cleanup()
    report.duration_s = time.perf_counter() - started
    return report


MARK = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "-"}


def render(report: Report) -> str:
    head = f"{report.skill or '?'} {report.version}".strip()
    lines = [f"podium skill check: {head} ({report.tools} tools) via {report.target}"]
    width = min(60, max((len(f.check) for f in report.findings), default=10))
    for f in report.findings:
        took = f"  {f.duration_ms:.1f} ms" if f.duration_ms is not None else ""
        lines.append(f"  {MARK[f.status]} {f.check:<{width}}  {f.detail}{took}")
    c = report.counts()
    verdict = "PASSED" if report.ok else "FAILED"
    lines.append(
        f"{verdict}: {c['pass']} passed, {c['warn']} warnings, {c['fail']} failed, "
        f"{c['skip']} skipped in {report.duration_s:.2f}s"
    )
    if report.log_tail:
        lines.append("the sidecar's log (last lines):")
        lines += [f"  | {line}" for line in report.log_tail.splitlines()]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium skill check",
        description="Check that a skill sidecar keeps the launch contract (protos/README.md).",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", type=Path, help="a sidecar already serving on this socket")
    where.add_argument(
        "--command",
        nargs=argparse.REMAINDER,
        metavar="CMD",
        help="start this program (and its arguments: put --command last)",
    )
    where.add_argument("--image", help="run this image with docker, as a Pod would")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="more environment for a sidecar the checker starts (repeatable)",
    )
    parser.add_argument("--config", type=Path, help="given as PODIUM_SKILL_CONFIG")
    parser.add_argument("--timeout", type=float, default=30.0, help="readiness wait (s)")
    parser.add_argument("--call-timeout", type=float, default=20.0, help="per-call deadline (s)")
    parser.add_argument(
        "--skip-destructive", action="store_true", help="do not invoke destructive tools"
    )
    return parser


def _target(args: argparse.Namespace) -> Target:
    env = extra_env(args.env)
    if args.socket is not None:
        return SocketTarget(args.socket)
    config = str(args.config.resolve()) if args.config else None
    if args.image is not None:
        return ImageTarget(args.image, env=env, config=config)
    return CommandTarget(resolve_command(args.command, Path.cwd()), env=env, config=config)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is not None and not args.command:
        print("podium skill check: --command needs a program to run", file=sys.stderr)
        return 2
    options = CheckOptions(
        ready_timeout_s=args.timeout,
        call_timeout_s=args.call_timeout,
        skip_destructive=args.skip_destructive,
    )
    try:
        report = asyncio.run(run_check(_target(args), options))
    except TargetError as exc:
        print(f"podium skill check: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else render(report))
    return 0 if report.ok else 1

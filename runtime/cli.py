"""`podium`: the command line. Subcommands owned by other packages (`memory`, `mcp`, `render`,
`mock-llm`) are imported only when used, so `podium run` starts fast."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `skill serve` (run once per sidecar) needs none of it
    from runtime.display import TerminalDisplay
    from runtime.spec import RunSpec, SkillSpec

# Subcommands that hand the rest of the command line to another module's `main(argv)`.
DELEGATED = {
    "memory": ("skills.memory.cli", "search, list, export, import and stats on a memory DB"),
    "mcp": ("mcp_bridge.cli", "inspect MCP servers: `podium mcp tools servers.json`"),
    "render": ("runtime.podspec", "print the Pod spec a run spec becomes, as YAML"),
    "mock-llm": ("runtime.mock_llm", "serve a scripted OpenAI-compatible LLM"),
}
MODEL_ENV = {
    "openai": ["OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"],
    "anthropic": ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"],
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium",
        description="Run AI agents as short-lived jobs: one agent plus one sidecar per skill.",
        epilog="Start with `podium demo`, then `podium run TASK --skill workspace`.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an agent on a task")
    run.add_argument("task", nargs="?", help="what the agent should do")
    run.add_argument(
        "--skill",
        action="append",
        default=[],
        metavar="SPEC",
        help="built-in name, MODULE:ATTR or file.py:ATTR; NAME=SPEC to rename",
    )
    run.add_argument("--mcp", metavar="FILE", help="MCP servers config (adds the mcp skill)")
    run.add_argument(
        "--model", help="openai:MODEL, anthropic:MODEL, litellm:... (default: $PODIUM_MODEL)"
    )
    run.add_argument("--spec", type=Path, help="a run spec file (JSON or YAML); flags override")
    run.add_argument("--workspace", type=Path, help="workspace folder (default: a fresh one)")
    run.add_argument("--max-turns", type=int)
    run.add_argument("--timeout", type=float, metavar="SECONDS")
    run.add_argument("--max-tokens", type=int)
    run.add_argument("--read-only", action="store_true", help="offer only read-only tools")
    run.add_argument("--memory-scope", help="memory scope (e.g. team/agent)")
    run.add_argument("--recall", action="store_true", help="recall memories into the prompt")
    run.add_argument("--summary", action="store_true", help="store a summary in memory")
    run.add_argument("--json", action="store_true", help="print events as JSON lines")
    run.add_argument("--backend", choices=["local", "docker"], default="local")
    run.add_argument(
        "--network", choices=["bridge", "host", "none"], help="docker backend: the Pod's network"
    )
    run.add_argument("--runtime-class", help="docker backend: e.g. gvisor (runsc)")
    run.add_argument("--keep", action="store_true", help="docker backend: keep containers")

    sub.add_parser("demo", help="a real local run with the bundled scripted LLM (no API key)")

    agent = sub.add_parser("agent", help="run the agent process (inside a Pod or launcher)")
    agent.add_argument(
        "--workspace", type=Path, default=Path(os.environ.get("PODIUM_WORKSPACE", "/workspace"))
    )

    skill = sub.add_parser("skill", help="serve or probe a skill")
    skill_sub = skill.add_subparsers(dest="skill_command", required=True)
    serve = skill_sub.add_parser("serve", help="serve a skill over gRPC")
    serve.add_argument("spec", help="built-in name, MODULE:ATTR or file.py:ATTR")
    where = serve.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", type=Path)
    where.add_argument("--port", type=int)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--config", type=Path, help="the skill's config file")
    serve.add_argument("--workspace", type=Path)
    health = skill_sub.add_parser("health", help="exit 0 when the skill answers SERVING")
    health.add_argument("--socket", type=Path, required=True)
    health.add_argument("--timeout", type=float, default=2.0)

    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:  # `podium render spec.yaml | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv: list[str]) -> int:
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[argv[0]][0])
        entry: Callable[[list[str]], int] = module.main
        return entry(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "demo":
        from runtime.demo import run_demo

        return run_demo()
    if args.command == "agent":
        from runtime.agent_main import main as agent_main

        return agent_main(args.workspace)
    if args.skill_command == "serve":
        return cmd_skill_serve(args)
    return cmd_skill_health(args)


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    from runtime.spec import Limits, MemorySettings, Policy, RunSpec, Sandbox, SkillSpec

    base = RunSpec.load(args.spec).model_dump() if args.spec else {}
    if args.task:
        base["task"] = args.task
    if not base.get("task"):
        raise SystemExit("podium run: give a TASK (or a --spec with one)")
    if args.model:
        base["model"] = args.model
    skills = [_skill_spec(s) for s in args.skill]
    if args.mcp:
        skills.append(SkillSpec(name="mcp", source="mcp", config=str(Path(args.mcp).resolve())))
    if not skills and not base.get("skills"):
        skills = [SkillSpec(name="workspace", source="workspace")]  # a useful default
    if skills:
        base["skills"] = [*base.get("skills", []), *(s.model_dump() for s in skills)]
    limits = {
        k: v
        for k, v in (
            ("max_turns", args.max_turns),
            ("timeout_s", args.timeout),
            ("max_tokens", args.max_tokens),
        )
        if v is not None
    }
    base["limits"] = Limits.model_validate({**base.get("limits", {}), **limits}).model_dump()
    if args.read_only:
        base["policy"] = Policy.model_validate({**base.get("policy", {}), "read_only": True})
    memory = {
        **base.get("memory", {}),
        **({"scope": args.memory_scope} if args.memory_scope else {}),
    }
    memory.update({k: True for k in ("recall", "summary") if getattr(args, k)})
    base["memory"] = MemorySettings.model_validate(memory).model_dump()
    sandbox = {
        **base.get("sandbox", {}),
        **({"network": args.network} if args.network else {}),
        **({"runtime_class": args.runtime_class} if args.runtime_class else {}),
    }
    base["sandbox"] = Sandbox.model_validate(sandbox).model_dump()
    spec = RunSpec.model_validate(base)
    provider = spec.model.split(":", 1)[0]
    spec.model_env = sorted({*spec.model_env, *MODEL_ENV.get(provider, []), "PODIUM_MODEL"})
    return spec


def _skill_spec(text: str) -> SkillSpec:
    from runtime.spec import SkillSpec
    from skills.catalog import BUILTIN, default_name

    name, _, source = text.rpartition("=")
    if source not in BUILTIN and ":" not in source:
        raise ValueError(
            f"unknown skill {source!r}: use a built-in "
            f"({', '.join(sorted(BUILTIN))}), MODULE:ATTR or path/to/file.py:ATTR"
        )
    where, _, attr = source.rpartition(":")
    if where.endswith(".py"):  # skills run with the workspace as cwd: pin the file's path
        source = f"{Path(where).resolve()}:{attr}"
    return SkillSpec(name=name or default_name(source), source=source)


def cmd_run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from runtime.display import TerminalDisplay

    try:
        spec = spec_from_args(args)
    except (ValidationError, ValueError, FileNotFoundError) as exc:
        print(f"podium run: invalid run spec: {exc}", file=sys.stderr)
        return 2
    workspace = (args.workspace or Path(tempfile.mkdtemp(prefix="podium-"))).resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    display = TerminalDisplay(as_json=args.json)
    # In --json mode stdout carries only events; the workspace path goes to stderr.
    print(f"workspace: {workspace}", file=sys.stderr if args.json else sys.stdout, flush=True)
    return asyncio.run(launch(spec, workspace, display, args.backend, keep=args.keep))


async def launch(
    spec: RunSpec,
    workspace: Path,
    display: TerminalDisplay,
    backend: str = "local",
    keep: bool = False,
) -> int:
    """Run `spec` with a launcher, showing events; returns the process exit code."""
    from runtime.base import Launcher
    from runtime.events import RunResult

    launcher: Launcher
    if backend == "docker":
        from runtime.launchers.docker import DockerLauncher

        launcher = DockerLauncher(spec, workspace=workspace, keep=keep)
    else:
        from runtime.launchers.local import LocalLauncher

        launcher = LocalLauncher(spec, workspace)
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda s=sig: (received.append(s), task.cancel()))
    seen_finish = False
    events = launcher.launch()
    try:
        async for event in events:
            seen_finish = seen_finish or event.get("type") == "run_finished"
            display.show(event)
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await events.aclose()  # stops every child, in order, on every path
    from runtime.spec import RunPaths

    result_path = RunPaths(workspace).result
    result = RunResult.load(result_path)
    if not seen_finish:
        display.show({"type": "run_finished", **result.to_dict()})
    if received:
        return 128 + received[0]
    return 0 if result.status == "succeeded" else 1


def cmd_skill_serve(args: argparse.Namespace) -> int:
    import logging

    from skills.catalog import SkillLoadError, load_skill
    from skills.sdk import serve

    if args.config:
        os.environ["PODIUM_SKILL_CONFIG"] = str(args.config.resolve())
    if args.workspace:
        os.environ["PODIUM_WORKSPACE"] = str(args.workspace.resolve())
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        skill = load_skill(args.spec)
        asyncio.run(serve(skill, socket=args.socket, port=args.port, host=args.host))
    except (SkillLoadError, ValueError) as exc:
        print(f"podium skill serve: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_skill_health(args: argparse.Namespace) -> int:
    from runtime.skill_client import GrpcSkillClient

    async def check() -> bool:
        client = GrpcSkillClient.for_socket("probe", args.socket)
        try:
            return await client.serving(args.timeout)
        finally:
            await client.close()

    ok = args.socket.exists() and asyncio.run(check())
    print("SERVING" if ok else "NOT_SERVING")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

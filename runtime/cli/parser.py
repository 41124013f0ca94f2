"""The `podium` command line: its subcommands and flags."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

# Subcommands that hand the rest of the command line to another module's `main(argv)`.
DELEGATED = {
    "skills": ("skills.listing", "list the built-in skills and their tools"),
    "skill": ("skills.serve", "serve or probe a skill: `podium skill serve SPEC --socket PATH`"),
    "memory": ("skills.memory.cli", "search, list, export, import and stats on a memory DB"),
    "mcp": ("mcp_bridge.cli", "inspect MCP servers: `podium mcp tools servers.json`"),
    "render": ("runtime.cli.render", "print the Pod spec a run spec becomes, as YAML"),
    "approve": ("runtime.cli.approve", "approve or deny a call waiting: podium approve RUN [CALL]"),
    "control": ("runtime.control", "a cluster run's control service (its podium-control sidecar)"),
    "mock-llm": ("runtime.mock_llm.server", "serve a scripted OpenAI-compatible LLM"),
    "controller": ("controller.cli", "run the Kubernetes controller, or `render` a run's objects"),
    "schedule": ("controller.schedule_cli", "the next fire times of an AgentSchedule"),
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("podium")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium",
        description="Run AI agents as short-lived jobs: one agent plus one sidecar per skill.",
        epilog="Start with `podium demo`, then `podium run TASK --skill workspace`.",
    )
    parser.add_argument("--version", action="version", version=f"podium {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run an agent on a task")
    run.add_argument("task", nargs="?", help="what the agent should do")
    run.add_argument(
        "--skill",
        action="append",
        default=[],
        metavar="SPEC",
        help="built-in name, MODULE:ATTR or file.py:ATTR; NAME=SPEC to rename",
    )
    run.add_argument(
        "--skill-command",
        action="append",
        default=[],
        metavar="NAME=ARGV",
        help="a sidecar in any language, started locally as this argument list (a JSON array), "
        """e.g. 'ts=["node", "server.js"]' (see protos/README.md)""",
    )
    run.add_argument("--mcp", metavar="FILE", help="MCP servers config (adds the mcp skill)")
    run.add_argument(
        "--mcp-allow-no-tools",
        action="store_true",
        help="start even if the MCP servers offer no tools (all failed, or the filters removed "
        "all); by default such a run fails before the first model turn",
    )
    run.add_argument(
        "--model", help="openai:MODEL, anthropic:MODEL, litellm:... (default: $PODIUM_MODEL)"
    )
    run.add_argument("--spec", type=Path, help="a run spec file (JSON or YAML); flags override")
    run.add_argument("--workspace", type=Path, help="workspace folder (default: a fresh one)")
    run.add_argument("--max-turns", type=int, help="model turns before the run fails (default 30)")
    run.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="deadline for the whole run; in-flight tool calls are cancelled (default 600)",
    )
    run.add_argument(
        "--max-tokens", type=int, help="token budget, input + output, for the whole run"
    )
    run.add_argument("--read-only", action="store_true", help="offer only read-only tools")
    run.add_argument(
        "--approve",
        choices=["ask", "never", "auto"],
        help="calls the policy asks about (destructive tools by default): ask a person "
        "(default), never approve them, or approve them automatically",
    )
    run.add_argument(
        "--approval-timeout", type=float, metavar="SECONDS", help="deny unanswered calls after"
    )
    run.add_argument("--memory-scope", help="memory scope (e.g. team/agent)")
    run.add_argument("--recall", action="store_true", help="recall memories into the prompt")
    run.add_argument("--summary", action="store_true", help="store a summary in memory")
    run.add_argument("--json", action="store_true", help="print events as JSON lines")
    run.add_argument(
        "--backend",
        choices=["local", "docker", "kubernetes"],
        default="local",
        help="where the run's processes run: local processes (default), docker containers, "
        "or a Kubernetes cluster (as an AgentRun)",
    )
    run.add_argument(
        "--namespace",
        "-n",
        help="kubernetes backend: the AgentRun's namespace (default: kubeconfig's)",
    )
    run.add_argument(
        "--detach", action="store_true", help="kubernetes backend: create the AgentRun and exit"
    )
    run.add_argument(
        "--network", choices=["bridge", "host", "none"], help="docker backend: the Pod's network"
    )
    run.add_argument("--runtime-class", help="docker backend: e.g. gvisor (runsc)")
    run.add_argument("--keep", action="store_true", help="docker backend: keep containers")
    run.add_argument(
        "--image-prefix", help="docker backend: repository prefix of Podium's images (podium/)"
    )

    sub.add_parser("demo", help="a real local run with the bundled scripted LLM (no API key)")

    # Internal: what a launcher starts in the agent container; not in the top-level help.
    agent = sub.add_parser(
        "agent", description="Run the agent process (what a launcher or a Pod starts)."
    )
    agent.add_argument(
        "--workspace",
        type=Path,
        default=Path(os.environ.get("PODIUM_WORKSPACE", "/workspace")),
        help="the run's workspace with .podium/run.json (default: $PODIUM_WORKSPACE or /workspace)",
    )

    sub.add_parser("runs", help="recent runs: status, duration, turns, task, workspace")
    sub.add_parser("show", help="a past run's result and events: `podium show RUN [--json]`")
    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser

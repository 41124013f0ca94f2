"""`podium`: the command line, what runs on the user's machine. Subcommands owned by other
packages (`skill`, `memory`, `mcp`, `render`, `mock-llm`) are imported only when used, so
`podium skill serve` (run once per sidecar) and `podium run` start fast."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from runtime.cli.parser import DELEGATED, build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return _main(argv)
    except BrokenPipeError:  # `podium render spec.yaml | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ModuleNotFoundError as exc:
        # A skill image carries only `podium skill ...` (images/skill-base/Dockerfile).
        if not (exc.name or "").startswith(("runtime.", "controller")):
            raise
        command = argv[0] if argv else "agent"
        print(
            f"podium: `podium {command}` is not part of this installation (no {exc.name}; "
            "a skill image has only `podium skill serve` and `podium skill health`)",
            file=sys.stderr,
        )
        return 2


def _main(argv: list[str]) -> int:
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[argv[0]][0])
        entry: Callable[[list[str]], int] = module.main
        return entry(argv[1:])
    if argv and argv[0] in ("runs", "show"):
        from runtime.cli.history import runs_main, show_main

        return (runs_main if argv[0] == "runs" else show_main)(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "run":
        from runtime.cli.run import cmd_run

        return cmd_run(args)
    if args.command == "demo":
        from runtime.cli.demo import run_demo

        return run_demo()
    from runtime.agent.main import main as agent_main

    return agent_main(args.workspace)


if __name__ == "__main__":
    sys.exit(main())

"""`podium run`: a run spec from flags (and a spec file), checked, then run on this machine.

Everything that can be checked before a workspace is made or a process starts is checked
first (`preflight`); each mistake is one line naming the flag or field, exit status 2."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from runtime.cli.preflight import UsageError

if TYPE_CHECKING:
    from runtime.spec import RunSpec

# Run spec fields a flag sets, so an error names the flag the user typed.
_LIMIT_FLAGS = (
    ("max_turns", "max_turns", "--max-turns"),
    ("timeout_s", "timeout", "--timeout"),
    ("max_tokens", "max_tokens", "--max-tokens"),
)


class _Built:
    """A spec from flags, and which flag set which skill (for error messages)."""

    def __init__(self, spec: RunSpec, skill_flags: dict[str, str], model_flag: str) -> None:
        self.spec, self.skill_flags, self.model_flag = spec, skill_flags, model_flag


def build_spec(args: argparse.Namespace) -> _Built:
    """The run spec the flags (over a --spec file) describe; UsageError names what is wrong."""
    from runtime._validation import SpecError, read_data
    from runtime.spec import RunSpec

    base: dict[str, Any] = {}
    where = "podium run"
    if args.spec:
        where = f"--spec {args.spec}"
        try:
            data = read_data(args.spec)
        except SpecError as exc:
            raise UsageError(f"--spec {exc}") from None
        if not isinstance(data, dict):
            raise UsageError(f"{where}: expected a mapping of fields (task, model, skills, ...)")
        base = dict(data)  # pyright: ignore[reportUnknownArgumentType]
        _pin_spec_commands(base, args.spec.parent)
    flags: dict[str, str] = {}
    if args.task is not None:
        base["task"], flags["task"] = args.task, "TASK"
    if not base.get("task"):
        raise UsageError("give a TASK (or a --spec file with a task)")
    if args.model:
        base["model"], flags["model"] = args.model, "--model"
    skills: list[Any] = list(base.get("skills") or [])
    skill_flags: dict[str, str] = {}
    added = [(f"--skill {text}", _skill_entry(text)) for text in args.skill]
    added += [(f"--skill-command {t}", _command_entry(t)) for t in args.skill_command]
    if args.mcp:
        added.append((f"--mcp {args.mcp}", {"name": "mcp", "source": "mcp", "config": args.mcp}))
    if not added and not skills:
        added.append(("--skill workspace", {"name": "workspace", "source": "workspace"}))
    for flag, entry in added:
        flags[f"skills.{len(skills)}"] = flag
        skill_flags[entry["name"]] = flag
        skills.append(entry)
    base["skills"] = skills
    limits = dict(base.get("limits") or {})
    for field, attr, flag in _LIMIT_FLAGS:
        value = getattr(args, attr)
        if value is not None:
            limits[field], flags[f"limits.{field}"] = value, flag
    base["limits"] = limits
    policy = dict(base.get("policy") or {})
    for value, field, flag in (
        (True if args.read_only else None, "read_only", "--read-only"),
        (args.approve, "approve", "--approve"),
        (args.approval_timeout, "approval_timeout_s", "--approval-timeout"),
    ):
        if value is not None:
            policy[field], flags[f"policy.{field}"] = value, flag
    base["policy"] = policy
    memory = dict(base.get("memory") or {})
    if args.memory_scope:
        memory["scope"], flags["memory.scope"] = args.memory_scope, "--memory-scope"
    memory.update({k: True for k in ("recall", "summary") if getattr(args, k)})
    base["memory"] = memory
    sandbox = dict(base.get("sandbox") or {})
    if args.network:
        sandbox["network"] = args.network
    if args.runtime_class:
        sandbox["runtime_class"], flags["sandbox.runtime_class"] = (
            args.runtime_class,
            "--runtime-class",
        )
    base["sandbox"] = sandbox
    try:
        spec = RunSpec.from_data(base, where=where, flags=flags)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    if args.mcp_allow_no_tools:
        bridges = [s for s in spec.skills if s.source == "mcp"]
        if not bridges:
            raise UsageError("--mcp-allow-no-tools: the run has no MCP skill (give --mcp FILE)")
        for bridge in bridges:
            bridge.allow_no_tools = True
    if args.model:
        model_flag = "--model"
    elif "model" in base:
        model_flag = f"{where}: model"
    else:
        model_flag = "$PODIUM_MODEL" if os.environ.get("PODIUM_MODEL") else "the default model"
    return _Built(spec, skill_flags, model_flag)


def _skill_entry(text: str) -> dict[str, Any]:
    from runtime.cli.preflight import check_skill_source
    from skills.catalog import default_name

    name, _, source = text.rpartition("=")
    check_skill_source(source, f"--skill {text}")
    where, _, attr = source.rpartition(":")
    if where.endswith(".py"):  # skills run with the workspace as cwd: pin the file's path
        source = f"{Path(where).resolve()}:{attr}"
    return {"name": name or default_name(source), "source": source}


def _command_entry(text: str) -> dict[str, Any]:
    """`NAME=["program", "arg", ...]`: a sidecar started locally as that argument list."""
    import json

    name, sep, argv = text.partition("=")
    try:
        parsed: object = json.loads(argv) if sep else None
    except json.JSONDecodeError:
        parsed = None
    items = cast(list[object], parsed) if isinstance(parsed, list) else []
    command = [a for a in items if isinstance(a, str)]
    if not name or not command or len(command) != len(items):
        raise UsageError(
            f"--skill-command {text!r}: give NAME=ARGV with ARGV a JSON array of strings, "
            """e.g. 'ts=["node", "server.js"]'"""
        )
    return {"name": name, "command": _pin_paths(command, Path.cwd())}


def _pin_spec_commands(base: dict[str, Any], folder: Path) -> None:
    """A spec's relative paths are relative to the spec file."""
    for skill in cast(list[Any], base.get("skills") or []):
        if isinstance(skill, dict):
            entry = cast(dict[str, Any], skill)
            command: object = entry.get("command")
            items = cast(list[object], command) if isinstance(command, list) else []
            argv = [a for a in items if isinstance(a, str)]
            if argv and len(argv) == len(items):
                entry["command"] = _pin_paths(argv, folder)


def _pin_paths(argv: list[str], base: Path) -> list[str]:
    """Skills run with the workspace as cwd: arguments naming existing files relative to
    `base` become absolute (without resolving symlinks, so a venv's python stays itself)."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        candidate = base / arg
        relative = bool(arg) and not Path(arg).is_absolute() and ("/" in arg or i > 0)
        out.append(str(candidate.absolute()) if relative and candidate.exists() else arg)
    return out


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The checked run spec (kept for callers that only want the spec)."""
    built = build_spec(args)
    _preflight(args, built)
    return built.spec


def _preflight(args: argparse.Namespace, built: _Built) -> None:
    from runtime.cli.preflight import check_spec, check_workspace

    if args.workspace is not None:
        check_workspace(args.workspace)
    check_spec(built.spec, model_flag=built.model_flag, skill_flags=built.skill_flags)
    if args.backend == "local":
        from runtime.process import check_local

        try:
            check_local(built.spec)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


def cmd_run(args: argparse.Namespace) -> int:
    from runtime.cli.display import TerminalDisplay
    from runtime.launchers import launch

    try:
        spec = spec_from_args(args)
    except UsageError as exc:
        from skills.sdk import printable

        print(f"podium run: {printable(exc, one_line=True)}", file=sys.stderr)
        return 2
    if args.backend == "kubernetes" and args.detach:
        return _detach(spec, args.namespace)
    if args.detach:
        print("podium run: --detach is for --backend kubernetes", file=sys.stderr)
        return 2
    workspace = (args.workspace or Path(tempfile.mkdtemp(prefix="podium-"))).resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    display = TerminalDisplay(as_json=args.json)
    prompt = None
    if not args.json and sys.stdin.isatty() and spec.policy.approve in (None, "ask"):
        from runtime.cli.prompt import TerminalPrompt

        prompt = TerminalPrompt()
    # In --json mode stdout carries only events; the workspace path goes to stderr.
    print(f"workspace: {workspace}", file=sys.stderr if args.json else sys.stdout, flush=True)
    try:
        code = asyncio.run(
            launch(
                spec,
                workspace,
                display,
                args.backend,
                keep=args.keep,
                namespace=args.namespace,
                prompt=prompt,
                image_prefix=args.image_prefix,
            )
        )
    except ValueError as exc:  # a spec the cluster cannot run (a skill without an image)
        print(f"podium run: {exc}", file=sys.stderr)
        return 2
    from runtime.cli.history import record_run

    record_run(workspace)
    return code


def _detach(spec: RunSpec, namespace: str | None) -> int:
    from runtime.launchers.kubernetes import KubernetesLauncher

    launcher = KubernetesLauncher(spec, Path(), namespace=namespace)

    async def submit() -> str:
        try:
            return await launcher.submit()
        finally:
            await launcher.close()

    try:
        name = asyncio.run(submit())
    except ValueError as exc:
        print(f"podium run: {exc}", file=sys.stderr)
        return 2
    print(f"agentrun.podium.dev/{name} created in namespace {launcher.namespace}")
    return 0

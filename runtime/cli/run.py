"""`podium run`: a run spec from flags (and a spec file), run on this machine."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.spec import RunSpec, SkillSpec


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    from runtime.spec import (
        MODEL_ENV,
        Limits,
        MemorySettings,
        Policy,
        RunSpec,
        Sandbox,
        SkillSpec,
    )

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
    if args.mcp_allow_no_tools:
        bridges = [s for s in spec.skills if s.source == "mcp"]
        if not bridges:
            raise ValueError("--mcp-allow-no-tools: the run has no MCP skill (give --mcp FILE)")
        for bridge in bridges:
            bridge.allow_no_tools = True
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

    from runtime.cli.display import TerminalDisplay
    from runtime.launchers import launch

    try:
        spec = spec_from_args(args)
    except (ValidationError, ValueError, FileNotFoundError) as exc:
        print(f"podium run: invalid run spec: {exc}", file=sys.stderr)
        return 2
    if args.backend == "kubernetes" and args.detach:
        return _detach(spec, args.namespace)
    if args.detach:
        print("podium run: --detach is for --backend kubernetes", file=sys.stderr)
        return 2
    workspace = (args.workspace or Path(tempfile.mkdtemp(prefix="podium-"))).resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    display = TerminalDisplay(as_json=args.json)
    # In --json mode stdout carries only events; the workspace path goes to stderr.
    print(f"workspace: {workspace}", file=sys.stderr if args.json else sys.stdout, flush=True)
    try:
        return asyncio.run(
            launch(spec, workspace, display, args.backend, keep=args.keep, namespace=args.namespace)
        )
    except ValueError as exc:  # a spec the cluster cannot run (a skill without an image)
        print(f"podium run: {exc}", file=sys.stderr)
        return 2


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

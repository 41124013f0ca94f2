"""The workspace skill: its tools called directly, and every way out of the workspace refused."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest

from protos import skill_pb2 as pb
from skills.sdk import Context, ToolError
from skills.workspace import (
    skill,
    workspace_list,
    workspace_read,
    workspace_search,
    workspace_write,
)


def search(ctx: Context, query: str, regex: bool = False) -> str:
    return asyncio.run(workspace_search(ctx, query, regex=regex))


@pytest.fixture
def ctx(workspace: Path) -> Context:
    return Context(workspace=workspace, run_id="r", call_id="c", log=logging.getLogger("t"))


def test_write_read_list_search(ctx: Context) -> None:
    assert workspace_write(ctx, "docs/a.md", "one\nTODO two\n") == "wrote 13 bytes to docs/a.md"
    workspace_write(ctx, "docs/a.md", "three\n", append=True)
    assert workspace_read(ctx, "docs/a.md") == "one\nTODO two\nthree\n"
    assert workspace_read(ctx, "docs/a.md", offset=4, limit=4).startswith("TODO")
    assert workspace_list(ctx) == "docs/a.md\t19"
    assert workspace_list(ctx, pattern="*.txt") == "(no files)"
    assert search(ctx, "TODO") == "docs/a.md:2: TODO two"
    assert search(ctx, r"t\w+e", regex=True) == "docs/a.md:3: three"
    assert ctx.artifacts == ["docs/a.md", "docs/a.md"]


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "a/../../x", "", "a\x00b"])
def test_paths_that_escape_are_refused(ctx: Context, path: str) -> None:
    with pytest.raises(ToolError):
        workspace_read(ctx, path)
    with pytest.raises(ToolError):
        workspace_write(ctx, path, "x")


def test_symlinks_pointing_out_are_refused(ctx: Context, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("token")
    (ctx.workspace / "link.txt").symlink_to(secret)
    (ctx.workspace / "linkdir").symlink_to(tmp_path)
    with pytest.raises(ToolError, match="outside the workspace"):
        workspace_read(ctx, "link.txt")
    with pytest.raises(ToolError, match="outside the workspace"):
        workspace_write(ctx, "linkdir/new.txt", "x")
    assert "token" not in search(ctx, "token")


def test_podium_records_are_readable_but_not_writable(ctx: Context) -> None:
    (ctx.workspace / ".podium").mkdir()
    (ctx.workspace / ".podium" / "result.json").write_text("{}")
    assert workspace_read(ctx, ".podium/result.json") == "{}"
    with pytest.raises(ToolError, match="read-only"):
        workspace_write(ctx, ".podium/result.json", "forged")
    assert workspace_list(ctx) == "(no files)"  # not listed either


def test_bad_regex_and_missing_files_are_tool_errors(ctx: Context) -> None:
    with pytest.raises(ToolError, match="bad regular expression"):
        search(ctx, "(", regex=True)
    with pytest.raises(ToolError, match="no such file"):
        workspace_read(ctx, "missing.txt")
    with pytest.raises(ToolError, match="no such folder"):
        workspace_list(ctx, "missing")


@pytest.mark.anyio
async def test_errors_reach_the_model_as_tool_errors(ctx: Context) -> None:
    result = await skill.call(
        pb.InvokeRequest(tool="workspace_read", arguments_json=json.dumps({"path": "../x"})), ctx
    )
    assert result.is_error and result.error_kind == pb.ToolResult.TOOL
    assert "outside the workspace" in result.text


def test_a_catastrophic_regex_is_killed_not_waited_for(ctx: Context) -> None:
    (ctx.workspace / "a.txt").write_text("a" * 40 + "b\n")
    ctx.deadline = time.monotonic() + 1.0  # the call's deadline bounds the child process
    started = time.monotonic()
    with pytest.raises(TimeoutError):  # the call ran out of time (over gRPC: a TIMEOUT result)
        search(ctx, "(a+)+$", regex=True)
    assert time.monotonic() - started < 10


def test_skill_logs_are_not_for_the_model(ctx: Context) -> None:
    (ctx.workspace / ".podium" / "logs").mkdir(parents=True)
    (ctx.workspace / ".podium" / "logs" / "memory.log").write_text("Traceback ...")
    with pytest.raises(ToolError, match="for people"):
        workspace_read(ctx, ".podium/logs/memory.log")

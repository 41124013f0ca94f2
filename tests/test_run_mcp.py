"""Whole runs with the MCP bridge that must not pretend: a bridge with zero tools (every
server failed, or the filters removed all) fails the run before the first model turn, with
the reason, unless the user opted in."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

PAGING_SERVER = Path(__file__).parent / "mcp_bridge" / "paging_server.py"

pytestmark = pytest.mark.e2e


def servers(workspace: Path, **entries: Any) -> str:
    path = workspace / "servers.json"
    path.write_text(json.dumps({"mcpServers": entries}))
    return str(path)


def chat_requests(run: Any) -> list[Any]:
    return [r for r in run.requests if r.path.endswith("/chat/completions")]


def test_no_server_started_fails_before_the_first_turn(podium: Any, workspace: Path) -> None:
    config = servers(workspace, gone={"command": "/nonexistent/mcp-server"})
    run = podium({"steps": [{"content": "all done"}]}, "use the tools", "--mcp", config)
    assert run.code == 1, run.stdout + run.stderr
    assert run.result["status"] == "failed"
    error = run.result["error"]["message"]
    assert "skill 'mcp' offers no tools" in error
    assert "mcp:gone: unavailable: cannot start '/nonexistent/mcp-server'" in error
    assert "--mcp-allow-no-tools" in error
    assert chat_requests(run) == []  # no model turn happened
    assert run.stdout.count("offers no tools") == 1  # the error is printed once


def test_filters_that_remove_everything_fail_the_run_saying_so(
    podium: Any, workspace: Path
) -> None:
    config = servers(
        workspace, p={"command": sys.executable, "args": [str(PAGING_SERVER)], "deny": ["*"]}
    )
    run = podium({"steps": [{"content": "all done"}]}, "use the tools", "--mcp", config)
    assert run.code == 1, run.stdout + run.stderr
    error = run.result["error"]["message"]
    assert "mcp:p: the filters removed all" in error and "denied by pattern '*'" in error
    assert chat_requests(run) == []


def test_opting_in_starts_the_run_without_tools(podium: Any, workspace: Path) -> None:
    config = servers(workspace, gone={"command": "/nonexistent/mcp-server"})
    run = podium(
        {"steps": [{"content": "no tools, still fine"}]},
        "answer without tools",
        "--mcp",
        config,
        "--mcp-allow-no-tools",
    )
    assert run.code == 0, run.stdout + run.stderr
    assert run.result["output"] == "no tools, still fine"
    assert "mcp:gone: unavailable" in run.stdout  # still warned about
    assert len(chat_requests(run)) == 1

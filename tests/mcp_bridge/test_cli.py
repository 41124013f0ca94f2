"""`podium mcp tools servers.json`: what the agent would see, and what was dropped and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_bridge.cli import main
from tests.mcp_bridge.conftest import paging


def write(path: Path, servers: dict[str, object]) -> str:
    path.write_text(json.dumps({"mcpServers": servers}))
    return str(path)


def test_tools_table(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(
        workspace / "servers.json",
        {
            "p": paging(deny=["exit", "x*"], readOnly=False),
            "gone": {"command": "/nonexistent/server"},
            "off": {"command": "/nonexistent/server", "disabled": True},
        },
    )
    assert main(["tools", config, "--wait", "30"]) == 1  # one server is unavailable
    out = capsys.readouterr().out
    assert "p_echo" in out and "read-only, idempotent" in out and "Echo the text back." in out
    assert "p/exit: denied by pattern 'exit'" in out
    assert "mcp:gone: unavailable: cannot start '/nonexistent/server'" in out
    assert "p/a_b would be named p_a_b like p/a.b" in out
    assert "mcp:off: disabled in the config" in out


def test_tools_json(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(workspace / "servers.json", {"p": paging(allow=["echo", "pid"])})
    assert main(["tools", config, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in data["tools"]] == ["p_echo", "p_pid"]
    assert data["tools"][0]["annotations"]["read_only"] is True
    assert {d["tool"] for d in data["dropped"]} >= {"sleep", "exit"}


def test_bad_file(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workspace / "bad.json").write_text("{")
    assert main(["tools", str(workspace / "bad.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err

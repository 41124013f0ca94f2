"""`podium mcp tools servers.json`: what the agent would see, and what was dropped and why."""

from __future__ import annotations

import json
import subprocess
import sys
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


def podium_mcp(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real CLI, as a user runs it."""
    command = [sys.executable, "-m", "runtime.cli", "mcp", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def test_patterns_match_the_servers_name_or_the_prefixed_one(workspace: Path) -> None:
    config = write(
        workspace / "servers.json",
        {"p": paging(allow=["echo", "p_pid", "p_nomatch*"], deny=["nothing_like_this"])},
    )
    proc = podium_mcp("tools", config)
    assert proc.returncode == 0, proc.stderr
    tools = [line.split()[0] for line in proc.stdout.splitlines()[1:] if line.startswith("p_")]
    assert tools == ["p_echo", "p_pid"]  # one by its own name, one by the exposed name
    assert "either name: the server's own (MCP NAME) or the one the model sees (TOOL)" in (
        proc.stdout
    )
    assert "mcp:p: allow pattern 'p_nomatch*' matches none of its tools" in proc.stdout
    assert "mcp:p: deny pattern 'nothing_like_this' matches none of its tools" in proc.stdout


def test_filters_that_remove_everything_are_not_a_success(workspace: Path) -> None:
    config = write(workspace / "servers.json", {"p": paging(deny=["*"])})
    proc = podium_mcp("tools", config)
    assert proc.returncode == 1
    assert "0 tools" in proc.stdout
    assert "mcp:p: the filters removed all" in proc.stdout


def test_vscode_shape_is_read(workspace: Path) -> None:
    vscode = workspace / ".vscode"
    vscode.mkdir()
    entry = paging(allow=["echo"]) | {"type": "stdio", "cwd": "${workspaceFolder}"}
    (vscode / "mcp.json").write_text(
        json.dumps({"inputs": [], "servers": {"p": entry, "q": paging(env={"T": "${input:t}"})}})
    )
    proc = podium_mcp("tools", str(vscode / "mcp.json"))
    assert "p_echo" in proc.stdout, proc.stdout + proc.stderr
    assert "mcp:q: not started: bad config entry: ${input:t} is a VS Code variable" in proc.stdout
    assert proc.returncode == 1  # one entry is bad


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"mcp": {"servers": {}}}', "no `mcpServers` object (top-level keys found: `mcp`)"),
        ('{"mcpServers": {}}', "`mcpServers` lists no servers"),
        ('{"servers": {}}', "`servers` lists no servers"),
    ],
)
def test_unknown_or_empty_shapes_are_refused(workspace: Path, text: str, message: str) -> None:
    (workspace / "servers.json").write_text(text)
    proc = podium_mcp("tools", str(workspace / "servers.json"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and message in proc.stderr


def test_no_sdk_tracebacks_unless_verbose(workspace: Path) -> None:
    garbage = [sys.executable, "-c", "print('not json', flush=True); import time; time.sleep(9)"]
    config = write(
        workspace / "servers.json",
        {"g": {"command": garbage[0], "args": garbage[1:], "startupTimeout": 2}},
    )
    quiet = podium_mcp("tools", config, "--wait", "3")
    assert quiet.returncode == 1
    assert "Traceback" not in quiet.stderr and "pydantic" not in quiet.stderr, quiet.stderr
    assert "mcp:g:" in quiet.stdout  # the reason is in the table's warnings
    loud = podium_mcp("tools", config, "--wait", "3", "-v")
    assert "Traceback" in loud.stderr


def test_nothing_a_server_chooses_can_drive_the_terminal(workspace: Path) -> None:
    crash = "import sys; sys.stderr.write('\\x1b[2Jboom\\x07'); sys.exit(1)"
    config = write(
        workspace / "servers.json",
        {
            "evil\x1b[1mserver": paging("--hostile", allow=["\x1b[5m*", "*"]),
            "crash": {"command": sys.executable, "args": ["-c", crash]},
        },
    )
    for args in ((), ("--json",)):
        proc = podium_mcp("tools", config, "--wait", "10", *args)
        shown = proc.stdout + proc.stderr
        for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert bad not in shown, (bad, shown)
        if not args:
            assert "\ufffd[2J" in shown  # visibly replaced, not silently dropped
            assert "boom" in shown  # the crashing server's stderr is still reported

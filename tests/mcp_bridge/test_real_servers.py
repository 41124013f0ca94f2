"""The bridge against MCP servers written by others, installed from npm and PyPI and run from
their own environments, over every transport they speak."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
from pathlib import Path

import pytest

from protos import skill_pb2 as pb
from tests.mcp_bridge.conftest import (
    Servers,
    children_matching,
    eventually,
    free_port,
    http_server,
    invoke,
    paging,
    running_bridge,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
KIND = pb.ToolResult


async def test_everything_over_stdio(mcp_servers: Servers, workspace: Path) -> None:
    entry = {"command": mcp_servers.everything, "args": ["stdio"], "prefix": "ev"}
    async with running_bridge({"everything": entry}) as bridge:
        assert bridge.skill is not None
        tools = bridge.skill.tools
        assert {"ev_echo", "ev_get-sum", "ev_get-tiny-image", "ev_get-structured-content"} <= set(
            tools
        )
        assert all(len(name) <= 64 for name in tools)
        # Annotations carry over (the server marks echo read-only, idempotent, closed-world).
        echo = tools["ev_echo"].annotations
        assert (echo.read_only, echo.destructive, echo.idempotent, echo.open_world) == (
            True,
            False,
            True,
            False,
        )
        assert not tools["ev_toggle-simulated-logging"].annotations.read_only
        # The server's own instructions reach the system prompt.
        assert "### MCP server `everything`" in bridge.skill.instructions

        result = await invoke(bridge, "ev_echo", workspace, message="hi {there}")
        assert result.text == "Echo: hi {there}" and not result.is_error

        result = await invoke(bridge, "ev_get-structured-content", workspace, location="Chicago")
        assert not result.is_error, result.text
        assert set(json.loads(result.structured_json)) >= {"temperature", "conditions"}

        result = await invoke(bridge, "ev_get-sum", workspace, a="one", b=2)
        assert result.is_error and result.error_kind == KIND.TOOL
        assert "expected number" in result.text

        result = await invoke(bridge, "ev_get-tiny-image", workspace)
        assert not result.is_error, result.text
        (artifact,) = result.artifacts
        assert (workspace / artifact).read_bytes().startswith(b"\x89PNG")


async def test_real_server_timeout_then_still_usable(mcp_servers: Servers, workspace: Path) -> None:
    entry = {"command": mcp_servers.everything, "args": ["stdio"], "timeout": 0.5}
    async with running_bridge({"ev": entry}) as bridge:
        result = await invoke(
            bridge, "ev_trigger-long-running-operation", workspace, duration=20, steps=2
        )
        assert result.is_error and result.error_kind == KIND.TIMEOUT
        assert (await invoke(bridge, "ev_echo", workspace, message="x")).text == "Echo: x"


async def test_filesystem_read_only_filter(mcp_servers: Servers, workspace: Path) -> None:
    (workspace / "notes.txt").write_text("remember the milk\n")
    entry = {
        "command": mcp_servers.filesystem,
        "args": [str(workspace)],
        "readOnly": True,
        "deny": ["*_with_sizes", "read_file"],
    }
    async with running_bridge({"fs": entry}) as bridge:
        assert bridge.skill is not None
        names = set(bridge.skill.tools)
        assert {"fs_read_text_file", "fs_list_directory", "fs_search_files"} <= names
        assert not names & {"fs_write_file", "fs_edit_file", "fs_move_file", "fs_read_file"}
        assert all(t.annotations.read_only for t in bridge.skill.tools.values())
        why = {d.tool: d.reason for d in bridge.catalog.dropped}
        assert "readOnly" in why["write_file"]
        assert why["list_directory_with_sizes"] == "denied by pattern '*_with_sizes'"

        path = str(workspace / "notes.txt")
        result = await invoke(bridge, "fs_read_text_file", workspace, path=path)
        assert "remember the milk" in result.text
        result = await invoke(bridge, "fs_read_text_file", workspace, path="/etc/passwd")
        assert result.is_error  # the server refuses paths outside its directories


async def test_python_server_in_its_own_venv(mcp_servers: Servers, workspace: Path) -> None:
    async with running_bridge({"time": {"command": mcp_servers.time}}) as bridge:
        conn = bridge.connections["time"]
        assert conn.state == "ready", conn.reason
        result = await invoke(bridge, "time_get_current_time", workspace, timezone="UTC")
        assert not result.is_error, result.text
        assert '"timezone": "UTC"' in result.text or "UTC" in result.structured_json


@pytest.mark.parametrize(
    ("mode", "transport", "path"), [("streamableHttp", "http", "/mcp"), ("sse", "sse", "/sse")]
)
async def test_remote_transports(
    mcp_servers: Servers, workspace: Path, mode: str, transport: str, path: str
) -> None:
    with http_server(mcp_servers.everything, mode) as port:
        entry = {
            "url": f"http://127.0.0.1:{port}{path}",
            "transport": transport,
            "headers": {"X-Test": "1"},
            "allow": ["echo", "get-tiny-image"],
        }
        async with running_bridge({"remote": entry}) as bridge:
            conn = bridge.connections["remote"]
            assert conn.state == "ready", conn.reason
            assert bridge.skill is not None
            assert set(bridge.skill.tools) == {"remote_echo", "remote_get-tiny-image"}
            result = await invoke(bridge, "remote_echo", workspace, message=transport)
            assert result.text == f"Echo: {transport}"
            result = await invoke(bridge, "remote_get-tiny-image", workspace)
            assert len(result.artifacts) == 1


async def test_remote_server_that_goes_away_is_reconnected(
    mcp_servers: Servers, workspace: Path
) -> None:
    port = free_port()
    entry = {"url": f"http://127.0.0.1:{port}/mcp", "allow": ["echo"]}
    with contextlib.ExitStack() as first_server:
        first_server.enter_context(http_server(mcp_servers.everything, "streamableHttp", port))
        async with running_bridge({"r": entry}) as bridge:
            conn = bridge.connections["r"]
            assert (await invoke(bridge, "r_echo", workspace, message="1")).text == "Echo: 1"
            first_server.close()  # the server goes away
            result = await invoke(bridge, "r_echo", workspace, message="x")
            assert result.is_error and "reconnecting to the server" in result.text
            await eventually(lambda: conn.state == "restarting")
            assert bridge.skill is not None and "r_echo" in bridge.skill.tools  # kept
            assert "cannot reach" in dict(bridge.skill.warnings)["mcp:r"]
            with http_server(mcp_servers.everything, "streamableHttp", port):
                await eventually(lambda: conn.state == "ready", timeout=40)
                assert (await invoke(bridge, "r_echo", workspace, message="2")).text == "Echo: 2"


async def test_killed_stdio_server_restarts(mcp_servers: Servers, workspace: Path) -> None:
    entry = {"command": mcp_servers.everything, "args": ["stdio"]}
    async with running_bridge({"ev": entry}) as bridge:
        conn = bridge.connections["ev"]
        (pid,) = children_matching("mcp-server-everything stdio")
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda: conn.generation == 2 and conn.state == "ready")
        assert children_matching("mcp-server-everything stdio") != [pid]
        assert (await invoke(bridge, "ev_echo", workspace, message="again")).text == "Echo: again"


async def test_one_unreachable_server_does_not_stop_the_others(
    mcp_servers: Servers, workspace: Path
) -> None:
    servers = {
        "ev": {"command": mcp_servers.everything, "args": ["stdio"], "allow": ["echo"]},
        "missing": {"command": "/nonexistent/mcp-server"},
        "down": {"url": f"http://127.0.0.1:{free_port()}/mcp"},
        "typo": {"command": "x", "alow": ["*"]},
    }
    async with running_bridge(servers) as bridge:
        assert bridge.skill is not None
        assert set(bridge.skill.tools) == {"ev_echo"}
        warnings = dict(bridge.skill.warnings)
        assert "cannot start '/nonexistent/mcp-server'" in warnings["mcp:missing"]
        assert "cannot reach http://127.0.0.1" in warnings["mcp:down"]
        assert "retrying" in warnings["mcp:down"]
        assert "alow" in warnings["mcp:typo"]
        missing = bridge.connections["missing"]
        attempts = missing.attempts
        await eventually(lambda: missing.attempts > attempts, what="it keeps retrying")
        assert (await invoke(bridge, "ev_echo", workspace, message="ok")).text == "Echo: ok"


async def test_secrets_stay_out_of_logs(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PODIUM_TEST_TOKEN", "tok-from-env-1234")
    secret_file = workspace / "secret"
    secret_file.write_text("tok-from-file-5678\n")
    servers = {
        "p": paging("--say-env=TOKEN", env={"TOKEN": "${env:PODIUM_TEST_TOKEN}"}),
        "f": {"command": "/nonexistent/${file:" + str(secret_file) + "}"},
        "h": {
            "url": f"http://127.0.0.1:{free_port()}/mcp",
            "headers": {"Authorization": "Bearer ${env:PODIUM_TEST_TOKEN}"},
        },
    }
    caplog.set_level(logging.DEBUG)
    async with running_bridge(servers) as bridge:
        assert bridge.connections["p"].state == "ready"
        await eventually(lambda: "TOKEN is ***" in caplog.text, what="the server's stderr")
        assert bridge.skill is not None
        shown = repr(bridge.skill.warnings) + bridge.skill.instructions
    everything = caplog.text + shown
    assert "cannot start '/nonexistent/***'" in everything
    for secret in ("tok-from-env-1234", "tok-from-file-5678"):
        assert secret not in everything

"""`podium mcp serve-stdio -- COMMAND ARGS...`: stdio servers written by others, served over
streamable HTTP by the adapter (a real process on a real port) to the bridge and to the
official client."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from tests.mcp_bridge.conftest import (
    Servers,
    eventually,
    free_port,
    invoke,
    paging,
    running_bridge,
    wait_for_port,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
PODIUM = str(Path(sys.executable).with_name("podium"))


@contextlib.contextmanager
def adapter(
    command: list[str], log: Path, *flags: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The adapter serving COMMAND; yields its URL and process, stops it with SIGTERM."""
    port = free_port()
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [PODIUM, "mcp", "serve-stdio", "--port", str(port), *flags, "--", *command],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        wait_for_port(port, proc, timeout=30)
        deadline = time.monotonic() + 10
        while "serving " not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


async def test_time_server_to_the_bridge(mcp_servers: Servers, workspace: Path) -> None:
    log = workspace / "adapter.log"
    with adapter([mcp_servers.time], log) as (url, proc):
        assert "serving mcp-time" in log.read_text() and url in log.read_text()
        async with running_bridge({"time": {"url": url}}) as bridge:
            assert bridge.skill is not None
            assert {"time_get_current_time", "time_convert_time"} <= set(bridge.skill.tools)
            assert bridge.skill.tools["time_get_current_time"].annotations.read_only
            result = await invoke(
                bridge, "time_get_current_time", workspace, timezone="Europe/Berlin"
            )
            assert not result.is_error, result.text
            assert json.loads(result.text)["timezone"] == "Europe/Berlin"
            result = await invoke(bridge, "time_get_current_time", workspace, timezone="Mars/X")
            assert result.is_error and "Mars/X" in result.text
        (child,) = children(proc.pid)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text()


async def test_everything_server_mirrored(mcp_servers: Servers, workspace: Path) -> None:
    with adapter([mcp_servers.everything, "stdio"], workspace / "a.log") as (url, _):
        async with running_bridge({"everything": {"url": url, "prefix": "ev"}}) as bridge:
            assert bridge.skill is not None
            tools = bridge.skill.tools
            assert len(tools) >= 10 and {"ev_echo", "ev_get-tiny-image"} <= set(tools)
            echo = tools["ev_echo"].annotations
            assert (echo.read_only, echo.destructive, echo.idempotent) == (True, False, True)
            assert "### MCP server `everything`" in bridge.skill.instructions
            result = await invoke(bridge, "ev_echo", workspace, message="hi {there}")
            assert result.text == "Echo: hi {there}"
            result = await invoke(bridge, "ev_get-tiny-image", workspace)
            (artifact,) = result.artifacts
            assert (workspace / artifact).read_bytes().startswith(b"\x89PNG")
            result = await invoke(bridge, "ev_get-sum", workspace, a="one", b=2)
            assert result.is_error and "expected number" in result.text
        # The official client sees progress, resources and prompts through the adapter too.
        seen: list[float] = []

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append(progress)

        async with Client(url) as client:
            done = await client.call_tool(
                "trigger-long-running-operation",
                {"duration": 0.3, "steps": 3},
                progress_callback=progress,
            )
            assert not done.is_error and seen == [1, 2, 3]
            assert (await client.list_resources()).resources
            assert (await client.list_prompts()).prompts


async def test_one_process_serves_many_clients(workspace: Path) -> None:
    server = paging()
    with adapter([server["command"], *server["args"]], workspace / "a.log") as (url, proc):
        async with (
            running_bridge({"p": {"url": url}}) as one,
            running_bridge({"p": {"url": url}}) as two,
        ):
            pids = {(await invoke(b, "p_pid", workspace)).text for b in (one, two)}
        assert len(pids) == 1 and [int(p) for p in pids] == children(proc.pid)


@pytest.mark.parametrize("era", ["modern", "legacy"])
async def test_list_changes_reach_the_bridge(workspace: Path, era: str) -> None:
    server = paging(*(["--legacy"] if era == "legacy" else []))
    with adapter([server["command"], *server["args"]], workspace / "a.log") as (url, _):
        async with running_bridge({"p": {"url": url}}) as bridge:
            assert bridge.skill is not None
            assert "p_fresh" not in bridge.skill.tools
            await invoke(bridge, "p_add_tool", workspace, name="fresh")
            await eventually(lambda: "p_fresh" in bridge.skill.tools, what="the new tool")  # type: ignore[union-attr]


async def test_adapter_exits_1_when_the_server_dies(workspace: Path) -> None:
    server = paging()
    with adapter([server["command"], *server["args"]], workspace / "a.log") as (url, proc):
        async with running_bridge({"p": {"url": url}}) as bridge:
            await invoke(bridge, "p_exit", workspace)
            assert proc.wait(timeout=15) == 1
    assert "exited" in (workspace / "a.log").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--", "/nonexistent/server"], "cannot start '/nonexistent/server'"),
        ([], "give the server to run"),
    ],
)
def test_bad_command_is_one_line(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [PODIUM, "mcp", "serve-stdio", "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1

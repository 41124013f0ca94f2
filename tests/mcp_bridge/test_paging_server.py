"""The bridge against our own small server, for what third-party servers do not do on demand:
pagination, list_changed on both protocol eras, cancellation seen by the server, crashes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import anyio
import pytest

from protos import skill_pb2 as pb
from tests.mcp_bridge.conftest import eventually, invoke, paging, running_bridge

pytestmark = pytest.mark.anyio
KIND = pb.ToolResult


async def test_every_page_of_tools_is_listed(workspace: Path) -> None:
    async with running_bridge({"p": paging()}) as bridge:
        conn = bridge.connections["p"]
        assert len(conn.tools) == 11  # four pages of three
        assert bridge.skill is not None
        names = set(bridge.skill.tools)
        assert {"p_echo", "p_big", "p_exit", "p_a_b"} <= names
        long_name = next(n for n in names if n.startswith("p_xxx"))
        assert len(long_name) == 64


async def test_arguments_pass_through_and_structured_content(workspace: Path) -> None:
    async with running_bridge({"p": paging()}) as bridge:
        result = await invoke(bridge, "p_echo", workspace, text="héllo {json}")
        assert not result.is_error, result.text
        assert result.text == "héllo {json}"
        assert json.loads(result.structured_json) == {"echo": "héllo {json}"}


async def test_is_error_becomes_a_tool_error(workspace: Path) -> None:
    async with running_bridge({"p": paging()}) as bridge:
        result = await invoke(bridge, "p_fail", workspace)
        assert result.is_error and result.error_kind == KIND.TOOL
        assert result.text == "it went wrong"


async def test_image_is_saved_as_an_artifact(workspace: Path) -> None:
    async with running_bridge({"p": paging()}) as bridge:
        result = await invoke(bridge, "p_image", workspace)
        assert not result.is_error, result.text
        (artifact,) = result.artifacts
        assert artifact.startswith(".podium/artifacts/mcp/") and artifact.endswith(".png")
        assert (workspace / artifact).read_bytes().startswith(b"\x89PNG")
        assert f"saved to {artifact}" in result.text and "here is a picture" in result.text


async def test_long_output_is_cut_and_kept_whole(workspace: Path) -> None:
    async with running_bridge({"p": paging(maxOutputBytes=1000)}) as bridge:
        result = await invoke(bridge, "p_big", workspace, n=5000)
        assert result.text.startswith("y" * 1000)
        assert "4000 more bytes cut" in result.text
        (artifact,) = result.artifacts
        assert (workspace / artifact).read_text() == "y" * 5000


@pytest.mark.parametrize("era", ["modern", "legacy"])
async def test_list_changed_refreshes_the_tool_list(workspace: Path, era: str) -> None:
    args = ["--legacy"] if era == "legacy" else []
    async with running_bridge({"p": paging(*args)}) as bridge:
        assert bridge.skill is not None
        assert "p_fresh" not in bridge.skill.tools
        result = await invoke(bridge, "p_add_tool", workspace, name="fresh")
        assert not result.is_error, result.text
        await eventually(lambda: "p_fresh" in bridge.skill.tools)  # type: ignore[union-attr]
        result = await invoke(bridge, "p_fresh", workspace)
        assert result.text == "called fresh"


async def test_timeout_is_passed_on_as_mcp_cancellation(workspace: Path) -> None:
    cancelled = workspace / "cancelled"
    entry = paging(f"--cancel-file={cancelled}", timeout=0.5)
    async with running_bridge({"p": entry}) as bridge:
        result = await invoke(bridge, "p_sleep", workspace)
        assert result.is_error and result.error_kind == KIND.TIMEOUT, result.text
        await eventually(cancelled.exists, what="the server saw notifications/cancelled")
        # The connection is still good.
        assert (await invoke(bridge, "p_echo", workspace, text="ok")).text == "ok"


async def test_agent_side_cancellation_reaches_the_server(workspace: Path) -> None:
    started, cancelled = workspace / "started", workspace / "cancelled"
    entry = paging(f"--cancel-file={cancelled}", f"--started-file={started}")
    async with running_bridge({"p": entry}) as bridge, anyio.create_task_group() as tg:
        tg.start_soon(invoke, bridge, "p_sleep", workspace)
        await eventually(started.exists)
        tg.cancel_scope.cancel()
    await eventually(cancelled.exists, what="the server saw notifications/cancelled")


async def test_crashed_server_restarts_and_the_call_in_flight_errors(workspace: Path) -> None:
    started = workspace / "started"
    async with running_bridge({"p": paging(f"--started-file={started}")}) as bridge:
        conn = bridge.connections["p"]
        pid = int((await invoke(bridge, "p_pid", workspace)).text)
        results: list[pb.ToolResult] = []
        async with anyio.create_task_group() as tg:

            async def sleeper() -> None:
                results.append(await invoke(bridge, "p_sleep", workspace))

            tg.start_soon(sleeper)
            await eventually(started.exists)
            os.kill(pid, signal.SIGKILL)
        (result,) = results
        assert result.is_error and result.error_kind == KIND.TOOL
        assert "went away while this call was running" in result.text
        assert "restarting" in result.text
        await eventually(lambda: conn.generation == 2 and conn.state == "ready")
        new_pid = int((await invoke(bridge, "p_pid", workspace)).text)
        assert new_pid != pid


async def test_server_that_exits_is_reported_while_restarting(workspace: Path) -> None:
    async with running_bridge({"p": paging()}) as bridge:
        conn = bridge.connections["p"]
        result = await invoke(bridge, "p_exit", workspace)
        assert result.is_error and "went away" in result.text
        await eventually(lambda: conn.generation == 2 and conn.state == "ready")
        assert (await invoke(bridge, "p_echo", workspace, text="back")).text == "back"


async def test_stdio_child_gets_only_allowed_environment(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_TEST_LEAK", "should-not-pass")
    env_file = workspace / "env"
    async with running_bridge(
        {"p": paging(f"--env-file={env_file}", env={"GIVEN": "yes"})}
    ) as bridge:
        assert bridge.connections["p"].state == "ready"
    names = set(env_file.read_text().split())
    assert "GIVEN" in names and "PATH" in names
    assert "PODIUM_TEST_LEAK" not in names

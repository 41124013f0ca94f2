"""The bridge skill served for real: gRPC on a Unix socket, config from PODIUM_SKILL_CONFIG
(YAML here), tool calls, progress, cancellation and list_changed through Describe."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import grpc
import pytest
import yaml

from mcp_bridge import CONFIG_ENV, create_skill
from protos import skill_pb2 as pb
from protos import skill_pb2_grpc as pb_grpc
from skills.sdk import serve
from tests.mcp_bridge.conftest import Servers, eventually, paging

if TYPE_CHECKING:
    from protos.skill_pb2_grpc import SkillAsyncStub

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@asynccontextmanager
async def served(workspace: Path) -> AsyncIterator[SkillAsyncStub]:
    stop = asyncio.Event()
    sock = workspace / ".podium" / "sockets" / "mcp.sock"
    task = asyncio.create_task(serve(create_skill(), socket=sock, workspace=workspace, stop=stop))
    try:
        async with grpc.aio.insecure_channel(f"unix:{sock}") as channel:
            yield pb_grpc.SkillStub(channel)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def collect(stub: SkillAsyncStub, tool: str, **args: object) -> list[pb.InvokeEvent]:
    request = pb.InvokeRequest(call_id="c1", tool=tool, arguments_json=json.dumps(args))
    return [event async for event in stub.Invoke(request, timeout=30)]


async def test_bridge_over_grpc(
    mcp_servers: Servers, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, cancelled = workspace / "started", workspace / "cancelled"
    config = workspace / "servers.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "mcpServers": {
                    "p": paging(f"--started-file={started}", f"--cancel-file={cancelled}"),
                    "ev": {
                        "command": mcp_servers.everything,
                        "args": ["stdio"],
                        "allow": ["trigger-long-running-operation"],
                    },
                    "gone": {"command": "/nonexistent/server"},
                }
            }
        )
    )
    monkeypatch.setenv(CONFIG_ENV, str(config))
    async with served(workspace) as stub:
        info = await stub.Describe(pb.DescribeRequest(), wait_for_ready=True, timeout=30)
        assert info.name == "mcp" and info.dynamic_tools
        names = {t.name for t in info.tools}
        assert {"p_echo", "p_sleep", "ev_trigger-long-running-operation"} <= names
        echo = next(t for t in info.tools if t.name == "p_echo")
        assert echo.annotations.read_only
        assert json.loads(echo.input_schema_json)["required"] == ["text"]
        assert any(w.source == "mcp:gone" and "cannot start" in w.message for w in info.warnings)

        (event,) = await collect(stub, "p_echo", text="over grpc")
        assert event.result.text == "over grpc" and not event.result.is_error

        # Progress from a real server streams through as Invoke events.
        events = await collect(stub, "ev_trigger-long-running-operation", duration=0.2, steps=2)
        assert [e.progress.progress for e in events if e.HasField("progress")] == [1, 2]
        assert "completed" in events[-1].result.text

        # The agent cancels: the bridge passes MCP cancellation on to the server.
        call = stub.Invoke(pb.InvokeRequest(call_id="c2", tool="p_sleep", arguments_json="{}"))
        await eventually(started.exists)
        call.cancel()
        await eventually(cancelled.exists, what="the server saw notifications/cancelled")

        # list_changed: the next Describe (before the agent's next turn) has the new tool.
        (event,) = await collect(stub, "p_add_tool", name="fresh")
        assert not event.result.is_error

        async def described() -> set[str]:
            return {t.name for t in (await stub.Describe(pb.DescribeRequest())).tools}

        with anyio.fail_after(15):
            while "p_fresh" not in await described():
                await asyncio.sleep(0.02)


async def test_no_config_gives_a_warning_not_a_crash(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    async with served(workspace) as stub:
        info = await stub.Describe(pb.DescribeRequest(), wait_for_ready=True, timeout=30)
        assert not info.tools
        assert CONFIG_ENV in info.warnings[0].message

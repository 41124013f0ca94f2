"""Through a real gRPC server on a real Unix socket (depth 2), and across runs (depth 3)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from protos import skill_pb2 as pb
from skills.memory import skill
from skills.sdk import serve
from tests.memory.conftest import child_env, connect, invoke, spawn, wait_for

pytestmark = pytest.mark.anyio


async def test_tools_over_grpc(memory_env: Path, workspace: Path) -> None:
    socket = workspace / ".podium" / "sockets" / "memory.sock"
    stop = asyncio.Event()
    server = asyncio.create_task(serve(skill, socket=socket, workspace=workspace, stop=stop))
    try:
        await asyncio.wait_for(asyncio.to_thread(wait_for, socket.exists, 10, "socket"), 15)
        channel, stub = await connect(socket)
        async with channel:
            described = await stub.Describe(pb.DescribeRequest(), timeout=10)
            assert described.name == "memory" and "memory_search" in described.instructions
            stored = await invoke(
                stub, "memory_store", content='He said "ship it" :rocket:', tags=["quote"]
            )
            assert not stored.is_error, stored.text
            mem_id = json.loads(stored.structured_json)["id"]
            for query in ['"ship it"', "ship AND (", "-", 'ship* "unbalanced', "🚀 NOT"]:
                found = await invoke(stub, "memory_search", query=query)
                assert not found.is_error, (query, found.text)
            found = await invoke(stub, "memory_search", query='"ship it"')
            assert json.loads(found.structured_json)[0]["id"] == mem_id
            bad = await invoke(stub, "memory_store", content="x", scope="someone/else")
            assert bad.is_error and "scope" in bad.text  # no such argument: schema forbids it
            missing = await invoke(stub, "memory_update", id="nope", content="y")
            assert missing.is_error and "no memory with id" in missing.text
    finally:
        stop.set()
        await asyncio.wait_for(server, 15)


async def test_memory_from_one_run_is_found_in_the_next(workspace: Path) -> None:
    db = workspace / "volume" / "memory.db"
    found_text = ""
    for run, action in enumerate(("store", "search")):
        socket = workspace / f"r{run}.sock"
        with spawn("serve", str(socket), str(workspace), env=child_env(db)) as server:
            try:
                await asyncio.to_thread(wait_for, socket.exists, 20, "the sidecar's socket")
                channel, stub = await asyncio.wait_for(connect(socket), 10)
                async with channel:
                    if action == "store":
                        result = await invoke(
                            stub, "memory_store", content="The staging cluster is called kestrel"
                        )
                    else:
                        result = await invoke(stub, "memory_search", query="staging cluster")
                        found_text = result.text
                    assert not result.is_error, result.text
            finally:
                server.send_signal(signal.SIGTERM)
                server.communicate(timeout=15)
        assert server.returncode == 0
    assert "kestrel" in found_text

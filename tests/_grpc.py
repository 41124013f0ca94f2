"""A skill behind a real gRPC server on a Unix socket in the workspace, and the agent's own
client for it: how tests talk to a skill the way a run does, in one process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from runtime.agent.skill_client import GrpcSkillClient
from skills.sdk import Skill, serve


@asynccontextmanager
async def served(skill: Skill, workspace: Path) -> AsyncIterator[GrpcSkillClient]:
    """Serve `skill` at WORKSPACE/.podium/sockets/NAME.sock until the block ends; yields a
    client that has seen it SERVING."""
    stop = asyncio.Event()
    sock = workspace / ".podium" / "sockets" / f"{skill.name}.sock"
    task = asyncio.create_task(serve(skill, socket=sock, workspace=workspace, stop=stop))
    client = GrpcSkillClient.for_socket(skill.name, sock)
    try:
        assert await client.serving(10)
        yield client
    finally:
        await client.close()
        stop.set()
        await asyncio.wait_for(task, 10)

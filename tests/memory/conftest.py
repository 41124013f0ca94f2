"""Fixtures for the memory skill: a real database file, the skill's lifespan, child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos import skill_pb2 as pb
from protos import skill_pb2_grpc as pb_grpc
from skills.memory import Store, skill

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store.open(db_path)
    yield s
    s.close()


@pytest.fixture
def memory_env(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> Path:
    """Settings as a launcher sets them, for scope `acme/agent`."""
    monkeypatch.setenv("PODIUM_MEMORY_DB", str(db_path))
    monkeypatch.setenv("PODIUM_MEMORY_SCOPE", "acme/agent")
    monkeypatch.delenv("PODIUM_MEMORY_SEEDS", raising=False)
    monkeypatch.delenv("PODIUM_MEMORY_HYBRID", raising=False)
    return db_path


@pytest.fixture
async def running(memory_env: Path) -> AsyncIterator[Path]:
    """The skill's lifespan entered, so its tool functions can be called directly."""
    async with skill.running():
        yield memory_env


def child_env(db: Path, scope: str = "acme/agent", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_MEMORY_")}
    return {
        **env,
        "PODIUM_MEMORY_DB": str(db),
        "PODIUM_MEMORY_SCOPE": scope,
        "PYTHONPATH": str(REPO),
        **extra,
    }


def spawn(mode: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start `tests/memory/_child.py MODE ARGS...` with line-buffered stdout."""
    return subprocess.Popen(
        [sys.executable, "-u", str(REPO / "tests/memory/_child.py"), mode, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll observable state until true (bounded); fails the test with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


async def invoke(stub: Any, tool: str, **arguments: object) -> pb.ToolResult:
    """One tool call over gRPC; returns its final result."""
    request = pb.InvokeRequest(call_id="t1", tool=tool, arguments_json=json.dumps(arguments))
    async for event in stub.Invoke(request, timeout=20):
        if event.HasField("result"):
            return event.result
    raise AssertionError("Invoke ended without a result")


async def connect(socket: Path) -> tuple[grpc.aio.Channel, Any]:
    """A channel and a stub (typed Any: the generated stubs describe the sync API)."""
    channel = grpc.aio.insecure_channel(f"unix:{socket}")
    await channel.channel_ready()
    return channel, pb_grpc.SkillStub(channel)

"""Fixtures for the MCP bridge tests: real MCP servers written by others (installed once by
scripts/install-mcp-servers.sh into .cache/mcp-servers/), our small paging server, and
helpers to run a bridge and call its tools the way the skill server does."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_bridge import Bridge
from mcp_bridge._config import parse_config
from protos import skill_pb2 as pb
from skills.sdk import Context, Skill

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install-mcp-servers.sh"
PAGING_SERVER = Path(__file__).with_name("paging_server.py")


@dataclass(frozen=True)
class Servers:
    """Commands of the installed third-party servers."""

    everything: str
    filesystem: str
    time: str


def _registries_reachable() -> bool:
    for host in ("registry.npmjs.org", "pypi.org"):
        try:
            socket.create_connection((host, 443), timeout=5).close()
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def mcp_servers() -> Servers:
    """Install (once; later runs find them in place) and locate the third-party servers."""
    proc = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        if not _registries_reachable():
            pytest.skip(
                "the npm registry or PyPI is unreachable, so the third-party MCP "
                "servers cannot be installed: " + proc.stderr[-500:]
            )
        pytest.fail(f"scripts/install-mcp-servers.sh failed:\n{proc.stderr[-3000:]}")
    cache = Path(proc.stdout.strip().splitlines()[-1])
    bin_dir = cache / "npm" / "node_modules" / ".bin"
    return Servers(
        everything=str(bin_dir / "mcp-server-everything"),
        filesystem=str(bin_dir / "mcp-server-filesystem"),
        time=str(cache / "venvs" / "mcp-server-time" / "bin" / "mcp-server-time"),
    )


def paging(*args: str, **fields: Any) -> dict[str, Any]:
    """Config entry for our paging server (stdio, its own process)."""
    return {"command": sys.executable, "args": [str(PAGING_SERVER), *args], **fields}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def http_server(command: str, mode: str, port: int | None = None) -> Iterator[int]:
    """Run server-everything in `sse` or `streamableHttp` mode on a (free) port."""
    port = port or free_port()
    proc = subprocess.Popen(
        [command, mode],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, proc)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


def children_matching(text: str) -> list[int]:
    """PIDs of this process's children whose command line contains `text`."""
    me = os.getpid()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and text in cmdline:
            found.append(int(entry.name))
    return found


async def eventually(predicate: Callable[[], bool], timeout: float = 15, what: str = "") -> None:
    """Wait until `predicate()` holds (polling observable state), or fail."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_bridge(servers: dict[str, Any], wait: float = 30) -> AsyncIterator[Bridge]:
    """A bridge for these `mcpServers`, with a skill whose tools it keeps current."""
    config = parse_config(json.dumps({"mcpServers": servers}))
    bridge = Bridge(config, Skill("mcp", dynamic_tools=True))
    async with bridge.running(wait=wait):
        yield bridge


async def invoke(bridge: Bridge, tool: str, workspace: Path, **arguments: Any) -> pb.ToolResult:
    """Call a bridged tool as the skill server does (timeouts and error mapping included)."""
    assert bridge.skill is not None
    ctx = Context(
        workspace=workspace,
        run_id="test",
        call_id=f"call-{uuid.uuid4().hex[:6]}",
        log=logging.getLogger("test"),
    )
    request = pb.InvokeRequest(call_id=ctx.call_id, tool=tool, arguments_json=json.dumps(arguments))
    return await bridge.skill.call(request, ctx)

"""The skill SDK: schemas from type hints, every outcome of a call, the subprocess helper,
and serving over a real gRPC server on a real Unix socket."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import pytest

import skills.sdk
from protos import skill_pb2 as pb
from runtime.agent.skill_client import GrpcSkillClient
from skills.sdk import Context, Skill, ToolError
from skills.sdk._context import run_process
from tests._grpc import served
from tests._runs import exits_within

demo = Skill("demo", instructions="Demo tools.")


@demo.tool(read_only=True)
async def greet(ctx: Context, name: str, times: int = 1, tone: Literal["warm", "dry"] = "warm"):
    """Greet someone.

    Args:
        name: Who to greet.
        times: How often.
        tone: How it sounds.
    """
    if not name:
        raise ToolError("name must not be empty")
    return " ".join([f"hello {name}"] * times)


@demo.tool
def crash() -> str:
    """Always fails with a bug."""
    raise RuntimeError("secret internals /etc/shadow")


@demo.tool
async def slow(ctx: Context, seconds: float) -> str:
    """Sleep, reporting progress."""
    ctx.progress(0, seconds, "starting")
    await asyncio.sleep(seconds)
    return "slept"


@demo.tool
async def child(ctx: Context, marker: str) -> str:
    """Run a long child process (to check it is killed on cancel)."""
    await ctx.run(
        [
            sys.executable,
            "-c",
            f"import time; open({marker!r}, 'w').write("
            "str(__import__('os').getpid())); time.sleep(60)",
        ]
    )
    return "never"


@demo.tool
def unsendable() -> object:
    """Return something that cannot be serialised."""
    return object()


@demo.tool
def structured(count: int) -> dict[str, list[int]]:
    """Return data, not prose."""
    return {"numbers": list(range(count))}


def _call(tool: str, args: object) -> pb.InvokeRequest:
    return pb.InvokeRequest(call_id="c1", tool=tool, arguments_json=json.dumps(args))


def _ctx(workspace: Path) -> Context:
    import logging

    return Context(workspace=workspace, run_id="r", call_id="c1", log=logging.getLogger("t"))


def test_public_surface_is_small() -> None:
    assert sorted(skills.sdk.__all__) == [
        "Annotations",
        "Context",
        "RUN_SPEC_ENV",
        "RunSpecError",
        "Skill",
        "ToolDef",
        "ToolError",
        "ToolOutput",
        "printable",
        "run_spec",
        "serve",
        "serve_forever",
    ]


def test_decorator_returns_the_function_and_builds_a_schema() -> None:
    assert asyncio.iscoroutinefunction(greet) and greet.__name__ == "greet"
    tool = demo.tools["greet"]
    schema = tool.input_schema
    assert tool.description == "Greet someone."
    assert schema["required"] == ["name"]
    assert schema["properties"]["name"] == {"type": "string", "description": "Who to greet."}
    assert schema["properties"]["tone"]["enum"] == ["warm", "dry"]
    assert schema["additionalProperties"] is False
    assert "ctx" not in schema["properties"]
    assert tool.annotations.read_only and not tool.annotations.destructive


@pytest.mark.anyio
async def test_outcomes_of_a_call(workspace: Path) -> None:
    kind = pb.ToolResult.ErrorKind
    ok = await demo.call(_call("greet", {"name": "ada", "times": 2}), _ctx(workspace))
    assert (ok.text, ok.is_error) == ("hello ada hello ada", False)
    told = await demo.call(_call("greet", {"name": ""}), _ctx(workspace))
    assert told.error_kind == kind.TOOL and told.text == "name must not be empty"
    bad = await demo.call(_call("greet", {"name": 3, "extra": 1}), _ctx(workspace))
    assert bad.error_kind == kind.INVALID_ARGUMENTS
    assert "name" in bad.text and "extra" in bad.text
    not_json = await demo.call(
        pb.InvokeRequest(tool="greet", arguments_json="{nope"), _ctx(workspace)
    )
    assert not_json.error_kind == kind.INVALID_ARGUMENTS and "not valid JSON" in not_json.text
    unknown = await demo.call(_call("nope", {}), _ctx(workspace))
    assert unknown.error_kind == kind.UNKNOWN_TOOL and "greet" in unknown.text
    bug = await demo.call(_call("crash", {}), _ctx(workspace))
    assert bug.error_kind == kind.INTERNAL and "error id" in bug.text
    assert "shadow" not in bug.text and "Traceback" not in bug.text  # no leak to the model
    odd = await demo.call(_call("unsendable", {}), _ctx(workspace))
    assert odd.error_kind == kind.INTERNAL and "error id" in odd.text
    data = await demo.call(_call("structured", {"count": 3}), _ctx(workspace))
    assert json.loads(data.structured_json) == {"numbers": [0, 1, 2]}


@pytest.mark.anyio
async def test_run_process_takes_argument_lists_only(workspace: Path) -> None:
    with pytest.raises(TypeError):
        await run_process("echo hi; rm -rf /")  # type: ignore[arg-type]
    out = await _ctx(workspace).run(["printf", "%s", "a b; echo injected"])
    assert out == "a b; echo injected"
    with pytest.raises(ToolError, match="not found"):
        await _ctx(workspace).run(["no-such-program-xyz"])
    with pytest.raises(ToolError, match="exited with code 3: boom"):
        await _ctx(workspace).run(
            [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]
        )
    capped = await _ctx(workspace).run(
        [sys.executable, "-c", "print('x' * 100000)"], max_output=1000
    )
    assert capped.startswith("x" * 1000) and "more bytes not kept" in capped
    with pytest.raises(ToolError, match="timed out"):
        await _ctx(workspace).run(["sleep", "5"], timeout=0.2)


@pytest.mark.anyio
async def test_over_grpc_describe_invoke_progress(workspace: Path) -> None:
    async with served(demo, workspace) as client:
        info = await client.describe()
        assert info.name == "demo" and info.instructions == "Demo tools."
        assert {t.name for t in info.tools} >= {"greet", "slow", "crash"}
        events: list[tuple[str, str]] = []
        outcome = await client.invoke(
            "c1",
            "slow",
            '{"seconds": 0.01}',
            deadline=None,
            on_event=lambda k, m: events.append((k, m)),
        )
        assert outcome.text == "slept" and events == [("progress", "0/0.01 starting")]
        late = await client.invoke("c2", "slow", '{"seconds": 5}', deadline=time.monotonic() + 0.3)
        assert (late.is_error, late.error_kind) == (True, "timeout")
        assert late.text in ("slow timed out after 0.3s", "slow timed out after 0.2s")


@pytest.mark.anyio
async def test_client_cancel_kills_the_tool_and_its_child(workspace: Path) -> None:
    marker = workspace / "child.pid"
    async with served(demo, workspace) as client:
        call = asyncio.create_task(
            client.invoke("c1", "child", json.dumps({"marker": str(marker)}), deadline=None)
        )
        async with asyncio.timeout(10):
            while not (marker.exists() and marker.read_text()):
                await asyncio.sleep(0.02)
        pid = int(marker.read_text())
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # the skill kills the child's process group
        assert await asyncio.to_thread(exits_within, pid, 10), f"child {pid} outlived its call"


@pytest.mark.anyio
async def test_lifespan_runs_before_serving_and_after_stop(workspace: Path) -> None:
    order: list[str] = []

    @asynccontextmanager
    async def lifespan(_: Skill) -> AsyncIterator[None]:
        order.append("start")
        yield
        order.append("stop")

    skill = Skill("life", lifespan=lifespan)
    async with served(skill, workspace):
        assert order == ["start"]
    assert order == ["start", "stop"]


def test_skill_serve_exits_zero_on_sigterm(workspace: Path) -> None:
    import subprocess

    sock = workspace / "s.sock"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "skill",
            "serve",
            "workspace",
            "--socket",
            str(sock),
            "--workspace",
            str(workspace),
        ],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        health = subprocess.run(
            [sys.executable, "-m", "runtime.cli", "skill", "health", "--socket", str(sock)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert health.returncode == 0, health.stdout + health.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert not sock.exists()
    finally:
        proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def test_skill_serve_over_tcp(workspace: Path) -> None:
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "skill",
            "serve",
            "workspace",
            "--port",
            str(port),
            "--workspace",
            str(workspace),
        ],
        stderr=subprocess.DEVNULL,
    ) as proc:
        try:

            async def call() -> str:
                client = GrpcSkillClient("workspace", f"127.0.0.1:{port}")
                try:
                    assert await client.serving(20)
                    out = await client.invoke("c", "workspace_list", "{}", deadline=None)
                    return out.text
                finally:
                    await client.close()

            assert asyncio.run(call()) == "(no files)"
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0


def test_bad_skill_specs_get_clear_errors(tmp_path: Path) -> None:
    from skills.sdk.cli import SkillLoadError
    from skills.serve import load_skill

    with pytest.raises(SkillLoadError, match="unknown skill"):
        load_skill("nosuch")
    with pytest.raises(SkillLoadError, match="not found"):
        load_skill(str(tmp_path / "missing.py") + ":skill")
    (tmp_path / "mine.py").write_text("skill = 42\n")
    with pytest.raises(SkillLoadError, match=r"not a skills\.sdk\.Skill"):
        load_skill(str(tmp_path / "mine.py") + ":skill")


@pytest.mark.anyio
async def test_a_timeout_kills_grandchildren_holding_the_pipe(workspace: Path) -> None:
    marker = workspace / "grandchild.pid"
    script = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen(['sleep', '60'])\nopen({str(marker)!r}, 'w').write(str(p.pid))\n"
        "sys.exit(0)\n"
    )
    with pytest.raises(ToolError, match="timed out"):
        await run_process([sys.executable, "-c", script], timeout=1)
    pid = int(marker.read_text())
    assert await asyncio.to_thread(exits_within, pid, 10), f"grandchild {pid} outlived its call"

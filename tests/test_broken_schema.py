"""A sidecar that answers Describe with broken tools: the agent refuses each with a clear
`tool_refused` warning (and the model never sees it), and the skill's other tools work."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.agent.skill_client import GrpcSkillClient
from tests._runs import call

ROOT = Path(__file__).resolve().parents[1]

# Written with the SDK, which sends whatever schema a ToolDef carries.
BROKEN_SKILL = '''
from skills.sdk import Skill, ToolDef

skill = Skill("broken")


@skill.tool(read_only=True)
def echo(text: str) -> str:
    """Echo a text."""
    return "echo: " + text


async def never(ctx, raw):
    raise AssertionError("a refused tool must never be called")


skill.add_tool(ToolDef("stringly", "Not an object schema.", {"type": "string"}, never))
skill.add_tool(ToolDef(
    "nocompile", "Does not compile.",
    {"type": "object", "properties": {"a": {"type": "nonsense"}}}, never,
))
skill.add_tool(ToolDef("has space", "A name no provider takes.", {"type": "object"}, never))
'''


def test_a_run_refuses_broken_tools_and_uses_the_good_one(podium: Any, workspace: Path) -> None:
    path = workspace.parent / f"{workspace.name}-broken.py"
    path.write_text(BROKEN_SKILL)
    try:
        run = podium(
            {"steps": [{"tool_calls": [call("echo", text="hi")]}, {"content": "{{last}}"}]},
            "echo hi",
            "--skill",
            f"broken={path}:skill",
        )
    finally:
        path.unlink()
    assert run.code == 0, run.stdout + run.stderr
    assert run.result["output"] == "echo: hi"
    refused = {e["name"]: e for e in run.events if e["type"] == "tool_refused"}
    assert set(refused) == {"stringly", "nocompile", "has space"}
    assert "not 'object'" in refused["stringly"]["reason"]
    assert "does not compile at properties/a/type" in refused["nocompile"]["reason"]
    assert "does not match" in refused["has space"]["reason"]
    assert all(e["skill"] == "broken" for e in refused.values())
    offered = [t["function"]["name"] for t in run.requests[0].body["tools"]]
    assert offered == ["echo"]
    ready = next(e for e in run.events if e["type"] == "skills_ready")
    assert ready["skills"][0]["tools"] == ["echo"]
    assert "! tool stringly of skill broken refused: the schema's type is 'string'" in run.stdout


@pytest.mark.anyio
async def test_the_client_refuses_a_schema_that_is_not_json(workspace: Path) -> None:
    """A raw-gRPC sidecar (no SDK) can send any bytes as a schema."""
    socket = workspace / "bad.sock"
    env = {**os.environ, "BAD_SKILL": "broken-schema", "PODIUM_SKILL_SOCKET": str(socket),
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/skill_check/bad_skill.py")], env=env)
    client = GrpcSkillClient.for_socket("bad", socket)
    try:
        for _ in range(200):
            if socket.exists():
                break
            await asyncio.sleep(0.05)
        assert await client.serving(10)
        info = await client.describe()
    finally:
        await client.close()
        proc.terminate()
        proc.wait(10)
    assert [t.name for t in info.tools] == ["echo"]
    reasons = dict(info.refused)
    assert reasons["notjson"].startswith("input_schema_json is not JSON")
    assert set(reasons) == {"stringly", "nocompile", "notjson"}

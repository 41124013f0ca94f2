"""`podium skill check --image` on every image Podium ships a skill in (and the TypeScript
example's): each is run as a Pod would run it (its own entrypoint and CMD, UID 10001, read-only
root, no network), serves on the `PODIUM_SKILL_SOCKET` the checker gives it (not a socket fixed
in its CMD), and passes every check, SIGTERM included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.kube import RenderOptions
from skills.catalog import BUILTINS

PODIUM = str(Path(sys.executable).with_name("podium"))
# image -> the skill name its Describe gives
IMAGES = {b.image: b.name for b in BUILTINS.values()} | {"typescript-skill": "typescript-example"}

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


# The MCP bridge's config (`--config`, given as PODIUM_SKILL_CONFIG): a real stdio MCP server
# written with the `mcp` package the image carries, so the bridge has a tool to check.
MCP_SERVER = """
from mcp.server.mcpserver import MCPServer

server = MCPServer("calc")


@server.tool()
def add(a: int, b: int) -> int:
    \"\"\"Add two whole numbers.\"\"\"
    return a + b


server.run()
"""


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_every_skill_image_passes_podium_skill_check(
    images: RenderOptions, image: str, tmp_path: Path
) -> None:
    tag = images.image(image)
    extra: list[str] = []
    if image == "mcp-bridge":
        config = tmp_path / "servers.json"
        servers = {"calc": {"command": "python3", "args": ["-c", MCP_SERVER]}}
        config.write_text(json.dumps({"mcpServers": servers}))
        extra = ["--config", str(config), "--timeout", "60"]
    out = subprocess.run(
        [PODIUM, "skill", "check", "--json", "--image", tag, *extra],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.stdout, out.stderr
    report = json.loads(out.stdout)
    failed = [f for f in report["findings"] if f["status"] == "fail"]
    assert out.returncode == 0 and not failed, (failed, report["log_tail"])
    assert report["skill"] == IMAGES[image] and report["target"] == f"image {tag}"
    status = {f["check"]: f["status"] for f in report["findings"]}
    assert status["health"] == "pass" and status["SIGTERM"] == "pass", status
    assert report["tools"] > 0 and report["counts"]["pass"] > report["tools"]
    if image == "mcp-bridge":
        assert status["calc_add: required fields from the schema"] == "pass", status

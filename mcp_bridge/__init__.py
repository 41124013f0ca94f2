"""The MCP bridge skill: the tools of any number of MCP servers, offered to the agent as
skill tools, discovered, filtered and named for model APIs.

The servers file (`mcpServers` JSON or YAML, see `_config`) comes from `PODIUM_SKILL_CONFIG`,
which `podium run --mcp FILE` and `podium skill serve mcp --config FILE` set.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator
from pathlib import Path

from mcp_bridge._bridge import Bridge, Catalog, ExposedTool
from mcp_bridge._config import BridgeConfig, ConfigError, ServerConfig, load_config
from skills.sdk import Skill

__all__ = [
    "CONFIG_ENV",
    "Bridge",
    "BridgeConfig",
    "Catalog",
    "ConfigError",
    "ExposedTool",
    "ServerConfig",
    "create_skill",
    "load_config",
    "skill",
]

CONFIG_ENV = "PODIUM_SKILL_CONFIG"
STARTUP_WAIT = 20.0
"""Longest the skill waits for its servers before it starts serving; slower ones join the
tool list when they are up (the agent re-describes the skill before each turn)."""


def create_skill(config: Path | str | None = None, *, name: str = "mcp") -> Skill:
    """A bridge skill for one servers file (default: the file `PODIUM_SKILL_CONFIG` names
    when the skill starts)."""

    @contextlib.asynccontextmanager
    async def lifespan(skill: Skill) -> AsyncGenerator[None]:
        path = config if config is not None else os.environ.get(CONFIG_ENV)
        if not path:
            skill.warnings[:] = [
                (
                    "mcp",
                    f"no MCP servers configured: set {CONFIG_ENV} to a "
                    "servers file (podium run --mcp FILE)",
                )
            ]
            yield
            return
        bridge = Bridge(load_config(path), skill)
        async with bridge.running(wait=STARTUP_WAIT):
            yield

    return Skill(
        name,
        instructions="Tools from MCP servers.",
        version="0.1.0",
        lifespan=lifespan,
        dynamic_tools=True,
    )


skill = create_skill()

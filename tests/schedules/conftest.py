"""The schedules and MCPServer tests use the MCP bridge tests' installed third-party servers."""

from tests.mcp_bridge.conftest import mcp_servers  # noqa: F401

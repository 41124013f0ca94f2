"""Tool names for model APIs, and the allow / deny / readOnly filters."""

from __future__ import annotations

import re

import mcp_types as types

from mcp_bridge._bridge import annotations_of
from mcp_bridge._config import ServerConfig
from mcp_bridge._filter import filter_tools, unused_patterns
from mcp_bridge._naming import ToolKey, assign_names
from skills.sdk import Annotations

VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def names(*tools: tuple[str, str, str]) -> dict[str, str]:
    naming = assign_names((prefix, ToolKey(server, tool)) for prefix, server, tool in tools)
    return {f"{k.server}/{k.tool}": v for k, v in naming.names.items()}


def test_prefix_and_sanitising() -> None:
    got = names(("git", "git", "status"), ("my.srv", "s", "read file/now"), ("", "t", "x"))
    assert got == {
        "git/status": "git_status",
        "s/read file/now": "my_srv_read_file_now",
        "t/x": "x",
    }


def test_long_names_are_cut_apart() -> None:
    a, b = "a" * 70 + "_one", "a" * 70 + "_two"
    got = names(("p", "s", a), ("p", "s", b))
    assert len({got[f"s/{a}"], got[f"s/{b}"]}) == 2
    assert all(VALID.match(n) for n in got.values())


def test_collisions_are_resolved_deterministically_and_reported() -> None:
    tools = [("x", "one", "a.b"), ("x", "two", "a_b"), ("x", "one", "a b")]
    first = assign_names((p, ToolKey(s, t)) for p, s, t in tools)
    again = assign_names((p, ToolKey(s, t)) for p, s, t in reversed(tools))
    assert first == again
    assert first.names[ToolKey("one", "a b")] == "x_a_b"  # sorts first: keeps the name
    renamed = [first.names[ToolKey("one", "a.b")], first.names[ToolKey("two", "a_b")]]
    assert len(set(renamed) | {"x_a_b"}) == 3 and all(VALID.match(n) for n in renamed)
    assert len(first.collisions) == 2
    assert "one/a.b would be named x_a_b like one/a b" in first.collisions[0]


def tool(name: str, read_only: bool | None = None) -> types.Tool:
    hints = None if read_only is None else types.ToolAnnotations(read_only_hint=read_only)
    return types.Tool(name=name, input_schema={"type": "object"}, annotations=hints)


def test_filters() -> None:
    tools = [tool("get_a", True), tool("get_b", False), tool("delete_a", True), tool("list")]
    config = ServerConfig.model_validate(
        {"command": "x", "allow": ["get_*", "delete_*", "nomatch*"], "deny": ["delete_*"]}
        | {"readOnly": True}
    )
    kept, dropped = filter_tools("s", tools, config)
    assert [t.name for t in kept] == ["get_a"]
    reasons = {d.tool: d.reason for d in dropped}
    assert reasons["delete_a"] == "denied by pattern 'delete_*'"
    assert reasons["list"].startswith("matches no allow pattern")
    assert "readOnly" in reasons["get_b"]
    assert unused_patterns(tools, config, "s") == [("allow", "nomatch*")]
    everything, none_dropped = filter_tools(
        "s", tools, ServerConfig.model_validate({"command": "x"})
    )
    assert len(everything) == 4 and not none_dropped


def test_patterns_match_the_servers_name_or_the_exposed_one() -> None:
    tools = [tool("read_file"), tool("write_file"), tool("delete_file"), tool("stat")]
    config = ServerConfig.model_validate(
        {"command": "x", "prefix": "fs", "allow": ["read_*", "fs_write_*", "fs_delete_*"]}
        | {"deny": ["fs_delete_file", "fs_nothing", "also_nothing"]}
    )
    kept, dropped = filter_tools("files", tools, config)
    assert [t.name for t in kept] == ["read_file", "write_file"]
    assert {d.tool: d.reason for d in dropped} == {
        "delete_file": "denied by pattern 'fs_delete_file'",
        "stat": "matches no allow pattern ('read_*', 'fs_write_*', 'fs_delete_*')",
    }
    assert unused_patterns(tools, config, "files") == [
        ("deny", "fs_nothing"),
        ("deny", "also_nothing"),
    ]
    default_prefix = ServerConfig.model_validate({"command": "x", "allow": ["files_stat"]})
    assert [t.name for t in filter_tools("files", tools, default_prefix)[0]] == ["stat"]


def test_annotations_follow_mcp_defaults() -> None:
    assert annotations_of(tool("plain")) == Annotations(destructive=True, open_world=True)
    assert annotations_of(tool("ro", True)) == Annotations(
        read_only=True, idempotent=True, open_world=True
    )
    hints = types.ToolAnnotations(
        destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )
    additive = types.Tool(name="add", input_schema={"type": "object"}, annotations=hints)
    assert annotations_of(additive) == Annotations(idempotent=True)

"""The tools as functions (depth 1): settings from the environment, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skills.memory import (
    memory_forget,
    memory_list,
    memory_search,
    memory_store,
    memory_update,
    skill,
)
from skills.memory._config import MemoryConfig, default_db_path
from skills.sdk import ToolError, ToolOutput


def out(value: object) -> ToolOutput:
    assert isinstance(value, ToolOutput)
    return value


@pytest.mark.anyio
async def test_tools_round_trip(running: Path) -> None:
    stored = out(memory_store("payments-api needs 2Gi of memory", ["payments"], "INC-1"))
    mem_id = stored.data["id"]
    assert stored.text == f"Stored memory {mem_id}."
    found = out(memory_search("payments memory"))
    assert found.data[0].id == mem_id and "**payments" in found.text and mem_id in found.text
    out(memory_update(mem_id, tags=["payments", "limits"]))
    listed = out(memory_list(["limits"]))
    assert listed.data[0].content == "payments-api needs 2Gi of memory"
    assert out(memory_forget(mem_id)).text == f"Forgot memory {mem_id}."
    assert out(memory_search("payments")).text == "No memories match 'payments'."


@pytest.mark.anyio
async def test_errors_are_told_to_the_model(running: Path) -> None:
    with pytest.raises(ToolError, match="no memory with id 'nope'"):
        memory_forget("nope")
    with pytest.raises(ToolError, match="must not be empty"):
        memory_store("  ")
    with pytest.raises(ToolError, match="give new content, new tags, or both"):
        memory_update("whatever")


def test_tools_outside_the_lifespan_say_so() -> None:
    with pytest.raises(ToolError, match="not started"):
        memory_list()


def test_description_and_annotations() -> None:
    described = {t.name: t for t in skill.describe().tools}
    assert set(described) == {
        "memory_store",
        "memory_search",
        "memory_update",
        "memory_forget",
        "memory_list",
    }
    assert described["memory_search"].annotations.read_only
    assert described["memory_list"].annotations.read_only
    assert described["memory_forget"].annotations.destructive
    assert not described["memory_store"].annotations.read_only
    schema = json.loads(described["memory_search"].input_schema_json)
    assert schema["required"] == ["query"]
    assert schema["properties"]["tags"]["default"] == []
    assert "scope" not in json.dumps([json.loads(t.input_schema_json) for t in described.values()])


def test_config_from_env(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path)}
    assert MemoryConfig.from_env(env) == MemoryConfig(db=tmp_path / "podium" / "memory.db")
    assert default_db_path({}).parts[-3:] == ("share", "podium", "memory.db")
    config = MemoryConfig.from_env(
        {
            "PODIUM_MEMORY_DB": "/x/m.db",
            "PODIUM_MEMORY_SCOPE": "t/a",
            "PODIUM_MEMORY_SEEDS": "/s.md",
            "PODIUM_MEMORY_HYBRID": "1",
        }
    )
    assert (config.db, config.scope, config.seeds, config.hybrid) == (
        Path("/x/m.db"),
        "t/a",
        Path("/s.md"),
        True,
    )
    with pytest.raises(ValueError, match="PODIUM_MEMORY_HYBRID"):
        MemoryConfig.from_env({"PODIUM_MEMORY_HYBRID": "maybe"})
    with pytest.raises(ValueError, match="scope"):
        MemoryConfig.from_env({"PODIUM_MEMORY_SCOPE": "bad\nscope"})

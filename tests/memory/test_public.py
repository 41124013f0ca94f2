"""The public surface stays small (httpx-style guard)."""

from __future__ import annotations

import skills.memory


def test_public_names() -> None:
    assert sorted(skills.memory.__all__) == [
        "ConfigError",
        "Hit",
        "Memory",
        "MemoryConfig",
        "MemoryDBError",
        "SeedError",
        "Store",
        "check_database",
        "default_db_path",
        "skill",
    ]
    for name in skills.memory.__all__:
        assert getattr(skills.memory, name) is not None

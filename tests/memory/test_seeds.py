"""Seed files: JSONL and Markdown, loaded idempotently at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from skills.memory import SeedError, Store, skill
from skills.memory import memory_list as list_tool
from skills.memory._seeds import load_seeds, read_seeds
from skills.sdk import ToolOutput

MARKDOWN = """\
# Team facts

## Deploy policy
Never deploy on Fridays.
Tags: policy, deploy

## Where logs live
Loki, in namespace `observability`.

```
# not a heading: inside a code fence
```
"""


def contents(value: object) -> list[str]:
    assert isinstance(value, ToolOutput)
    return sorted(m.content for m in value.data)


def test_markdown_sections(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.md"
    seeds.write_text(MARKDOWN)
    read = read_seeds(seeds, "s")
    assert [m.content.splitlines()[0] for m in read] == ["Deploy policy", "Where logs live"]
    assert read[0].tags == ["policy", "deploy"] and "Tags:" not in read[0].content
    assert "# not a heading" in read[1].content
    assert read[0].source == "seed:seeds.md" and read[0].id.startswith("seed-")


def test_jsonl_and_its_errors(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        '{"content": "one", "tags": ["a"]}\n\n"two"\n{"content": "three", "id": "k"}\n'
    )
    assert [m.content for m in read_seeds(seeds, "s")] == ["one", "two", "three"]
    seeds.write_text('{"content": "one"}\n{"content": 3}\n')
    with pytest.raises(SeedError, match=r"seeds.jsonl:2: expected an object"):
        read_seeds(seeds, "s")
    seeds.write_text('{"content": "one"\n')
    with pytest.raises(SeedError, match=r"seeds.jsonl:1: not valid JSON"):
        read_seeds(seeds, "s")
    with pytest.raises(SeedError, match="cannot read seed file"):
        read_seeds(tmp_path / "missing.jsonl", "s")


@pytest.mark.anyio
async def test_seeds_load_once_and_update_in_place(
    memory_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds = tmp_path / "seeds.md"
    seeds.write_text(MARKDOWN)
    monkeypatch.setenv("PODIUM_MEMORY_SEEDS", str(seeds))
    first: list[str] = []
    for _ in range(2):  # two runs start with the same seeds
        async with skill.running():
            first = contents(list_tool())
    assert len(first) == 2
    seeds.write_text(MARKDOWN.replace("Fridays", "Fridays or holidays"))
    async with skill.running():
        after = contents(list_tool())
    assert len(after) == 2 and "holidays" in after[0]


@pytest.mark.anyio
async def test_bad_seed_file_stops_the_start(
    memory_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("{oops\n")
    monkeypatch.setenv("PODIUM_MEMORY_SEEDS", str(seeds))
    with pytest.raises(SeedError, match=r"seeds\.jsonl:1"):
        async with skill.running():
            pass


def test_edited_seed_matching_a_stored_memory_is_skipped(store: Store, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"id": "policy", "content": "Deploy on Tuesdays"}\n')
    assert load_seeds(store, "s", seeds) == 1
    store.add("s", "Deploy on Wednesdays", [])
    seeds.write_text('{"id": "policy", "content": "Deploy on Wednesdays"}\n')
    assert load_seeds(store, "s", seeds) == 0
    assert len(store.recent("s")) == 2

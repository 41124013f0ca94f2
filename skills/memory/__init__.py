"""The `memory` skill: durable, searchable memory shared by an agent's runs.

Memories live in one SQLite file (`PODIUM_MEMORY_DB`) with an FTS5 index; each belongs to the
scope the launcher sets (`PODIUM_MEMORY_SCOPE`), never one a tool argument names, so a run
cannot read or write another scope's memories. Seeds (`PODIUM_MEMORY_SEEDS`) load at start;
`PODIUM_MEMORY_HYBRID=1` adds embedding search (optional extra `embeddings`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from skills.memory._config import ConfigError, MemoryConfig, default_db_path
from skills.memory._embed import Embedder, EmbeddingUnavailable
from skills.memory._records import Hit, InvalidMemory, Memory
from skills.memory._schema import MemoryDBError, check_database
from skills.memory._seeds import SeedError, load_seeds
from skills.memory._store import NotFound, Store
from skills.sdk import Skill, ToolError, ToolOutput

__all__ = [
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

MAX_SEARCH_LIMIT = 50
MAX_LIST_LIMIT = 200


@dataclass
class _State:
    store: Store | None = None
    config: MemoryConfig | None = None
    embedder: Embedder | None = None


_state = _State()


@asynccontextmanager
async def _lifespan(skill: Skill) -> AsyncGenerator[None]:
    config = MemoryConfig.from_env()
    store = await asyncio.to_thread(Store.open, config.db)
    try:
        if config.seeds is not None:
            changed = await asyncio.to_thread(load_seeds, store, config.scope, config.seeds)
            skill.log.info("memory seeds from %s: %d added or changed", config.seeds, changed)
        embedder = Embedder(store, config.scope) if config.hybrid else None
        if embedder is not None:
            embedder.start()
        _state.store, _state.config, _state.embedder = store, config, embedder
        skill.log.info("memory: %s, scope %r, hybrid %s", config.db, config.scope, config.hybrid)
        yield
    finally:
        _state.store = _state.config = _state.embedder = None
        await asyncio.to_thread(store.close)


skill = Skill(
    "memory",
    instructions=(
        "You have a durable memory that outlives this run. Before working on a task that may "
        "have history (a service, an incident, a user's preferences), search it with "
        "`memory_search` using a few key words. When you learn something worth keeping (a "
        "decision, a root cause and its fix, a preference, where something lives), store it "
        "with `memory_store`: one self-contained fact per memory, with a few tags. Never "
        "store secrets. Correct stale memories with `memory_update` or `memory_forget`."
    ),
    lifespan=_lifespan,
)


@contextmanager
def _open() -> Generator[tuple[Store, str]]:
    """The open store and this run's scope, with store errors said in the model's words."""
    if _state.store is None or _state.config is None:
        raise ToolError("the memory skill is not started (its database is not open)")
    try:
        yield _state.store, _state.config.scope
    except InvalidMemory as exc:
        raise ToolError(str(exc)) from None
    except NotFound as exc:
        raise ToolError(
            f"no memory with id {exc.args[0]!r} in this scope; use memory_search "
            "or memory_list to find ids"
        ) from None
    except MemoryDBError as exc:
        raise ToolError(str(exc)) from None


def _tag_text(tags: list[str]) -> str:
    return f" tags: {', '.join(tags)}" if tags else ""


@skill.tool
def memory_store(content: str, tags: Sequence[str] = (), source: str | None = None) -> ToolOutput:
    """Store a memory that later runs can find; returns its id.

    Storing text that is already stored returns the existing id (adding any new tags).

    Args:
        content: One self-contained fact, in plain words (up to 20,000 characters).
        tags: A few short labels for filtering, e.g. ["payments-api", "incident"].
        source: Where this came from (a URL, ticket, file or run), if useful.
    """
    with _open() as (store, scope):
        mem_id, created = store.add(scope, content, list(tags), source)
    text = (
        f"Stored memory {mem_id}."
        if created
        else (f"Already stored as memory {mem_id} (same content); any new tags were added.")
    )
    return ToolOutput(text=text, data={"id": mem_id, "created": created})


@skill.tool(read_only=True)
def memory_search(query: str, tags: Sequence[str] = (), limit: int = 10) -> ToolOutput:
    """Search memories by words, best matches first, with highlighted snippets.

    Plain words match any of them (memories with more of them rank higher). Use "quotes" for
    an exact phrase, word* for a prefix, AND to require both sides, -word to exclude.

    Args:
        query: Words to look for, e.g. "payments deploy failure".
        tags: Only memories that have all of these tags.
        limit: Maximum number of results (1-50).
    """
    limit = max(1, min(limit, MAX_SEARCH_LIMIT))
    embedder, note = _state.embedder, ""
    with _open() as (store, scope):
        # Fusion needs more than the final few text matches to weigh against meaning.
        hits = store.search(scope, query, list(tags), max(limit, 30) if embedder else limit)
        if embedder is not None:
            try:
                hits = embedder.search(query, hits, list(tags), limit)
            except EmbeddingUnavailable as exc:  # keep the word matches, say what is missing
                skill.log.warning("hybrid search unavailable: %s", exc)
                note = f"\n(word matches only: {exc})"
        hits = hits[:limit]
    if not hits:
        return ToolOutput(text=f"No memories match {query!r}.{note}", data=[])
    noun = "memory matches" if len(hits) == 1 else "memories match"
    lines = [f"{len(hits)} {noun} {query!r} (best first):"]
    for i, h in enumerate(hits, 1):
        lines.append(f"{i}. [{h.id}] {h.created_at}{_tag_text(h.tags)}\n   {h.snippet}")
    return ToolOutput(text="\n".join(lines) + note, data=hits)


@skill.tool
def memory_update(id: str, content: str | None = None, tags: list[str] | None = None) -> ToolOutput:
    """Change a memory's content and/or tags (tags are replaced, not merged).

    Args:
        id: The memory's id, from memory_search or memory_list.
        content: New content, or omit to keep it.
        tags: New tags, or omit to keep them.
    """
    with _open() as (store, scope):
        memory = store.update(scope, id, content, tags)
    return ToolOutput(text=f"Updated memory {memory.id}.", data=memory)


@skill.tool(destructive=True)
def memory_forget(id: str) -> ToolOutput:
    """Delete a memory for good.

    Args:
        id: The memory's id, from memory_search or memory_list.
    """
    with _open() as (store, scope):
        store.forget(scope, id)
    return ToolOutput(text=f"Forgot memory {id}.", data={"id": id, "forgotten": True})


@skill.tool(read_only=True)
def memory_list(tags: Sequence[str] = (), limit: int = 20) -> ToolOutput:
    """List memories, most recent first, in full.

    Args:
        tags: Only memories that have all of these tags.
        limit: Maximum number of memories (1-200).
    """
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    with _open() as (store, scope):
        memories = store.recent(scope, list(tags), limit)
    if not memories:
        return ToolOutput(text="No memories" + (" with those tags." if tags else " yet."), data=[])
    lines = [f"{len(memories)} most recent memories:"]
    for m in memories:
        lines.append(f"- [{m.id}] {m.created_at}{_tag_text(m.tags)}\n  {m.content}")
    return ToolOutput(text="\n".join(lines), data=memories)

"""The memory store: one SQLite file (WAL), many scopes, an FTS5 index kept by triggers.

Every write is one `BEGIN IMMEDIATE` transaction committed before the caller hears back, so
an acknowledged memory is on disk; several processes can write at once (they queue on the
busy timeout). Searches read inside one transaction, so they see one consistent snapshot.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Generator, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from skills.memory._records import (
    Hit,
    InvalidMemory,
    Memory,
    check_content,
    check_source,
    digest,
    new_id,
    normalize_tags,
    now,
)
from skills.memory._schema import SCHEMA_VERSION, MemoryDBError, connect
from skills.memory._search import scope_sql, search, tags_sql

_COLUMNS = "n, id, scope, content, tags, source, created_at, updated_at"


class NotFound(LookupError):
    """No memory with that id in this scope."""


@dataclass(frozen=True)
class Stats:
    path: str
    schema_version: int
    file_bytes: int
    wal_bytes: int
    memories: int
    scopes: dict[str, int]
    vectors: int


def _memory(row: tuple[object, ...]) -> Memory:
    _n, mem_id, scope, content, tags, source, created, updated = row
    return Memory(
        id=str(mem_id),
        scope=str(scope),
        content=str(content),
        tags=str(tags).split(),
        source=None if source is None else str(source),
        created_at=str(created),
        updated_at=str(updated),
    )


class Store:
    """Thread-safe handle on a memory database (one connection, one lock)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> Store:
        return cls(connect(path), path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self, begin: str) -> Generator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            try:
                conn.execute(begin)
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.IntegrityError:
                raise
            except sqlite3.DatabaseError as exc:
                raise MemoryDBError(f"memory database {self.path}: {exc}") from exc

    def writing(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: queue for the write lock up front)."""
        return self._transaction("BEGIN IMMEDIATE")

    def reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: one consistent snapshot."""
        return self._transaction("BEGIN")

    # --- writes -------------------------------------------------------------------------

    def add(
        self, scope: str, content: str, tags: list[str] | None = None, source: str | None = None
    ) -> tuple[str, bool]:
        """Store a memory; returns (id, True), or (existing id, False) for known content."""
        stamp = now()
        memory = Memory(
            id=new_id(),
            scope=scope,
            content=check_content(content),
            tags=normalize_tags(tags),
            source=check_source(source),
            created_at=stamp,
            updated_at=stamp,
        )
        with self.writing() as conn:
            return _insert(conn, memory)

    def add_many(self, memories: Iterable[Memory], batch: int = 5000) -> tuple[int, int]:
        """Insert prepared memories (import, seeds, benchmarks) in batched transactions.

        Ids, scopes and times are kept; a memory whose id or content is already there is
        skipped. Returns (added, skipped).
        """
        added = skipped = 0
        chunk: list[Memory] = []

        def flush() -> None:
            nonlocal added, skipped
            with self.writing() as conn:
                # executemany keeps Python out of the per-row path: this is the bulk route.
                cur = conn.executemany(_INSERT_SQL, [_row(m) for m in chunk])
                conn.executemany(
                    "INSERT OR IGNORE INTO memory_tags (tag, n) "
                    "SELECT ?, n FROM memories WHERE id = ? AND digest = ?",
                    [(t, m.id, digest(m.content)) for m in chunk for t in m.tags],
                )
            added, skipped = added + cur.rowcount, skipped + len(chunk) - cur.rowcount
            chunk.clear()

        for memory in memories:
            stamp = memory.created_at or now()
            chunk.append(
                replace(
                    memory,
                    content=check_content(memory.content),
                    tags=normalize_tags(memory.tags),
                    created_at=stamp,
                    updated_at=memory.updated_at or stamp,
                )
            )
            if len(chunk) >= batch:
                flush()
        if chunk:
            flush()
        return added, skipped

    def put(self, memory: Memory) -> bool:
        """Insert or replace by id (seeds: an edited seed updates in place). True if changed."""
        with self.writing() as conn:
            row = conn.execute(
                "SELECT content, tags FROM memories WHERE id = ?", (memory.id,)
            ).fetchone()
            if row is None:
                return _insert(conn, memory, merge_tags=False)[1]
            if (row[0], row[1].split()) == (memory.content, memory.tags):
                return False
        try:
            self.update(memory.scope, memory.id, memory.content, memory.tags)
        except InvalidMemory:
            return False  # the edited text is already stored as another memory: keep that one
        return True

    def update(
        self, scope: str, mem_id: str, content: str | None = None, tags: list[str] | None = None
    ) -> Memory:
        if content is None and tags is None:
            raise InvalidMemory("give new content, new tags, or both")
        with self.writing() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM memories WHERE id = ? AND scope = ?",  # noqa: S608 (fixed SQL fragments; values are bound)
                (mem_id, scope),
            ).fetchone()
            if row is None:
                raise NotFound(mem_id)
            n, old = int(row[0]), _memory(row)
            new = replace(
                old,
                updated_at=now(),
                content=old.content if content is None else check_content(content),
                tags=old.tags if tags is None else normalize_tags(tags),
            )
            try:
                conn.execute(
                    "UPDATE memories SET content = ?, digest = ?, tags = ?, "
                    "updated_at = ? WHERE n = ?",
                    (new.content, digest(new.content), " ".join(new.tags), new.updated_at, n),
                )
            except sqlite3.IntegrityError:
                raise InvalidMemory(
                    "another memory in this scope already has exactly this "
                    "content; forget one of them instead"
                ) from None
            _set_tags(conn, n, new.tags)
        return new

    def forget(self, scope: str, mem_id: str) -> None:
        with self.writing() as conn:
            if (
                conn.execute(
                    "DELETE FROM memories WHERE id = ? AND scope = ?", (mem_id, scope)
                ).rowcount
                == 0
            ):
                raise NotFound(mem_id)

    # --- reads --------------------------------------------------------------------------

    def get(self, scope: str | None, mem_id: str) -> Memory | None:
        where, args = scope_sql(scope)
        with self.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM memories WHERE id = ? AND {where}",  # noqa: S608 (fixed SQL fragments; values are bound)
                [mem_id, *args],
            ).fetchone()
        return None if row is None else _memory(row)

    def recent(
        self, scope: str | None, tags: list[str] | None = None, limit: int = 20
    ) -> list[Memory]:
        """Most recent first."""
        where, args = scope_sql(scope)
        tag_sql, tag_args = tags_sql(normalize_tags(tags))
        with self.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM memories WHERE {where}{tag_sql} "  # noqa: S608 (fixed SQL fragments; values are bound)
                "ORDER BY created_at DESC, n DESC LIMIT ?",
                [*args, *tag_args, limit],
            ).fetchall()
        return [_memory(r) for r in rows]

    def iter_all(self, scope: str | None) -> Iterator[Memory]:
        """Every memory in insertion order (export), read in pages to bound memory use."""
        where, args = scope_sql(scope)
        last = 0
        while True:
            with self.reading() as conn:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM memories WHERE n > ? AND {where} "  # noqa: S608 (fixed SQL fragments; values are bound)
                    "ORDER BY n LIMIT 1000",
                    [last, *args],
                ).fetchall()
            if not rows:
                return
            yield from (_memory(r) for r in rows)
            last = int(rows[-1][0])

    def search(
        self, scope: str | None, text: str, tags: list[str] | None = None, limit: int = 10
    ) -> list[Hit]:
        """Best matches first (bm25 over content and tags); any text is a valid query."""
        with self.reading() as conn:
            return search(conn, scope, text, normalize_tags(tags), limit)

    def stats(self) -> Stats:
        with self.reading() as conn:
            scopes = {
                str(s): int(c)
                for s, c in conn.execute(
                    "SELECT scope, count(*) FROM memories GROUP BY scope ORDER BY scope"
                )
            }
            vectors = int(conn.execute("SELECT count(*) FROM memory_vectors").fetchone()[0])
        wal = self.path.with_name(self.path.name + "-wal")
        return Stats(
            path=str(self.path),
            schema_version=SCHEMA_VERSION,
            file_bytes=self.path.stat().st_size,
            wal_bytes=wal.stat().st_size if wal.exists() else 0,
            memories=sum(scopes.values()),
            scopes=scopes,
            vectors=vectors,
        )


_INSERT_SQL = (
    "INSERT INTO memories (id, scope, content, tags, digest, source, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


def _row(m: Memory) -> tuple[object, ...]:
    return (
        m.id,
        m.scope,
        m.content,
        " ".join(m.tags),
        digest(m.content),
        m.source,
        m.created_at,
        m.updated_at,
    )


def _insert(conn: sqlite3.Connection, m: Memory, merge_tags: bool = True) -> tuple[str, bool]:
    row = conn.execute(_INSERT_SQL + " RETURNING n", _row(m)).fetchone()
    if row is not None:
        _set_tags(conn, int(row[0]), m.tags)
        return m.id, True
    same = conn.execute(
        "SELECT n, id, tags FROM memories WHERE scope = ? AND digest = ?",
        (m.scope, digest(m.content)),
    ).fetchone()
    if same is None:
        return m.id, False  # the id exists already (an import seen before)
    old_tags: list[str] = str(same[2]).split()
    merged = normalize_tags(old_tags + m.tags)
    if merge_tags and merged != old_tags:
        conn.execute("UPDATE memories SET tags = ? WHERE n = ?", (" ".join(merged), same[0]))
        _set_tags(conn, int(same[0]), merged)
    return str(same[1]), False


def _set_tags(conn: sqlite3.Connection, n: int, tags: list[str]) -> None:
    conn.execute("DELETE FROM memory_tags WHERE n = ?", (n,))
    conn.executemany(
        "INSERT OR IGNORE INTO memory_tags (tag, n) VALUES (?, ?)", [(t, n) for t in tags]
    )

"""Opening the memory database: file checks, WAL, the schema, and in-place migrations.

The schema version lives in `PRAGMA user_version`. Version history:

1. `memories(id TEXT PRIMARY KEY, content, tags JSON, created_at)` with an FTS5 index on the
   implicit rowid. VACUUM may renumber implicit rowids, which silently breaks such an index.
2. An explicit `n INTEGER PRIMARY KEY` for the index, scopes, sources, update times, a content
   digest (no duplicate memories), a tag table for filtering, and a table for embeddings.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import cast

import sqlite_utils

from skills.memory._records import digest, normalize_tags

SCHEMA_VERSION = 2
TOKENIZE = "porter unicode61 remove_diacritics 2"
SQLITE_HEADER = b"SQLite format 3\x00"
# Long enough that a writer never gives up while other sidecars commit (each commit is ms).
BUSY_TIMEOUT_MS = 30_000
OUR_TABLES = {"memories", "memory_tags", "memory_vectors"}


class MemoryDBError(Exception):
    """The database file cannot be used: not SQLite, damaged, or from a newer Podium."""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating or migrating as needed) the memory database at `path`.

    A file that is not a SQLite database, is damaged, or belongs to something else raises
    MemoryDBError before anything is written to it.
    """
    _check_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit mode: we issue BEGIN IMMEDIATE ourselves, so writers queue on the busy
    # timeout instead of failing when a read transaction tries to upgrade.
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Index pages of a large store do not fit the 2 MB default; memory is used on demand.
        conn.execute("PRAGMA cache_size = -65536")
        version = _version(conn)
        tables = _tables(conn)
        if version == 0 and tables - {"sqlite_sequence"}:
            raise MemoryDBError(
                f"{path} is a SQLite database but not a Podium memory database "
                f"(it has tables {sorted(tables)[:5]}); refusing to change it"
            )
        if version > SCHEMA_VERSION:
            raise MemoryDBError(
                f"{path} was written by a newer Podium (schema {version}, this "
                f"one knows {SCHEMA_VERSION}); upgrade Podium to use it"
            )
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise MemoryDBError(
                f"{path}: cannot switch to WAL mode (got {mode!r}); is the "
                "file on a filesystem without shared-memory support?"
            )
        # FULL: a memory acknowledged to the model survives power loss, not just a crash.
        conn.execute("PRAGMA synchronous = FULL")
        if version < SCHEMA_VERSION:
            _upgrade(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise MemoryDBError(
            f"{path} cannot be read as a memory database ({exc}); the file was left untouched"
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def check_database(path: Path) -> None:
    """Refuse, without writing anything, a file `connect` would refuse: not SQLite, damaged,
    another program's database, or from a newer Podium. A missing or empty file is fine."""
    _check_file(path)
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise MemoryDBError(f"{path} cannot be opened ({exc})") from exc
    try:
        version = _version(conn)
        tables = _tables(conn)
        conn.execute("PRAGMA quick_check(1)").fetchone()
    except sqlite3.DatabaseError as exc:
        raise MemoryDBError(f"{path} cannot be read as a memory database ({exc})") from exc
    finally:
        conn.close()
    if version == 0 and tables - {"sqlite_sequence"}:
        raise MemoryDBError(
            f"{path} is a SQLite database but not a Podium memory database "
            f"(it has tables {sorted(tables)[:5]})"
        )
    if version > SCHEMA_VERSION:
        raise MemoryDBError(
            f"{path} was written by a newer Podium (schema {version}, this one knows "
            f"{SCHEMA_VERSION}); upgrade Podium to use it"
        )


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise MemoryDBError(f"{path} is a directory; PODIUM_MEMORY_DB must name a file")
    if not path.exists() or path.stat().st_size == 0:
        return  # SQLite initialises empty files itself
    with path.open("rb") as f:
        head = f.read(len(SQLITE_HEADER))
    if head != SQLITE_HEADER:
        raise MemoryDBError(
            f"{path} is not a SQLite database (it starts with {head[:8]!r}); "
            "refusing to open it so it is not overwritten"
        )


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(r[0]) for r in rows}


def _upgrade(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn)  # another process may have upgraded while we waited
        if version == 0:
            create(conn)
        elif version == 1:
            _migrate_1_to_2(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def create(conn: sqlite3.Connection) -> None:
    """Create the current schema (inside the caller's transaction)."""
    db = sqlite_utils.Database(conn)
    memories = db.table("memories")
    memories.create(
        {
            "n": int,
            "id": str,
            "scope": str,
            "content": str,
            "tags": str,
            "digest": str,
            "source": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="n",
        not_null={"id", "scope", "content", "tags", "digest", "created_at", "updated_at"},
    )
    conn.execute("CREATE UNIQUE INDEX memories_id ON memories(id)")
    conn.execute("CREATE UNIQUE INDEX memories_digest ON memories(scope, digest)")
    conn.execute("CREATE INDEX memories_recent ON memories(scope, created_at)")
    conn.execute(
        "CREATE TABLE memory_tags (tag TEXT NOT NULL, n INTEGER NOT NULL, "
        "PRIMARY KEY (tag, n)) WITHOUT ROWID"
    )
    conn.execute("CREATE INDEX memory_tags_n ON memory_tags(n)")
    conn.execute("CREATE TABLE memory_vectors (n INTEGER PRIMARY KEY, vec BLOB NOT NULL)")
    # Triggers keep the side tables right for every writer, whichever process it is.
    conn.execute(
        "CREATE TRIGGER memories_cleanup AFTER DELETE ON memories BEGIN "
        "DELETE FROM memory_tags WHERE n = old.n; "
        "DELETE FROM memory_vectors WHERE n = old.n; END"
    )
    conn.execute(
        "CREATE TRIGGER memories_revector AFTER UPDATE OF content ON memories BEGIN "
        "DELETE FROM memory_vectors WHERE n = old.n; END"
    )
    memories.enable_fts(
        ["content", "tags"], fts_version="FTS5", create_triggers=True, tokenize=TOKENIZE
    )


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """v1 had no scopes: its memories go to the `default` scope (export/import re-scopes)."""
    for name in ("memories_ai", "memories_ad", "memories_au"):
        conn.execute(f"DROP TRIGGER IF EXISTS [{name}]")
    conn.execute("DROP TABLE IF EXISTS memories_fts")
    conn.execute("ALTER TABLE memories RENAME TO memories_v1")
    create(conn)
    rows = conn.execute("SELECT id, content, tags, created_at FROM memories_v1 ORDER BY rowid")
    for mem_id, content, raw_tags, created in rows.fetchall():
        tags = normalize_tags(_v1_tags(raw_tags))
        n = conn.execute(
            "INSERT INTO memories (id, scope, content, tags, digest, source, created_at, "
            "updated_at) VALUES (?, 'default', ?, ?, ?, NULL, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING n",
            (mem_id, content, " ".join(tags), digest(content), created, created),
        ).fetchone()
        if n is not None:
            conn.executemany(
                "INSERT INTO memory_tags (tag, n) VALUES (?, ?)", [(t, n[0]) for t in tags]
            )
    conn.execute("DROP TABLE memories_v1")


def _v1_tags(raw: object) -> list[str]:
    if not isinstance(raw, str) or not raw.strip():
        return []
    try:
        value: object = json.loads(raw)
    except json.JSONDecodeError:
        return raw.split(",")
    return [str(v) for v in cast(list[object], value)] if isinstance(value, list) else []

"""Several writer processes, SIGKILL mid-write, migrations, and files that are not ours."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from skills.memory import MemoryDBError, Store
from skills.memory._schema import SCHEMA_VERSION
from tests.memory.conftest import child_env, spawn


def test_several_processes_write_one_database_at_once(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"  # fresh: the writers also race to create the schema
    writers = [spawn("writer", "120", f"w{i}", env=child_env(db)) for i in range(4)]
    acknowledged: list[str] = []
    try:
        for w in writers:
            assert w.stdout is not None and w.stdout.readline().strip() == "ready"
        for w in writers:  # start them together
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        for w in writers:
            out, err = w.communicate(timeout=45)
            assert w.returncode == 0, err
            assert "locked" not in err
            lines = out.split()
            assert lines[-1] == "done"
            acknowledged += lines[:-1]
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
            w.communicate(timeout=5)
    assert len(acknowledged) == 480
    store = Store.open(db)
    try:
        assert {m.id for m in store.iter_all("acme/agent")} == set(acknowledged)
    finally:
        store.close()


def test_sigkill_mid_writes_loses_no_acknowledged_memory(tmp_path: Path) -> None:
    db = tmp_path / "killed.db"
    acknowledged: list[str] = []
    with spawn("writer", "1000000", "k", env=child_env(db)) as child:
        try:
            assert child.stdout is not None and child.stdin is not None
            assert child.stdout.readline().strip() == "ready"
            child.stdin.write("go\n")
            child.stdin.flush()
            while len(acknowledged) < 300:
                line = child.stdout.readline()
                assert line, "writer exited early"
                acknowledged.append(line.strip())
            os.kill(child.pid, signal.SIGKILL)  # mid-stream: it writes as fast as it can
            acknowledged += [line for line in child.stdout.read().split() if line]
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(10)
    assert child.returncode == -signal.SIGKILL
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r[0] for r in conn.execute("SELECT id FROM memories")}
        assert (
            conn.execute(
                "INSERT INTO memories_fts(memories_fts, rank) VALUES ('integrity-check', 1)"
            ).rowcount
            != 0
        )
    finally:
        conn.close()
    assert set(acknowledged) <= stored


def _v1_database(path: Path) -> None:
    """The first release's shape, written by hand (not by our code)."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE memories (id TEXT PRIMARY KEY, content TEXT NOT NULL,
                               tags TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL);
        CREATE VIRTUAL TABLE memories_fts USING FTS5 (content, tags, content=memories);
        CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
          INSERT INTO memories_fts (rowid, content, tags) VALUES (new.rowid, new.content, new.tags);
        END;
        INSERT INTO memories VALUES ('old1', 'The ledger runs on PostgreSQL 15', '["db","Ledger"]',
                                     '2025-01-01T00:00:00.000Z');
        INSERT INTO memories VALUES ('old2', 'Backups run nightly at 02:00', 'ops,backup',
                                     '2025-02-01T00:00:00.000Z');
        PRAGMA user_version = 1;
    """)
    conn.close()


def test_older_schema_is_migrated_in_place(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    _v1_database(db)
    store = Store.open(db)
    try:
        assert [h.id for h in store.search("default", "postgresql")] == ["old1"]
        old2 = store.get("default", "old2")
        assert old2 is not None and old2.tags == ["ops", "backup"]
        assert old2.created_at == "2025-02-01T00:00:00.000Z"
        assert store.get("default", "old1").tags == ["db", "ledger"]  # type: ignore[union-attr]
        store.add("default", "a new memory after migration", [])
    finally:
        store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    Store.open(db).close()  # opening again is a no-op


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_non_sqlite_file_is_refused_and_untouched(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("these are my precious notes, not a database\n" * 50)
    before = _sha(db)
    with pytest.raises(MemoryDBError, match="is not a SQLite database"):
        Store.open(db)
    assert _sha(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_damaged_sqlite_file_is_refused_and_untouched(tmp_path: Path) -> None:
    db = tmp_path / "damaged.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, past the 100-byte header
    db.write_bytes(bytes(data))
    before = _sha(db)
    with pytest.raises(MemoryDBError, match="cannot be read as a memory database"):
        Store.open(db)
    assert _sha(db) == before


def test_someone_elses_database_and_newer_schema_are_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.db"
    conn = sqlite3.connect(theirs)
    conn.execute("CREATE TABLE invoices (id)")
    conn.commit()
    conn.close()
    before = _sha(theirs)
    with pytest.raises(MemoryDBError, match="not a Podium memory database"):
        Store.open(theirs)
    assert _sha(theirs) == before
    newer = tmp_path / "newer.db"
    Store.open(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(MemoryDBError, match="newer Podium"):
        Store.open(newer)


def test_directory_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MemoryDBError, match="is a directory"):
        Store.open(tmp_path)

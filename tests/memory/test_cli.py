"""`podium memory ...` (skills.memory.cli.main) on real database files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skills.memory import Store
from skills.memory.cli import main


@pytest.fixture
def filled(db_path: Path) -> Path:
    store = Store.open(db_path)
    store.add("acme/a", "The ledger uses PostgreSQL 15", ["db"], source="INC-7")
    store.add("acme/b", "Ledger backups run nightly", [])
    store.close()
    return db_path


def test_search_list_stats(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "ledger", "--db", str(filled)]) == 0
    assert "**Ledger**" in capsys.readouterr().out
    assert main(["search", "ledger", "--db", str(filled), "--scope", "acme/a", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["source"] for h in hits] == ["INC-7"]
    assert main(["list", "--db", str(filled), "--tag", "db"]) == 0
    assert "PostgreSQL" in capsys.readouterr().out
    assert main(["stats", "--db", str(filled), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["scopes"] == {"acme/a": 1, "acme/b": 1} and stats["schema_version"] == 2


def test_export_import_keeps_ids_tags_times_scopes(
    filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "dump.jsonl"
    assert main(["export", "--db", str(filled), "--out", str(dump)]) == 0
    other = tmp_path / "other-cluster.db"
    assert main(["import", str(dump), "--db", str(other)]) == 0
    assert "imported 2" in capsys.readouterr().err
    assert main(["import", str(dump), "--db", str(other)]) == 0
    assert "imported 0 memories, skipped 2" in capsys.readouterr().err
    before, after = Store.open(filled), Store.open(other)
    try:
        assert list(before.iter_all(None)) == list(after.iter_all(None))
    finally:
        before.close()
        after.close()
    assert main(["export", "--db", str(filled), "--scope", "acme/b"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["scope"] for line in lines] == ["acme/b"]


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--db", str(tmp_path / "none.db")]) == 1
    assert "no memory database" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "ok"}\n{"content": "x", "colour": "red"}\n')
    assert main(["import", str(bad), "--db", str(tmp_path / "m.db")]) == 1
    assert "bad.jsonl:2: unknown fields ['colour']" in capsys.readouterr().err
    text = tmp_path / "text.db"
    text.write_text("hello")
    assert main(["list", "--db", str(text)]) == 1
    assert "not a SQLite database" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["frobnicate"])
    assert usage.value.code == 2

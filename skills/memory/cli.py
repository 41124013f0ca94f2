"""`podium memory ...`: look inside a memory database and move memories between clusters.

    podium memory search QUERY [--tag T] [--limit N] [--json]
    podium memory list [--tag T] [--limit N] [--json]
    podium memory export [--out FILE]        JSONL, one memory per line (ids, tags, times, scopes)
    podium memory import FILE                the same JSONL ("-" reads stdin); known ids are skipped
    podium memory stats [--json]

Every command takes `--db FILE` (default `$PODIUM_MEMORY_DB`, else the per-user database) and
`--scope S` (default: every scope; for import, the scope to put memories without one in).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO, cast

from skills.memory._config import ConfigError, check_scope, default_db_path
from skills.memory._records import InvalidMemory, Memory, new_id
from skills.memory._schema import MemoryDBError
from skills.memory._store import Store

_FIELDS = ("id", "scope", "content", "tags", "source", "created_at", "updated_at")


class CliError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", type=Path, help=f"database file (default: $PODIUM_MEMORY_DB or {default_db_path()})"
    )
    ap = argparse.ArgumentParser(prog="podium memory", description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    def command(name: str, text: str, scope: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, parents=[common], help=text, description=text[:1].upper() + text[1:] + "."
        )
        p.add_argument("--scope", help=scope)
        return p

    search = command("search", "ranked full-text search", "search only this scope (default: all)")
    search.add_argument("query", help="words to look for (FTS5 syntax: phrases, OR, prefix*)")
    listing = command("list", "memories, most recent first", "list only this scope (default: all)")
    for p, what in ((search, "matches"), (listing, "memories")):
        p.add_argument("--tag", action="append", default=[], help="only memories with this tag")
        p.add_argument(
            "--limit", type=int, default=20, help=f"at most this many {what} (default 20)"
        )
        p.add_argument("--json", action="store_true", help="JSON instead of text")
    export = command("export", "write memories as JSONL", "export only this scope (default: all)")
    export.add_argument("--out", type=Path, help="file to write (default: stdout)")
    imp = command(
        "import", "read JSONL written by export", "scope for rows that name none (default: theirs)"
    )
    imp.add_argument("file", help='JSONL file, or "-" for stdin')
    stats = command(
        "stats", "counts per scope, size and schema version", "count only this scope (default: all)"
    )
    stats.add_argument("--json", action="store_true", help="JSON instead of text")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one `podium memory` command; returns the exit code (2 for usage errors)."""
    args = _parser().parse_args(argv)
    try:
        scope = None if args.scope is None else check_scope(args.scope)
        db: Path = args.db or Path(_env_db() or default_db_path())
        if args.command != "import" and not db.exists():
            raise CliError(f"no memory database at {db}")
        store = Store.open(db)
        try:
            _run(args, store, scope)
        finally:
            store.close()
    except (CliError, ConfigError, MemoryDBError, InvalidMemory) as exc:
        print(f"podium memory: {exc}", file=sys.stderr)
        return 1
    return 0


def _env_db() -> str:
    return os.environ.get("PODIUM_MEMORY_DB", "")


def _run(args: argparse.Namespace, store: Store, scope: str | None) -> None:
    out = sys.stdout
    if args.command == "search":
        hits = store.search(scope, args.query, args.tag, max(1, args.limit))
        if args.json:
            _dump([dataclasses.asdict(h) for h in hits], out)
        for h in [] if args.json else hits:
            out.write(f"[{h.id}] {h.created_at} score {h.score}{_tags(h.tags)}\n  {h.snippet}\n")
    elif args.command == "list":
        memories = store.recent(scope, args.tag, max(1, args.limit))
        if args.json:
            _dump([dataclasses.asdict(m) for m in memories], out)
        for m in [] if args.json else memories:
            out.write(f"[{m.id}] {m.scope} {m.created_at}{_tags(m.tags)}\n  {m.content}\n")
    elif args.command == "export":
        target = args.out.open("w", encoding="utf-8") if args.out else out
        try:
            count = 0
            for m in store.iter_all(scope):
                target.write(json.dumps(dataclasses.asdict(m), ensure_ascii=False) + "\n")
                count += 1
        finally:
            if args.out:
                target.close()
        print(f"exported {count} memories", file=sys.stderr)
    elif args.command == "import":
        memories = list(_read_jsonl(args.file, scope or "default"))
        added, skipped = store.add_many(memories)
        print(f"imported {added} memories, skipped {skipped} already present", file=sys.stderr)
    else:
        stats = store.stats()
        if args.json:
            _dump(dataclasses.asdict(stats), out)
            return
        out.write(
            f"database:       {stats.path}\nschema version: {stats.schema_version}\n"
            f"size:           {stats.file_bytes:,} bytes (+ {stats.wal_bytes:,} in WAL)\n"
            f"memories:       {stats.memories:,} (embeddings: {stats.vectors:,})\n"
        )
        for name, count in stats.scopes.items():
            out.write(f"  {name}: {count:,}\n")


def _tags(tags: list[str]) -> str:
    return f" tags: {', '.join(tags)}" if tags else ""


def _dump(value: object, out: TextIO) -> None:
    out.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def _read_jsonl(source: str, default_scope: str) -> Iterator[Memory]:
    """Parse and check every line first, so a bad file imports nothing."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {source}: {exc}") from exc
    memories: list[Memory] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CliError(f"{source}:{number}: not valid JSON ({exc.msg})") from None
        obj = cast(dict[str, Any], value) if isinstance(value, dict) else {}
        if not isinstance(obj.get("content"), str):
            raise CliError(f'{source}:{number}: expected an object with a string "content"')
        unknown = set(obj) - set(_FIELDS)
        if unknown:
            raise CliError(f"{source}:{number}: unknown fields {sorted(unknown)}")
        tags: Any = obj.get("tags") or []
        if not isinstance(tags, list):
            raise CliError(f'{source}:{number}: "tags" must be a list')
        memories.append(
            Memory(
                id=str(obj.get("id") or new_id()),
                scope=check_scope(str(obj.get("scope") or default_scope)),
                content=obj["content"],
                tags=[str(t) for t in cast(list[object], tags)],
                source=None if obj.get("source") is None else str(obj["source"]),
                created_at=str(obj.get("created_at") or ""),
                updated_at=str(obj.get("updated_at") or ""),
            )
        )
    yield from memories

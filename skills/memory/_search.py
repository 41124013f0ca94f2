"""Ranked full-text search over one scope, fast at a million memories.

Each alternative of a parsed query is matched by FTS5 and ranked with bm25 among its newest
matches; scores add up across alternatives (bm25 itself is a sum over the query's phrases),
the best rows get a highlighted snippet. What FTS5 cannot tokenize (emoji, a word inside a
run of Chinese or Japanese text) falls back to a substring scan when FTS5 finds nothing.
"""

from __future__ import annotations

import heapq
import sqlite3

from skills.memory._query import like_patterns, parse
from skills.memory._records import Hit, head

# A broad term can match most of a million memories, and bm25 costs about 1 us per match.
# A query's alternatives are ranked among their newest CANDIDATES matches (shared between up
# to four alternatives) instead, which keeps broad searches in milliseconds and is exact
# whenever a term matches fewer rows.
CANDIDATES = 2000
# Share of recent memories above which a term counts as "in most memories" (bm25's idf of a
# term in more than half of all rows is clamped to almost zero).
DENSE = 0.5
SNIPPET_TOKENS = 64


def scope_sql(scope: str | None, column: str = "scope") -> tuple[str, list[object]]:
    return ("1", []) if scope is None else (f"{column} = ?", [scope])


def tags_sql(tags: list[str], column: str = "n") -> tuple[str, list[object]]:
    clause = "".join(f" AND {column} IN (SELECT n FROM memory_tags WHERE tag = ?)" for _ in tags)  # noqa: S608 (fixed SQL fragments; values are bound)
    return clause, list(tags)


def search(
    conn: sqlite3.Connection, scope: str | None, text: str, tags: list[str], limit: int
) -> list[Hit]:
    """Best matches first; `tags` must be normalised; call inside a read transaction."""
    query = parse(text)
    where, args = scope_sql(scope, "m.scope")
    tag_where, tag_args = tags_sql(tags, "m.n")
    top = int(conn.execute("SELECT coalesce(max(n), 0) FROM memories").fetchone()[0])
    groups = query.group_expressions()
    per_group = CANDIDATES // max(1, min(len(groups), 4))  # a budget per query, not per word
    scores: dict[int, float] = {}
    for expr in groups:
        kth = conn.execute(
            "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? "
            "ORDER BY rowid DESC LIMIT 1 OFFSET ?",
            (expr, per_group - 1),
        ).fetchone()
        # In most memories: bm25 gives such a term no weight (its idf is clamped to ~0), and
        # computing it costs a pass over the term's whole index, so rank those by recency.
        dense = kth is not None and per_group / (top - int(kth[0]) + 1) > DENSE
        rank = "" if dense else ", bm25(memories_fts, 1.0, 1.5)"
        for row in conn.execute(
            f"SELECT memories_fts.rowid{rank} FROM memories_fts JOIN memories m "  # noqa: S608 (fixed SQL fragments; values are bound)
            "ON m.n = memories_fts.rowid WHERE memories_fts MATCH ? "
            f"AND {where}{tag_where} ORDER BY memories_fts.rowid DESC LIMIT ?",
            [expr, *args, *tag_args, per_group],
        ):
            # bm25 sums over the query's phrases, so summing per alternative keeps the order.
            scores[row[0]] = scores.get(row[0], 0.0) - (row[1] if len(row) > 1 else 0.0)
    best = heapq.nlargest(limit, scores.items(), key=lambda kv: (kv[1], kv[0]))
    if best:
        return _hits(conn, best, query.expression())
    if query.empty or query.needs_substring:
        return _like(conn, text, where + tag_where, [*args, *tag_args], limit)
    return []


def _hits(conn: sqlite3.Connection, best: list[tuple[int, float]], expr: str) -> list[Hit]:
    hits: list[Hit] = []
    for n, score in best:
        row = conn.execute(
            "SELECT id, tags, created_at, source, content FROM memories WHERE n = ?", (n,)
        ).fetchone()
        snip = conn.execute(
            "SELECT snippet(memories_fts, 0, '**', '**', '…', ?) FROM memories_fts "
            "WHERE memories_fts MATCH ? AND rowid = ?",
            (SNIPPET_TOKENS, expr, n),
        ).fetchone()
        text = str(snip[0]) if snip and "**" in str(snip[0]) else head(str(row[4]))
        hits.append(
            Hit(
                id=str(row[0]),
                snippet=text,
                tags=str(row[1]).split(),
                created_at=str(row[2]),
                score=round(score, 4),
                source=None if row[3] is None else str(row[3]),
            )
        )
    return hits


def _like(
    conn: sqlite3.Connection, text: str, where: str, args: list[object], limit: int
) -> list[Hit]:
    """Substring scan for what FTS5 cannot tokenize (emoji, words inside CJK runs)."""
    patterns = like_patterns(text)
    if not patterns:
        return []
    likes = " AND ".join("m.content LIKE ? ESCAPE '\\'" for _ in patterns)
    rows = conn.execute(
        f"SELECT m.id, m.tags, m.created_at, m.source, m.content FROM memories m "  # noqa: S608 (fixed SQL fragments; values are bound)
        f"WHERE {where} AND {likes} ORDER BY m.n DESC LIMIT ?",
        [*args, *patterns, limit],
    ).fetchall()
    return [
        Hit(
            id=str(r[0]),
            snippet=head(str(r[4])),
            tags=str(r[1]).split(),
            created_at=str(r[2]),
            score=0.0,
            source=None if r[3] is None else str(r[3]),
        )
        for r in rows
    ]

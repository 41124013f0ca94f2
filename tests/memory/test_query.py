"""The query sanitiser: any text becomes valid FTS5, and the plain grammar means what it says."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skills.memory._query import parse
from skills.memory._schema import TOKENIZE

DOCS = [
    "Deploy of payments-api to staging failed with an expired TLS certificate",
    "User prefers kubectl over helm; kubernetes contexts are named after regions",
    "Runbook: rotate the Redis password, then restart with kubectl rollout restart",
    "数据库连接失败 in production",
    "Crème brûlée is the café's dessert",
]


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(content, tags, tokenize='{TOKENIZE}')")
    conn.executemany(
        "INSERT INTO t (rowid, content, tags) VALUES (?, ?, '')", list(enumerate(DOCS, 1))
    )
    yield conn
    conn.close()


def matches(conn: sqlite3.Connection, text: str) -> set[int]:
    q = parse(text)
    if q.empty:
        return set()
    return {r[0] for r in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (q.expression(),))}


NASTY = [
    '"',
    '""',
    "'",
    "(",
    ")",
    "((a",
    "a))",
    "AND",
    "OR",
    "NOT",
    "AND OR NOT",
    "-",
    "--x",
    "*",
    "**",
    "a*b*",
    "col:x",
    ":",
    "^a",
    "a^",
    "NEAR(a b)",
    "{content}: x",
    "+",
    "🚀",
    "🚀 deploy",
    "\x00",
    "\\",
    'a\\"b',
    "😀😀",
    "ünïcödé",
    "x" * 5000,
    " ",
    "\t\n",
    'kube* "exact',
    "- -",
    '-"a b"',
    "a AND",
    "OR b",
    "NOT NOT a",
    "$%&",
    "a:b:c",
]


@pytest.mark.parametrize("text", NASTY)
def test_nasty_queries_never_raise(fts: sqlite3.Connection, text: str) -> None:
    q = parse(text)
    for expr in [*q.group_expressions(), *([q.expression()] if not q.empty else [])]:
        fts.execute("SELECT count(*) FROM t WHERE t MATCH ?", (expr,)).fetchone()


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_a_valid_query(fts: sqlite3.Connection, text: str) -> None:
    q = parse(text)
    for expr in [*q.group_expressions(), *([q.expression()] if not q.empty else [])]:
        fts.execute("SELECT count(*) FROM t WHERE t MATCH ?", (expr,)).fetchone()


# Text built from the grammar's own pieces finds the syntax edge cases faster than random text.
_pieces = st.sampled_from(
    [
        '"',
        "(",
        ")",
        "*",
        "-",
        ":",
        "AND",
        "OR",
        "NOT",
        "NEAR",
        "^",
        "+",
        "kube",
        "deploy",
        " ",
        "数据",
        "🚀",
        "'",
        "{",
        "}",
        ",",
        ".",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_pieces, max_size=12).map("".join))
def test_operator_soup_is_a_valid_query(fts: sqlite3.Connection, text: str) -> None:
    q = parse(text)
    if not q.empty:
        fts.execute("SELECT count(*) FROM t WHERE t MATCH ?", (q.expression(),)).fetchone()


def test_plain_words_are_alternatives(fts: sqlite3.Connection) -> None:
    assert matches(fts, "redis certificate") == {1, 3}


def test_prefix_and_phrase(fts: sqlite3.Connection) -> None:
    assert matches(fts, "kube*") == {2, 3}
    assert matches(fts, '"rollout restart"') == {3}
    assert matches(fts, '"restart rollout"') == set()
    assert matches(fts, '"rollout rest"*') == {3}


def test_and_not_and_minus(fts: sqlite3.Connection) -> None:
    assert matches(fts, "kubectl AND redis") == {3}
    assert matches(fts, "kubectl -redis") == {2}
    assert matches(fts, "kubectl NOT redis") == {2}
    assert matches(fts, 'kubectl -"rollout restart"') == {2}
    assert matches(fts, "deploy - staging") == {1}  # a lone dash is punctuation


def test_punctuated_words_are_phrases(fts: sqlite3.Connection) -> None:
    assert matches(fts, "payments-api") == {1}
    assert matches(fts, "content:payments") == set()  # not a column filter: "content payments"


def test_stemming_and_diacritics(fts: sqlite3.Connection) -> None:
    assert matches(fts, "deploying") == {1}
    assert matches(fts, "creme brulee") == {5}


def test_stopwords_dropped_only_when_others_remain() -> None:
    assert [t.text for g in parse("the deploy of it").groups for t in g] == ["deploy"]
    assert [t.text for g in parse("the").groups for t in g] == ["the"]


def test_operator_words_alone_are_words() -> None:
    assert [t.text for g in parse("AND").groups for t in g] == ["AND"]
    assert parse("-x").empty  # only an exclusion: nothing to rank


def test_no_space_scripts_become_prefix_searches(fts: sqlite3.Connection) -> None:
    assert matches(fts, "数据库") == {4}
    assert parse("数据库").needs_substring
    assert parse("🚀").empty and parse("🚀").needs_substring

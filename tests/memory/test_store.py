"""The store, called directly on a real database file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skills.memory import Memory, Store
from skills.memory._records import InvalidMemory
from skills.memory._search import CANDIDATES
from skills.memory._store import NotFound

A, B = "acme/agent", "other/agent"


def test_store_and_search_ranked_with_snippets(store: Store) -> None:
    store.add(A, "The payments-api deploy failed: expired TLS certificate", ["incident"])
    store.add(A, "Payments team prefers helm for payments-api and payments-worker", [])
    store.add(A, "Lunch is at noon", [])
    hits = store.search(A, "payments certificate")
    assert [h.snippet.count("**") > 0 for h in hits] == [True, True]
    assert "certificate" in hits[0].snippet  # has both words: ranks first
    assert hits[0].score >= hits[1].score
    assert hits[0].tags == ["incident"] and hits[0].created_at.endswith("Z")


def test_scopes_are_isolated(store: Store) -> None:
    mem_id, _ = store.add(B, "secret plans of another tenant", [])
    assert store.search(A, "secret plans") == []
    assert store.recent(A) == []
    with pytest.raises(NotFound):
        store.update(A, mem_id, content="mine now")
    with pytest.raises(NotFound):
        store.forget(A, mem_id)
    assert store.get(B, mem_id) is not None


def test_same_content_is_stored_once_and_tags_merge(store: Store) -> None:
    first, created = store.add(A, "Use  kubectl  diff first", ["k8s"])
    again, created_again = store.add(A, "Use kubectl diff first", ["Review", "k8s"])
    assert (created, created_again, again) == (True, False, first)
    assert store.recent(A)[0].tags == ["k8s", "review"]
    other, created_other = store.add(B, "Use kubectl diff first", [])
    assert created_other and other != first  # another scope has its own copy


def test_update_and_forget(store: Store) -> None:
    mem_id, _ = store.add(A, "Redis lives in namespace cache", ["redis"])
    updated = store.update(A, mem_id, content="Redis lives in namespace data")
    assert updated.tags == ["redis"] and updated.updated_at >= updated.created_at
    assert store.search(A, "cache") == [] and store.search(A, "data")[0].id == mem_id
    store.update(A, mem_id, tags=["Cache", "db"])
    assert store.search(A, "redis", tags=["db"])[0].id == mem_id
    store.forget(A, mem_id)
    assert store.get(A, mem_id) is None and store.search(A, "redis") == []
    with pytest.raises(NotFound):
        store.forget(A, mem_id)


def test_update_to_duplicate_content_is_refused(store: Store) -> None:
    one, _ = store.add(A, "fact one", [])
    store.add(A, "fact two", [])
    with pytest.raises(InvalidMemory, match="already has exactly this content"):
        store.update(A, one, content="fact two")


def test_tags_filter_needs_all_tags(store: Store) -> None:
    both, _ = store.add(A, "deploy note alpha", ["prod", "eu"])
    store.add(A, "deploy note beta", ["prod"])
    assert [h.id for h in store.search(A, "deploy", tags=["prod", "EU"])] == [both]
    assert [m.id for m in store.recent(A, tags=["eu"])] == [both]
    assert len(store.recent(A, tags=["prod"])) == 2


def test_list_is_most_recent_first(store: Store) -> None:
    ids = [store.add(A, f"memory {i}", [])[0] for i in range(5)]
    assert [m.id for m in store.recent(A, limit=3)] == ids[::-1][:3]


@pytest.mark.parametrize(
    ("content", "tags", "error"),
    [
        ("   ", [], "must not be empty"),
        ("x" * 20_001, [], "limit is 20000"),
        ("ok", ["t" * 65], "longer than 64"),
        ("ok", [f"t{i}" for i in range(21)], "at most 20 tags"),
    ],
)
def test_limits_give_clear_errors(store: Store, content: str, tags: list[str], error: str) -> None:
    with pytest.raises(InvalidMemory, match=error):
        store.add(A, content, tags)


def test_emoji_and_substrings_of_cjk_runs_are_found(store: Store) -> None:
    mem_id, _ = store.add(A, "数据库连接失败 after the 🚀 launch", [])
    for query in ("数据库", "连接", "🚀"):
        assert [h.id for h in store.search(A, query)] == [mem_id], query


def test_lone_surrogates_and_nul_do_not_break_anything(store: Store) -> None:
    mem_id, _ = store.add(A, "broken \ud800 text \x00 here", ["t\ud800"])
    assert store.search(A, "broken \ud800 \x00")[0].id == mem_id


def test_broad_queries_rank_among_the_newest_matches(store: Store) -> None:
    # The rare term's memory is old, behind more than CANDIDATES newer common matches:
    # every alternative gets its own candidates, so it is still found and ranked first.
    old, _ = store.add(A, "common zebra", [])
    store.add_many(_memories(CANDIDATES + 50))
    hits = store.search(A, "common zebra", limit=3)
    assert hits[0].id == old and len(hits) == 3


def _memories(n: int) -> Iterator[Memory]:
    return (Memory(id=f"bulk{i}", scope=A, content=f"common filler number {i}") for i in range(n))


def test_add_many_keeps_ids_times_and_skips_known(store: Store) -> None:
    m = Memory(
        id="fixed-id",
        scope=B,
        content="imported",
        tags=["x"],
        source="s",
        created_at="2020-01-02T03:04:05.000Z",
        updated_at="2021-01-02T03:04:05.000Z",
    )
    assert store.add_many([m]) == (1, 0)
    assert store.add_many([m]) == (0, 1)
    assert store.get(None, "fixed-id") == m

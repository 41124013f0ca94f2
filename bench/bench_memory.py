"""Memory skill benchmark: store throughput, search latency and size at scale, against LIKE.

    .venv/bin/python bench/bench_memory.py [--n 1000000] [--db PATH] [--keep]

Generates N memories of realistic length (incident notes, runbooks, preferences, config
facts, free text drawn from a Zipf-distributed vocabulary; about 300 characters each),
deterministically, stores them batched, stores a smaller sample one at a time (one durable
transaction each), then times searches through the same `Store.search` the tools use, and
the same searches as a plain `LIKE '%term%'` scan in the same run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skills.memory import Memory, Store
from skills.memory._query import parse
from skills.memory._records import new_id

SCOPE = "acme/ops-agent"
SERVICES = [
    "payments-api",
    "checkout",
    "auth-gateway",
    "search-indexer",
    "billing-worker",
    "ledger",
    "notifications",
    "inventory",
    "recommendations",
    "media-transcoder",
    "user-profile",
    "shipping-rates",
    "fraud-scoring",
    "catalog-sync",
    "webhooks",
]
ENVS = ["staging", "production", "dev", "canary", "eu-west-1", "us-east-2", "ap-south-1"]
DBS = ["PostgreSQL", "Redis", "MySQL", "Kafka", "RabbitMQ", "Elasticsearch", "MongoDB"]
TOOLS = ["kubectl", "helm", "kustomize", "terraform", "argocd", "k9s", "stern", "jq"]
REASONS = [
    "an expired TLS certificate",
    "a missing ConfigMap key",
    "OOMKilled containers",
    "a bad image tag",
    "an exhausted connection pool",
    "DNS resolution timeouts",
    "a failing readiness probe",
    "a quota exceeded in the namespace",
    "a schema migration that locked the table",
    "wrong RBAC permissions",
    "node pressure evictions",
    "a CrashLoopBackOff after the config change",
]
FIXES = [
    "rolled back to the previous release",
    "raised the memory limit to 2Gi",
    "renewed the certificate with cert-manager",
    "added the missing key and restarted",
    "scaled the deployment to 6 replicas",
    "pinned the image digest",
    "increased max_connections and recycled the pool",
    "patched the RBAC role",
    "cordoned the node and drained it",
    "reverted the feature flag",
]
PEOPLE = ["Alice", "Bob", "Chen", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines"]
SYLLABLES = [
    "ka",
    "ro",
    "mi",
    "tel",
    "san",
    "dor",
    "vex",
    "lu",
    "pra",
    "shen",
    "qua",
    "bo",
    "tir",
    "nal",
    "zem",
    "fo",
    "gri",
    "hal",
    "jun",
    "ost",
    "pel",
    "ric",
    "ute",
    "wan",
]
TAGS = ["incident", "runbook", "preference", "config", "ownership", "note"]


class TextGen:
    """Deterministic memory text: templated operational facts plus Zipfian free text."""

    def __init__(self, seed: int = 7, vocab: int = 30_000) -> None:
        self.r = random.Random(seed)
        r = random.Random(seed + 1)
        words = {"".join(r.choice(SYLLABLES) for _ in range(r.randint(2, 4))) for _ in range(vocab)}
        self.words = sorted(words)
        r.shuffle(self.words)
        self.cum: list[float] = []
        total = 0.0
        for rank in range(len(self.words)):  # Zipf, s = 1.1: few words everywhere, most rare
            total += 1.0 / (rank + 1) ** 1.1
            self.cum.append(total)
        self.templates: list[Callable[[], str]] = [
            self.deploy,
            self.owner,
            self.prefer,
            self.runbook,
            self.config,
            self.note,
        ]

    def c(self, options: list[str]) -> str:
        return self.r.choice(options)

    def deploy(self) -> str:
        return (
            f"Deploy of {self.c(SERVICES)} to {self.c(ENVS)} failed with "
            f"{self.c(REASONS)}; {self.c(FIXES)}. Ticket INC-{self.r.randint(1000, 99999)}."
        )

    def owner(self) -> str:
        return (
            f"The {self.c(SERVICES)} service is owned by {self.c(PEOPLE)}'s team; page them "
            f"in #{self.c(SERVICES)}-oncall for {self.c(ENVS)} incidents."
        )

    def prefer(self) -> str:
        return (
            f"User prefers {self.c(TOOLS)} over {self.c(TOOLS)} when working on "
            f"{self.c(SERVICES)}, and wants diffs shown before anything is applied."
        )

    def runbook(self) -> str:
        return (
            f"Runbook: to rotate the {self.c(DBS)} password for {self.c(SERVICES)}, update "
            f"secret {self.c(SERVICES)}-creds in namespace {self.c(ENVS)}, then restart "
            f"with {self.c(TOOLS)} rollout restart."
        )

    def config(self) -> str:
        r = self.r
        return (
            f"{self.c(SERVICES)} in {self.c(ENVS)} uses {self.c(DBS)} {r.randint(5, 16)}."
            f"{r.randint(0, 9)} with a pool of {r.randint(5, 200)} connections; commit "
            f"{r.getrandbits(28):07x}."
        )

    def note(self) -> str:
        words = self.r.choices(self.words, cum_weights=self.cum, k=self.r.randint(6, 18))
        return " ".join(words).capitalize() + "."

    def memory(self) -> str:
        parts = [self.r.choice(self.templates)() for _ in range(self.r.randint(1, 3))]
        if self.r.random() < 0.6:
            parts.append(self.note())
        return " ".join(parts)


def memories(gen: TextGen, n: int) -> Iterator[Memory]:
    start = time.time() - n  # one memory a second, ending now
    for i in range(n):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start + i))
        yield Memory(
            id=new_id(),
            scope=SCOPE,
            content=gen.memory(),
            tags=[gen.r.choice(TAGS)],
            created_at=stamp,
            updated_at=stamp,
        )


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    fn()  # warm the page cache for this query
    samples: list[float] = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="memories to store (batched)")
    ap.add_argument("--single", type=int, default=2_000, help="sample stored one at a time")
    ap.add_argument("--runs", type=int, default=200, help="timed runs per FTS query")
    ap.add_argument("--like-runs", type=int, default=10, help="timed runs per LIKE query")
    ap.add_argument("--db", type=Path, help="database file (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary database")
    ap.add_argument("--reuse", action="store_true", help="search an existing --db only")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    path = args.db or tmp / "memory.db"
    gen = TextGen()
    reuse = args.reuse and path.exists()
    store = Store.open(path)
    added, batched_s, single_s = 0, 0.0, 0.0
    while not reuse and added < args.n:  # identical texts are stored once: top up to n
        prepared = list(memories(gen, args.n - added))  # generated first: time only storing
        t = time.perf_counter()
        added += store.add_many(prepared, batch=10_000)[0]
        batched_s += time.perf_counter() - t
        del prepared
    t = time.perf_counter()
    for _ in range(0 if reuse else args.single):
        store.add(SCOPE, gen.memory(), [gen.r.choice(TAGS)])
    single_s = time.perf_counter() - t
    with store.reading() as conn:
        total = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
    store.close()  # the last close checkpoints the WAL into the main file
    size_mb = path.stat().st_size / 1e6
    store = Store.open(path)

    rare, common = gen.words[1400], gen.words[0]
    queries = {  # match shares are printed; they follow from the generator
        "selective": rare,
        "broad": "deploy",
        "very broad": common,
        "natural": "payments-api deploy failed certificate",
    }
    results: list[tuple[str, str, int, float, float, float, float]] = []
    for label, q in queries.items():
        with store.reading() as conn:
            matches = int(
                conn.execute(
                    "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?",
                    (parse(q).expression(),),
                ).fetchone()[0]
            )
        p50, p99 = timed(lambda q=q: store.search(SCOPE, q, limit=10), args.runs)

        words = [f"%{w}%" for w in q.split()]
        any_word = " OR ".join("content LIKE ?" for _ in words)

        def scan(words: list[str] = words, any_word: str = any_word) -> object:
            with store.reading() as conn:  # every match: what ranking them would need
                return conn.execute(
                    f"SELECT id FROM memories WHERE scope = ? AND ({any_word})", (SCOPE, *words)
                ).fetchall()

        l50, l99 = timed(scan, args.like_runs)
        results.append((label, q, matches, p50, p99, l50, l99))

    exact: list[tuple[str, float]] = []
    for q in ("deploy", common):  # what the candidate cap saves: bm25 over every match

        def ranked_all(q: str = q) -> object:
            with store.reading() as conn:
                return conn.execute(
                    "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? "
                    "ORDER BY rank LIMIT 10",
                    (q,),
                ).fetchall()

        exact.append((q, timed(ranked_all, max(5, args.runs // 20))[0]))
    store.close()

    gain = added / batched_s if batched_s else 0.0
    print(
        f"\nmemory benchmark: {total:,} memories in one scope, average "
        f"{sum(len(gen.memory()) for _ in range(2000)) / 2000:.0f} characters"
    )
    if reuse:
        print(f"(searched the existing {path}: store figures not measured)")
    else:
        print(
            f"batched store:  {gain:>9,.0f} memories/s ({added:,} in {batched_s:.1f} s, "
            "10,000 per transaction)"
        )
        print(
            f"one at a time:  {args.single / single_s:>9,.0f} memories/s (a sample of "
            f"{args.single:,} on the full database, one fsync'd commit each)"
        )
        print(f"database size:  {size_mb:>9,.0f} MB ({size_mb * 1e6 / total:,.0f} bytes/memory)")
    print()
    head = (
        f"{'query':<11} {'text':<39} {'matches':>15} {'FTS p50':>8} {'FTS p99':>8} "
        f"{'LIKE p50':>9} {'LIKE p99':>9} {'p50 gain':>8}"
    )
    print(head)
    print("-" * len(head))
    for label, q, matches, p50, p99, l50, l99 in results:
        share = f"{matches:,} ({matches / total:.0%})"
        print(
            f"{label:<11} {q[:39]:<39} {share:>15} {p50:>6.2f}ms {p99:>6.2f}ms "
            f"{l50:>7.1f}ms {l99:>7.1f}ms {l50 / p50:>7.0f}x"
        )
    print(
        "\nfor scale, bm25 over every match (no candidate cap): "
        + ", ".join(f"{q!r} p50 {ms:.0f} ms" for q, ms in exact)
    )
    print(
        "LIKE baseline: scope = ? AND (content LIKE '%word%' OR ...), all matches (a full "
        "scan; a LIKE-based search must see every match to rank them). Stopping at the "
        "newest 10 LIKE matches instead is fast when matches are common, but unranked."
    )
    aims = [
        ("selective p50 < 5 ms", results[0][3] < 5),
        ("broad p50 < 50 ms", results[1][3] < 50),
        ("batched > 5,000/s", reuse or gain > 5000),
    ]
    print("aims: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in aims))
    if args.db is None and not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        tmp.rmdir()
    else:
        print(f"database kept at {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

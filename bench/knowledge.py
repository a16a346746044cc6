"""Retrieval quality and speed of the knowledge base on BANKING77, and vector search at 1M.

BANKING77: each of the 77 categories is one FAQ entry whose phrasings are its train rows;
the test rows are the customers' questions. Scoring weights are tuned on held-out train
rows only (several splits pooled), never on test rows. Two regimes: the full train set and
10 train rows per category (fixed seed). Baselines in the same run: plain MiniLM nearest
neighbour (best phrasing only) and BM25. The scale run times HNSW against exact search on
random unit vectors. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from bench.machine import machine
from knowledge import BM25Index, Embedder, IndexParams, ScoringWeights, SemanticRetriever
from knowledge.calibration import (
    Components,
    Examples,
    components,
    entries_from_examples,
    entry_id,
    load_examples,
    ranking_metrics,
    sample_per_category,
    split_holdout,
    tune_weights,
)
from knowledge.embeddings import Vectors
from knowledge.index import build_faiss_index

DATASET = Path(__file__).resolve().parent.parent.parent / "shared/datasets/banking77"
SHOT_SEED = 13
TUNE_SEEDS = (1, 2, 3)


class Vectoriser:
    """Every BANKING77 text embedded once; retrievers and baselines reuse the vectors."""

    def __init__(self, embedder: Embedder, texts: list[str]) -> None:
        unique = sorted(set(texts))
        started = time.perf_counter()
        vectors = embedder.encode(unique)
        self.seconds = time.perf_counter() - started
        self.rate = len(unique) / self.seconds
        self._row = {t: i for i, t in enumerate(unique)}
        self._vectors = vectors

    def __call__(self, texts: list[str]) -> Vectors:
        return self._vectors[[self._row[t] for t in texts]]


def retriever_for(
    examples: Examples, embedder: Embedder, vec: Vectoriser, weights: ScoringWeights
) -> tuple[SemanticRetriever, float]:
    entries = entries_from_examples(examples)
    phrasings = [p for e in entries for p in e.all_phrasings]
    started = time.perf_counter()
    retriever = SemanticRetriever(entries, embedder, weights, vectors=vec(phrasings))
    return retriever, time.perf_counter() - started


def tune(examples: Examples, embedder: Embedder, vec: Vectoriser) -> tuple[ScoringWeights, dict]:
    pooled: list[Components] = []
    labels: list[int] = []
    for seed in TUNE_SEEDS:
        kept, held = split_holdout(examples, 0.2, seed)
        retriever, _ = retriever_for(kept, embedder, vec, ScoringWeights())
        column = {e.id: i for i, e in enumerate(retriever.entries)}
        questions = [t for t, _ in held]
        pooled.append(components(retriever, questions, vec(questions)))
        labels += [column[entry_id(c)] for _, c in held]
    parts = Components(
        np.vstack([p.best for p in pooled]),
        np.vstack([p.prototype for p in pooled]),
        np.vstack([p.lexical for p in pooled]),
        pooled[0].entry_ids,
    )
    weights, metrics = tune_weights(parts, labels)
    return weights, {**metrics, "questions": len(labels)}


def evaluate(retriever: SemanticRetriever, test: list[tuple[str, str]], vec: Vectoriser) -> dict:
    queries = vec([t for t, _ in test])
    ranks = []
    for (text, category), query in zip(test, queries, strict=True):
        ids = [m.entry.id for m in retriever.rank(query, text)]
        wanted = entry_id(category)
        ranks.append(ids.index(wanted) + 1 if wanted in ids else 0)
    r = np.asarray(ranks)
    return {
        "top1": round(float((r == 1).mean()), 4),
        "top3": round(float(((r >= 1) & (r <= 3)).mean()), 4),
        "mrr": round(float(np.where(r > 0, 1.0 / np.maximum(r, 1), 0.0).mean()), 4),
    }


def latency(retriever: SemanticRetriever, questions: list[str]) -> dict:
    """One question at a time, embedding included (the query cache is bypassed)."""
    times = []
    for question in questions:
        started = time.perf_counter()
        query = retriever.embedder.encode([question])
        retriever.rank(query[0], question)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "queries": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))], 2),
    }


def regime(
    name: str, train: Examples, test: list[tuple[str, str]], embedder: Embedder, vec: Vectoriser
) -> tuple[dict, dict, dict]:
    weights, tuning = tune(train, embedder, vec)
    retriever, build_s = retriever_for(train, embedder, vec, weights)
    ours = evaluate(retriever, test, vec)
    lat = latency(retriever, [t for t, _ in test[::10]][:300])
    ours |= {
        "entries": len(retriever),
        "phrasings": len(retriever.index),
        "weights": {
            "best": round(weights.best, 3),
            "prototype": round(weights.prototype, 3),
            "lexical": round(weights.lexical, 3),
        },
        "tuned_on_held_out_train": tuning,
        "latency": lat,
        "index_build_s": round(build_s, 3),
        "index_kind": retriever.index.kind,
        "index_memory_bytes": retriever.index.memory_bytes() + retriever._prototypes.nbytes,
    }
    # Baseline: plain nearest neighbour, the entry of the single most similar phrasing.
    column = {e.id: i for i, e in enumerate(retriever.entries)}
    labels = [column[entry_id(c)] for _, c in test]
    questions = [t for t, _ in test]
    nn = ranking_metrics(components(retriever, questions, vec(questions)).best, labels)
    bm25_index = BM25Index(list(retriever.entries))
    scores = np.zeros((len(test), len(retriever.entries)), dtype=np.float32)
    for row, question in enumerate(questions):
        for eid, score in bm25_index.scores(question).items():
            scores[row, column[eid]] = score
    bm25 = ranking_metrics(scores + 1e-6 * np.random.default_rng(0).random(scores.shape), labels)
    print(f"{name}: ours {ours['top1']} nn {nn['top1']} bm25 {bm25['top1']}", file=sys.stderr)
    return ours, nn, bm25


def scale_run(n: int, queries: int, params: IndexParams, ef_grid: list[int]) -> dict:
    rng = np.random.default_rng(42)
    dim = 384
    data = rng.standard_normal((n, dim), dtype=np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    query = rng.standard_normal((queries, dim), dtype=np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)

    started = time.perf_counter()
    flat = faiss.IndexFlatIP(dim)
    flat.add(data)
    _, truth = flat.search(query, 10)
    exact_s = time.perf_counter() - started

    started = time.perf_counter()
    hnsw = build_faiss_index(data, params)
    build_s = time.perf_counter() - started
    del data, flat

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # single queries, one core: what one request costs
    results = []
    for ef in ef_grid:
        hnsw.hnsw.efSearch = ef
        times = []
        found = np.zeros((queries, 10), dtype=np.int64)
        for i in range(queries):
            t = time.perf_counter()
            _, found[i : i + 1] = hnsw.search(query[i : i + 1], 10)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        recall = np.mean([len(set(found[i]) & set(truth[i])) / 10 for i in range(queries)])
        results.append(
            {
                "ef_search": ef,
                "recall_at_10": round(float(recall), 4),
                "p50_ms": round(statistics.median(times), 3),
                "p99_ms": round(times[int(0.99 * (queries - 1))], 3),
            }
        )
        print(f"scale ef={ef}: {results[-1]}", file=sys.stderr)
    faiss.omp_set_num_threads(threads)
    meeting = [r for r in results if r["recall_at_10"] >= 0.95 and r["p99_ms"] <= 5]
    return {
        "vectors": n,
        "dimension": dim,
        "queries": queries,
        "index": f"IndexHNSWFlat(M={params.hnsw_m}, efConstruction={params.ef_construction})",
        "build_s": round(build_s, 1),
        "build_threads": threads,
        "exact_ground_truth_s": round(exact_s, 1),
        "memory_bytes": int(faiss.serialize_index(hnsw).nbytes),
        "by_ef_search": results,
        "meets_targets": meeting[0] if meeting else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.knowledge")
    parser.add_argument("--data", type=Path, default=DATASET)
    parser.add_argument("--scale-vectors", type=int, default=1_000_000)
    parser.add_argument("--scale-queries", type=int, default=1000)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    train = load_examples(args.data / "train.csv")
    test_by_category = load_examples(args.data / "test.csv")
    test = [(t, c) for c, texts in sorted(test_by_category.items()) for t in texts]
    embedder = Embedder()
    vec = Vectoriser(embedder, [t for ts in train.values() for t in ts] + [t for t, _ in test])
    print(f"embedded in {vec.seconds:.0f}s ({vec.rate:.0f}/s)", file=sys.stderr)

    full, nn_full, bm25_full = regime("full", train, test, embedder, vec)
    ten = sample_per_category(train, 10, SHOT_SEED)
    shot, nn_shot, bm25_shot = regime("10shot", ten, test, embedder, vec)
    result: dict[str, object] = {
        "bench": "knowledge",
        "machine": machine(),
        "banking77": {
            "test_questions": len(test),
            "embedding_rate_per_s": round(vec.rate, 1),
            "full": full,
            "10shot": shot,
        },
        "baselines": {
            "minilm_nn": {"full": nn_full, "10shot": nn_shot},
            "bm25": {"full": bm25_full, "10shot": bm25_shot},
        },
    }
    if not args.skip_scale:
        params = IndexParams(exact_limit=0, hnsw_m=32, ef_construction=80)
        result["scale_1m"] = scale_run(
            args.scale_vectors, args.scale_queries, params, args.ef_search
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Retrieval quality and speed of the knowledge base on BANKING77, and vector search at 1M.

BANKING77: each of the 77 categories is one FAQ entry whose phrasings are its train rows;
the test rows are the customers' questions. Scoring weights are tuned on held-out train
rows only (several splits pooled), never on test rows. Two regimes: the full train set and
10 train rows per category (fixed seed). Baselines in the same run: plain MiniLM nearest
neighbour (best phrasing only), BM25, and Rasa's DIET classifier trained on the same rows
(bench/diet.py, in `.venv-rasa`). `--finetune` regimes are measured a second time with the
embedder fine-tuned on that regime's train rows (knowledge/finetune.py).

The scale run compares index kinds on 1M random unit vectors against exact search (recall@10
and single-query latency on one thread): the knowledge base's own approximate index (a PQ
fast-scan re-scored exactly, built by `knowledge.index.build_faiss_index`) and, for
comparison, HNSW. Random vectors have no structure an index can use: graph and cluster
indexes need to visit most of the collection there, so this is the hard case, not the
typical one. Prints one JSON object; the total runtime is in `runtime_s`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from bench.machine import machine
from knowledge import BM25Index, Embedder, IndexParams, ScoringWeights, SemanticRetriever
from knowledge.calibration import (
    TERMS_GRID,
    Components,
    Examples,
    components,
    components_by_terms,
    entries_from_examples,
    entry_id,
    load_examples,
    ranking_metrics,
    sample_per_category,
    split_holdout,
    tune_scoring,
)
from knowledge.embeddings import Vectors
from knowledge.finetune import FinetuneParams, finetune
from knowledge.index import build_faiss_index, search_index

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT.parent / "shared/datasets/banking77"
RASA_PYTHON = ROOT / ".venv-rasa/bin/python"
DIET_SCRIPT = ROOT / "bench/diet.py"
SHOT_SEED = 13
PARTS = ("banking77", "diet", "scale")
TUNE_SEEDS = (1, 2, 3)
FINETUNE_EPOCHS = (1, 2, 3)


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
    pooled: dict[float, list[Components]] = {t: [] for t in TERMS_GRID}
    labels: list[int] = []
    for seed in TUNE_SEEDS:
        kept, held = split_holdout(examples, 0.2, seed)
        retriever, _ = retriever_for(kept, embedder, vec, ScoringWeights())
        column = {e.id: i for i, e in enumerate(retriever.entries)}
        questions = [t for t, _ in held]
        by_terms = components_by_terms(retriever, questions, vec(questions), TERMS_GRID)
        for terms, parts in by_terms.items():
            pooled[terms].append(parts)
        labels += [column[entry_id(c)] for _, c in held]
    weights, metrics = tune_scoring({t: Components.pooled(p) for t, p in pooled.items()}, labels)
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
    """One question at a time, embedding included (the query cache is bypassed); the embed
    and search shares are reported apart so a loaded machine's share is visible."""
    times, embed, search = [], [], []
    for question in questions:
        started = time.perf_counter()
        query = retriever.embedder.embed_one(question)
        embedded = time.perf_counter()
        retriever.rank(query[0], question)
        done = time.perf_counter()
        times.append((done - started) * 1000)
        embed.append((embedded - started) * 1000)
        search.append((done - embedded) * 1000)
    times.sort()
    return {
        "queries": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))], 2),
        "embed_p50_ms": round(statistics.median(embed), 2),
        "search_p50_ms": round(statistics.median(search), 2),
    }


def choose_epochs(train: Examples, weights: ScoringWeights, work: Path) -> tuple[int, dict]:
    """How many epochs to fine-tune, chosen on train rows only: each candidate is trained on 70 %
    of every category's rows and scored (top-1) on the other 30 %; ties go to fewer epochs."""
    kept, held = split_holdout(train, 0.3, TUNE_SEEDS[0])
    scores: dict[int, float] = {}
    for epochs in FINETUNE_EPOCHS:
        path = work / f"held-out-{epochs}"
        finetune(entries_from_examples(kept), path, params=FinetuneParams(epochs, threads=1))
        embedder = Embedder(path)
        texts = [t for rows in kept.values() for t in rows] + [t for t, _ in held]
        vec = Vectoriser(embedder, texts)
        retriever, _ = retriever_for(kept, embedder, vec, weights)
        scores[epochs] = evaluate(retriever, held, vec)["top1"]
        shutil.rmtree(path, ignore_errors=True)
    best = max(FINETUNE_EPOCHS, key=lambda e: (scores[e], -e))
    return best, {"top1_by_epochs": scores, "questions": len(held), "chosen": best}


def finetuned(
    train: Examples, test: list[tuple[str, str]], weights: ScoringWeights, work: Path
) -> dict:
    """The same pipeline on an embedder fine-tuned on this regime's phrasings only (the test
    questions are never seen). Weights stay those tuned with the packaged model: every train
    phrasing was a training pair, so held-out train rows would flatter a re-tuning."""
    entries = entries_from_examples(train)
    started = time.perf_counter()
    epochs, choice = choose_epochs(train, weights, work)
    report = finetune(entries, work / "embedder", params=FinetuneParams(epochs, threads=1))
    seconds = time.perf_counter() - started
    embedder = Embedder(work / "embedder")
    vec = Vectoriser(embedder, [p for e in entries for p in e.all_phrasings] + [t for t, _ in test])
    retriever, _ = retriever_for(train, embedder, vec, weights)
    result = evaluate(retriever, test, vec)
    column = {e.id: i for i, e in enumerate(retriever.entries)}
    questions = [t for t, _ in test]
    labels = [column[entry_id(c)] for _, c in test]
    nn = ranking_metrics(components(retriever, questions, vec(questions)).best, labels)
    return result | {
        "nearest_neighbour_only": nn,
        "finetune_s": round(seconds, 1),
        "finetune": {k: report[k] for k in ("pairs", "steps", "epochs", "final_loss")},
        "epochs_on_held_out_train": choice,
        "latency": latency(retriever, questions[::10][:300]),
    }


def regime(
    name: str,
    train: Examples,
    test: list[tuple[str, str]],
    embedder: Embedder,
    vec: Vectoriser,
    tune_embedder: bool = False,
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
            "classifier": round(weights.classifier, 3),
            "classifier_terms": weights.terms,
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
    if tune_embedder:
        with tempfile.TemporaryDirectory(prefix="bench-knowledge-") as work:
            ours["finetuned"] = finetuned(train, test, weights, Path(work))
        print(f"{name}: fine-tuned {ours['finetuned']['top1']}", file=sys.stderr)
    return ours, nn, bm25


def diet_baseline(
    train: Examples,
    test: list[tuple[str, str]],
    epochs: int,
    timeout_s: float,
    python: Path = RASA_PYTHON,
) -> dict:
    """Rasa's DIET trained on the same phrasings, in Rasa's own environment (bench/diet.py).

    DIET ranks at most 10 intents, so a question whose category is outside them counts as
    rank infinity in the MRR (a lower bound, like top-3 recall it is exact)."""
    with tempfile.TemporaryDirectory(prefix="bench-knowledge-") as work:
        job, out = Path(work) / "job.json", Path(work) / "result.json"
        job.write_text(
            json.dumps({"train": train, "test": [t for t, _ in test], "epochs": epochs}),
            encoding="utf-8",
        )
        started = time.perf_counter()
        try:
            subprocess.run(
                [str(python), str(DIET_SCRIPT), str(job), str(out)],
                check=True,
                timeout=timeout_s,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except (OSError, subprocess.SubprocessError) as error:
            detail = getattr(error, "stderr", None) or b""
            tail = detail.decode(errors="replace")[-500:] if isinstance(detail, bytes) else ""
            return {"error": f"{type(error).__name__}: {error}".strip(), "stderr_tail": tail}
        total_s = time.perf_counter() - started
        result = json.loads(out.read_text(encoding="utf-8"))
    ranks = []
    for (_, category), ranking in zip(test, result["rankings"], strict=True):
        ranks.append(ranking.index(category) + 1 if category in ranking else 0)
    r = np.asarray(ranks)
    times = sorted(result["parse_ms"])
    return {
        "top1": round(float((r == 1).mean()), 4),
        "top3": round(float(((r >= 1) & (r <= 3)).mean()), 4),
        "mrr": round(float(np.where(r > 0, 1.0 / np.maximum(r, 1), 0.0).mean()), 4),
        "epochs": epochs,
        "train_s": round(result["train_s"], 1),
        "run_s": round(total_s, 1),
        "latency": {
            "queries": len(times),
            "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[int(0.99 * (len(times) - 1))], 2),
        },
    }


def timed_search(
    search: Callable[[np.ndarray], np.ndarray],
    query: np.ndarray,
    truth: np.ndarray,
    setting: str,
    value: int,
) -> dict:
    """Single queries on one thread (what one request costs): recall@10 and latency."""
    times = []
    found = np.zeros((len(query), 10), dtype=np.int64)
    for i in range(len(query)):
        started = time.perf_counter()
        found[i] = search(query[i : i + 1])[0]
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    recall = np.mean([len(set(found[i]) & set(truth[i])) / 10 for i in range(len(query))])
    return {
        setting: value,
        "recall_at_10": round(float(recall), 4),
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))], 3),
    }


def scale_candidate(
    kind: str, data: np.ndarray, query: np.ndarray, truth: np.ndarray, args: argparse.Namespace
) -> dict:
    """Build one index kind over `data`, then sweep its search-time knob."""
    dim = data.shape[1]
    started = time.perf_counter()
    index: faiss.Index
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, args.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = args.hnsw_ef_construction
        index.add(data)
        name = f"IndexHNSWFlat(M={args.hnsw_m}, efConstruction={args.hnsw_ef_construction})"
        knob, grid = "ef_search", args.ef_search
    elif kind == "pq-refine":
        index = build_faiss_index(data, IndexParams(exact_limit=0))
        codes = faiss.downcast_index(index.base_index).M
        name = f"knowledge base: IndexRefineFlat(IndexPQFastScan(M={codes}, 4 bits))"
        knob, grid = "rescored", args.rescored
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    build_s = time.perf_counter() - started
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    results = []
    for value in grid:
        if kind == "hnsw":
            index.hnsw.efSearch = value

        def search(q: np.ndarray, value: int = value) -> np.ndarray:
            return search_index(index, q, 10, value)[1]

        results.append(timed_search(search, query, truth, knob, value))
        print(f"scale {kind} {results[-1]}", file=sys.stderr)
    faiss.omp_set_num_threads(threads)
    meeting = [r for r in results if r["recall_at_10"] >= 0.95 and r["p99_ms"] <= 5]
    return {
        "index": name,
        "build_s": round(build_s, 1),
        "build_threads": threads,
        "memory_bytes": int(faiss.serialize_index(index).nbytes),
        f"by_{knob}": results,
        "meets_targets": meeting[0] if meeting else None,
    }


def scale_run(args: argparse.Namespace) -> dict:
    """Random unit vectors and random unit queries: no cluster structure for an index to
    exploit, the hardest case for approximate search."""
    rng = np.random.default_rng(42)
    dim = 384
    data = rng.standard_normal((args.scale_vectors, dim), dtype=np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    query = rng.standard_normal((args.scale_queries, dim), dtype=np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)

    started = time.perf_counter()
    flat = faiss.IndexFlatIP(dim)
    flat.add(data)
    _, truth = flat.search(query, 10)
    exact_s = time.perf_counter() - started
    del flat
    candidates = {kind: scale_candidate(kind, data, query, truth, args) for kind in args.scale}
    return {
        "faiss": {"version": faiss.__version__, "simd": faiss.get_compile_options()},
        "vectors": args.scale_vectors,
        "dimension": dim,
        "queries": args.scale_queries,
        "exact_ground_truth_s": round(exact_s, 1),
        "candidates": candidates,
        "meets_targets": {k: c["meets_targets"] for k, c in candidates.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.knowledge")
    parser.add_argument("--data", type=Path, default=DATASET)
    parser.add_argument("--scale-vectors", type=int, default=1_000_000)
    parser.add_argument("--scale-queries", type=int, default=1000)
    parser.add_argument("--scale", nargs="*", default=["pq-refine", "hnsw"])
    parser.add_argument("--ef-search", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--hnsw-m", type=int, default=16)
    parser.add_argument("--hnsw-ef-construction", type=int, default=40)
    parser.add_argument(
        "--rescored",
        type=int,
        nargs="+",
        default=[2000, 4000, 6000, 8000],
        help="candidates the knowledge base's index re-scores exactly per question",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        default=list(PARTS),
        choices=PARTS,
        help="run only some parts (each prints its own sections of the one JSON object)",
    )
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-diet", action="store_true")
    parser.add_argument("--diet-epochs", type=int, default=40, help="the bot trains 60")
    parser.add_argument("--diet-timeout", type=float, default=1800, help="seconds per regime")
    parser.add_argument(
        "--finetune",
        nargs="*",
        default=["10shot"],
        choices=["full", "10shot"],
        help="regimes also measured with an embedder fine-tuned on their phrasings",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()

    train = load_examples(args.data / "train.csv")
    test_by_category = load_examples(args.data / "test.csv")
    test = [(t, c) for c, texts in sorted(test_by_category.items()) for t in texts]
    ten = sample_per_category(train, 10, SHOT_SEED)
    result: dict[str, object] = {"bench": "knowledge", "machine": machine()}
    baselines: dict[str, object] = {}
    if "banking77" in args.parts:
        embedder = Embedder()
        texts = [t for ts in train.values() for t in ts] + [t for t, _ in test]
        vec = Vectoriser(embedder, texts)
        print(f"embedded in {vec.seconds:.0f}s ({vec.rate:.0f}/s)", file=sys.stderr)
        full, nn_full, bm25_full = regime(
            "full", train, test, embedder, vec, "full" in args.finetune
        )
        shot, nn_shot, bm25_shot = regime(
            "10shot", ten, test, embedder, vec, "10shot" in args.finetune
        )
        result["banking77"] = {
            "test_questions": len(test),
            "embedding_rate_per_s": round(vec.rate, 1),
            "full": full,
            "10shot": shot,
        }
        baselines["minilm_nn"] = {"full": nn_full, "10shot": nn_shot}
        baselines["bm25"] = {"full": bm25_full, "10shot": bm25_shot}
    if "diet" in args.parts and not args.skip_diet:
        diet = {}
        for name, examples in (("full", train), ("10shot", ten)):
            diet[name] = diet_baseline(examples, test, args.diet_epochs, args.diet_timeout)
            print(f"{name}: DIET {diet[name].get('top1')}", file=sys.stderr)
        baselines["diet"] = diet
    if baselines:
        result["baselines"] = baselines
    if "scale" in args.parts and not args.skip_scale and args.scale:
        result["scale_1m"] = scale_run(args)
    result["runtime_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tuning on held-out phrasings: the scoring weights, then the decision thresholds.

Labelled questions come from a CSV (`text,category`: each category is one entry) or from an
FAQ YAML file (every phrasing is a question labelled with its entry). Some phrasings of each
entry are held out; the rest become the entry. Nothing here ever sees a test set.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .classifier import EntryClassifier
from .content import FaqEntry, load_entries
from .embeddings import Embedder, Vectors
from .retrieval import LexicalIndex, Thresholds
from .semantic import DEFAULT_WEIGHTS, ScoringWeights, SemanticRetriever

Examples = dict[str, list[str]]  # entry id -> questions


def load_examples(path: Path) -> Examples:
    """`text,category` CSV rows, or the phrasings of an FAQ YAML file, grouped by entry."""
    examples: Examples = defaultdict(list)
    if path.suffix in (".yml", ".yaml"):
        for entry in load_entries(path):
            examples[entry.id].extend(entry.all_phrasings)
        return dict(examples)
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            examples[row["category"].strip()].append(row["text"].strip())
    return dict(examples)


def entries_from_examples(examples: Examples) -> list[FaqEntry]:
    """One entry per category; its first example stands as the canonical question."""
    return [
        FaqEntry(
            id=category.lower().replace("_", "-"),
            topic=category,
            question=texts[0],
            answer=category,
            phrasings=tuple(texts[1:]),
        )
        for category, texts in examples.items()
        if texts
    ]


def entry_id(category: str) -> str:
    return category.lower().replace("_", "-")


def split_holdout(
    examples: Examples, fraction: float = 0.2, seed: int = 7, keep_at_least: int = 2
) -> tuple[Examples, list[tuple[str, str]]]:
    """Hold out about `fraction` of each category (at least one when it has enough)."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible split)
    kept: Examples = {}
    held: list[tuple[str, str]] = []
    for category, texts in sorted(examples.items()):
        shuffled = texts[:]
        rng.shuffle(shuffled)
        n_held = min(max(1, round(len(shuffled) * fraction)), len(shuffled) - keep_at_least)
        n_held = max(n_held, 0)
        kept[category] = shuffled[n_held:]
        held += [(text, category) for text in shuffled[:n_held]]
    return kept, held


def sample_per_category(examples: Examples, shots: int, seed: int) -> Examples:
    rng = random.Random(seed)  # noqa: S311 (a reproducible split)
    return {c: rng.sample(t, min(shots, len(t))) for c, t in sorted(examples.items())}


@dataclass(frozen=True)
class Components:
    """Exact per-entry signals for a batch of questions, shape (questions, entries) each."""

    best: npt.NDArray[np.float32]
    prototype: npt.NDArray[np.float32]
    lexical: npt.NDArray[np.float32]
    classifier: npt.NDArray[np.float32]
    entry_ids: tuple[str, ...]

    def combine(self, weights: ScoringWeights) -> npt.NDArray[np.float32]:
        w = weights.normalised()
        return (
            w.best * np.maximum(self.best, 0)
            + w.prototype * np.maximum(self.prototype, 0)
            + w.lexical * self.lexical
            + w.classifier * self.classifier
        )

    @classmethod
    def pooled(cls, parts: Sequence[Components]) -> Components:
        """Several splits' questions stacked (the entries must be the same, in one order)."""
        return cls(
            np.vstack([p.best for p in parts]),
            np.vstack([p.prototype for p in parts]),
            np.vstack([p.lexical for p in parts]),
            np.vstack([p.classifier for p in parts]),
            parts[0].entry_ids,
        )


def components(
    retriever: SemanticRetriever,
    questions: Sequence[str],
    queries: Vectors | None = None,
    *,
    terms: float | None = None,
) -> Components:
    """`terms`: the classifier's word features (default: the retriever's weights')."""
    if terms is None:
        terms = retriever.weights.terms
    return components_by_terms(retriever, questions, queries, (terms,))[terms]


def components_by_terms(
    retriever: SemanticRetriever,
    questions: Sequence[str],
    queries: Vectors | None,
    grid: Sequence[float],
) -> dict[float, Components]:
    """The same signals for each word-feature scale of the classifier: only the classifier
    is fitted again per scale, the cosines and TF-IDF are computed once."""
    if queries is None:
        queries = retriever.embedder.encode(list(questions))
    vectors = retriever.index.vectors()
    owners = retriever._row_owner
    n_entries = len(retriever.entries)
    sims = queries @ vectors.T
    best = np.full((len(questions), n_entries), -1.0, dtype=np.float32)
    for position in range(n_entries):
        best[:, position] = sims[:, owners == position].max(axis=1)
    prototype = queries @ retriever._prototypes.T
    lexical_index = LexicalIndex(list(retriever.entries))
    column = {e.id: i for i, e in enumerate(retriever.entries)}
    lexical = np.zeros_like(best)
    for row, question in enumerate(questions):
        for eid, (score, _) in lexical_index.entry_scores(question).items():
            lexical[row, column[eid]] = score
    out: dict[float, Components] = {}
    for terms in grid:
        classifier = retriever.classifier
        if classifier is None or terms != classifier.terms:
            classifier = EntryClassifier(
                vectors,
                owners.tolist(),
                n_entries,
                texts=[r.phrasing for r in retriever.index.rows],
                terms=terms,
            )
        out[terms] = Components(
            best,
            prototype,
            lexical,
            classifier.probabilities(queries, questions),
            tuple(e.id for e in retriever.entries),
        )
    return out


def ranking_metrics(scores: npt.NDArray[np.floating], labels: Sequence[int]) -> dict[str, float]:
    """top-1 accuracy, top-3 recall and MRR of the correct column."""
    labels_arr = np.asarray(labels)
    correct = scores[np.arange(len(labels_arr)), labels_arr]
    rank = (scores > correct[:, None]).sum(axis=1) + 1
    return {
        "top1": round(float((rank == 1).mean()), 4),
        "top3": round(float((rank <= 3).mean()), 4),
        "mrr": round(float((1.0 / rank).mean()), 4),
    }


def tune_weights(
    parts: Components, labels: Sequence[int], step: float = 0.05
) -> tuple[ScoringWeights, dict[str, float]]:
    """Grid search over weights summing to 1: best top-1 accuracy, then MRR."""
    best_key: tuple[float, float] | None = None
    chosen = ScoringWeights()
    chosen_metrics: dict[str, float] = {}
    grid = np.round(np.arange(0, 1 + 1e-9, step), 4)
    for w_best, w_proto, w_cls in itertools.product(grid, grid, grid):
        w_lex = round(1 - w_best - w_proto - w_cls, 4)
        if w_lex < -1e-9:
            continue
        weights = ScoringWeights(
            float(w_best), float(w_proto), max(float(w_lex), 0.0) + 0.0, float(w_cls)
        )
        metrics = ranking_metrics(parts.combine(weights), labels)
        key = (metrics["top1"], metrics["mrr"])
        if best_key is None or key > best_key:
            best_key, chosen, chosen_metrics = key, weights, metrics
    return chosen, chosen_metrics


TERMS_GRID = (0.0, 1.0)


def tune_scoring(
    parts_by_terms: dict[float, Components], labels: Sequence[int]
) -> tuple[ScoringWeights, dict[str, float]]:
    """`tune_weights` for each word-feature scale of the classifier; the best of them."""
    chosen: tuple[ScoringWeights, dict[str, float]] | None = None
    for terms, parts in sorted(parts_by_terms.items()):
        weights, metrics = tune_weights(parts, labels)
        if chosen is None or (metrics["top1"], metrics["mrr"]) > (
            chosen[1]["top1"],
            chosen[1]["mrr"],
        ):
            chosen = dataclasses.replace(weights, terms=terms), metrics
    assert chosen is not None
    return chosen


@dataclass(frozen=True)
class Calibration:
    thresholds: Thresholds
    answered: float  # share of held-out questions answered outright
    wrong_when_answered: float
    clarify_or_better: float  # share that at least gets a clarifying question


def calibrate_thresholds(
    scores: npt.NDArray[np.floating],
    labels: Sequence[int],
    max_wrong: float = 0.05,
    clarify_recall: float = 0.95,
) -> Calibration:
    """Answer threshold and margin that answer the most questions while keeping wrong
    confident answers under `max_wrong`; the clarify threshold keeps `clarify_recall` of the
    questions whose entry is among the top three out of not_found."""
    labels_arr = np.asarray(labels)
    order = np.argsort(-scores, axis=1)
    top1 = scores[np.arange(len(scores)), order[:, 0]]
    top2 = scores[np.arange(len(scores)), order[:, 1]] if scores.shape[1] > 1 else 0 * top1
    right = order[:, 0] == labels_arr
    in_top3 = (order[:, :3] == labels_arr[:, None]).any(axis=1)
    clarify = float(np.quantile(top1[in_top3], 1 - clarify_recall)) if in_top3.any() else 0.0

    best: tuple[float, float, float, float] | None = None  # answered, -wrong, threshold, margin
    for margin in np.round(np.arange(0.0, 0.101, 0.01), 3):
        for threshold in np.round(np.arange(0.3, 0.951, 0.005), 3):
            answered = (top1 >= threshold) & (top1 - top2 >= margin)
            if not answered.any():
                continue
            wrong = float((answered & ~right).sum() / answered.sum())
            if wrong > max_wrong:
                continue
            key = (float(answered.mean()), -wrong, float(threshold), float(margin))
            if best is None or key[:2] > best[:2]:
                best = key
    if best is None:
        return Calibration(Thresholds(1.0, round(clarify, 3), 0.0), 0.0, 0.0, 1 - clarify_recall)
    answered_share, neg_wrong, threshold, margin = best
    return Calibration(
        Thresholds(
            answer=round(threshold, 3), clarify=round(min(clarify, threshold), 3), margin=margin
        ),
        answered=round(answered_share, 4),
        wrong_when_answered=round(-neg_wrong, 4),
        clarify_or_better=round(float((top1 >= clarify).mean()), 4),
    )


def calibrate(
    examples: Examples,
    embedder: Embedder,
    holdout: float = 0.2,
    seed: int = 7,
    max_wrong: float = 0.05,
    tune: bool = True,
    weights: ScoringWeights = DEFAULT_WEIGHTS,
    splits: int = 1,
) -> dict[str, object]:
    """Tune weights (optional) and thresholds on held-out questions of `examples`.

    With `splits` > 1 the held-out questions of that many random splits (seeds `seed`,
    `seed + 1`, ...) are pooled: with few phrasings per entry one split holds out one
    question per entry, and thresholds read off so few questions move by 0.1 from one seed
    to the next."""
    if splits < 1:
        raise ValueError("splits must be at least 1")
    grid = TERMS_GRID if tune else (weights.terms,)
    by_terms: dict[float, list[Components]] = {t: [] for t in grid}
    labels: list[int] = []
    entries: list[FaqEntry] = []
    for split in range(splits):
        kept, held = split_holdout(examples, holdout, seed + split)
        entries = entries_from_examples(kept)
        retriever = SemanticRetriever(entries, embedder, weights)
        column = {e.id: i for i, e in enumerate(entries)}
        labels += [column[entry_id(category)] for _, category in held]
        questions = [text for text, _ in held]
        queries = embedder.encode(questions)
        for terms, parts in components_by_terms(retriever, questions, queries, grid).items():
            by_terms[terms].append(parts)
    pooled = {t: Components.pooled(p) for t, p in by_terms.items()}
    if tune:
        weights, metrics = tune_scoring(pooled, labels)
    else:
        metrics = ranking_metrics(pooled[weights.terms].combine(weights), labels)
    result = calibrate_thresholds(pooled[weights.terms].combine(weights), labels, max_wrong)
    return {
        "entries": len(entries),
        "held_out": len(labels),
        "splits": splits,
        "weights": {
            "best": weights.best,
            "prototype": weights.prototype,
            "lexical": weights.lexical,
            "classifier": weights.classifier,
            "terms": weights.terms,
        },
        "held_out_metrics": metrics,
        "thresholds": {
            "answer": result.thresholds.answer,
            "clarify": result.thresholds.clarify,
            "margin": result.thresholds.margin,
        },
        "answered": result.answered,
        "wrong_when_answered": result.wrong_when_answered,
        "clarify_or_better": result.clarify_or_better,
    }

"""The knowledge benchmark's parts: the scale run's index candidates and the DIET baseline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from bench import knowledge as bench

DIM = 384


def unit(rows: int, seed: int) -> np.ndarray:
    data = np.random.default_rng(seed).standard_normal((rows, DIM), dtype=np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def options(**overrides: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "hnsw_m": 16,
        "hnsw_ef_construction": 40,
        "ef_search": [16, 512],
        "rescored": [10, 3000],
    }
    return argparse.Namespace(**(values | overrides))


@pytest.fixture(scope="module")
def small_scale() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data, query = unit(3000, 1), unit(40, 2)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(data)
    _, truth = flat.search(query, 10)
    return data, query, truth


@pytest.mark.parametrize(("kind", "knob"), [("pq-refine", "rescored"), ("hnsw", "ef_search")])
def test_scale_candidates_report_recall_against_exact_search(
    small_scale: tuple[np.ndarray, np.ndarray, np.ndarray], kind: str, knob: str
) -> None:
    data, query, truth = small_scale
    report = bench.scale_candidate(kind, data, query, truth, options())
    sweep = report[f"by_{knob}"]
    assert [r[knob] for r in sweep] == options().__dict__[knob]
    cheap, thorough = sweep
    # The thorough setting re-scores (or visits) most of 3,000 vectors: near exact.
    assert thorough["recall_at_10"] >= 0.9
    assert cheap["recall_at_10"] < thorough["recall_at_10"]
    assert 0 < thorough["p50_ms"] <= thorough["p99_ms"]
    assert report["build_s"] >= 0 and report["memory_bytes"] > data.nbytes * 0.5


def test_unknown_scale_candidate_is_refused(
    small_scale: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    data, query, truth = small_scale
    with pytest.raises(ValueError, match="unknown index kind"):
        bench.scale_candidate("lsh", data, query, truth, options())


TRAIN = {
    "card_lost": [
        "I lost my card",
        "my card is missing",
        "cannot find my card anywhere",
        "card was stolen",
        "someone took my card",
        "where is my card, I lost it",
    ],
    "exchange_rate": [
        "what is the exchange rate",
        "how much is a euro in dollars",
        "currency conversion rate",
        "which rate do you use to exchange money",
        "exchange rate for pounds",
        "rate for converting currency",
    ],
    "top_up_failed": [
        "my top up failed",
        "top-up did not work",
        "could not add money to my account",
        "the top up was declined",
        "adding funds failed",
        "why did my top up fail",
    ],
}


def test_diet_baseline_trains_in_the_rasa_environment_and_ranks_the_questions() -> None:
    test = [
        ("I lost my card", "card_lost"),
        ("what is the exchange rate", "exchange_rate"),
        ("my top up failed", "top_up_failed"),
        ("😀 <script>alert(1)</script> ' \" : - [ ] {}", "card_lost"),
        ("", "exchange_rate"),
    ]
    result = bench.diet_baseline(TRAIN, test, epochs=30, timeout_s=600)
    assert "error" not in result, result
    assert result["epochs"] == 30 and result["latency"]["queries"] == len(test)
    assert 0 <= result["top1"] <= result["top3"] <= 1
    assert result["top3"] >= 0.6  # three intents, ranked: the known ones at least
    assert result["top1"] >= 0.4  # training sentences parse to their own intent


def test_diet_baseline_failure_is_reported_not_raised() -> None:
    missing = bench.diet_baseline(
        TRAIN, [("hello", "card_lost")], 1, 30, python=Path("/nonexistent/python")
    )
    assert missing["error"].startswith("FileNotFoundError")
    # The gateway's own interpreter has no Rasa: the script fails, its stderr is kept.
    without_rasa = bench.diet_baseline(
        TRAIN, [("hello", "card_lost")], 1, 60, python=Path(sys.executable)
    )
    assert without_rasa["error"].startswith("CalledProcessError")
    assert "rasa" in without_rasa["stderr_tail"]

"""Fine-tuning the embedder on curated phrasings, and the gateway picking the result up."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from gateway.settings import Settings
from knowledge import Embedder, FaqEntry, SemanticRetriever, load_entries, shared_embedder
from knowledge.finetune import (
    FinetuneParams,
    distinct_batches,
    finetune,
    is_model_dir,
    main,
    training_pairs,
)

SEED = Settings().faq_seed_path


def entry(entry_id: str, *phrasings: str) -> FaqEntry:
    return FaqEntry(
        id=entry_id, topic="t", question=phrasings[0], answer="a", phrasings=phrasings[1:]
    )


def separation(embedder: Embedder, entries: list[FaqEntry]) -> float:
    """Mean cosine between phrasings of one entry minus that between different entries."""
    owners = np.asarray([i for i, e in enumerate(entries) for _ in e.all_phrasings])
    vectors = embedder.encode([p for e in entries for p in e.all_phrasings])
    sims = vectors @ vectors.T
    same = owners[:, None] == owners[None, :]
    np.fill_diagonal(same, False)
    other = owners[:, None] != owners[None, :]
    return float(sims[same].mean() - sims[other].mean())


def test_every_phrasing_is_an_anchor_paired_with_another_phrasing_of_its_entry() -> None:
    entries = [entry("a", "a1", "a2", "a3"), entry("b", "b1", "b2"), entry("c", "only one")]
    pairs = training_pairs(entries, random.Random(1))
    assert sorted(anchor for _, anchor, _ in pairs) == ["a1", "a2", "a3", "b1", "b2"]
    for position, anchor, positive in pairs:
        assert positive != anchor
        assert positive in entries[position].all_phrasings


def test_no_entry_appears_twice_in_a_batch_and_no_pair_is_lost() -> None:
    entries = [entry(f"e{i}", *(f"e{i} p{j}" for j in range(1 + i % 5))) for i in range(30)]
    pairs = training_pairs(entries, random.Random(2))
    batches = list(distinct_batches(pairs, 8, random.Random(3)))
    seen = []
    for batch in batches:
        assert 2 <= len(batch) <= 8
        owners = [anchor.split()[0] for anchor, _ in batch]
        assert len(owners) == len(set(owners))
        seen += batch
    # Pairs of a lone entry at the end cannot form a batch of two; all others are used.
    assert len(seen) >= len(pairs) - 4
    assert set(seen) <= {(a, p) for _, a, p in pairs}


def test_fine_tuning_pulls_phrasings_of_an_entry_together(tmp_path: Path) -> None:
    entries = list(load_entries(SEED))[:12]
    output = tmp_path / "embedder"
    params = FinetuneParams(epochs=2, batch_size=8, learning_rate=1e-4, threads=1)
    report = finetune(entries, output, params=params)
    assert is_model_dir(output)
    assert report["steps"] and report["pairs"] == sum(len(e.all_phrasings) for e in entries)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    tuned = Embedder(output)
    assert tuned.dimension == 384
    assert separation(tuned, entries) > separation(shared_embedder(), entries) + 0.01
    retriever = SemanticRetriever(entries, tuned)
    for e in entries:
        assert retriever.search(e.question, k=1)[0].entry.id == e.id


def test_nothing_to_learn_from_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two phrasings"):
        finetune([entry("a", "lonely")], tmp_path / "embedder")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "fine-tuning failed"),
        ("columns.csv", "question,label\nhello,greet\n", "fine-tuning failed"),
        ("single.csv", "text,category\nhello,greet\nbye,farewell\n", "two phrasings"),
        ("bad.yml", "entries: [{id: 'NOT A SLUG'}]\n", "fine-tuning failed"),
    ],
)
def test_command_rejects_unusable_data_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str | None, message: str
) -> None:
    data = tmp_path / name
    if content is not None:
        data.write_text(content, encoding="utf-8")
    output = tmp_path / "out"
    assert main(["--data", str(data), "--output", str(output)]) == 1
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_command_rejects_nonsense_parameters(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--data", str(SEED), "--output", str(tmp_path / "o"), "--epochs", "0"])
    assert raised.value.code == 2
    assert not (tmp_path / "o").exists()


def test_gateway_uses_a_fine_tuned_model_when_one_is_present(tmp_path: Path) -> None:
    settings = Settings(VAR_DIR=tmp_path)
    assert settings.resolved_faq_embedding_model is None
    tuned = tmp_path / "knowledge" / "embedder"
    tuned.mkdir(parents=True)
    assert settings.resolved_faq_embedding_model is None  # an empty directory is no model
    (tuned / "config_sentence_transformers.json").write_text("{}")
    assert settings.resolved_faq_embedding_model == tuned
    chosen = tmp_path / "elsewhere"
    explicit = Settings(VAR_DIR=tmp_path, FAQ_EMBEDDING_MODEL=chosen)
    assert explicit.resolved_faq_embedding_model == chosen


def test_single_question_fast_path_matches_batch_encoding() -> None:
    embedder = shared_embedder()
    questions = ["How long does delivery take?", "can i pay with paypal", "x"]
    batch = embedder.encode(questions)
    for row, question in enumerate(questions):
        np.testing.assert_allclose(embedder.embed_one(question)[0], batch[row], atol=1e-4)

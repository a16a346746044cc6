"""The Rasa pipeline's NumPy MiniLM (bot/nlu/minilm.py, run in the Rasa environment) against
sentence-transformers running the same model in the application environment."""

from __future__ import annotations

import numpy as np

from knowledge.embeddings import Embedder
from tests.nlu.rasa_python import run_json

TEXTS = [
    "where is my order 10482?",
    "Héllo, I'd like a refund — the jumper doesn't fit!",
    "",
    "ok",
    "can i pay with KLARNA",
    "你好, order ΑΒΓ ﬁsh straße",
    "a\x00b\tc\u200bd\ufffd e\u3000f",
    "email: anna.garcia1@example.org <script>alert(1)</script>",
    "refund " * 400,  # longer than the model's 256 wordpieces: truncated the same way
]

SCRIPT = """
import json, sys
from bot.nlu.minilm import MiniLM
print(json.dumps(MiniLM().encode(json.loads(sys.stdin.read())).tolist()))
"""


def rasa_side(texts: list[str]) -> np.ndarray:
    return np.array(run_json(SCRIPT, texts), dtype=np.float32)


def test_same_embeddings_as_sentence_transformers() -> None:
    ours = rasa_side(TEXTS)
    reference = Embedder().encode(TEXTS)
    assert ours.shape == (len(TEXTS), 384)
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() > 0.9999, cosines
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_distinct_texts_get_distinct_embeddings() -> None:
    ours = rasa_side(["where is my parcel", "i want my money back"])
    assert float(ours[0] @ ours[1]) < 0.9

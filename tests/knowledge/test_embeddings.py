"""The embedding model in ONNX Runtime: the same vectors as sentence-transformers in PyTorch,
and its exported graph kept as derived data, reused, and replaced when the model changes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from knowledge import Embedder, default_model_path

TEXTS = ["How long does delivery take?", "x", "refund " * 300, "où est ma commande 10482 ?"]


def test_same_vectors_as_pytorch_and_the_graph_is_reused(tmp_path: Path) -> None:
    reference = SentenceTransformer(str(default_model_path()), device="cpu").encode(
        TEXTS, normalize_embeddings=True
    )
    first = Embedder(compiled_dir=tmp_path)
    [graph] = list(tmp_path.glob("*.onnx"))
    np.testing.assert_allclose(first.encode(TEXTS), reference, atol=1e-5)
    written = graph.stat().st_mtime_ns
    second = Embedder(compiled_dir=tmp_path)  # read back, not exported again
    assert [p.name for p in tmp_path.iterdir()] == [graph.name]
    assert graph.stat().st_mtime_ns == written
    np.testing.assert_allclose(second.encode(TEXTS), first.encode(TEXTS), atol=1e-6)


def test_a_retrained_model_replaces_only_its_own_graph(tmp_path: Path) -> None:
    model = tmp_path / "model"
    SentenceTransformer(str(default_model_path()), device="cpu").save(str(model))
    runtime = tmp_path / "runtime"
    Embedder(compiled_dir=runtime)  # the packaged model's graph
    Embedder(model, compiled_dir=runtime)
    assert len(list(runtime.glob("*.onnx"))) == 2
    later = max(f.stat().st_mtime_ns for f in model.iterdir() if f.is_file()) + 10**9
    weights = next(model.glob("*.safetensors"))
    os.utime(weights, ns=(later, later))  # as if fine-tuned again at the same path
    Embedder(model, compiled_dir=runtime)
    assert len(list(runtime.glob("*.onnx"))) == 2  # its old graph gone, the other one kept

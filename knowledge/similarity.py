"""Text-to-text similarity for the content tools (lint, grouping unanswered questions).

With an `Embedder` texts are compared by cosine of their sentence embeddings; without one, by
TF-IDF cosine over the same tokens the lexical retriever uses. Rows are dense: these tools
compare hundreds to a few thousand texts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import TfidfVectorizer

from .embeddings import Embedder
from .retrieval import tokens

Matrix = npt.NDArray[np.float32]


def unit_rows(matrix: npt.NDArray[np.floating]) -> Matrix:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


def vectorise(texts: Sequence[str], embedder: Embedder | None) -> Matrix:
    """Unit-length rows, one per text (all zeros for a text without a known term)."""
    if embedder is not None:
        return embedder.encode(list(texts))
    if not any(tokens(t) for t in texts):
        return np.zeros((len(texts), 1), dtype=np.float32)
    vectoriser = TfidfVectorizer(tokenizer=tokens, lowercase=False, token_pattern=None)
    return unit_rows(vectoriser.fit_transform(texts).toarray())


def cosine(a: Matrix, b: Matrix) -> Matrix:
    return np.asarray(a @ b.T, dtype=np.float32)

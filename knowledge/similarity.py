"""Text-to-text similarity for the content tools (lint, grouping unanswered questions).

With an `Embedder` texts are compared by cosine of their sentence embeddings; without one, by
TF-IDF cosine over the same tokens the lexical retriever uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from .embeddings import Embedder
from .retrieval import tokens

Matrix = npt.NDArray[np.float32] | sparse.csr_matrix


def vectorise(texts: Sequence[str], embedder: Embedder | None) -> Matrix:
    """Unit-length rows, one per text."""
    if embedder is not None:
        return embedder.encode(list(texts))
    if not any(tokens(t) for t in texts):
        return sparse.csr_matrix((len(texts), 1), dtype=np.float32)
    vectoriser = TfidfVectorizer(tokenizer=tokens, lowercase=False, token_pattern=None)
    return sparse.csr_matrix(vectoriser.fit_transform(texts), dtype=np.float32)


def cosine(a: Matrix, b: Matrix) -> npt.NDArray[np.float32]:
    """Dense matrix of cosines between the rows of `a` and the rows of `b`."""
    product = a @ b.T
    if sparse.issparse(product):
        product = product.toarray()
    return np.asarray(product, dtype=np.float32)


def mean_rows(vectors: Matrix, groups: Sequence[Sequence[int]]) -> Matrix:
    """Normalised mean of the given rows, one output row per group."""
    rows, cols = [], []
    for g, members in enumerate(groups):
        rows += [g] * len(members)
        cols += list(members)
    weights = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(groups), vectors.shape[0])
    )
    means = weights @ vectors
    if sparse.issparse(means):
        norms = np.sqrt(np.asarray(means.multiply(means).sum(axis=1))).ravel()
        scale = sparse.diags(1.0 / np.maximum(norms, 1e-12))
        return sparse.csr_matrix(scale @ means, dtype=np.float32)
    means = np.asarray(means, dtype=np.float32)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    return (means / np.maximum(norms, 1e-12)).astype(np.float32)

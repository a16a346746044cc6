"""A linear classifier over the phrasings: one more signal beside the cosines.

Nearest-neighbour and prototype scores treat every embedding dimension alike; a multinomial
logistic regression learns which directions separate the entries (BANKING77's "card
arrival" from "card delivery estimate", say), which matters most when entries have many
phrasings. With `terms` > 0 it also reads the words: TF-IDF of word uni- and bigrams, scaled
by `terms`, beside the embedding. Its probability for an entry is mixed into the score like
the other signals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from .embeddings import Vectors

REGULARISATION_C = 10.0


class EntryClassifier:
    """Probabilities over entry positions 0..n_entries-1 for a batch of questions.

    An entry with no phrasing, or content with a single entry, still gets a column: a lone
    entry is certain, an entry the classifier never saw has probability 0."""

    def __init__(
        self,
        vectors: Vectors,
        owners: Sequence[int],
        n_entries: int,
        *,
        texts: Sequence[str] = (),
        terms: float = 0.0,
    ) -> None:
        self.n_entries = n_entries
        self.terms = terms if texts else 0.0
        labels = np.asarray(owners, dtype=np.int64)
        self._classes = np.unique(labels)
        self._words: TfidfVectorizer | None = None
        self._model: LogisticRegression | None = None
        if len(self._classes) < 2:
            return
        if self.terms > 0:
            self._words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
            self._words.fit(texts)
        model = LogisticRegression(C=REGULARISATION_C, max_iter=300)
        with threadpool_limits(1):  # the gateway's event loop shares these cores
            model.fit(self._features(vectors, texts), labels)
        self._model = model

    def _features(self, vectors: Vectors, texts: Sequence[str]) -> np.ndarray | sparse.csr_matrix:
        if self._words is None:
            return vectors
        words = self._words.transform(list(texts)) * self.terms
        return sparse.hstack([sparse.csr_matrix(vectors), words], format="csr")

    def probabilities(self, queries: Vectors, questions: Sequence[str] = ()) -> np.ndarray:
        """`questions`, the texts of `queries`, are read when the classifier uses words."""
        out = np.zeros((len(queries), self.n_entries), dtype=np.float32)
        if self._model is None:
            if len(self._classes) == 1:
                out[:, int(self._classes[0])] = 1.0
            return out
        if self._words is not None and len(questions) != len(queries):
            raise ValueError("this classifier reads words: pass the questions' texts")
        out[:, self._model.classes_] = self._model.predict_proba(self._features(queries, questions))
        return out

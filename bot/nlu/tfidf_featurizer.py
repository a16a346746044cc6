"""A Rasa sparse featurizer: TF-IDF of the message's words and character n-grams.

Rasa's CountVectorsFeaturizer gives the intent classifier raw counts, so a long message
weighs more than a short one and a word every intent uses ("my", "order") as much as a rare
one. This step adds, as sentence features only, sublinear TF-IDF vectors of the word uni-
and bigrams and of the character 1-4-grams within words, each block scaled to length
`weight`. In 3-fold cross-validation of the training data (several splits) the logistic
regression scored higher on these than on the counts, and lower on both together, so the
classifier is given this featurizer's alias and not the counts'. Entity extraction reads
token features: DIET keeps the counts and is not given these.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import FEATURIZER_CLASS_ALIAS
from rasa.nlu.featurizers.sparse_featurizer.sparse_featurizer import SparseFeaturizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfVectorizer

FILE = "tfidf.json"


def _vectorizers() -> dict[str, TfidfVectorizer]:
    return {
        "words": TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        "chars": TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True),
    }


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class TfidfFeaturizer(SparseFeaturizer, GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**SparseFeaturizer.get_default_config(), "weight": 5.0}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        name: str,
        vectorizers: dict[str, TfidfVectorizer] | None = None,
    ) -> None:
        super().__init__(name, config)
        self._storage = model_storage
        self._resource = resource
        self._weight = float(self._config["weight"])
        self._vectorizers = vectorizers or {}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if float(config.get("weight", 5.0)) <= 0:
            raise ValueError("TfidfFeaturizer: weight must be positive")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TfidfFeaturizer:
        return cls(config, model_storage, resource, execution_context.node_name)

    def train(self, training_data: TrainingData) -> Resource:
        texts = [str(m.get(TEXT)) for m in training_data.training_examples if m.get(TEXT)]
        if not texts:
            return self._resource
        self._vectorizers = _vectorizers()
        stored = {}
        for key, vectorizer in self._vectorizers.items():
            vectorizer.fit(texts)
            stored[key] = {
                "vocabulary": {term: int(i) for term, i in vectorizer.vocabulary_.items()},
                "idf": vectorizer.idf_.tolist(),
            }
        with self._storage.write_to(self._resource) as directory:
            (directory / FILE).write_text(json.dumps(stored))
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TfidfFeaturizer:
        try:
            with model_storage.read_from(resource) as directory:
                stored = json.loads((directory / FILE).read_text())
        except (ValueError, FileNotFoundError):  # nothing was trained (no texts)
            return cls(config, model_storage, resource, execution_context.node_name)
        vectorizers = _vectorizers()
        for key, vectorizer in vectorizers.items():
            vectorizer.set_params(vocabulary=stored[key]["vocabulary"])
            vectorizer.idf_ = np.asarray(stored[key]["idf"], dtype=np.float64)
        return cls(config, model_storage, resource, execution_context.node_name, vectorizers)

    def process(self, messages: list[Message]) -> list[Message]:
        if not self._vectorizers:
            return messages
        todo = [m for m in messages if isinstance(m.get(TEXT), str)]
        if not todo:
            return messages
        texts = [str(m.get(TEXT)) for m in todo]
        # each block is L2-normalised by the vectorizer, then scaled to length `weight`
        matrix = scipy.sparse.hstack(
            [v.transform(texts) * self._weight for v in self._vectorizers.values()]
        ).tocsr()
        for row, message in enumerate(todo):
            message.add_features(
                Features(
                    matrix[row].tocoo(),
                    FEATURE_TYPE_SENTENCE,
                    TEXT,
                    self._config[FEATURIZER_CLASS_ALIAS],
                )
            )
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

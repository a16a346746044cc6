"""Rasa's logistic-regression intent classifier, reading only the featurizers it is given.

Rasa's own LogisticRegressionClassifier reads every featurizer's sentence features. The
pipeline keeps word and character counts for DIET's entity extraction, but the intent
classifier does better on TF-IDF of the same n-grams (bot/nlu/tfidf_featurizer.py) than with
the raw counts beside them, so `featurizers` names the aliases it reads (empty: all).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from scipy.sparse import csr_matrix, hstack, vstack


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class SelectedFeaturesLogisticRegression(LogisticRegressionClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "featurizers": []}

    def _create_X(self, messages: list[Message]) -> csr_matrix:
        featurizers = list(self.config["featurizers"]) or None
        rows = []
        for message in messages:
            _, sparse = message.get_sparse_features(TEXT, featurizers)
            _, dense = message.get_dense_features(TEXT, featurizers)
            rows.append(
                hstack(
                    [
                        csr_matrix(sparse.features if sparse else []),
                        csr_matrix(dense.features if dense else []),
                    ]
                )
            )
        return vstack(rows)

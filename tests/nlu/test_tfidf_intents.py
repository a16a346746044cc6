"""The TF-IDF featurizer (bot/nlu/tfidf_featurizer.py) and the intent classifier that reads
only the featurizers it is given (bot/nlu/intent_classifier.py), trained and loaded through
Rasa's own model storage in the Rasa environment."""

from __future__ import annotations

from tests.nlu.rasa_python import run_json

SCRIPT = r"""
import json, tempfile
from pathlib import Path
import numpy as np
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from bot.nlu.intent_classifier import SelectedFeaturesLogisticRegression as Classifier
from bot.nlu.tfidf_featurizer import TfidfFeaturizer

class Context:
    node_name = "tfidf"

EXAMPLES = [
    ("where is my order", "order_status"),
    ("has my parcel shipped yet", "order_status"),
    ("track my package please", "order_status"),
    ("i want my money back", "request_refund"),
    ("please refund this purchase", "request_refund"),
    ("give me a refund for the shoes", "request_refund"),
]

def message(text, intent=None):
    m = Message(data={"text": text, **({"intent": intent} if intent else {})})
    # a feature from another featurizer that points every example at the wrong intent
    wrong = 1.0 if intent == "order_status" else 0.0
    m.add_features(Features(np.array([[wrong * 100]]), "sentence", "text", "distractor"))
    return m

def sentence(m, alias):
    return m.get_sparse_features("text", [alias])[1]

out = {}
with tempfile.TemporaryDirectory() as tmp:
    storage = LocalModelStorage(Path(tmp))
    config = {"alias": "tfidf", "weight": 5.0}
    resource = Resource("tfidf")
    featurizer = TfidfFeaturizer.create(config, storage, resource, Context())
    training = TrainingData([message(t, i) for t, i in EXAMPLES])
    featurizer.train(training)
    featurizer.process_training_data(training)
    loaded = TfidfFeaturizer.load(config, storage, resource, Context())
    a, b = message("where is my refund <script>"), message("where is my refund <script>")
    featurizer.process([a])
    loaded.process([b])
    fa, fb = sentence(a, "tfidf"), sentence(b, "tfidf")
    out["type"] = fa.type
    out["sequence"] = a.get_sparse_features("text", ["tfidf"])[0] is not None
    out["same_after_load"] = bool((fa.features != fb.features).nnz == 0)
    out["norm"] = float(np.sqrt(fa.features.multiply(fa.features).sum()))
    out["empty_text"] = sentence(featurizer.process([Message(data={"text": "???"})])[0], "tfidf")
    out["empty_text"] = out["empty_text"].features.nnz if out["empty_text"] else None

    untrained = TfidfFeaturizer.create(config, storage, Resource("none"), Context())
    untrained.train(TrainingData([]))
    nothing = Message(data={"text": "hello"})
    TfidfFeaturizer.load(config, storage, Resource("none"), Context()).process([nothing])
    out["untrained_adds"] = sentence(nothing, "tfidf") is not None
    try:
        TfidfFeaturizer.validate_config({"weight": 0})
    except ValueError as error:
        out["bad_weight"] = str(error)

    for name, featurizers in (("selected", ["tfidf"]), ("all", [])):
        clf_resource = Resource(f"clf-{name}")
        clf_config = {"featurizers": featurizers, "max_iter": 1000, "ranking_length": 0}
        clf = Classifier.create(clf_config, storage, clf_resource, Context())
        clf.train(training)
        clf = Classifier.load(clf_config, storage, clf_resource, Context())
        asked = message("i would like a refund please")
        featurizer.process([asked])
        clf.process([asked])
        out[name] = {
            "intent": asked.get("intent")["name"],
            "ranked": len(asked.get("intent_ranking")),
            "columns": clf._create_X([asked]).shape[1],
        }
    out["tfidf_columns"] = fa.features.shape[1]
print(json.dumps(out))
"""


def test_tfidf_features_survive_persistence_and_the_classifier_reads_only_its_featurizers() -> None:
    out = run_json(SCRIPT)
    assert out["type"] == "sentence"
    assert out["sequence"] is False  # token features stay with the counts, for DIET
    assert out["same_after_load"] is True
    # two L2-normalised blocks (words, characters), each scaled to 5
    assert abs(out["norm"] - 5 * 2**0.5) < 1e-6
    assert out["empty_text"] is not None  # punctuation only: character n-grams, no words
    assert out["untrained_adds"] is False
    assert "weight" in out["bad_weight"]
    # given only the TF-IDF it reads the words; given everything, the distractor's 100s
    # (1 on every order_status example, 0 on the refunds) are among its columns
    assert out["selected"]["columns"] == out["tfidf_columns"]
    assert out["all"]["columns"] == out["tfidf_columns"] + 1
    assert out["selected"]["intent"] == "request_refund"
    assert out["selected"]["ranked"] == 2

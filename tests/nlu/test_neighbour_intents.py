"""The intent blend of bot/nlu/neighbour_intents.py, trained and loaded through Rasa's own model
storage in the Rasa environment, on hand-made sentence features."""

from __future__ import annotations

from tests.nlu.rasa_python import run_json

SCRIPT = r"""
import json, sys, tempfile
from pathlib import Path
import numpy as np
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from bot.nlu.neighbour_intents import NeighbourIntentBlend

def message(vector, intent=None, ranking=None, alias="minilm"):
    data = {"text": "x"}
    if intent:
        data["intent"] = intent
    m = Message(data=data)
    m.add_features(Features(np.array([vector], dtype=np.float32), "sentence", "text", alias))
    if ranking:
        m.set("intent", {"name": ranking[0][0], "confidence": ranking[0][1]})
        m.set("intent_ranking", [{"name": n, "confidence": c} for n, c in ranking])
    return m

out = {}
try:
    NeighbourIntentBlend({}, None, None)
except ValueError as error:
    out["no_featurizer"] = str(error)
with tempfile.TemporaryDirectory() as tmp:
    storage = LocalModelStorage(Path(tmp))
    resource = Resource("blend")
    config = {"featurizer": "minilm", "ranking_length": 2}
    blend = NeighbourIntentBlend(config, storage, resource)
    training = TrainingData([
        message([10.0, 0.0, 0.0], "order_status"),   # scaled: the blend normalises
        message([0.9, 0.1, 0.0], "order_status"),
        message([0.0, 1.0, 0.0], "refund_status"),
        message([0.0, 0.0, 1.0], "faq"),
    ])
    blend.train(training)
    loaded = NeighbourIntentBlend.load(config, storage, resource, None)
    close_call = [("refund_status", 0.55), ("order_status", 0.40), ("faq", 0.05)]
    for name, component in (("trained", blend), ("loaded", loaded)):
        m = message([1.0, 0.05, 0.0], ranking=close_call)
        component.process([m])
        out[name] = {"intent": m.get("intent"), "ranking": m.get("intent_ranking")}
    other = message([1.0, 0.0, 0.0], ranking=close_call, alias="another")
    blend.process([other])
    out["other_alias"] = other.get("intent")["name"]
print(json.dumps(out))
"""


def test_nearest_examples_settle_a_close_call_and_survive_persistence() -> None:
    out = run_json(SCRIPT)
    assert "featurizer" in out["no_featurizer"]
    for name in ("trained", "loaded"):
        ranking = out[name]["ranking"]
        # the classifier said refund_status 0.55 / order_status 0.40; the message is next to
        # the order_status examples, so the blend (0.7 p + 0.3 neighbours) turns it round
        assert out[name]["intent"]["name"] == "order_status"
        assert [r["name"] for r in ranking] == ["order_status", "refund_status"]
        assert ranking[0] == out[name]["intent"]
        assert 0.4 * 0.7 < ranking[0]["confidence"] <= 0.4 * 0.7 + 0.3
        assert ranking[0]["confidence"] > ranking[1]["confidence"]
    assert out["trained"] == out["loaded"]
    # without the configured embedding the classifier's ranking stands
    assert out["other_alias"] == "refund_status"

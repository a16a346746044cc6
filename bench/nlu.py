"""Cross-validated NLU quality of the project's own training data.

Runs `rasa test nlu --cross-validation` with the production pipeline (bot/config.yml) on every
NLU file the model is trained on, and prints one JSON object: intent macro-F1 (pooled over
the test folds), per-intent F1 and entity F1 per entity (entities come from DIET). Each fold
trains the whole NLU pipeline, so a run takes minutes (3 folds by default, `--folds 5` for a
tighter estimate). Rasa's evaluation scores the classifier's top intent: a prediction the
FallbackClassifier would turn into `nlu_fallback` is counted as the intent beneath it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import machine
from gateway.rasa_process import RASA_BIN
from gateway.settings import PROJECT_ROOT

NLU_FILES = ("training_data/nlu.yml", "training_data/orders_nlu.yml")
TARGETS = {"intent_macro_f1": 0.95, "order_number": 0.95, "email": 0.95}


def run(folds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-nlu-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        for name in NLU_FILES:
            shutil.copy(PROJECT_ROOT / name, data / Path(name).name)
        out = Path(tmp) / "results"
        started = time.monotonic()
        result = subprocess.run(
            [
                str(RASA_BIN),
                "test",
                "nlu",
                "--nlu",
                str(data),
                "--config",
                "bot/config.yml",
                "--cross-validation",
                "--folds",
                str(folds),
                "--out",
                str(out),
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.monotonic() - started
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
            raise SystemExit(result.returncode)
        intents = json.loads((out / "intent_report.json").read_text())
        entities = json.loads((out / "DIETClassifier_report.json").read_text())
    per_intent = {
        name: round(values["f1-score"], 4)
        for name, values in intents.items()
        if isinstance(values, dict) and "support" in values and name not in _AVERAGES
    }
    entity_f1 = {
        name: round(values["f1-score"], 4)
        for name, values in entities.items()
        if isinstance(values, dict) and name not in _AVERAGES and name != "no_entity"
    }
    macro = round(intents["macro avg"]["f1-score"], 4)
    met = {
        "intent_macro_f1": macro >= TARGETS["intent_macro_f1"],
        **{e: entity_f1.get(e, 0.0) >= TARGETS[e] for e in ("order_number", "email")},
    }
    return {
        "benchmark": "nlu-cross-validation",
        "folds": folds,
        "data": list(NLU_FILES),
        "intent_macro_f1": macro,
        "intent_weighted_f1": round(intents["weighted avg"]["f1-score"], 4),
        "intent_f1": per_intent,
        "entity_f1": entity_f1,
        "targets": TARGETS,
        "targets_met": met,
        "runtime_s": round(elapsed, 1),
        "machine": machine(),
    }


_AVERAGES = {"accuracy", "macro avg", "weighted avg", "micro avg"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nlu")
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.folds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

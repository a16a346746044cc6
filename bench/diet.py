"""Rasa's DIET intent classifier as a baseline, run inside Rasa's own virtual environment.

    .venv-rasa/bin/python bench/diet.py JOB.json RESULT.json

JOB.json holds `{"train": {category: [texts]}, "test": [texts], "epochs": n, "seed": n}`.
An NLU-only model is trained on the train texts with the bot's pipeline (bot/config.yml:
DIET without transformer layers) and `epochs` epochs instead of the bot's 60 (so the run stays
bounded on a small CPU); every test text is then parsed one at a time through the trained
model. RESULT.json receives the ranked categories per test text and the timings.

The script imports only Rasa and the standard library: it runs in `.venv-rasa`, which does
not have the gateway's packages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """\
recipe: default.v1
language: en
assistant_id: bench-diet
pipeline:
  - name: WhitespaceTokenizer
  - name: RegexFeaturizer
  - name: LexicalSyntacticFeaturizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
  - name: DIETClassifier
    epochs: {epochs}
    number_of_transformer_layers: 0
    random_seed: {seed}
    constrain_similarities: true
    ranking_length: 10
policies: []
"""


def nlu_json(train: dict[str, list[str]]) -> dict[str, object]:
    """Rasa's JSON training format: no YAML quoting pitfalls for arbitrary customer text."""
    examples = [
        {"text": text, "intent": category, "entities": []}
        for category, texts in sorted(train.items())
        for text in texts
    ]
    return {"rasa_nlu_data": {"common_examples": examples}}


async def parse_all(model: str, questions: list[str]) -> tuple[list[list[str]], list[float]]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    rankings: list[list[str]] = []
    times: list[float] = []
    for question in questions:
        started = time.perf_counter()
        parsed = await agent.parse_message(question)
        times.append((time.perf_counter() - started) * 1000)
        rankings.append([item["name"] for item in parsed.get("intent_ranking", [])])
    return rankings, times


def main(job_path: str, result_path: str) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.disable(logging.WARNING)
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    from rasa.model_training import train_nlu

    with tempfile.TemporaryDirectory(prefix="bench-diet-") as work:
        root = Path(work)
        config = root / "config.yml"
        config.write_text(CONFIG.format(epochs=int(job["epochs"]), seed=int(job.get("seed", 42))))
        data = root / "nlu.json"
        data.write_text(json.dumps(nlu_json(job["train"])), encoding="utf-8")
        started = time.perf_counter()
        model = train_nlu(str(config), str(data), str(root / "models"), fixed_model_name="diet")
        train_s = time.perf_counter() - started
        if not model:
            print("DIET training produced no model", file=sys.stderr)
            return 1
        rankings, times = asyncio.run(parse_all(model, job["test"]))
    Path(result_path).write_text(
        json.dumps({"rankings": rankings, "parse_ms": times, "train_s": train_s}),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

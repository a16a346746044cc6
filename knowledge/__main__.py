"""`python -m knowledge calibrate --data <csv|yml>`: weights and thresholds from held-out data;
`import`, `export`, `lint`, `reindex`, `ask`: content commands (`knowledge/cli.py`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import cli
from .calibration import calibrate, load_examples
from .embeddings import Embedder
from .semantic import ScoringWeights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge")
    commands = parser.add_subparsers(dest="command", required=True)
    cal = commands.add_parser(
        "calibrate",
        help="tune scoring weights and decision thresholds on held-out questions",
        description="Holds out part of each entry's questions, tunes the scoring weights "
        "(unless --no-tune) and picks the thresholds; prints them as JSON and as settings.",
    )
    cal.add_argument("--data", type=Path, required=True, help="CSV text,category or FAQ YAML")
    cal.add_argument("--holdout", type=float, default=0.2, help="share held out per entry")
    cal.add_argument("--seed", type=int, default=7)
    cal.add_argument("--splits", type=int, default=5, help="random splits pooled")
    cal.add_argument("--max-wrong", type=float, default=0.05, help="wrong confident answers")
    cal.add_argument("--model", type=Path, default=None, help="sentence-transformers model dir")
    cal.add_argument("--no-tune", action="store_true", help="keep the given weights")
    cal.add_argument("--terms", type=float, default=0.0, help="with --weights: word features")
    cal.add_argument(
        "--weights", type=float, nargs=4, metavar=("BEST", "PROTO", "LEX", "CLASSIFIER")
    )
    cli.add_commands(commands)
    args = parser.parse_args(argv)
    if args.command in cli.COMMANDS:
        return cli.run(args)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    weights = ScoringWeights(*args.weights, terms=args.terms) if args.weights else ScoringWeights()
    result = calibrate(
        load_examples(args.data),
        Embedder(args.model),
        holdout=args.holdout,
        seed=args.seed,
        max_wrong=args.max_wrong,
        tune=not args.no_tune,
        weights=weights,
        splits=args.splits,
    )
    print(json.dumps(result, indent=2))
    thresholds = result["thresholds"]
    chosen = result["weights"]
    assert isinstance(thresholds, dict) and isinstance(chosen, dict)
    print(
        f"FAQ_ANSWER_THRESHOLD={thresholds['answer']}\n"
        f"FAQ_CLARIFY_THRESHOLD={thresholds['clarify']}\n"
        f"FAQ_CLARIFY_MARGIN={thresholds['margin']}\n"
        f"FAQ_WEIGHT_BEST={chosen['best']}\n"
        f"FAQ_WEIGHT_PROTOTYPE={chosen['prototype']}\n"
        f"FAQ_WEIGHT_LEXICAL={chosen['lexical']}\n"
        f"FAQ_WEIGHT_CLASSIFIER={chosen['classifier']}\n"
        f"FAQ_CLASSIFIER_TERMS={chosen['terms']}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

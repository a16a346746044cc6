"""Fine-tuning the embedding model on the curated phrasings, on the CPU.

Two phrasings of the same entry form a positive pair; every other entry's phrasing in the
batch is a negative (MultipleNegativesRankingLoss). Batches are assembled so that no entry
appears twice in one batch: a second phrasing of the same entry would otherwise count as a
negative. Only curated content is ever used here, never customers' test questions.

    python -m knowledge.finetune --data training_data/faq/seed.yml --output var/knowledge/embedder

The gateway loads the model from `var/knowledge/embedder` when that directory exists (see
`Settings.resolved_faq_embedding_model`); the directory is written whole and then renamed
into place, so a half-written model is never picked up.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .content import FaqEntry
from .embeddings import default_model_path

MODEL_MARKER = "config_sentence_transformers.json"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "var/knowledge/embedder"


@dataclass(frozen=True, slots=True)
class FinetuneParams:
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup: float = 0.1  # share of the steps with a linearly rising learning rate
    scale: float = 20.0  # MultipleNegativesRankingLoss temperature (its default)
    seed: int = 42
    threads: int | None = None


DEFAULTS = FinetuneParams()


def is_model_dir(path: Path) -> bool:
    return (path / MODEL_MARKER).is_file()


def training_pairs(entries: Sequence[FaqEntry], rng: random.Random) -> list[tuple[int, str, str]]:
    """(entry position, anchor, positive): each phrasing once as anchor, with a random other
    phrasing of its entry. Entries with a single phrasing give no pair."""
    pairs = []
    for position, entry in enumerate(entries):
        texts = list(dict.fromkeys(entry.all_phrasings))
        if len(texts) < 2:
            continue
        for i, anchor in enumerate(texts):
            j = rng.randrange(len(texts) - 1)
            pairs.append((position, anchor, texts[j if j < i else j + 1]))
    return pairs


def distinct_batches(
    pairs: Sequence[tuple[int, str, str]], batch_size: int, rng: random.Random
) -> Iterator[list[tuple[str, str]]]:
    """Shuffled batches in which no entry appears twice."""
    pending = list(pairs)
    rng.shuffle(pending)
    while pending:
        batch: list[tuple[str, str]] = []
        seen: set[int] = set()
        rest = []
        for position, anchor, positive in pending:
            if len(batch) < batch_size and position not in seen:
                seen.add(position)
                batch.append((anchor, positive))
            else:
                rest.append((position, anchor, positive))
        pending = rest
        if len(batch) >= 2:
            yield batch


def finetune(
    entries: Sequence[FaqEntry],
    output: Path,
    base_model: Path | None = None,
    params: FinetuneParams = DEFAULTS,
    progress: bool = False,
) -> dict[str, object]:
    """Train from `base_model` (the packaged MiniLM by default) and save to `output`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer, losses

    if params.threads:
        torch.set_num_threads(params.threads)
    torch.manual_seed(params.seed)
    rng = random.Random(params.seed)  # noqa: S311 (reproducible shuffling)
    base = Path(base_model) if base_model else default_model_path()
    model = SentenceTransformer(str(base), device="cpu")
    loss = losses.MultipleNegativesRankingLoss(model, scale=params.scale)
    pairs = training_pairs(entries, rng)
    if not pairs:
        raise ValueError("no entry has two phrasings: nothing to learn from")
    counting = random.Random(params.seed)  # noqa: S311 (reproducible shuffling)
    steps_per_epoch = sum(1 for _ in distinct_batches(pairs, params.batch_size, counting))
    total = max(1, steps_per_epoch * params.epochs)
    warmup = max(1, int(total * params.warmup))

    def rate(step: int) -> float:
        """Linear warm-up, then linear decay to zero."""
        return min((step + 1) / warmup, max(0.0, (total - step) / (total - warmup + 1)))

    optimiser = torch.optim.AdamW(model.parameters(), lr=params.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    model.train()
    started = time.perf_counter()
    step = 0
    last_loss = float("nan")
    for _ in range(params.epochs):
        for batch in distinct_batches(pairs, params.batch_size, rng):
            anchors = model.preprocess([a for a, _ in batch])
            positives = model.preprocess([p for _, p in batch])
            value = loss([anchors, positives], torch.empty(0))
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            last_loss = float(value.detach())
            step += 1
            if progress and step % 20 == 0:
                print(f"step {step}/{total} loss {last_loss:.4f}", file=sys.stderr, flush=True)
    model.eval()
    seconds = time.perf_counter() - started
    save_model(model, Path(output))
    return {
        "output": str(output),
        "base_model": str(base),
        "entries": len(entries),
        "pairs": len(pairs),
        "steps": step,
        "epochs": params.epochs,
        "final_loss": round(last_loss, 4),
        "seconds": round(seconds, 1),
    }


def save_model(model: object, output: Path) -> None:
    """Write into a sibling directory, then swap it in: readers see the old or the new model."""
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.with_name(f".{output.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        model.save(str(staging))  # type: ignore[attr-defined]
        retired = None
        if output.exists():
            retired = output.with_name(f".{output.name}.{uuid.uuid4().hex[:12]}.old")
            os.replace(output, retired)
        os.replace(staging, output)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    from .calibration import entries_from_examples, load_examples

    parser = argparse.ArgumentParser(
        prog="python -m knowledge.finetune",
        description="Fine-tune the embedding model on curated phrasings (CSV text,category "
        "or FAQ YAML); the gateway uses the result when it is at var/knowledge/embedder.",
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--base-model", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate)
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 2:
        parser.error("--epochs must be at least 1 and --batch-size at least 2")
    try:
        entries = entries_from_examples(load_examples(args.data))
        params = FinetuneParams(
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            seed=args.seed,
        )
        report = finetune(entries, args.output, args.base_model, params, progress=True)
    except (OSError, ValueError, KeyError) as error:
        print(f"fine-tuning failed: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

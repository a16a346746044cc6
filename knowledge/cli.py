"""Content commands of `python -m knowledge`: import, export, lint, reindex, ask.

They work on the database the gateway uses (`DATABASE_URL`, same settings); this entry point
is a composition root, so it reads the gateway's settings and database engine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import repository
from .base import KnowledgeBase
from .content import ContentError, FaqEntry
from .embeddings import Embedder
from .formats import FORMATS, decode, dump, format_of, parse_text, read_file
from .index import VectorIndex
from .lint import SEVERITIES, Finding, LintConfig, Scoring, lint
from .models import EntryStatus
from .retrieval import Thresholds
from .semantic import ScoringWeights, SemanticRetriever

COMMANDS = ("import", "export", "lint", "reindex", "ask")
STATUSES = [s.value for s in EntryStatus]


def add_commands(commands: Any) -> None:
    imp = commands.add_parser(
        "import",
        help="import FAQ entries from CSV, YAML or JSON (all or nothing)",
        description="Creates new entries and saves changed ones as new versions, in one "
        "transaction: a file with any error imports nothing. Errors name their line.",
    )
    imp.add_argument("file", type=Path, help="file to import, or - for standard input")
    imp.add_argument("--format", choices=FORMATS, help="default: from the file name")
    imp.add_argument(
        "--status",
        choices=STATUSES,
        default=EntryStatus.DRAFT.value,
        help="status of new entries when the file gives none (default: draft)",
    )
    imp.add_argument("--author", default=os.environ.get("USER", "cli"))

    exp = commands.add_parser("export", help="export FAQ entries to CSV, YAML or JSON")
    exp.add_argument("file", type=Path, help="file to write, or - for standard output")
    exp.add_argument("--format", choices=FORMATS, help="default: from the file name")
    exp.add_argument("--status", choices=STATUSES, help="only entries with this status")

    lnt = commands.add_parser(
        "lint",
        help="check content: near-duplicates, confusable phrasings, answers, promises",
        description="Checks the current content of every entry that is not archived (or a "
        "file), worst findings first. A phrasing is confusable when, held out of its entry, "
        "the knowledge base (its scoring and thresholds from the settings) would answer it "
        "with another entry or offer a choice without its own. Exits 1 when there are "
        "findings.",
    )
    lnt.add_argument("--file", type=Path, help="lint a file instead of the database")
    lnt.add_argument("--json", action="store_true", help="one JSON object per finding")
    lnt.add_argument("--lexical", action="store_true", help="TF-IDF instead of embeddings")
    lnt.add_argument("--promise-words", help="comma-separated (default: from settings)")
    lnt.add_argument(
        "--margin",
        type=float,
        help="how far another entry must lead (default: FAQ_LINT_CONFUSION_MARGIN)",
    )

    commands.add_parser("reindex", help="rebuild the FAISS index of the published content")

    ask = commands.add_parser("ask", help="top matches for a question, with scores and decision")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=5, help="how many matches to show")
    ask.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return asyncio.run(_COMMANDS[args.command](args))
    except ContentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (repository.NotFound, repository.Conflict) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _settings() -> Any:
    from gateway.settings import Settings

    return Settings()


def _database(settings: Any) -> Any:
    from gateway.db import Database

    return Database(settings.resolved_database_url)


def _embedder(settings: Any) -> Embedder | None:
    if settings.faq_retriever == "lexical":
        return None
    return Embedder(
        settings.resolved_faq_embedding_model, compiled_dir=settings.embedding_runtime_dir
    )


async def _read(settings: Any, published: bool, status: EntryStatus | None = None) -> Any:
    """Published entries, or every stored entry (with its state); an empty store is seeded
    first, as the gateway does at startup."""
    db = _database(settings)
    try:
        await db.create_tables()
        async with db.transaction() as session:
            await repository.seed_if_empty(session, settings.faq_seed_path)
            if published:
                return await repository.published_entries(session)
            return await repository.list_entries(session, status=status, limit=10**9)
    finally:
        await db.dispose()


async def _published(settings: Any) -> list[FaqEntry]:
    entries: list[FaqEntry] = await _read(settings, published=True)
    return entries


async def _import(args: argparse.Namespace) -> int:
    settings = _settings()
    if str(args.file) == "-":
        fmt = format_of(Path("stdin"), args.format or "yaml")
        rows = parse_text(decode(sys.stdin.buffer.read(), "stdin"), fmt, "stdin")
    else:
        rows = read_file(args.file, args.format)
    db = _database(settings)
    try:
        await db.create_tables()
        async with db.transaction() as session:
            result = await repository.import_entries(
                session,
                [(row.entry, row.status) for row in rows],
                args.author,
                default_status=EntryStatus(args.status),
            )
    finally:
        await db.dispose()
    print(
        f"imported {len(rows)} entries: {result.created} new, {result.updated} changed, "
        f"{result.unchanged} unchanged"
    )
    return 0


async def _export(args: argparse.Namespace) -> int:
    settings = _settings()
    fmt = format_of(Path("stdout"), args.format or "yaml") if str(args.file) == "-" else None
    fmt = fmt or format_of(args.file, args.format)
    status = EntryStatus(args.status) if args.status else None
    stored = await _read(settings, published=False, status=status)
    text = dump([(s.entry, s.status.value) for s in stored], fmt)
    if str(args.file) == "-":
        sys.stdout.write(text)
    else:
        tmp = args.file.with_name(f".{args.file.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.file)
        print(f"exported {len(stored)} entries to {args.file}", file=sys.stderr)
    return 0


async def _lint(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.file:
        entries = [row.entry for row in read_file(args.file)]
    else:
        stored = await _read(settings, published=False)
        entries = [s.entry for s in stored if s.status != EntryStatus.ARCHIVED]
    words = settings.faq_lint_promise_words
    if args.promise_words is not None:
        words = [w.strip() for w in args.promise_words.split(",") if w.strip()]
    config = lint_config(settings, promise_words=tuple(words))
    if args.margin is not None:
        config = replace(config, confusion_margin=args.margin)
    scoring = Scoring(
        _thresholds(settings),
        None if args.lexical else _embedder(settings),
        _weights(settings),
    )
    started = time.process_time()
    findings = await asyncio.to_thread(lint, entries, config, scoring)
    for f in findings:
        if args.json:
            print(json.dumps(finding_record(f), ensure_ascii=False))
        else:
            print(f"{f.severity:<6} {f.entry_id}: {f.check}: {f.message}")
    counts = ", ".join(f"{sum(f.severity == s for f in findings)} {s}" for s in SEVERITIES)
    print(
        f"{len(entries)} entries checked, {len(findings)} findings ({counts}) "
        f"in {time.process_time() - started:.1f}s CPU",
        file=sys.stderr,
    )
    return 1 if findings else 0


def lint_config(settings: Any, **overrides: Any) -> LintConfig:
    """Lint as configured in the settings (the gateway's admin pages use the same)."""
    values: dict[str, Any] = {
        "promise_words": tuple(settings.faq_lint_promise_words),
        "max_answer_chars": settings.faq_lint_max_answer_chars,
        "duplicate_threshold": settings.faq_lint_duplicate_threshold,
        "confusion_margin": settings.faq_lint_confusion_margin,
    }
    return LintConfig(**(values | overrides))


def finding_record(f: Finding) -> dict[str, Any]:
    return {
        "severity": f.severity,
        "check": f.check,
        "entry": f.entry_id,
        "message": f.message,
        "other": f.other_id,
        **f.detail,
    }


async def _reindex(args: argparse.Namespace) -> int:
    settings = _settings()
    entries = await _published(settings)
    embedder = _embedder(settings)
    if embedder is None:
        print("FAQ_RETRIEVER is lexical: there is no vector index to build", file=sys.stderr)
        return 0
    started = time.perf_counter()
    retriever = SemanticRetriever(entries, embedder, _weights(settings))
    directory = retriever.index.save(
        settings.resolved_faq_index_dir, meta={"fingerprint": retriever.fingerprint}
    )
    saved = VectorIndex.load(settings.resolved_faq_index_dir)
    print(
        f"indexed {len(saved)} phrasings of {len(entries)} published entries "
        f"({saved.kind}) in {time.perf_counter() - started:.1f}s at {directory}"
    )
    return 0


def _weights(settings: Any) -> ScoringWeights:
    return ScoringWeights(
        best=settings.faq_weight_best,
        prototype=settings.faq_weight_prototype,
        lexical=settings.faq_weight_lexical,
        classifier=settings.faq_weight_classifier,
        terms=settings.faq_classifier_terms,
    )


def _thresholds(settings: Any) -> Thresholds:
    return Thresholds(
        answer=settings.faq_answer_threshold,
        clarify=settings.faq_clarify_threshold,
        margin=settings.faq_clarify_margin,
    )


async def _ask(args: argparse.Namespace) -> int:
    settings = _settings()
    entries = await _published(settings)
    embedder = _embedder(settings)
    thresholds = _thresholds(settings)
    kb = KnowledgeBase(
        entries,
        thresholds,
        embedder=embedder,
        weights=_weights(settings),
        index_dir=settings.resolved_faq_index_dir if embedder else None,
    )
    started = time.perf_counter()
    answer = kb.ask(args.question, k=max(1, args.k))
    elapsed_ms = (time.perf_counter() - started) * 1000
    if args.json:
        print(
            json.dumps(
                {
                    "decision": answer.decision.value,
                    "matches": [
                        {
                            "entry": m.entry.id,
                            "version": m.entry.version,
                            "score": m.score,
                            "question": m.entry.question,
                            "phrasing": m.phrasing,
                        }
                        for m in answer.matches
                    ],
                    "thresholds": vars_of(thresholds),
                    "ms": round(elapsed_ms, 1),
                },
                ensure_ascii=False,
            )
        )
        return 0
    print(f"decision: {answer.decision.value}  ({elapsed_ms:.0f} ms)")
    print(
        f"thresholds: answer >= {thresholds.answer}, clarify >= {thresholds.clarify}, "
        f"margin {thresholds.margin}"
    )
    for rank, m in enumerate(answer.matches, 1):
        print(f"{rank}. {m.score:.3f}  {m.entry.id} (v{m.entry.version})  {m.entry.question}")
        print(f"          via: {m.phrasing}")
    return 0


def vars_of(thresholds: Thresholds) -> dict[str, float]:
    return {"answer": thresholds.answer, "clarify": thresholds.clarify, "margin": thresholds.margin}


_COMMANDS = {
    "import": _import,
    "export": _export,
    "lint": _lint,
    "reindex": _reindex,
    "ask": _ask,
}

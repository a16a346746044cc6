"""Lint of the whole current content for the admin pages, kept until the content changes.

The checks between entries build a knowledge base per fold (see `knowledge.lint`): seconds of
CPU on a few hundred phrasings, most of it embedding them, which happens once (the vectors are
kept) and again only for changed phrasings. One run at a time, off the event loop; pages that
only show findings (the entry list and editor) use the last fresh run and start one when the
content changed, the lint page waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from aiohttp import web

from accounts import require_role
from knowledge import FaqEntry, KnowledgeBase, repository
from knowledge.content import entry_to_dict
from knowledge.lint import SEVERITIES, Finding, LintConfig, Scoring, lint
from knowledge.models import EntryStatus

from .common import CONFIG, ROLE, config_of, query_field, render

log = structlog.get_logger(__name__)

BETWEEN_ENTRIES = ("confusable_phrasing", "near_duplicate")


@dataclass(frozen=True)
class LintReport:
    key: str
    findings: tuple[Finding, ...]
    entries: int
    checked_at: datetime
    cpu_s: float
    by_entry: dict[str, list[Finding]] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(f.severity for f in self.findings)
        return {s: counted.get(s, 0) for s in SEVERITIES}

    def about(self, entry_id: str) -> list[Finding]:
        """Findings of the entry, and those where another entry's phrasing lands on it."""
        return self.by_entry.get(entry_id, [])


def content_key(entries: Sequence[FaqEntry]) -> str:
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(json.dumps(entry_to_dict(entry), sort_keys=True).encode())
    return digest.hexdigest()


class ContentLinter:
    def __init__(self, knowledge: KnowledgeBase, config: LintConfig) -> None:
        self.scoring = Scoring.of(knowledge).caching()  # vectors kept from run to run
        self.config = config
        self._report: LintReport | None = None
        self._lock = asyncio.Lock()
        self._background: dict[str, asyncio.Task[LintReport]] = {}

    async def report(self, entries: Sequence[FaqEntry]) -> LintReport:
        key = content_key(entries)
        async with self._lock:
            if self._report is not None and self._report.key == key:
                return self._report
            started = time.process_time()
            findings = await asyncio.to_thread(lint, entries, self.config, self.scoring)
            self._report = _report(key, findings, len(entries), time.process_time() - started)
            log.info(
                "knowledge.linted",
                entries=len(entries),
                findings=len(findings),
                cpu_s=round(self._report.cpu_s, 2),
            )
            return self._report

    def fresh(self, entries: Sequence[FaqEntry]) -> LintReport | None:
        """The report of exactly this content, or None (and a run starts in the background)."""
        key = content_key(entries)
        if self._report is not None and self._report.key == key:
            return self._report
        if key not in self._background:
            task = asyncio.create_task(self.report(entries))
            self._background[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return None

    @property
    def running(self) -> bool:
        return bool(self._background)

    def _finished(self, key: str, task: asyncio.Task[LintReport]) -> None:
        self._background.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("knowledge.lint_failed", error=str(task.exception()))

    async def close(self) -> None:
        for task in list(self._background.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _report(key: str, findings: list[Finding], entries: int, cpu_s: float) -> LintReport:
    by_entry: dict[str, list[Finding]] = {}
    for f in findings:
        by_entry.setdefault(f.entry_id, []).append(f)
        if f.other_id and f.other_id != f.entry_id:
            by_entry.setdefault(f.other_id, []).append(f)
    return LintReport(key, tuple(findings), entries, datetime.now(UTC), cpu_s, by_entry)


async def current_entries(request: web.Request) -> list[FaqEntry]:
    """What lint checks: the current content of every entry that is not archived."""
    async with config_of(request).live.transaction() as session:
        stored = await repository.list_entries(session, limit=10**9)
    return [s.entry for s in stored if s.status != EntryStatus.ARCHIVED]


async def linter_context(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[CONFIG].linter.close()


@require_role(ROLE)
async def lint_page(request: web.Request) -> web.Response:
    severity = query_field(request, "severity")
    if severity and severity not in SEVERITIES:
        raise web.HTTPBadRequest(text=f"severity must be one of {', '.join(SEVERITIES)}")
    config = config_of(request)
    report = await config.linter.report(await current_entries(request))
    shown = [f for f in report.findings if not severity or f.severity == severity]
    return render(
        request,
        "curation_lint.html",
        {
            "report": report,
            "shown": shown,
            "severity": severity,
            "severities": SEVERITIES,
            "margin": config.lint.confusion_margin,
            "semantic": config.linter.scoring.embedder is not None,
        },
    )

"""FAQ entries as content staff write them, loaded from YAML with errors that name the entry."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


class ContentError(ValueError):
    """An FAQ file that cannot be used; nothing from it is loaded."""


@dataclass(frozen=True, slots=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class QuickReply:
    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: str
    topic: str
    question: str
    answer: str
    phrasings: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    locale: str = "en"
    links: tuple[Link, ...] = ()
    buttons: tuple[QuickReply, ...] = ()
    version: int = 1

    @property
    def all_phrasings(self) -> tuple[str, ...]:
        return (self.question, *self.phrasings)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ContentError(f"{where}: must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _pairs(value: Any, where: str, keys: tuple[str, str]) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ContentError(f"{where}: must be a list")
    pairs = []
    for item in value:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in keys):
            raise ContentError(f"{where}: each item needs string fields {' and '.join(keys)}")
        pairs.append((item[keys[0]], item[keys[1]]))
    return pairs


def parse_entry(raw: Any, where: str) -> FaqEntry:
    if not isinstance(raw, dict):
        raise ContentError(f"{where}: an entry must be a mapping")
    for key in ("id", "topic", "question", "answer"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ContentError(f"{where}: '{key}' is required and must be a non-empty string")
    if not _SLUG.match(raw["id"]):
        raise ContentError(f"{where}: id '{raw['id']}' must be a lowercase slug")
    return FaqEntry(
        id=raw["id"],
        topic=raw["topic"].strip(),
        question=raw["question"].strip(),
        answer=raw["answer"].strip(),
        phrasings=_strings(raw.get("phrasings"), f"{where}.phrasings"),
        tags=_strings(raw.get("tags"), f"{where}.tags"),
        locale=str(raw.get("locale") or "en"),
        links=tuple(
            Link(t, u) for t, u in _pairs(raw.get("links"), f"{where}.links", ("title", "url"))
        ),
        buttons=tuple(
            QuickReply(t, p)
            for t, p in _pairs(raw.get("buttons"), f"{where}.buttons", ("title", "payload"))
        ),
    )


def load_entries(path: Path) -> list[FaqEntry]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ContentError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise ContentError(f"{path}: expected a mapping with a list under 'entries'")
    entries = [
        parse_entry(raw, f"{path.name}: entries[{i}]") for i, raw in enumerate(document["entries"])
    ]
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise ContentError(f"{path.name}: duplicate id '{entry.id}'")
        seen.add(entry.id)
    return entries

"""FAQ entries as content staff write them, loaded from YAML with errors that name the entry."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_SAFE_URL = re.compile(r"^(https?://|mailto:)[^\s<>\"']+$", re.IGNORECASE)
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Hard limits on what can be stored; lint warns about answers long before this.
MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 5000
MAX_PHRASINGS = 200
MAX_ITEMS = 20  # links, buttons, tags
MAX_SHORT_CHARS = 200  # topic, tag, link and button titles, payloads
MAX_URL_CHARS = 2000


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


def _check_text(value: str, where: str, limit: int) -> str:
    value = value.strip()
    if len(value) > limit:
        raise ContentError(f"{where}: longer than {limit} characters")
    if _CONTROL.search(value):
        raise ContentError(f"{where}: contains control characters")
    return value


def _strings(value: Any, where: str, limit: int, count: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ContentError(f"{where}: must be a list of non-empty strings")
    if len(value) > count:
        raise ContentError(f"{where}: more than {count} items")
    return tuple(_check_text(v, f"{where}[{i}]", limit) for i, v in enumerate(value))


def _pairs(value: Any, where: str, keys: tuple[str, str]) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ContentError(f"{where}: must be a list")
    if len(value) > MAX_ITEMS:
        raise ContentError(f"{where}: more than {MAX_ITEMS} items")
    pairs = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) and item[k].strip() for k in keys
        ):
            raise ContentError(f"{where}: each item needs string fields {' and '.join(keys)}")
        limits = (MAX_SHORT_CHARS, MAX_URL_CHARS if keys[1] == "url" else MAX_SHORT_CHARS)
        pairs.append(
            (
                _check_text(item[keys[0]], f"{where}[{i}].{keys[0]}", limits[0]),
                _check_text(item[keys[1]], f"{where}[{i}].{keys[1]}", limits[1]),
            )
        )
    return pairs


def parse_entry(raw: Any, where: str) -> FaqEntry:
    if not isinstance(raw, dict):
        raise ContentError(f"{where}: an entry must be a mapping")
    for key in ("id", "topic", "question", "answer"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ContentError(f"{where}: '{key}' is required and must be a non-empty string")
    if not _SLUG.match(raw["id"]):
        raise ContentError(f"{where}: id '{raw['id']}' must be a lowercase slug")
    locale = raw.get("locale") or "en"
    if not isinstance(locale, str) or not _LOCALE.match(locale):
        raise ContentError(f"{where}: locale must look like 'en' or 'pt-BR'")
    links = _pairs(raw.get("links"), f"{where}.links", ("title", "url"))
    for i, (_, url) in enumerate(links):
        if not _SAFE_URL.match(url):
            raise ContentError(f"{where}.links[{i}].url: must be an http(s) or mailto address")
    return FaqEntry(
        id=raw["id"],
        topic=_check_text(raw["topic"], f"{where}.topic", MAX_SHORT_CHARS),
        question=_check_text(raw["question"], f"{where}.question", MAX_QUESTION_CHARS),
        answer=_check_text(raw["answer"], f"{where}.answer", MAX_ANSWER_CHARS),
        phrasings=_strings(
            raw.get("phrasings"), f"{where}.phrasings", MAX_QUESTION_CHARS, MAX_PHRASINGS
        ),
        tags=_strings(raw.get("tags"), f"{where}.tags", MAX_SHORT_CHARS, MAX_ITEMS),
        locale=locale,
        links=tuple(Link(t, u) for t, u in links),
        buttons=tuple(
            QuickReply(t, p)
            for t, p in _pairs(raw.get("buttons"), f"{where}.buttons", ("title", "payload"))
        ),
    )


def entry_to_dict(entry: FaqEntry) -> dict[str, Any]:
    """The entry as plain data (the shape of the YAML files, without the version)."""
    return {
        "id": entry.id,
        "topic": entry.topic,
        "question": entry.question,
        "phrasings": list(entry.phrasings),
        "answer": entry.answer,
        "tags": list(entry.tags),
        "locale": entry.locale,
        "links": [{"title": link.title, "url": link.url} for link in entry.links],
        "buttons": [{"title": b.title, "payload": b.payload} for b in entry.buttons],
    }


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

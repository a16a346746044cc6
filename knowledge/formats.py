"""FAQ files content staff exchange: CSV, YAML and JSON, read whole or not at all.

Reading collects every problem with the line it is on (up to `MAX_ERRORS`), so a file is
fixed in one pass; nothing is returned unless the whole file is valid.

CSV columns: id, topic, question, answer (required), phrasings (one per line in the cell),
tags (comma-separated), locale, links and buttons (one `title | url` or `title | payload` per
line), status. YAML and JSON: a list of entries, or a mapping with the list under `entries`.

A CSV cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a
leading `'`, so a spreadsheet shows it as text instead of running it as a formula; reading
drops that `'` again (a round trip keeps the text).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import yaml

from .content import ContentError, FaqEntry, entry_to_dict, parse_entry
from .models import EntryStatus

FORMATS = ("csv", "yaml", "json")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ERRORS = 50
CSV_COLUMNS = (
    "id",
    "topic",
    "question",
    "answer",
    "phrasings",
    "tags",
    "locale",
    "links",
    "buttons",
    "status",
)
_REQUIRED_COLUMNS = ("id", "topic", "question", "answer")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class FileEntry:
    entry: FaqEntry
    status: EntryStatus | None  # None: the file does not say
    line: int


def format_of(path: PurePath, explicit: str | None = None) -> str:
    name = (explicit or path.suffix.lstrip(".")).lower()
    name = {"yml": "yaml"}.get(name, name)
    if name not in FORMATS:
        known = ", ".join(FORMATS)
        raise ContentError(f"{path.name}: unknown format '{name}' (use one of {known})")
    return name


def read_file(path: Path, fmt: str | None = None) -> list[FileEntry]:
    fmt = format_of(path, fmt)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ContentError(f"{path.name}: {size} bytes, more than {MAX_FILE_BYTES}")
        raw = path.read_bytes()
    except OSError as exc:
        raise ContentError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_text(decode(raw, path.name), fmt, path.name)


def decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ContentError(f"{name} line {line}: not valid UTF-8") from exc


def parse_text(text: str, fmt: str, name: str = "<input>") -> list[FileEntry]:
    errors = _Errors(name)
    if fmt == "csv":
        rows = _csv_rows(text, name, errors)
    else:
        rows = _document_rows(text, fmt, name)
    return _entries(rows, errors)


class _Errors:
    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[tuple[int, str]] = []

    def add(self, line: int | None, message: str) -> None:
        where = f"{self.name} line {line}" if line else self.name
        self.messages.append((line or 0, f"{where}: {message}"))

    def raise_if_any(self) -> None:
        if self.messages:
            shown = [m for _, m in sorted(self.messages, key=lambda m: m[0])[:MAX_ERRORS]]
            more = len(self.messages) - len(shown)
            tail = [f"... and {more} more"] if more > 0 else []
            raise ContentError("\n".join([*shown, *tail]))


def _entries(rows: list[tuple[int | None, Any]], errors: _Errors) -> list[FileEntry]:
    result: list[FileEntry] = []
    first_line: dict[str, int | None] = {}
    for line, raw in rows:
        try:
            entry = parse_entry(raw, "entry")
            status = _status(raw.get("status"))  # parse_entry checked it is a mapping
        except ContentError as exc:
            errors.add(line, str(exc))
            continue
        if entry.id in first_line:
            errors.add(line, f"duplicate id '{entry.id}' (first on line {first_line[entry.id]})")
            continue
        first_line[entry.id] = line
        result.append(FileEntry(entry, status, line or 0))
    errors.raise_if_any()
    if not result:
        raise ContentError(f"{errors.name}: no entries")
    return result


def _status(value: Any) -> EntryStatus | None:
    if value is None or value == "":
        return None
    try:
        return EntryStatus(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(s.value for s in EntryStatus)
        raise ContentError(f"status '{value}' is not one of {allowed}") from None


def _document_rows(text: str, fmt: str, name: str) -> list[tuple[int | None, Any]]:
    if fmt == "json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContentError(f"{name} line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    else:
        try:
            document = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = f" line {mark.line + 1}" if mark else ""
            raise ContentError(f"{name}{line}: {exc.problem or exc.context}") from exc
        except yaml.YAMLError as exc:
            raise ContentError(f"{name}: {exc}") from exc
    items = document.get("entries") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise ContentError(f"{name}: expected a list of entries, or a mapping with 'entries'")
    lines = _item_lines(text, len(items))
    return list(zip(lines, items, strict=True))


def _item_lines(text: str, count: int) -> list[int | None]:
    """The line each entry starts on (JSON is read as YAML for this; if that fails, no lines)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return [None] * count
    node = root
    if isinstance(root, yaml.MappingNode):
        node = next((v for k, v in root.value if k.value == "entries"), None)
    if not isinstance(node, yaml.SequenceNode) or len(node.value) != count:
        return [None] * count
    return [item.start_mark.line + 1 for item in node.value]


def _csv_rows(text: str, name: str, errors: _Errors) -> list[tuple[int | None, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ContentError(f"{name}: empty file") from None
    except csv.Error as exc:
        raise ContentError(f"{name} line 1: {exc}") from exc
    missing = [c for c in _REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        parts = [f"missing column(s) {', '.join(missing)}"] if missing else []
        parts += [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
        raise ContentError(f"{name} line 1: {'; '.join(parts)}")
    rows: list[tuple[int | None, Any]] = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.add(start, str(exc))
            break
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            errors.add(start, f"{len(cells)} fields, the header has {len(header)}")
            continue
        row = dict(zip(header, map(_from_cell, cells), strict=True))
        try:
            rows.append((start, _csv_entry(row)))
        except ContentError as exc:
            errors.add(start, str(exc))
    return rows


def _to_cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _from_cell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS) else value


def lines_of(cell: str) -> list[str]:
    return [line.strip() for line in cell.splitlines() if line.strip()]


def pairs_from_lines(cell: str, keys: tuple[str, str]) -> list[dict[str, str]]:
    pairs = []
    for line in lines_of(cell):
        title, sep, value = line.rpartition("|")
        if not sep or not title.strip() or not value.strip():
            raise ContentError(f"{keys[0]}s: '{line}' is not 'title | {keys[1]}'")
        pairs.append({keys[0]: title.strip(), keys[1]: value.strip()})
    return pairs


def _csv_entry(row: dict[str, str]) -> dict[str, Any]:
    return {
        "id": row["id"].strip(),
        "topic": row["topic"],
        "question": row["question"],
        "answer": row["answer"],
        "phrasings": lines_of(row.get("phrasings", "")),
        "tags": [t.strip() for t in row.get("tags", "").split(",") if t.strip()],
        "locale": row.get("locale", "").strip() or "en",
        "links": pairs_from_lines(row.get("links", ""), ("title", "url")),
        "buttons": pairs_from_lines(row.get("buttons", ""), ("title", "payload")),
        "status": row.get("status", "").strip() or None,
    }


def dump(entries: Iterable[tuple[FaqEntry, str]], fmt: str) -> str:
    """Entries with their status, in a format `parse_text` reads back unchanged."""
    records = [{**entry_to_dict(entry), "status": status} for entry, status in entries]
    if fmt == "json":
        return json.dumps({"entries": records}, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump({"entries": records}, sort_keys=False, allow_unicode=True, width=100)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        writer.writerow(
            _to_cell(cell)
            for cell in [
                r["id"],
                r["topic"],
                r["question"],
                r["answer"],
                "\n".join(r["phrasings"]),
                ", ".join(r["tags"]),
                r["locale"],
                "\n".join(f"{link['title']} | {link['url']}" for link in r["links"]),
                "\n".join(f"{b['title']} | {b['payload']}" for b in r["buttons"]),
                r["status"],
            ]
        )
    return out.getvalue()

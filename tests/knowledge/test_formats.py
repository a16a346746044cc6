"""FAQ files in CSV, YAML and JSON: a round trip keeps everything; a malformed file is refused
whole, with every error's line number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.settings import Settings
from knowledge import ContentError, FaqEntry, load_entries
from knowledge.formats import MAX_FILE_BYTES, dump, parse_text, read_file

SEED = load_entries(Settings().faq_seed_path)


@pytest.mark.parametrize("fmt", ["csv", "yaml", "json"])
def test_a_round_trip_keeps_every_field(fmt: str) -> None:
    statuses = ["published", "draft", "archived"]
    pairs = [(e, statuses[i % 3]) for i, e in enumerate(SEED)]
    read = parse_text(dump(pairs, fmt), fmt, f"faq.{fmt}")
    assert [r.entry for r in read] == SEED
    assert [r.status for r in read] == [s for _, s in pairs]


def refused(text: str, fmt: str) -> str:
    with pytest.raises(ContentError) as error:
        parse_text(text, fmt, f"faq.{fmt}")
    return str(error.value)


HEADER = "id,topic,question,answer,phrasings,links\n"


def test_csv_errors_name_their_lines() -> None:
    text = (
        HEADER
        + "ok,t,Question?,Answer.,,\n"
        + 'multi,t,Q?,"An answer\nover two lines",,\n'
        + "Bad Id,t,Q?,A.,,\n"
        + "no-answer,t,Q?,,,\n"
        + "js,t,Q?,A.,,Click | javascript:alert(1)\n"
        + "ok,t,Again?,A.,,\n"
        + "short,t\n"
    )
    message = refused(text, "csv")
    assert "faq.csv line 5: entry: id 'Bad Id' must be a lowercase slug" in message
    assert "faq.csv line 6: entry: 'answer' is required" in message
    assert "faq.csv line 7: entry.links[0].url: must be an http(s) or mailto" in message
    assert "faq.csv line 8: duplicate id 'ok' (first on line 2)" in message
    assert "faq.csv line 9: 2 fields, the header has 6" in message
    assert "line 3" not in message and "line 2:" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "faq.csv: empty file"),
        ("id,question,answer\n", "faq.csv line 1: missing column(s) topic"),
        ("id,topic,question,answer,colour\n", "unknown column(s) colour"),
        (HEADER + 'a,t,"Q?,A.,,\n', "faq.csv line 2"),
        (HEADER, "faq.csv: no entries"),
        (HEADER + "a,t,Q?,A.,,Docs https://x.example\n", "is not 'title | url'"),
    ],
)
def test_malformed_csv_is_refused(text: str, expected: str) -> None:
    assert expected in refused(text, "csv")


def test_yaml_errors_name_their_lines() -> None:
    text = (
        "entries:\n"
        "  - id: ok\n    topic: t\n    question: Q?\n    answer: A.\n"
        "  - id: bad\n    topic: t\n    question: Q?\n    answer: A.\n    status: live\n"
        "  - id: list\n    topic: t\n    question: Q?\n    answer: A.\n    phrasings: [1]\n"
    )
    message = refused(text, "yaml")
    assert "faq.yaml line 6: status 'live' is not one of draft, published, archived" in message
    assert "faq.yaml line 11: entry.phrasings: must be a list of non-empty strings" in message
    syntax = refused("entries:\n  - id: a\n    topic: [unclosed\n", "yaml")
    assert syntax.startswith("faq.yaml line 4")
    assert "expected a list of entries" in refused("just text", "yaml")


def test_json_errors_name_their_lines() -> None:
    good = {"id": "a", "topic": "t", "question": "Q?", "answer": "A."}
    text = json.dumps({"entries": [good, {**good, "id": "b", "answer": ""}]}, indent=2)
    assert refused(text, "json").startswith("faq.json line 9: entry: 'answer' is required")
    assert refused('{"entries": [\n  {"id": "a",}\n]}', "json").startswith(
        "faq.json line 2 column 14:"
    )
    assert [r.entry.id for r in parse_text(json.dumps([good]), "json")] == ["a"]
    assert "an entry must be a mapping" in refused('{"entries": ["a"]}', "json")


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    latin = tmp_path / "faq.csv"
    latin.write_bytes(HEADER.encode() + "a,t,Q?,Caf\xe9.,,\n".encode("latin-1"))
    with pytest.raises(ContentError, match=r"faq.csv line 2: not valid UTF-8"):
        read_file(latin)
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ContentError, match="more than"):
        read_file(big)
    with pytest.raises(ContentError, match="unknown format 'txt'"):
        read_file(tmp_path / "faq.txt")
    with pytest.raises(ContentError, match="cannot read"):
        read_file(tmp_path / "missing.yml")


def test_csv_cells_that_look_like_formulas_are_written_as_text() -> None:
    hostile = FaqEntry(
        id="formula",
        topic="=cmd|' /C calc'!A0",
        question='=HYPERLINK("https://evil.example","click")',
        answer="+1 for this; -2 for that",
        phrasings=("@SUM(1+1)", "plain"),
    )
    text = dump([(hostile, "draft")], "csv")
    row = text.splitlines()[1]
    assert row.startswith("formula,'=cmd|"), row
    assert "\"'=HYPERLINK(" in text and "'+1 for this" in text and "'@SUM(1+1)" in text
    [read] = parse_text(text, "csv", "faq.csv")
    assert read.entry == hostile

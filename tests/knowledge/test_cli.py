"""`python -m knowledge` as content staff run it: import (all or nothing), export, lint,
reindex and ask, against a real SQLite database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings import PROJECT_ROOT


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
        "VAR_DIR": str(tmp_path),
        "FAQ_RETRIEVER": "lexical",
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "knowledge", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


GOOD = """\
entries:
  - id: gift-registry
    topic: store-policies
    question: Do you have a gift registry?
    phrasings: [wedding registry, birthday wish list]
    answer: Create a wish list in your account and share its link.
    status: published
  - id: bulk-orders
    topic: orders
    question: Can I order in bulk?
    answer: Yes, write to our business team for orders of more than 50 items.
"""


def test_import_is_all_or_nothing_and_exports_round_trip(
    env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,topic,question,answer\nfine,t,Fine?,Yes.\nNot A Slug,t,Q?,A.\nempty,t,Q?,\n",
        encoding="utf-8",
    )
    result = run(env, "import", str(bad))
    assert result.returncode == 2
    assert "bad.csv line 3: entry: id 'Not A Slug' must be a lowercase slug" in result.stderr
    assert "bad.csv line 4: entry: 'answer' is required" in result.stderr

    good = tmp_path / "good.yml"
    good.write_text(GOOD, encoding="utf-8")
    result = run(env, "import", str(good), "--author", "cora")
    assert result.returncode == 0, result.stderr
    assert "imported 2 entries: 2 new, 0 changed, 0 unchanged" in result.stdout
    # `fine` from the refused file is not there: the database held nothing before this import.
    exported = tmp_path / "out.json"
    assert run(env, "export", str(exported)).returncode == 0
    entries = json.loads(exported.read_text())["entries"]
    assert [(e["id"], e["status"]) for e in entries] == [
        ("bulk-orders", "draft"),
        ("gift-registry", "published"),
    ]
    again = run(env, "import", str(exported))
    assert "0 new, 0 changed, 2 unchanged" in again.stdout
    csv_out = run(env, "export", "-", "--format", "csv", "--status", "published")
    assert csv_out.stdout.splitlines()[1].startswith("gift-registry,store-policies,")


def test_ask_shows_matches_scores_and_the_decision(env: dict[str, str]) -> None:
    result = run(env, "ask", "How long does delivery take?", "--json", "-k", "3")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["decision"] == "answer"
    assert answer["matches"][0]["entry"] == "shipping-times"
    assert answer["matches"][0]["version"] == 1
    scores = [m["score"] for m in answer["matches"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    text = run(env, "ask", "zebra quantum xylophone")
    assert text.returncode == 0 and text.stdout.startswith("decision: not_found")


def test_lint_reports_and_fails_on_findings(env: dict[str, str], tmp_path: Path) -> None:
    faq = tmp_path / "faq.yml"
    faq.write_text(
        GOOD.replace("Create a wish list", "We guarantee you can create a wish list"),
        encoding="utf-8",
    )
    result = run(env, "lint", "--file", str(faq), "--lexical", "--json")
    assert result.returncode == 1
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    assert findings == [
        {
            "severity": "medium",
            "check": "promise",
            "entry": "gift-registry",
            "message": "the answer makes an absolute promise: guarantee",
            "other": None,
            "words": ["guarantee"],
        }
    ]
    custom = run(env, "lint", "--file", str(faq), "--lexical", "--promise-words", "nothing")
    assert custom.returncode == 0, custom.stdout


def test_lint_of_the_seed_lists_the_worst_first(env: dict[str, str]) -> None:
    seed = str(PROJECT_ROOT / "training_data/faq/seed.yml")
    result = run(env, "lint", "--file", seed, "--lexical", "--json")
    assert result.returncode == 1
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    order = ["high", "medium", "low"]
    assert [f["severity"] for f in findings] == sorted(
        (f["severity"] for f in findings), key=order.index
    )
    wrong = [f for f in findings if f.get("outcome") == "wrong_answer"]
    assert wrong and all(f["severity"] == "high" and f["lead"] >= 0.1 for f in wrong)
    assert all(isinstance(f["other"], str) and f["other"] != f["entry"] for f in wrong)
    assert all(
        f["own_score"] is None or abs(f["other_score"] - f["own_score"] - f["lead"]) < 0.002
        for f in wrong
    )
    assert f"66 entries checked, {len(findings)} findings" in result.stderr
    # A margin past any possible lead leaves only the promises.
    strict = run(env, "lint", "--file", seed, "--lexical", "--json", "--margin", "1.01")
    assert {json.loads(line)["check"] for line in strict.stdout.splitlines()} == {"promise"}


def test_reindex_builds_the_index_of_published_content(env: dict[str, str], tmp_path: Path) -> None:
    result = run(env, "reindex")
    assert "lexical" in result.stderr and result.returncode == 0
    semantic = {**env, "FAQ_RETRIEVER": "semantic"}
    result = run(semantic, "reindex")
    assert result.returncode == 0, result.stderr
    assert "phrasings of 66 published entries (IndexFlatIP)" in result.stdout
    assert (tmp_path / "knowledge" / "faq-index").is_symlink()

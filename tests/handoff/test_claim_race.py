"""20 agents race for 200 conversations through 2 gateway processes on one PostgreSQL
database: each conversation is claimed exactly once (the benchmark's own run, checked)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.handoff import run

pytestmark = pytest.mark.postgres


async def test_each_conversation_is_claimed_exactly_once(
    postgres_databases: Callable[[], str], tmp_path: Path
) -> None:
    result = await run(postgres_databases(), agents=20, conversations=200, log_dir=tmp_path)
    assert result["claims"] == 200
    assert result["distinct_conversations_claimed"] == 200
    assert result["double_assignments"] == 0
    assert result["checks"] == {
        "conversations_two_agents_were_told": 0,
        "conversations_with_two_assignment_events": 0,
        "conversations_with_two_claimed_rows": 0,
        "left_waiting": 0,
        "owner_mismatches": 0,
        "agents_with_wrong_load": 0,
        "joined_notices": 200,  # queued in the claim's own statement, once each
        "conversations_with_a_joined_notice": 200,
        "joined_notices_not_attempted": 0,  # delivered (the REST channel refuses pushes)
    }
    assert result["empty_answers"] == 20  # every agent stopped only when nothing waited

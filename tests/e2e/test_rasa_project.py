"""The Rasa project itself: its data validates, and its conversation tests pass against the
trained model with the custom actions served by the gateway."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gateway.rasa_process import RASA_BIN
from gateway.settings import PROJECT_ROOT
from tests.harness import ACTIONS_TOKEN, MODEL, GatewayProcess

RASA_DATA = [
    f"training_data/{name}.yml"
    for name in ("nlu", "rules", "stories", "orders_nlu", "orders_dialogue")
]
TEST_STORIES = [
    "training_data/tests/test_stories.yml",
    "training_data/tests/test_order_stories.yml",
]


def rasa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RASA_BIN), *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_training_data_validates() -> None:
    result = rasa(
        "data", "validate", "--domain", "bot/domain.yml", "--config", "bot/config.yml",
        "--data", *RASA_DATA, *TEST_STORIES,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


# Loading the model and replaying every test story takes minutes on a busy 2-core machine.
@pytest.mark.timeout(900)
def test_conversation_tests_pass(gateway: GatewayProcess, artifacts: Path) -> None:
    out = artifacts / "rasa-test-core"
    result = rasa(
        "test", "core", "--model", str(MODEL),
        "--stories", "training_data/tests",
        "--endpoints", "bot/endpoints.yml", "--out", str(out),
        "--fail-on-prediction-errors",
        env={
            "SWITCHBOARD_ACTIONS_URL": f"http://127.0.0.1:{gateway.actions_port}/webhook",
            "SWITCHBOARD_ACTIONS_TOKEN": ACTIONS_TOKEN,
        },
    )  # fmt: skip
    report = (out / "failed_test_stories.yml").read_text()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + report
    assert "none of the test stories failed" in report.lower(), report

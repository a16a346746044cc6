"""Running a script in the Rasa environment (`.venv-rasa`), where the bot's NLU components
live, and reading the JSON it prints last."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from gateway.rasa_process import RASA_BIN
from gateway.settings import PROJECT_ROOT


def run_json(script: str, stdin: Any = None) -> Any:
    result = subprocess.run(
        [str(RASA_BIN.parent / "python"), "-c", script],
        input=json.dumps(stdin),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={"PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
        check=True,
        timeout=300,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])

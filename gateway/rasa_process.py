"""Starting and stopping `rasa run` from its own virtual environment.

Used by `python -m gateway up`, the test suite and the benchmarks, so all three run
Rasa the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .settings import PROJECT_ROOT

RASA_BIN = PROJECT_ROOT / ".venv-rasa/bin/rasa"
BOT_DIR = PROJECT_ROOT / "bot"


class RasaProcess:
    def __init__(
        self,
        model: Path,
        port: int,
        actions_url: str,
        actions_token: str,
        log_path: Path,
        host: str = "127.0.0.1",
    ) -> None:
        self.model = model
        self.port = port
        self.host = host
        self.actions_url = actions_url
        self.actions_token = actions_token
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SWITCHBOARD_ACTIONS_URL=self.actions_url,
            SWITCHBOARD_ACTIONS_TOKEN=self.actions_token,
            TF_CPP_MIN_LOG_LEVEL="2",
            SQLALCHEMY_SILENCE_UBER_WARNING="1",
        )
        return env

    def start(self, timeout_s: float = 240.0) -> None:
        if not self.model.exists():
            raise FileNotFoundError(f"no trained model at {self.model}: run `make model`")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(RASA_BIN), "run", "--enable-api",
            "--model", str(self.model),
            "--endpoints", str(BOT_DIR / "endpoints.yml"),
            "--credentials", str(BOT_DIR / "credentials.yml"),
            "--interface", self.host, "--port", str(self.port),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=PROJECT_ROOT,
                start_new_session=True,
            )
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(
                    f"rasa exited with {self._process.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/status", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"rasa did not become ready in {timeout_s:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

"""Real processes for tests and benchmarks: Rasa from its own environment and the gateway."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from gateway.rasa_process import RasaProcess
from gateway.settings import PROJECT_ROOT

MODEL = PROJECT_ROOT / "var/models/switchboard.tar.gz"
ACTIONS_TOKEN = "test-actions-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # it answered
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


class GatewayProcess:
    """`python -m gateway serve` in a child process, restartable."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = int(env["GATEWAY_PORT"])
        self.actions_port = int(env["ACTIONS_PORT"])
        self.env = {**os.environ, "LOG_FORMAT": "json", **env}
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_http(f"{self.url}/webchat/ws", 180, self._process)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


def start_rasa(actions_port: int, log_path: Path) -> RasaProcess:
    if not MODEL.exists():
        raise FileNotFoundError(f"{MODEL} is missing: `make test` trains it before the suite runs")
    rasa = RasaProcess(
        model=MODEL,
        port=free_port(),
        actions_url=f"http://127.0.0.1:{actions_port}/webhook",
        actions_token=ACTIONS_TOKEN,
        log_path=log_path,
    )
    rasa.start(timeout_s=600)  # loading the model takes minutes on a busy 2-core machine
    return rasa


def gateway_env(
    rasa_url: str, database_url: str, var_dir: Path, actions_port: int
) -> dict[str, str]:
    return {
        "GATEWAY_PORT": str(free_port()),
        "ACTIONS_PORT": str(actions_port),
        "ACTIONS_TOKEN": ACTIONS_TOKEN,
        "RASA_URL": rasa_url,
        "DATABASE_URL": database_url,
        "VAR_DIR": str(var_dir),
    }

"""`python -m gateway up`, what `make run` starts: Rasa and the gateway come up, answer,
and both stop on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from gateway.settings import PROJECT_ROOT
from tests.harness import free_port, wait_http


def port_is_closed(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_up_starts_rasa_and_the_gateway_and_ctrl_c_stops_both(
    tmp_path: Path, artifacts: Path
) -> None:
    gateway_port, rasa_port, actions_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "GATEWAY_PORT": str(gateway_port),
        "RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "ACTIONS_PORT": str(actions_port),
        "DATABASE_URL": f"sqlite:///{tmp_path}/up.db",
        "VAR_DIR": str(tmp_path),
    }
    env.pop("ACTIONS_TOKEN", None)
    log = (artifacts / "gateway-up.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "up"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
    )
    try:
        wait_http(f"http://127.0.0.1:{gateway_port}/healthz", 240, process)
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway_port}/healthz") as response:
            assert json.load(response)["status"] == "ok"
        request = urllib.request.Request(
            f"http://127.0.0.1:{gateway_port}/webhooks/rest/webhook",
            data=json.dumps({"sender": "cli", "message": "hello"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            assert json.load(response)[0]["text"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        log.close()
    output = (artifacts / "gateway-up.log").read_text()
    assert "Switchboard is running." in output and "Stopped." in output
    assert port_is_closed(gateway_port) and port_is_closed(rasa_port)
    assert port_is_closed(actions_port)

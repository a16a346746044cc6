"""Real mail servers on loopback for the email channel's tests.

`DovecotServer`: a private Dovecot IMAP instance with its own configuration, a passwd-file
user and the mail store in a temporary directory (nothing shared with a system Dovecot).
`CapturingRelay`: an aiosmtpd SMTP server standing in for the outbound relay; it records
each message it accepts and can be told to refuse or defer.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import grp
import imaplib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.harness import free_port

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
# Where inotify is unavailable or its per-user limit is spent (a busy CI machine), IDLE
# falls back to looking at the mailbox on this interval; Dovecot's default is 30 s.
mailbox_idle_check_interval = 1 secs
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
"""


class DovecotServer:
    """Run as the current user; as root, Dovecot's own unprivileged users hold the mail
    (Dovecot refuses to run login processes or mail access as root)."""

    user = "support@shop.test"
    password = "imap-secret"

    def __init__(self, *, idle: bool = True) -> None:
        self.idle = idle
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="switchboard-dovecot-"))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(binary).exists():
            raise FileNotFoundError("dovecot is not installed: `make mail-servers` installs it")
        if os.geteuid() == 0:
            login_user, internal_user = "dovenull", "dovecot"
            mail = pwd.getpwnam("dovecot")
        else:
            login_user = internal_user = pwd.getpwuid(os.getuid()).pw_name
            mail = pwd.getpwuid(os.getuid())
        self.root.chmod(0o755)
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir()
        for sub in ("mail", "home"):
            os.chown(self.root / sub, mail.pw_uid, mail.pw_gid)
        (self.root / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        capability = "" if self.idle else "imap_capability = IMAP4rev1 LITERAL+ UIDPLUS"
        (self.root / "dovecot.conf").write_text(
            _CONFIG.format(
                root=self.root,
                port=self.port,
                login_user=login_user,
                internal_user=internal_user,
                internal_group=grp.getgrgid(pwd.getpwnam(internal_user).pw_gid).gr_name,
                uid=mail.pw_uid,
                gid=mail.pw_gid,
                capability=capability,
            )
        )
        self._process = subprocess.Popen(
            [binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()}")
            try:
                with self.client():
                    return
            except (OSError, imaplib.IMAP4.error):
                time.sleep(0.2)
        raise TimeoutError(f"dovecot did not answer: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(self.user, self.password)
        client.select("INBOX")
        return client

    def append(self, raw: bytes) -> None:
        with self.client() as c:
            status, _ = c.append("INBOX", None, None, raw)
            assert status == "OK"

    def flags(self) -> dict[int, str]:
        """UID → flags of every message in the inbox."""
        with self.client() as c:
            status, data = c.uid("fetch", "1:*", "(FLAGS)")
        assert status == "OK"
        result: dict[int, str] = {}
        for line in data:
            if isinstance(line, bytes) and b"UID" in line:
                text = line.decode()
                uid = int(text.split("UID ", 1)[1].split()[0].rstrip(")"))
                result[uid] = text.split("FLAGS (", 1)[1].split(")", 1)[0]
        return result

    def mark_unseen(self, uid: int) -> None:
        with self.client() as c:
            c.uid("store", str(uid), "-FLAGS", r"(\Seen)")


@dataclass
class CapturingRelay:
    """An SMTP relay that keeps what it accepts. `answer` overrides the reply to DATA."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str | None, list[str]]] = field(default_factory=list)
    answer: str | None = None
    received: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.answer is not None:
            return self.answer
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.received.set()
        return "250 2.0.0 queued"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="relay.test", loop=loop), self.host, self.port
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, count: int, timeout_s: float = 30.0) -> list[EmailMessage]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(self.messages) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"relay got {len(self.messages)} of {count} messages")
            self.received.clear()
            try:
                await asyncio.wait_for(self.received.wait(), remaining)
            except TimeoutError:
                continue
        return self.messages

"""Mailbox intake over IMAP (aioimaplib): IDLE where the server has it, polling otherwise.

Unseen mail is read with BODY.PEEK (which leaves it unseen), stored, and only then flagged
\\Seen: a process killed in between reads the mail again at restart, and the store's dedupe
on Message-ID keeps it to one row. Mail over the size limit or that cannot be parsed is
flagged \\Seen and `$SwitchboardRejected` and left in the mailbox for people.

A mail that arrives while a command runs is announced once, by an untagged EXISTS in that
command's answer, and the server does not announce it again in IDLE. aioimaplib drops such
lines when they come with a SEARCH, FETCH or STORE, so the fetcher watches the connection's
untagged lines itself (`_watch_exists`) and makes another pass when one was announced.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aioimaplib import IMAP4, IMAP4_SSL

from .ingest import Ingested

log = structlog.get_logger(__name__)

Ingest = Callable[[bytes, str | None], Awaitable[Ingested]]
_EXISTS = re.compile(rb"\* \d+ EXISTS")
_SIZE = re.compile(rb"UID (\d+).*RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+).*UID (\d+)")
REJECTED_FLAG = "$SwitchboardRejected"


class ImapError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    tls: str = "ssl"  # ssl | none
    poll_interval_s: float = 30.0
    idle_timeout_s: float = 300.0
    use_idle: bool = True
    max_bytes: int = 10 * 1024 * 1024


class ImapFetcher:
    def __init__(self, config: ImapConfig, ingest: Ingest) -> None:
        self.config = config
        self._ingest = ingest
        self._task: asyncio.Task[None] | None = None
        self.idle_in_use: bool | None = None
        self._announced = False
        self.fetched = asyncio.Event()  # set after each pass over the mailbox

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name="email-imap")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run_forever(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("email.imap_failed", error=str(exc) or type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)

    async def _connect(self) -> IMAP4:
        c = self.config
        if c.tls == "ssl":
            client: IMAP4 = IMAP4_SSL(c.host, c.port, ssl_context=ssl.create_default_context())
        else:
            client = IMAP4(c.host, c.port)
        self._watch_exists(client)
        await client.wait_hello_from_server()
        _check(await client.login(c.user, c.password), "LOGIN")
        _check(await client.select(_quote(c.folder)), "SELECT")
        return client

    def _watch_exists(self, client: IMAP4) -> None:
        """Note every untagged EXISTS before aioimaplib routes (or drops) the line."""
        protocol = client.protocol
        route = protocol._untagged_response

        def untagged(line: bytes) -> object:
            if _EXISTS.match(line):
                self._announced = True
            return route(line)

        protocol._untagged_response = untagged  # type: ignore[method-assign]

    async def _session(self) -> None:
        client = await self._connect()
        try:
            self.idle_in_use = self.config.use_idle and client.has_capability("IDLE")
            log.info("email.imap_connected", folder=self.config.folder, idle=self.idle_in_use)
            while True:
                # Until a pass finds nothing: mail that arrived during a pass was announced
                # before IDLE began, so IDLE would not report it again.
                while await self.fetch_new(client):
                    pass
                self.fetched.set()
                if self.idle_in_use:
                    await self._idle(client)
                else:
                    await asyncio.sleep(self.config.poll_interval_s)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.logout(), 5)

    async def _idle(self, client: IMAP4) -> None:
        """Wait in IDLE; renewed at least every poll interval, which also bounds the delay of
        any change the server does not announce."""
        timeout = min(self.config.idle_timeout_s, self.config.poll_interval_s)
        idle = await client.idle_start(timeout=timeout)
        try:
            await client.wait_server_push(timeout=timeout + 5)
        except TimeoutError:
            pass
        finally:
            client.idle_done()
            await asyncio.wait_for(idle, 30)

    async def fetch_new(self, client: IMAP4) -> int:
        """Store every unseen mail of the folder; nonzero when there was, or may be, new mail."""
        self._announced = False
        response = await client.uid_search("UNSEEN", charset=None)
        _check(response, "UID SEARCH")
        uids = [int(u) for line in response.lines[:1] for u in line.split() if u.isdigit()]
        for uid in sorted(uids):
            await self._take(client, uid)
        return len(uids) + int(self._announced)

    async def _take(self, client: IMAP4, uid: int) -> None:
        size = await self._size(client, uid)
        if size is None:
            return  # expunged meanwhile
        if size > self.config.max_bytes:
            log.warning("email.imap_oversized", uid=uid, size=size)
            await self._flag(client, uid, rf"(\Seen {REJECTED_FLAG})")
            return
        response = await client.uid("fetch", str(uid), "(BODY.PEEK[])")
        _check(response, "UID FETCH")
        raw = next((bytes(x) for x in response.lines if isinstance(x, bytearray)), None)
        if raw is None:
            return
        result = await self._ingest(raw, None)
        if result.rejected is not None:
            log.warning("email.imap_rejected", uid=uid, detail=result.rejected)
            await self._flag(client, uid, rf"(\Seen {REJECTED_FLAG})")
            return
        await self._flag(client, uid, r"(\Seen)")

    async def _size(self, client: IMAP4, uid: int) -> int | None:
        response = await client.uid("fetch", str(uid), "(RFC822.SIZE)")
        _check(response, "UID FETCH")
        for line in response.lines:
            if isinstance(line, bytes | bytearray) and (found := _SIZE.search(bytes(line))):
                if int(found.group(1) or found.group(4)) == uid:
                    return int(found.group(2) or found.group(3))
        return None

    async def _flag(self, client: IMAP4, uid: int, flags: str) -> None:
        _check(await client.uid("store", str(uid), "+FLAGS.SILENT", flags), "UID STORE")


def _check(response: object, command: str) -> None:
    result = getattr(response, "result", None)
    if result != "OK":
        lines = getattr(response, "lines", [])
        detail = b" ".join(x for x in lines if isinstance(x, bytes))[:200]
        raise ImapError(f"{command} failed: {result} {detail!r}")


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'

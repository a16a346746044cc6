"""Users, passwords and sessions: the operations behind the login page and the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, delete, func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.models import utcnow

from .models import Role, StaffSession, StaffUser, role_set
from .passwords import hash_password, needs_rehash, verify_password

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-@")


class AccountError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CurrentUser:
    id: int
    username: str
    display_name: str
    roles: frozenset[str]

    def has_role(self, *roles: str) -> bool:
        return Role.ADMIN in self.roles or any(role in self.roles for role in roles)

    @classmethod
    def of(cls, user: StaffUser) -> CurrentUser:
        assert user.id is not None
        return cls(user.id, user.username, user.display_name, user.role_set)


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not 1 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
        raise AccountError("a username has 1-64 characters: letters, digits and . _ - @")
    return name


def parse_roles(roles: list[str] | tuple[str, ...]) -> str:
    known = {role.value for role in Role}
    unknown = sorted(set(roles) - known)
    if unknown or not roles:
        raise AccountError(f"roles must be among {', '.join(sorted(known))}; got {roles!r}")
    return ",".join(sorted(set(roles)))


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    session: AsyncSession,
    username: str,
    password: str,
    roles: list[str] | tuple[str, ...],
    display_name: str | None = None,
) -> StaffUser:
    name = normalise_username(username)
    role_text = parse_roles(roles)
    existing = await session.exec(select(StaffUser.id).where(StaffUser.username == name))
    if existing.first() is not None:
        raise AccountError(f"user {name!r} exists already")
    password_hash = await asyncio.to_thread(hash_password, password)
    user = StaffUser(
        username=name,
        display_name=(display_name or name).strip()[:200] or name,
        password_hash=password_hash,
        roles=role_text,
    )
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, username: str, password: str) -> None:
    user = await _by_username(session, normalise_username(username))
    if user is None:
        raise AccountError(f"no user {username!r}")
    user.password_hash = await asyncio.to_thread(hash_password, password)
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    await session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))


async def _by_username(session: AsyncSession, username: str) -> StaffUser | None:
    result = await session.exec(select(StaffUser).where(StaffUser.username == username))
    return result.first()


async def authenticate(session: AsyncSession, username: str, password: str) -> StaffUser | None:
    """The user when the password is right, the account active and not locked; else None.

    Five wrong passwords lock the account for 15 minutes, whoever tries them.
    """
    try:
        name = normalise_username(username)
    except AccountError:
        name = ""
    user = await _by_username(session, name) if name else None
    now = utcnow()
    locked = user is not None and user.locked_until and _as_utc(user.locked_until) > now
    stored_hash = user.password_hash if user is not None else None
    good = await asyncio.to_thread(verify_password, stored_hash, password)
    if user is None or not user.active or locked:
        return None
    if not good:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.failed_logins = 0
            user.locked_until = now + LOCKOUT
        session.add(user)
        return None
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hash_password, password)
    session.add(user)
    return user


async def start_session(
    session: AsyncSession, user: StaffUser, lifetime: timedelta
) -> tuple[str, str]:
    """A new login session: (cookie token, CSRF token)."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        StaffSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    await session.execute(delete(StaffSession).where(StaffSession.expires_at < now))
    return token, csrf


_SESSION_LOOKUP = (
    select(
        StaffSession.csrf_token,
        StaffSession.expires_at,
        StaffUser.id,
        StaffUser.username,
        StaffUser.display_name,
        StaffUser.roles,
        StaffUser.active,
    )
    .join_from(StaffSession, StaffUser, StaffUser.id == StaffSession.user_id)  # type: ignore[arg-type]
    .where(StaffSession.token_hash == bindparam("token_hash"))
)


async def load_session(session: AsyncSession, token: str) -> tuple[CurrentUser, str] | None:
    """The logged-in user and the session's CSRF token, or None for an unknown or old token.

    Every staff request runs this, so it is one statement built once, reading columns
    rather than loading ORM objects."""
    if not token or len(token) > 128:
        return None
    result = await session.execute(_SESSION_LOOKUP, {"token_hash": _token_hash(token)})
    row = result.first()
    if row is None or not row.active or _as_utc(row.expires_at) <= utcnow():
        return None
    user = CurrentUser(row.id, row.username, row.display_name, role_set(row.roles))
    return user, row.csrf_token


async def end_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(StaffSession).where(StaffSession.token_hash == _token_hash(token)))


async def count_users(session: AsyncSession) -> int:
    result = await session.exec(select(func.count()).select_from(StaffUser))
    return int(result.one())


async def ensure_first_admin(session: AsyncSession, password_file: Path) -> str | None:
    """On an install without staff users, create `admin` with a random password written to
    `password_file` (readable by the owner only). Returns the password when it made one."""
    if await count_users(session) > 0:
        return None
    password = secrets.token_urlsafe(12)
    await create_user(session, "admin", password, [Role.ADMIN], display_name="Administrator")
    secret = f"username: admin\npassword: {password}\n"
    await asyncio.to_thread(_write_secret, password_file, secret)
    return password


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)

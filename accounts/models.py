"""Staff users and their login sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel

from conversations.models import utcnow


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    CONTENT = "content"
    ADMIN = "admin"  # may do everything


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(max_length=200)
    password_hash: str = Field(max_length=512)
    roles: str = Field(max_length=200, description="comma-separated Role values")
    active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )

    @property
    def role_set(self) -> frozenset[str]:
        return role_set(self.roles)


class StaffSession(SQLModel, table=True):
    """A login. Only the SHA-256 of the cookie's token is stored, so a leaked database row
    cannot be replayed as a cookie."""

    __tablename__ = "staff_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


def role_set(roles: str) -> frozenset[str]:
    """The roles of a comma-separated `StaffUser.roles` value."""
    return frozenset(role for role in roles.split(",") if role)

"""`python -m accounts create-user|set-password`: manage staff logins from the shell."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from gateway.db import Database
from gateway.settings import Settings

from . import service
from .models import Role
from .passwords import WeakPassword


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise service.AccountError("the passwords differ")
    return first


async def _run(args: argparse.Namespace) -> None:
    db = Database(Settings().resolved_database_url)
    try:
        await db.create_tables()
        password = _read_password(args.password_stdin)
        async with db.transaction() as session:
            if args.command == "create-user":
                await service.create_user(
                    session, args.username, password, args.role, display_name=args.display_name
                )
            else:
                await service.set_password(session, args.username, password)
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m accounts")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="add a staff user")
    create.add_argument("username")
    create.add_argument(
        "--role", action="append", required=True, choices=[role.value for role in Role]
    )
    create.add_argument("--display-name")
    create.add_argument("--password-stdin", action="store_true")
    reset = commands.add_parser("set-password", help="change a password; ends its sessions")
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_run(args))
    except (service.AccountError, WeakPassword) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.command}: {args.username} done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

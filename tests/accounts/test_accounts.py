"""Staff login through the real gateway application over HTTP: passwords, sessions, roles,
CSRF, lockout, and hostile input on the login form."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from accounts import register_staff_page, require_role, service
from accounts.passwords import WeakPassword, hash_password, verify_password
from gateway import keys
from gateway.db import Database
from tests.accounts_helpers import create_staff, login, login_form
from tests.gateway.conftest import AppFactory

PASSWORD = "correct horse battery"


@require_role("supervisor")
async def _supervisor_only(request: web.Request) -> web.Response:
    return web.json_response({"hello": request["user"].username})


@pytest.fixture
async def server(make_app: AppFactory, tmp_path: Path) -> AsyncIterator[TestServer]:
    app = make_app(FAQ_RETRIEVER="lexical")
    app.router.add_route("*", "/test/supervisor", _supervisor_only)
    register_staff_page(app, "Supervisor view", "/test/supervisor", "supervisor")
    async with TestServer(app, host="127.0.0.1") as test_server:
        db = app[keys.DATABASE]
        await create_staff(db, "sam", PASSWORD, "supervisor", display_name="Sam <b>Super</b>")
        await create_staff(db, "ann", PASSWORD, "agent")
        yield test_server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


def base(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


def test_passwords_are_hashed_and_checked() -> None:
    hashed = hash_password(PASSWORD)
    assert PASSWORD not in hashed and hashed.startswith("$argon2id$")
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, PASSWORD + "!")
    assert not verify_password(None, PASSWORD)
    assert not verify_password("not a hash", PASSWORD)
    with pytest.raises(WeakPassword):
        hash_password("short")


async def test_users_are_unique_and_roles_checked(database: Database) -> None:
    await create_staff(database, "Agent.One", PASSWORD, "agent")
    with pytest.raises(service.AccountError, match="exists"):
        await create_staff(database, "agent.one", PASSWORD, "agent")
    with pytest.raises(service.AccountError, match="roles"):
        await create_staff(database, "two", PASSWORD, "root")
    with pytest.raises(service.AccountError, match="username"):
        await create_staff(database, "bad name; drop table", PASSWORD, "agent")
    async with database.transaction() as session:
        assert await service.count_users(session) == 1


async def test_first_admin_is_created_once(database: Database, tmp_path: Path) -> None:
    secret = tmp_path / "var/first-admin.txt"
    async with database.transaction() as session:
        password = await service.ensure_first_admin(session, secret)
    assert password and password in secret.read_text()
    assert secret.stat().st_mode & 0o777 == 0o600
    async with database.transaction() as session:
        assert await service.ensure_first_admin(session, secret) is None
        assert await service.authenticate(session, "admin", password) is not None


async def test_login_opens_the_pages_of_ones_roles(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    url = base(server)
    csrf = await login(http, url, "sam", PASSWORD)
    async with http.get(f"{url}/staff", headers={"Accept": "text/html"}) as response:
        page = await response.text()
        assert response.status == 200
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "Sam &lt;b&gt;Super&lt;/b&gt;" in page and "<b>Super</b>" not in page
    assert 'href="/test/supervisor"' in page and f'content="{csrf}"' in page
    async with http.get(f"{url}/test/supervisor") as response:
        assert response.status == 200
        assert await response.json() == {"hello": "sam"}
    async with http.get(f"{url}/staff/static/staff.css") as response:
        assert response.status == 200


async def test_anonymous_and_wrong_role_are_refused(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    url = base(server)
    async with http.get(
        f"{url}/test/supervisor?x=1", headers={"Accept": "text/html"}, allow_redirects=False
    ) as response:
        assert response.status == 303
        location = URL(response.headers["Location"])
        assert location.path == "/login" and location.query["next"] == "/test/supervisor?x=1"
    async with http.get(f"{url}/test/supervisor") as response:
        assert response.status == 401
        assert (await response.json())["error"] == "unauthorized"
    await login(http, url, "ann", PASSWORD)
    async with http.get(f"{url}/test/supervisor") as response:
        assert response.status == 403
    async with http.get(f"{url}/staff", headers={"Accept": "text/html"}) as response:
        assert "/test/supervisor" not in await response.text()


async def test_unsafe_requests_need_the_csrf_token(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    url = base(server)
    csrf = await login(http, url, "sam", PASSWORD)
    async with http.post(f"{url}/test/supervisor") as response:
        assert response.status == 403
    async with http.post(f"{url}/test/supervisor", headers={"X-CSRF-Token": "forged"}) as r:
        assert r.status == 403
    async with http.post(f"{url}/test/supervisor", headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 200
    async with http.post(f"{url}/logout", data={"csrf_token": "forged"}) as response:
        assert response.status == 403
    async with http.post(f"{url}/logout", data={"csrf_token": csrf}, allow_redirects=False) as r:
        assert r.status == 303
    async with http.get(f"{url}/test/supervisor") as response:
        assert response.status == 401


async def test_wrong_passwords_lock_the_account(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    url = base(server)
    token = await login_form(http, url)
    for _ in range(service.MAX_FAILED_LOGINS):
        async with http.post(
            f"{url}/login", data={**token, "username": "sam", "password": "wrong password!"}
        ) as response:
            assert response.status == 401
            assert "Wrong username or password." in await response.text()
    async with http.post(
        f"{url}/login",
        data={**token, "username": "sam", "password": PASSWORD},
        allow_redirects=False,
    ) as response:
        assert response.status == 401  # locked even with the right password
    assert "sb_session" not in {cookie.key for cookie in http.cookie_jar}


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"username": "x" * 5000, "password": PASSWORD}, 400),
        ({"username": "sam' OR '1'='1", "password": "' OR '1'='1"}, 401),
        ({"username": "<script>alert(1)</script>", "password": "x"}, 401),
        ({"username": "sam\x00", "password": PASSWORD}, 401),
        ({}, 401),
    ],
)
async def test_hostile_login_input_gets_a_clear_refusal(
    server: TestServer, http: aiohttp.ClientSession, data: dict[str, str], status: int
) -> None:
    url = base(server)
    async with http.post(f"{url}/login", data={**data, **await login_form(http, url)}) as response:
        assert response.status == status
        body = await response.text()
    assert "<script>alert(1)</script>" not in body
    assert "sb_session" not in {cookie.key for cookie in http.cookie_jar}


async def test_login_from_another_site_and_open_redirects_are_refused(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    url = base(server)
    form = {"username": "sam", "password": PASSWORD}
    async with http.post(f"{url}/login", data=form) as response:
        assert response.status == 403  # no token from the login page
    form |= await login_form(http, url)
    async with http.post(f"{url}/login", data={**form, "login_token": "forged"}) as response:
        assert response.status == 403
    async with http.post(
        f"{url}/login", data=form, headers={"Origin": "https://evil.example"}
    ) as response:
        assert response.status == 403
    assert "sb_session" not in {cookie.key for cookie in http.cookie_jar}
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        async with http.post(
            f"{url}/login", data={**form, "next": target}, allow_redirects=False
        ) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/staff"


async def test_forged_and_expired_session_cookies_are_anonymous(
    server: TestServer, make_cookie_session: Callable[[str], aiohttp.ClientSession]
) -> None:
    url = base(server)
    for token in ("forged", "x" * 5000, "' OR 1=1 --"):
        async with (
            make_cookie_session(token) as http,
            http.get(f"{url}/staff/session") as response,
        ):
            assert response.status == 401


@pytest.fixture
def make_cookie_session() -> Callable[[str], aiohttp.ClientSession]:
    def make(token: str) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(headers={"Cookie": f"sb_session={token}"})

    return make

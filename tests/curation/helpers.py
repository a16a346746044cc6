"""Requests the knowledge admin tests make, and the form of a new entry."""

from __future__ import annotations

import re

import aiohttp
from aiohttp.test_utils import TestServer

PASSWORD = "correct horse battery"
ADMIN = "/admin/knowledge"
HOSTILE = '<script>window.__owned=1</script><img src=x onerror="window.__owned=2">'
HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
ERROR_MESSAGE = re.compile(r'<p class="error" role="alert" id="error-message">([^<]*)</p>')
WAY_BACK = re.compile(r'<a id="way-back" href="([^"]*)">([^<]*)</a>')


def base(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def get_page(http: aiohttp.ClientSession, url: str, status: int = 200) -> str:
    async with http.get(url, headers=HTML, allow_redirects=False) as response:
        text = await response.text()
        assert response.status == status, text[:500]
        return text


async def post(
    http: aiohttp.ClientSession, url: str, data: dict[str, str], status: int = 303
) -> aiohttp.ClientResponse:
    async with http.post(url, data=data, allow_redirects=False) as response:
        await response.read()
        assert response.status == status, (await response.text())[:500]
        return response


async def get_form_response(
    http: aiohttp.ClientSession, url: str, data: dict[str, str], status: int = 200
) -> str:
    async with http.post(url, data=data, allow_redirects=False) as response:
        text = await response.text()
        assert response.status == status, text[:500]
        return text


def error_page(page: str) -> tuple[str, str, str]:
    """The message, the way back's address and its label of an error page."""
    message, back = ERROR_MESSAGE.search(page), WAY_BACK.search(page)
    assert message and back, page[:800]
    return message.group(1), back.group(1), back.group(2)


def entry_form(csrf: str, **values: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "id": "gift-registry",
        "topic": "store-policies",
        "question": "Do you have a gift registry?",
        "phrasings": "wedding registry\ncan I make a wish list for my birthday",
        "answer": "Yes: create a wish list in your account and share its link.",
        "tags": "gifts, registry",
        "locale": "en",
        "links": "Wish lists | https://northwind.example/help/wish-lists",
        "buttons": "Talk to a person | /human_handoff",
        "action": "save",
    }
    return form | values

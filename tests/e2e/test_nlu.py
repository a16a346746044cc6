"""The trained model's NLU, through the real Rasa server's /model/parse: intents from the
sentence-embedding pipeline, and entities only where they have their declared shape."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from gateway.rasa_process import RasaProcess


async def parse(rasa: RasaProcess, text: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{rasa.url}/model/parse", json={"text": text}) as response:
            assert response.status == 200
            result: dict[str, Any] = await response.json()
            return result


def entities(result: dict[str, Any], name: str) -> list[str]:
    return [e["value"] for e in result["entities"] if e["entity"] == name]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # phrasings that are not in the training data
        ("my parcel still hasn't turned up, where is it", "order_status"),
        ("please call off order 10077, I don't need it any more", "cancel_order"),
        ("the kettle you sent is broken and I want my money back", "request_refund"),
        ("I sent the jacket back two weeks ago and still no money", "refund_status"),
        ("how long is the warranty on headphones", "faq"),
        ("I rang your helpline twice and both times they were rude and unhelpful", "complaint"),
        ("forget the refund, I'll keep the jacket", "stop"),
    ],
)
async def test_unseen_phrasings_get_their_intent(rasa: RasaProcess, text: str, intent: str) -> None:
    """The classifier's first choice; the FallbackClassifier may still ask the customer to
    rephrase when that choice is not confident enough."""
    ranking = (await parse(rasa, text))["intent_ranking"]
    assert next(r["name"] for r in ranking if r["name"] != "nlu_fallback") == intent


async def test_order_numbers_and_emails_are_extracted_from_free_text(rasa: RasaProcess) -> None:
    result = await parse(rasa, "sorry, it's 10482 and my email is mia.lang3@example.org")
    assert entities(result, "order_number") == ["10482"]
    assert entities(result, "email") == ["mia.lang3@example.org"]


@pytest.mark.parametrize(
    "text",
    [
        "what's 2 plus 2",
        "the last 4 digits are 8889",
        "it's been 10 days and nothing arrived",
        "order 104823 please",  # six digits: not an order number's shape
        "'; DROP TABLE shop_orders; -- 1",
    ],
)
async def test_numbers_without_the_order_number_shape_are_not_order_numbers(
    rasa: RasaProcess, text: str
) -> None:
    assert entities(await parse(rasa, text), "order_number") == []


@pytest.mark.parametrize(
    "text",
    [
        "can you ship to 10115 berlin",
        "how much is delivery to 20354 hamburg",
        "my parcel to 75001 paris hasn't come",
    ],
)
async def test_a_postcode_is_not_an_order_number(rasa: RasaProcess, text: str) -> None:
    """DIET sees the neighbouring words (bot/config.yml): five digits after "to" or before a
    city name are a postcode."""
    assert entities(await parse(rasa, text), "order_number") == []


async def test_an_order_number_beside_a_postcode_is_still_found(rasa: RasaProcess) -> None:
    """The postcode after a house number may still be tagged; the dialogue keeps it out of the
    order (tests/e2e/test_orders.py)."""
    result = await parse(rasa, "please send order 10482 to rue de rivoli 5, 75001 paris")
    assert "10482" in entities(result, "order_number")


async def test_oversized_and_odd_text_still_parses(rasa: RasaProcess) -> None:
    for text in ("9" * 10_000, "\x00\u200b\ufffd", "🙂" * 500, "ß" * 3000):
        result = await parse(rasa, text)
        assert entities(result, "order_number") == []
        assert result["intent"]["name"]

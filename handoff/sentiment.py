"""Sentiment of customer messages: VADER's lexicon and rules (no model, microseconds per text)."""

from __future__ import annotations

from functools import cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER's compound score: -1 (most negative) … +1 (most positive)."""
    return float(_analyzer().polarity_scores(text[:2000])["compound"])

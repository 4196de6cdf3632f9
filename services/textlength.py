"""How each network counts the length of a post (graphemes, weighted characters, URLs)."""

from __future__ import annotations

import regex

_GRAPHEME = regex.compile(r"\X")
# A Mastodon mention counts only its @username part: the @domain is dropped.
_REMOTE_MENTION = regex.compile(r"(@[\w.]+)@[\w.-]+\w", regex.UNICODE)

#: Mastodon counts every URL as this many characters (StatusLengthValidator).
MASTODON_URL_CHARS = 23


def graphemes(text: str) -> int:
    """User-perceived characters (extended grapheme clusters)."""
    return len(_GRAPHEME.findall(text))


def mastodon_length(text: str) -> int:
    """Mastodon's count: graphemes, each URL as 23, remote mentions without their domain."""
    # Imported here: twitter-text takes ~0.5 s to import, which every CLI command would pay.
    from twitter_text.extract_urls import extract_urls_with_indices  # type: ignore[import-untyped]

    # Mastodon finds URLs with the twitter-text extractor (protocol required), which leaves trailing
    # punctuation ("see https://x.org/a.") outside the URL: that full stop counts.
    for url in reversed(extract_urls_with_indices(text, extract_urls_without_protocol=False)):
        start, end = url["indices"]
        text = text[:start] + "x" * MASTODON_URL_CHARS + text[end:]
    text = _REMOTE_MENTION.sub(r"\1", text)
    return graphemes(text)


def bluesky_length(text: str) -> int:
    """Bluesky's count: graphemes (the lexicon's maxGraphemes)."""
    return graphemes(text)


def x_length(text: str) -> int:
    """X's weighted length (URLs 23, CJK and emoji 2), as the official twitter-text rules count it."""
    from twitter_text import parse_tweet  # type: ignore[import-untyped]  # (imported on first use)

    return int(parse_tweet(text).weightedLength)

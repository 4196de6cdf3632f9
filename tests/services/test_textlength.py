"""Tests for services.textlength: how Mastodon, Bluesky and X count a reply."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.textlength import MASTODON_URL_CHARS, bluesky_length, graphemes, mastodon_length, x_length

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one ZWJ sequence, 7 code points
FLAG_DE = "\U0001f1e9\U0001f1ea"
THUMBS_MEDIUM = "\U0001f44d\U0001f3fd"
KEYCAP_ONE = "1\ufe0f\u20e3"
E_ACUTE_DECOMPOSED = "e\u0301"
ZALGO_A = "a\u0300\u0301\u0302\u0303"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("hello", 5),
        (FAMILY, 1),
        (FLAG_DE, 1),
        (FLAG_DE + "\U0001f1eb\U0001f1f7", 2),  # two flags side by side
        (THUMBS_MEDIUM, 1),
        (KEYCAP_ONE, 1),
        (E_ACUTE_DECOMPOSED, 1),
        ("caf" + E_ACUTE_DECOMPOSED, 4),
        (ZALGO_A, 1),
        ("한국어", 3),
        ("\r\n", 1),
    ],
)
def test_graphemes_count_what_people_see(text: str, expected: int) -> None:
    assert graphemes(text) == expected
    assert bluesky_length(text) == expected


def test_composed_and_decomposed_text_count_the_same() -> None:
    text = "Grüße aus Köln, señor"
    assert graphemes(unicodedata.normalize("NFC", text)) == graphemes(unicodedata.normalize("NFD", text)) == len(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com", MASTODON_URL_CHARS),
        ("https://example.com/" + "a" * 200, MASTODON_URL_CHARS),
        ("http://x.co", MASTODON_URL_CHARS),  # short URLs count 23 too
        ("see https://example.com/help now", 4 + 23 + 4),
        ("two https://a.example.org/1 https://b.example.org/2", 4 + 23 + 1 + 23),
        # The full stop after a URL is not part of it, and counts.
        ("see https://example.com/a.", 4 + 23 + 1),
        ("(https://example.com/a)", 1 + 23 + 1),
        # Without a protocol it is plain text for Mastodon.
        ("www.example.com", 15),
        # A remote mention counts only its @username.
        ("@alice@mastodon.social hi", len("@alice hi")),
        ("@alice hi", len("@alice hi")),
        ("cc @bob@example.co.uk and @carol@social.example.org", len("cc @bob and @carol")),
        ("mail bob@example.com", len("mail bob@example.com")),  # an address, not a mention
        (FAMILY + " " + FLAG_DE, 3),
        ("Grüße " + E_ACUTE_DECOMPOSED, 7),
    ],
)
def test_mastodon_counts_urls_as_23_and_drops_remote_mention_domains(text: str, expected: int) -> None:
    assert mastodon_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("日本語", 6),  # CJK weighs 2
        ("한국어", 6),
        ("日本語 ok", 9),
        ("https://example.com/" + "a" * 100, 23),  # t.co length
        ("see example.com", 4 + 23),  # X links bare domains too
        (FAMILY, 2),  # any emoji, ZWJ sequences included, weighs 2
        (FLAG_DE, 2),
        ("é", 1),
        (E_ACUTE_DECOMPOSED, 1),  # NFC first
    ],
)
def test_x_counts_weighted_characters(text: str, expected: int) -> None:
    assert x_length(text) == expected


def test_the_limits_as_each_network_would_see_them() -> None:
    assert mastodon_length("a" * 476 + " https://example.com/" + "z" * 300) == 500
    assert x_length("日" * 140) == 280
    assert x_length("日" * 141) == 282
    assert bluesky_length(FAMILY * 300) == 300


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=300))
def test_lengths_are_never_negative_and_never_exceed_the_code_points_plus_urls(text: str) -> None:
    g = graphemes(text)
    assert 0 <= g <= len(text)
    assert bluesky_length(text) == g
    assert 0 <= mastodon_length(text)
    assert 0 <= x_length(text) <= 2 * len(text) + 23 * text.count(".")


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(alphabet=st.characters(categories=["L", "N", "Zs"]), max_size=200))
def test_mastodon_and_graphemes_agree_on_text_without_links_or_mentions(text: str) -> None:
    assert mastodon_length(text) == graphemes(text)

"""Mastodon status HTML to plain text, with real markup and hostile input."""

from __future__ import annotations

import pytest

from services.htmltext import MAX_INPUT, html_to_text

MENTION = (
    '<span class="h-card" translate="no"><a href="https://mastodon.social/@trwnh" class="u-url mention">'
    "@<span>trwnh</span></a></span>"
)
LONG_LINK = (
    '<a href="https://example.com/page/that/is/very/long" rel="nofollow noopener" target="_blank">'
    '<span class="invisible">https://</span><span class="ellipsis">example.com/page</span>'
    '<span class="invisible">/that/is/very/long</span></a>'
)


def test_paragraphs_and_line_breaks() -> None:
    assert html_to_text("<p>one<br>two<br />three</p><p>four</p>") == "one\ntwo\nthree\n\nfour"


def test_mention_reads_as_full_acct_with_the_mentions_list() -> None:
    html = f"<p>{MENTION} sup!</p>"
    assert html_to_text(html) == "@trwnh sup!"
    assert html_to_text(html, {"https://mastodon.social/@trwnh": "trwnh@mastodon.social"}) == (
        "@trwnh@mastodon.social sup!"
    )


def test_links_show_the_full_url() -> None:
    assert html_to_text(f"<p>see {LONG_LINK} now</p>") == "see https://example.com/page/that/is/very/long now"


def test_hashtags_and_custom_emoji_stay_text() -> None:
    html = (
        '<p><a href="https://x.social/tags/help" class="mention hashtag" rel="tag">#<span>Help</span></a> :blobcat:</p>'
    )
    assert html_to_text(html) == "#Help :blobcat:"
    assert html_to_text('<p>hi <img src="https://x/e.png" alt=":party:" class="emojione"></p>') == "hi :party:"


def test_entities_are_decoded_once() -> None:
    assert html_to_text("<p>&lt;b&gt;bold&lt;/b&gt; &amp;amp; caf&eacute; &#x1F600; &quot;q&quot;</p>") == (
        '<b>bold</b> &amp; café 😀 "q"'
    )


def test_whitespace_in_source_collapses() -> None:
    assert html_to_text("<p>  a \n\n  b\t c  </p>\n\n\n<p>d</p>") == "a b c\n\nd"


def test_lists_quotes_and_pre_from_other_servers() -> None:
    html = "<blockquote><p>quoted</p></blockquote><ul><li>one</li><li>two</li></ul><pre>x  =  1</pre>"
    assert html_to_text(html) == "quoted\n\n- one\n\n- two\n\nx = 1"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>hi<script>alert('x')</script></p>", "hi"),
        ("<style>p { display:none }</style><p>shown</p>", "shown"),
        ("<p>a<!-- secret comment -->b</p>", "ab"),
        ('<p>x<iframe src="https://evil.example/">fallback</iframe>y</p>', "xy"),
        ("<p>x<template><p>hidden</p></template>y</p>", "xy"),
        ("<svg><script>alert(1)</script><text>svg text</text></svg><p>ok</p>", "ok"),
        ("<p>x<textarea>typed</textarea>y</p>", "xy"),
        ('<p><img src="https://tracker.example/pixel.gif" onerror="alert(1)">pic</p>', "pic"),
    ],
)
def test_hostile_markup_is_dropped(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_javascript_links_keep_only_their_text() -> None:
    assert html_to_text('<p><a href="javascript:alert(1)">click me</a></p>') == "click me"
    assert html_to_text('<p><a href="data:text/html,<script>x</script>">data</a></p>') == "data"


def test_a_link_that_claims_another_address_shows_the_real_one() -> None:
    html = '<p><a href="https://evil.example/login">https://bank.example/login</a></p>'
    assert html_to_text(html) == "https://evil.example/login"
    assert html_to_text('<p><a href="https://status.example">our status page</a></p>') == (
        "our status page (https://status.example)"
    )


def test_hidden_text_is_still_shown() -> None:
    # Nothing is hidden from the operator: an "invisible" span outside a link is plain text.
    assert html_to_text('<p>pay <span class="invisible">attention</span> now</p>') == "pay attention now"


def test_control_and_bidi_override_characters_are_removed() -> None:
    assert html_to_text("<p>abc\u202edcba\u2066x\u2069\x00\x07 done\ufeff</p>") == "abcdcbax done"
    assert html_to_text("<p>שלום\u200f world</p>") == "שלום\u200f world"  # marks that carry meaning stay


def test_broken_markup_does_not_lose_text() -> None:
    assert html_to_text("<p>unclosed <a href='https://x.example/a'>link <b>bold") == (
        "unclosed link bold (https://x.example/a)"
    )
    assert html_to_text("<p>a</div></span></p>b") == "a\n\nb"
    assert html_to_text("</p>just text<") == "just text<"


def test_deep_nesting_and_huge_input_are_bounded() -> None:
    assert html_to_text("<span>" * 20_000 + "deep" + "</span>" * 20_000) == "deep"
    big = "<p>" + "word " * (MAX_INPUT // 4) + "</p>"
    assert len(html_to_text(big)) <= MAX_INPUT


def test_empty() -> None:
    assert html_to_text("") == ""
    assert html_to_text("<p></p><p> </p>") == ""

"""Mastodon status HTML to safe plain text: nothing rendered, nothing loaded, nothing hidden."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser

import nh3

#: Longer input is cut before parsing (a status is at most a few thousand characters even on forks).
MAX_INPUT = 500_000

_BLOCK = frozenset({"p", "div", "blockquote", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6"})
_KEEP = _BLOCK | {"br", "span", "a", "img", "code", "b", "strong", "i", "em", "u", "s", "del", "sub", "sup"}
# Tags whose content is never text a person wrote for the post (nh3 removes them with their content).
_DROP_WITH_CONTENT = frozenset(
    {"script", "style", "template", "textarea", "title", "noscript", "iframe", "object", "svg", "math", "select"}
)
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
# C0/C1 controls (but not tab and newline) and the bidi embedding/override/isolate controls, which
# could flip the direction of the rest of a line in the GUI (the "Trojan Source" trick).
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_SHORTCODE = re.compile(r"^:[A-Za-z0-9_]+:$")


def html_to_text(html: str, mentions: Mapping[str, str] | None = None) -> str:
    """Plain text of a status's ``content``.

    Args:
        html: The sanitized HTML Mastodon sends (or anything a hostile server sends instead).
        mentions: The status's mentions as ``{profile url: acct}``, so a mention link reads as the
            full ``@user@domain`` rather than the ``@user`` Mastodon shows.

    Returns:
        Paragraphs separated by a blank line, ``<br>`` as a newline, links as their full URL.
    """
    if not html:
        return ""
    cleaned = nh3.clean(
        html[:MAX_INPUT],
        tags=set(_KEEP),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={"a": {"href", "class"}, "span": {"class"}, "img": {"alt"}},
        url_schemes=set(_SAFE_SCHEMES),
        link_rel=None,
        strip_comments=True,
    )
    parser = _TextParser(mentions or {})
    parser.feed(cleaned)
    parser.close()
    return parser.text()


@dataclass
class _Link:
    href: str
    classes: frozenset[str]
    parts: list[str] = field(default_factory=list)


class _TextParser(HTMLParser):
    """Walks nh3's well-formed output and writes text, line breaks and paragraph breaks."""

    def __init__(self, mentions: Mapping[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self._mentions = mentions
        self._out: list[str] = []
        self._links: list[_Link] = []
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "br":
            self._emit("\n")
        elif tag in _BLOCK:
            self._emit("\n\n")
            if tag == "li":
                self._emit("- ")
            if tag == "pre":
                self._pre += 1
        elif tag == "a":
            self._links.append(_Link(a.get("href", ""), frozenset(a.get("class", "").split())))
        elif tag == "img":
            # Only a custom emoji's :shortcode: survives: Mastodon keeps them as text, other servers as <img>.
            alt = a.get("alt", "").strip()
            if _SHORTCODE.match(alt):
                self._text(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "a":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._links:
            self._text(self._link_text(self._links.pop()))
        elif tag in _BLOCK:
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            self._emit("\n\n")

    def handle_data(self, data: str) -> None:
        self._text(data)

    def _text(self, data: str) -> None:
        if self._links:
            self._links[-1].parts.append(data)
        elif self._pre:
            self._emit(data)
        else:
            self._emit(re.sub(r"\s+", " ", data))

    def _emit(self, chunk: str) -> None:
        self._out.append(chunk)

    def _link_text(self, link: _Link) -> str:
        # Every span counts, the "invisible" ones too: together they spell the whole URL.
        visible = re.sub(r"\s+", " ", "".join(link.parts)).strip()
        if "mention" in link.classes and "hashtag" not in link.classes:
            acct = self._mentions.get(link.href)
            if acct:
                return "@" + acct.lstrip("@")
            return visible if visible.startswith("@") or not visible else "@" + visible
        if "hashtag" in link.classes or not link.href:
            return visible
        if not visible or _same_url(visible, link.href) or _looks_like_url(visible):
            # A link whose text looks like an address shows where it really goes, never the claim.
            return link.href
        return f"{visible} ({link.href})"

    def text(self) -> str:
        """The collected text, tidied."""
        while self._links:  # an unclosed link still shows its text
            self._emit(self._link_text(self._links.pop(0)))
        raw = _UNSAFE_CHARS.sub("", "".join(self._out))
        lines = [_SPACES.sub(" ", line).strip() for line in raw.split("\n")]
        text = "\n".join(lines)
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def _same_url(text: str, href: str) -> bool:
    def bare(u: str) -> str:
        return re.sub(r"^[a-z]+://(www\.)?", "", u.strip().lower()).rstrip("/")

    return bare(text) == bare(href)


def _looks_like_url(text: str) -> bool:
    return " " not in text and bool(re.match(r"^([a-z][a-z0-9+.-]*://|www\.)|^[\w-]+(\.[\w-]+)+(/|$)", text, re.I))

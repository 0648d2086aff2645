"""Text helpers every room shares.  Linear time only: these run on whatever users send."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# C0 controls and DEL, except tab, line feed and carriage return.  PostgreSQL refuses NUL in
# text and SQLite keeps it: removing them where text enters makes both databases agree.
_CONTROLS = {c: None for c in (*range(0, 9), 11, 12, *range(14, 32), 127)}


def clean_text(value: str) -> str:
    """``value`` without control characters (tab and line breaks are kept)."""
    return value.translate(_CONTROLS)


def has_controls(value: str) -> bool:
    """Whether ``value`` holds a character :func:`clean_text` would remove."""
    return any(ord(ch) in _CONTROLS for ch in value)


_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt fieldset figcaption figure footer form h1 "
    "h2 h3 h4 h5 h6 header hr li main nav ol p pre section table td th tr ul".split()
)
_HIDDEN_TAGS = frozenset({"script", "style", "head", "title"})
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")  # the lines are stripped first: no spaces between


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ARG002
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML message body: tags dropped, entities decoded, block
    elements on lines of their own, scripts and styles left out."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parser.parts).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# Words that carry no topic: never evidence, never highlighted, never a cluster's label ("on",
# "the", "about" say nothing about a network outage).  English function words (Elasticsearch's
# English list among them) and the desk's filler ("please", "same", "got", "thanks").
STOP_WORDS = frozenset(
    """
    a about after all also am an and any another are as at be been being both but by can
    cannot could d did do does doing during each either every for from further get got had
    has have having he her here hers him his how i if in into is it its just kind ll m may
    me might mine more most must my myself neither no nor not now of off on once one only
    onto or other our ours out over own per please pls quite re really s same shall she
    should since so some such t than that the their theirs them then there these they this
    those through to too under up upon us ve very via was we were what when where which
    while who whom whose why will with within without would yet you your yours
    thanks thank hi hello dear regards best cheers
    """.split()
)

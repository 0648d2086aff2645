"""Text normalisation for search: what is embedded and indexed, never what is stored.

Removes what carries no meaning for retrieval and is obviously boilerplate: mail headers,
"Sent from my iPhone", sign-offs with a name after them, disclaimers, ticket-system prefixes
such as "received from: someone@example.com"; collapses whitespace.
"""

from __future__ import annotations

import re

from core.text import STOP_WORDS

# Sign-off lines: the line holds only one of these (any case), optionally followed by one of
# ",.!".  What follows it is a signature when at most four more lines come after it.
_SIGN_OFF_WORDS = frozenset(
    {
        "thanks",
        "thanks and regards",
        "thanks & regards",
        "thank you",
        "many thanks",
        "regards",
        "best",
        "best regards",
        "best wishes",
        "kind regards",
        "warm regards",
        "cheers",
        "br",
        "mit freundlichen grüßen",
        "viele grüße",
        "gruß",
        "sincerely",
    }
)
_SIGNATURE_LINES = 4
_SENT_FROM = re.compile(r"(?im)^[ \t]*sent from my [\w\- ]+$")
_SIG_DASHES = re.compile(r"(?ms)^-- ?\n.*\Z")
_MAIL_HEADER = re.compile(r"(?im)^[ \t]*(?:from|sent|to|cc|subject|date|importance):[^\n]*$")
_RECEIVED_FROM = re.compile(r"(?i)\breceived from:\s*\S+@\S+")
_DISCLAIMER = re.compile(
    r"(?is)(?:this (?:e-?mail|message) (?:and any attachments )?(?:is|may be) confidential"
    r"|the information contained in this (?:e-?mail|message)).*\Z"
)
_WS = re.compile(r"\s+")


def normalize(text: str | None) -> str:
    if not text:
        return ""
    t = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", " ")
    t = _DISCLAIMER.sub("", t)
    t = _SIG_DASHES.sub("", t)
    t = _SENT_FROM.sub("", t)
    t = _strip_sign_off(t)
    t = _MAIL_HEADER.sub("", t)
    t = _RECEIVED_FROM.sub("", t)
    return _WS.sub(" ", t).strip()


def _is_sign_off(line: str) -> bool:
    s = line.strip(" \t")
    if s.endswith((",", ".", "!")):
        s = s[:-1].rstrip(" \t")
    return s.lower() in _SIGN_OFF_WORDS


def _strip_sign_off(text: str) -> str:
    """``text`` without a closing "Thanks,\\nMaria\\nAccounts": the earliest sign-off line that
    has at most four lines after it, and everything after it.

    Decided line by line (only the last few lines can qualify), so it takes linear time on any
    input; a regular expression for "a sign-off, then up to four lines, then the end"
    backtracks catastrophically on long lines (issue #11).
    """
    # The sign-off line needs its line break; the lines after it count as one each, a final
    # empty line (the text ends with a line break) does not.
    tail = text.rsplit("\n", _SIGNATURE_LINES + 2)
    closing_break = tail[-1] == ""
    after_limit = _SIGNATURE_LINES + (1 if closing_break else 0)
    start = len(text) - sum(len(line) + 1 for line in tail) + 1  # offset of tail[0]
    offset = start
    for i, line in enumerate(tail[:-1]):
        if len(tail) - i - 1 <= after_limit and _is_sign_off(line):
            return text[:offset]
        offset += len(line) + 1
    return text


_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
MAX_QUERY_TERMS = 256


def query_terms(text: str) -> str:
    """The user's words only: no operator or syntax a search engine could interpret, and at most
    ``MAX_QUERY_TERMS`` of them (a pasted bug report is a query too)."""
    words = _NON_WORD.sub(" ", text.lower()).replace("_", " ").split()
    return " ".join(words[:MAX_QUERY_TERMS])


def content_terms(text: str) -> str:
    """:func:`query_terms` without stop words: the words a highlight may mark."""
    return " ".join(w for w in query_terms(text).split() if w not in STOP_WORDS)


# Markdown, removed from what is indexed for BM25 and snippets (never from the stored text):
# the snippet a backend cuts from the body then shows the words, not the syntax.  Block syntax
# is handled line by line; inline patterns are bounded (a span, a link text or a URL of at most
# a few hundred characters), so the pass stays linear on any input.
_MD_FENCE = re.compile(r"[ \t]*(?:```|~~~)")
_MD_HEADING = re.compile(r"[ \t]{0,3}#{1,6}(?:[ \t]+|$)")
_MD_RULE = re.compile(r"[ \t]*(?:[-*_][ \t]*){3,}")
_MD_TABLE_RULE = re.compile(r"[ \t|:-]*-{2,}[ \t|:-]*")
_MD_QUOTE = re.compile(r"[ \t]{0,3}(?:>[ \t]?)+")
_MD_LIST = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?")
_MD_LINK_DEF = re.compile(r"[ \t]{0,3}\[[^\[\]\n]{1,200}\]:[ \t]*\S")
_MD_IMAGE = re.compile(r"!\[([^\[\]\n]{0,200})\]\([^()\n]{0,500}\)")
_MD_LINK = re.compile(r"\[([^\[\]\n]{1,200})\](?:\([^()\n]{0,500}\)|\[[^\[\]\n]{0,200}\])")
_MD_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]{1,500})>")
_MD_CODE = re.compile(r"(`{1,3})([^`\n]{1,300})\1")
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)([^\n]{1,300}?)(?<=\S)\1")
_MD_STRIKE = re.compile(r"~~(?=\S)([^~\n]{1,300}?)(?<=\S)~~")
_MD_EM = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]{1,300}?)(?<=[^\s*])\*(?![\w*])")
_MD_EM_UNDERSCORE = re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]{1,300}?)(?<=[^\s_])_(?![\w_])")


def _markdown_line(line: str) -> str | None:
    """One line without its block syntax; None for a line that is only syntax."""
    if _MD_FENCE.match(line) or _MD_LINK_DEF.match(line):
        return None
    if _MD_RULE.fullmatch(line) or ("|" in line and _MD_TABLE_RULE.fullmatch(line)):
        return None
    m = _MD_HEADING.match(line)
    if m:
        line = line[m.end() :].rstrip(" \t")
        bare = line.rstrip("#")
        if bare != line and (not bare or bare[-1] in " \t"):  # a closing "##", not "C#"
            line = bare.rstrip(" \t")
        return line
    m = _MD_QUOTE.match(line)
    if m and m.end():
        line = line[m.end() :]
    m = _MD_LIST.match(line)
    if m:
        line = line[m.end() :]
    stripped = line.strip(" \t")
    if stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1:
        line = " · ".join(c.strip(" \t") for c in stripped[1:-1].split("|"))
    return line


def strip_markdown(text: str | None) -> str:
    """``text`` as words: no heading marks, emphasis, list or quote markers, code fences or
    table rules; a link or an image shows as its text.  Plain text comes back unchanged."""
    if not text:
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    t = "\n".join(out for out in map(_markdown_line, lines) if out is not None)
    t = _MD_IMAGE.sub(r"\1", t)
    t = _MD_LINK.sub(r"\1", t)
    t = _MD_AUTOLINK.sub(r"\1", t)
    t = _MD_CODE.sub(r"\2", t)
    t = _MD_STRONG.sub(r"\2", t)
    t = _MD_STRIKE.sub(r"\1", t)
    t = _MD_EM.sub(r"\1", t)
    return _MD_EM_UNDERSCORE.sub(r"\1", t)

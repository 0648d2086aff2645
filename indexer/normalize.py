"""Text normalisation for search: what is embedded and indexed, never what is stored.

Removes what carries no meaning for retrieval and is obviously boilerplate: mail headers,
"Sent from my iPhone", sign-offs with a name after them, disclaimers, ticket-system prefixes
such as "received from: someone@example.com"; collapses whitespace.
"""

from __future__ import annotations

import re

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

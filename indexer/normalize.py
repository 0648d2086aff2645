"""Text normalisation for search: what is embedded and indexed, never what is stored.

Removes what carries no meaning for retrieval and is obviously boilerplate: mail headers,
"Sent from my iPhone", sign-offs with a name after them, disclaimers, ticket-system prefixes
such as "received from: someone@example.com"; collapses whitespace.
"""

from __future__ import annotations

import re

_SIGN_OFF = re.compile(
    r"(?im)^[ \t]*(?:thanks(?: (?:and|&) regards)?|thank you|many thanks|regards|"
    r"best(?: regards| wishes)?|kind regards|warm regards|cheers|br|mit freundlichen grüßen|"
    r"viele grüße|gruß|sincerely)[ \t]*[,.!]?[ \t]*\n(?:.*\n?){0,4}\Z"
)
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
    t = _SIGN_OFF.sub("", t)
    t = _MAIL_HEADER.sub("", t)
    t = _RECEIVED_FROM.sub("", t)
    return _WS.sub(" ", t).strip()


_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
MAX_QUERY_TERMS = 256


def query_terms(text: str) -> str:
    """The user's words only: no operator or syntax a search engine could interpret, and at most
    ``MAX_QUERY_TERMS`` of them (a pasted bug report is a query too)."""
    words = _NON_WORD.sub(" ", text.lower()).replace("_", " ").split()
    return " ".join(words[:MAX_QUERY_TERMS])

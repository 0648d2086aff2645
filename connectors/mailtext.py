"""Text as mail carries it: charsets, RFC 2047 words, and what a reply adds to the
words a requester wrote (quoted history, signatures, disclaimers).

Everything here runs on what strangers send, so it works line by line with ``str`` methods: no
regular expression touches the text, and every pass is linear in its length.  Nothing raises on
any input: a charset Python does not know, or one that lies, decodes with replacement characters.
"""

from __future__ import annotations

from core.text import clean_text

# -- charsets -----------------------------------------------------------------------------------

# Names mail programs use that Python does not know, or knows as something narrower.
_CHARSET_ALIASES = {
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
    "unknown": "utf-8",
    "default": "utf-8",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "windows-874": "cp874",
    "gb2312": "gb18030",  # mail declares gb2312 and sends gbk: gb18030 reads both
    "gbk": "gb18030",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "sjis": "shift_jis",
    "x-mac-roman": "mac_roman",
    "utf8": "utf-8",
    # Senders that say Latin-1 mean Windows-1252 (curly quotes, euro sign in 0x80-0x9f),
    # as browsers have long read it.
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
}
# Declared charsets that are often wrong about UTF-8 bytes: a mail that declares one of these but
# is valid UTF-8 with non-ASCII in it was written in UTF-8 (the reverse accident is vanishingly
# rare: Latin-1 text is almost never valid UTF-8).
_WESTERN_SINGLE_BYTE = frozenset({"cp1252", "iso-8859-15", "cp1250", "iso-8859-2"})


def _codec(charset: str | None) -> str:
    name = (charset or "").strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 language tag: "utf-8*en"
    return _CHARSET_ALIASES.get(name, name) or "utf-8"


def decode_bytes(data: bytes, charset: str | None) -> str:
    """``data`` as text in the declared ``charset``, corrected when the declaration lies; an
    unknown charset reads as UTF-8.  Replacement characters instead of errors, always."""
    codec = _codec(charset)
    if codec in ("utf-8", "utf_8") or codec in _WESTERN_SINGLE_BYTE:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Declared UTF-8 but it is not: Windows-1252 is what such mail nearly always is.
            codec = "cp1252" if codec in ("utf-8", "utf_8") else codec
        else:
            return text
    try:
        return data.decode(codec, "replace")
    except Exception:  # noqa: BLE001 - unknown charset, a non-text codec ("base64"), a codec
        # that refuses the error handler ("idna"): read as UTF-8
        return data.decode("utf-8", "replace")


def raw_header_text(value: str) -> str:
    """A header value as the parser left it (8-bit bytes as surrogates) as text: raw UTF-8 in
    headers is common, anything else is read as Windows-1252."""
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8", "replace")
    return decode_bytes(data, "utf-8")


# -- RFC 2047 encoded words ---------------------------------------------------------------------

_ENCODED_WORD_MAX = 400  # RFC 2047 says 75; mailers exceed it, none by this much


def _decode_word(charset: str, encoding: str, payload: str) -> str | None:
    import base64
    import binascii
    import quopri

    try:
        if encoding in "bB":
            data = payload.encode("ascii", "replace")
            data = data.rstrip(b"=") + b"=" * (-len(data.rstrip(b"=")) % 4)
            raw = base64.b64decode(data, validate=False)
        else:
            raw = quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"))
    except (binascii.Error, ValueError):
        return None
    return decode_bytes(raw, charset)


def decode_words(value: str) -> str:
    """``value`` with its RFC 2047 encoded words (``=?charset?B|Q?...?=``) decoded; whitespace
    between two encoded words goes, as the RFC says.  Malformed words stay as they are."""
    out: list[str] = []
    i = 0
    n = len(value)
    previous_was_word = False
    pending_space = ""
    while i < n:
        start = value.find("=?", i)
        if start < 0:
            out.append(pending_space + value[i:])
            break
        between = value[i:start]
        # Every search below stops within _ENCODED_WORD_MAX characters: linear overall.
        limit = min(n, start + _ENCODED_WORD_MAX)
        q1 = value.find("?", start + 2, limit)
        q2 = value.find("?", q1 + 1, limit) if q1 > 0 else -1
        end = value.find("?=", q2 + 1, limit) if q2 == q1 + 2 else -1
        decoded = None
        if end > 0:
            decoded = _decode_word(value[start + 2 : q1], value[q1 + 1], value[q2 + 1 : end])
        if decoded is None:
            out.append(pending_space + between + "=?")
            pending_space = ""
            previous_was_word = False
            i = start + 2
            continue
        if not (previous_was_word and between.strip() == ""):
            out.append(pending_space + between)
        out.append(decoded)
        pending_space = ""
        previous_was_word = True
        i = end + 2
    return "".join(out)


def header_text(value: str | None, limit: int = 2000) -> str:
    """A header value as one line of readable text, at most ``limit`` characters."""
    if not value:
        return ""
    text = decode_words(raw_header_text(value[: limit * 4]))
    text = " ".join(clean_text(text).split())
    return text[:limit]


# -- what a reply adds --------------------------------------------------------------------------

# "On Mon, 3 Jun 2024 at 10:00, Ann <ann@example.com> wrote:" and its kin: (opening, closing).
_ATTRIBUTIONS = (
    ("on ", "wrote:"),
    ("am ", "schrieb:"),
    ("am ", ">:"),  # "Am 03.06.2024 um 10:00 schrieb Max <max@example.com>:"
    ("le ", "a écrit :"),
    ("le ", "a écrit:"),
    ("op ", "geschreven:"),
    ("op ", "schreef:"),
    ("el ", "escribió:"),
)
_SEPARATORS = (
    "-----original message-----",
    "----- original message -----",
    "-----ursprüngliche nachricht-----",
    "----- ursprüngliche nachricht -----",
    "-------- original message --------",
    "-------- ursprüngliche nachricht --------",
)
_HEADER_FROM = ("from:", "von:", "de:", "van:", "*from:*", "**from:**")
_HEADER_NEXT: tuple[str, ...] = (
    "sent:",
    "date:",
    "gesendet:",
    "datum:",
    "envoyé :",
    "envoyé:",
    "verzonden:",
)
_HEADER_NEXT += ("to:", "an:", "*sent:*", "**sent:**", "*date:*", "**date:**")
_SENT_FROM = (
    "sent from my ",
    "sent from outlook",
    "sent from mail for windows",
    "sent from yahoo mail",
    "sent from samsung",
    "sent via ",
    "get outlook for ",
    "von meinem iphone gesendet",
    "von meinem ipad gesendet",
    "von meinem samsung",
    "gesendet von meinem ",
    "gesendet von outlook",
    "envoyé de mon ",
    "verzonden vanaf mijn ",
)
_DISCLAIMERS = (
    "this e-mail and any attachment",
    "this email and any attachment",
    "this message and any attachment",
    "this e-mail is confidential",
    "this email is confidential",
    "this message is confidential",
    "this e-mail message is confidential",
    "this e-mail may contain confidential",
    "this email may contain confidential",
    "this message may contain confidential",
    "this e-mail (including any attachments)",
    "this email (including any attachments)",
    "confidentiality notice",
    "confidentiality note",
    "disclaimer:",
    "the information contained in this",
    "the information in this e-mail",
    "the information in this email",
    "diese e-mail enthält vertrauliche",
    "diese nachricht enthält vertrauliche",
    "diese e-mail kann vertrauliche",
)
_ATTRIBUTION_MAX = 400  # an attribution line is a name, an address and a date


def _lower(line: str) -> str:
    return line.strip().lower()


def _is_attribution(line: str, following: str) -> bool:
    first = _lower(line)
    if not first or len(first) > _ATTRIBUTION_MAX:
        return False
    for opening, closing in _ATTRIBUTIONS:
        if not first.startswith(opening):
            continue
        if first.endswith(closing):
            return True
        # Gmail wraps a long attribution: "On ..., Ann <\nann@example.com> wrote:"
        second = _lower(following)
        if len(second) <= _ATTRIBUTION_MAX and second.endswith(closing):
            return True
    return False


def _is_header_block(lines: list[str], i: int) -> bool:
    """An Outlook reply header: "From: ..." with "Sent:"/"Date:"/"To:" in the next lines."""
    if not _lower(lines[i]).startswith(_HEADER_FROM):
        return False
    return any(_lower(line).startswith(_HEADER_NEXT) for line in lines[i + 1 : i + 4])


def _is_rule(line: str) -> bool:
    s = line.strip()
    return len(s) >= 4 and s.strip("_-=*") == ""


def strip_reply(text: str, *, forward: bool = False) -> str:
    """The words of the person who wrote ``text``: without quoted lines ("> "), the quoted
    history after an attribution ("On ... wrote:", "Am ... schrieb:", Outlook's "-----Original
    Message-----" or "From: ... Sent: ..." block), the signature after "-- ", "Sent from my
    iPhone" lines and a closing legal disclaimer.

    ``forward``: the mail forwards another (its subject starts with "Fwd:"), whose text is the
    request, so the forwarded header and history stay.  If nothing would be left, the text is
    kept whole: a mail that only quotes still says something.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.rstrip()
        if stripped == "--":
            break  # "-- ": a signature follows (the space is often lost on the way)
        if not forward:
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if _is_attribution(line, following) or _is_header_block(lines, i):
                break
            if _lower(line) in _SEPARATORS:
                break
            if line.lstrip().startswith(">"):
                continue
        if _lower(line).startswith(_SENT_FROM) and len(line) < 100:
            continue
        kept.append(stripped)
    kept = _without_disclaimer(kept)
    while kept and (not kept[-1].strip() or _is_rule(kept[-1])):
        kept.pop()
    first = next((i for i, line in enumerate(kept) if line.strip()), len(kept))
    body = "\n".join(_single_blank_lines(kept[first:]))
    if not body.strip():
        return "\n".join(_single_blank_lines([line.rstrip() for line in lines])).strip()
    return body


def _without_disclaimer(lines: list[str]) -> list[str]:
    """``lines`` up to the paragraph that opens a legal disclaimer (and all after it: the
    English version is often followed by another language's)."""
    paragraph_start = 0
    for i, line in enumerate(lines):
        if not line.strip():
            paragraph_start = i + 1
            continue
        opening = _lower(line[:300]).lstrip("*_-=#[(: ")
        if i == paragraph_start and opening.startswith(_DISCLAIMERS):
            if i > 0:  # a mail that is only a disclaimer keeps it: it is all there is
                return lines[:i]
    return lines


def _single_blank_lines(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    return out

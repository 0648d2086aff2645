"""One mail as the desk reads it: who wrote, about what, the words they wrote (without the quoted
history, signature and disclaimer), what they attached, and whether a person wrote it at all
(an out-of-office reply or a bounce must not become a ticket).

:func:`parse_message` takes the bytes a mailbox holds and never raises: real mailboxes hold
wrong charsets, missing headers, broken MIME and plain garbage, and one bad mail must not stop
the intake.  The standard library parses the MIME structure (with every header value cut to
:data:`HEADER_MAX` characters as it is read, so its parameter parsing stays cheap); every header
and body this module reads is handled by the linear helpers of :mod:`connectors.mailtext`.
"""

from __future__ import annotations

import email
import email.message
import email.parser
import email.utils
from dataclasses import dataclass, field
from datetime import datetime
from email.policy import Compat32
from typing import NamedTuple

from connectors.mailhtml import html_to_text
from connectors.mailtext import decode_bytes, header_text, strip_reply

CUT_MARK = "[… cut]"
HEADER_MAX = 8000  # characters of one header value; a longer one is cut as it is parsed
MAX_THREAD_IDS = 100  # References of a long thread: the root and the nearest ones are kept
# The MIME parser checks every line against every multipart boundary open around it: lines
# times boundaries is its cost.  Real mail stays far below this (a 25 MB mail with ten
# multiparts: 3.5 million); past it, the mail's MIME structure is not read (its text is).
MIME_WORK_MAX = 20_000_000
_REPLY_PREFIXES = ("re", "aw", "sv", "antw", "vs")
_FORWARD_PREFIXES = ("fwd", "fw", "wg", "tr", "vs")
_AUTO_SUBJECTS = (
    "out of office",
    "automatic reply",
    "auto reply",
    "autoreply",
    "auto-reply",
    "automatische antwort",
    "abwesenheitsnotiz",
    "réponse automatique",
)
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster")
_HTML_FACTOR = 10  # HTML is read up to this many times max_body_chars (markup is most of it)


class Attachment(NamedTuple):
    """An attachment as listed on the ticket; its content is never indexed."""

    filename: str
    content_type: str
    size: int  # bytes, decoded


@dataclass(frozen=True)
class ParsedMail:
    message_id: str  # "<id@host>", or "" when the mail has none
    in_reply_to: str
    references: list[str]
    thread_ids: list[str]  # ids a reply can be matched on, nearest first (In-Reply-To, then
    # References from the newest back to the thread's root)
    subject: str
    clean_subject: str  # without "Re:", "AW:", "Fwd:", "WG:", "SV:" prefixes
    sender: str  # the address, lower case
    sender_name: str
    date: datetime | None  # UTC; None when missing or unreadable
    body: str
    attachments: list[Attachment] = field(default_factory=list)
    kind: str = "request"  # request | auto_reply | bounce
    body_cut: bool = False  # the body was longer than max_body_chars


class _Policy(Compat32):
    """compat32 with every header value cut to HEADER_MAX characters as it is parsed, and
    returned as the raw string (8-bit bytes as surrogates) for mailtext to decode."""

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        return name, value[:HEADER_MAX]

    def header_fetch_parse(self, name: str, value: str) -> str:  # type: ignore[override]
        return value


_POLICY = _Policy()


def parse_message(raw: bytes, *, max_body_chars: int = 20000) -> ParsedMail:
    """The mail in ``raw`` (RFC 5322 bytes, as IMAP hands them over); never raises."""
    try:
        return _parse(bytes(raw), max_body_chars)
    except Exception:  # noqa: BLE001 - a last resort: the mail as text, whatever it is
        try:
            text = decode_bytes(bytes(raw)[: max_body_chars * 4], "utf-8")
        except Exception:  # noqa: BLE001 - raw is not even bytes-like
            text = ""
        body, cut = _cut(text, max_body_chars)
        return ParsedMail("", "", [], [], "", "", "", "", None, body, body_cut=cut)


def _parse(raw: bytes, max_body_chars: int) -> ParsedMail:
    if raw.count(b"\n") * raw.count(b"boundary") > MIME_WORK_MAX:
        msg = email.parser.BytesParser(policy=_POLICY).parsebytes(raw, headersonly=True)
    else:
        msg = email.message_from_bytes(raw, policy=_POLICY)
    headers = _first_headers(msg)
    subject = header_text(headers.get("subject"), 1000)
    clean, forward = _clean_subject(subject)
    sender_name, sender = _address(headers.get("from"))
    message_id = _ids(headers.get("message-id"))[:1]
    in_reply_to = _ids(headers.get("in-reply-to"))[:1]
    references = _ids(headers.get("references"))
    if len(references) > MAX_THREAD_IDS:
        references = references[:1] + references[-(MAX_THREAD_IDS - 1) :]
    thread_ids = list(dict.fromkeys([*in_reply_to, *reversed(references)]))

    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    _walk(msg, plain, html, attachments, depth=0)
    if plain:
        text = "\n\n".join(plain)
    else:
        text = "\n\n".join(html_to_text(h[: max_body_chars * _HTML_FACTOR]) for h in html)
    # Reading more than a few pages before cutting the quoted history costs time and gains
    # nothing: what the requester wrote comes first.
    read_limit = max_body_chars * 4
    long_text = len(text) > read_limit
    body = strip_reply(text[:read_limit], forward=forward)
    body, cut = _cut(body, max_body_chars)
    if long_text and not cut:
        body, cut = f"{body}\n{CUT_MARK}", True
    return ParsedMail(
        message_id=message_id[0] if message_id else "",
        in_reply_to=in_reply_to[0] if in_reply_to else "",
        references=references,
        thread_ids=thread_ids,
        subject=subject,
        clean_subject=clean,
        sender=sender,
        sender_name=sender_name,
        date=_date(headers.get("date")),
        body=body,
        attachments=attachments,
        kind=_kind(msg, headers, sender, subject),
        body_cut=cut,
    )


def _cut(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return f"{text[:limit].rstrip()}\n{CUT_MARK}", True


def _first_headers(msg: email.message.Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in msg.raw_items():
        headers.setdefault(str(name).strip().lower(), str(value))
    return headers


def _clean_subject(subject: str) -> tuple[str, bool]:
    """``subject`` without its reply and forward prefixes ("Re: AW: Fwd[2]: x" → "x"), and
    whether the outermost one forwards."""
    rest = subject.strip()
    forward: bool | None = None
    while True:
        head, colon, tail = rest.partition(":")
        if not colon or len(head) > 10:
            break
        word = head.strip().lower()
        if word.endswith("]") and "[" in word:  # "Re[2]", "AW[3]"
            word = word[: word.index("[")]
        if word not in _REPLY_PREFIXES and word not in _FORWARD_PREFIXES:
            break
        if forward is None:
            forward = word in _FORWARD_PREFIXES and word not in _REPLY_PREFIXES
        rest = tail.strip()
    return rest, bool(forward)


def _address(value: str | None) -> tuple[str, str]:
    if not value:
        return "", ""
    try:
        name, address = email.utils.parseaddr(value[:2000])
    except Exception:  # noqa: BLE001 - never on the standard library's word alone
        return "", ""
    return header_text(name, 300), header_text(address, 300).lower()


def _ids(value: str | None) -> list[str]:
    """The message ids in a Message-ID, In-Reply-To or References header, as "<id>"."""
    if not value:
        return []
    text = header_text(value, HEADER_MAX)
    ids: list[str] = []
    for token in text.replace("<", " <").replace(">", "> ").split():
        if token.startswith("<") and token.endswith(">") and len(token) > 2:
            ids.append(token)
        elif "@" in token and "<" not in token and ">" not in token:
            ids.append(f"<{token}>")  # bare ids from careless mailers
    return list(dict.fromkeys(ids))


def _date(value: str | None) -> datetime | None:
    from core.dates import to_utc

    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(header_text(value, 200))
        return to_utc(parsed)
    except Exception:  # noqa: BLE001 - unreadable or out of range: no date
        return None


def _params(part: email.message.Message) -> email.message.Message:
    """A message holding only ``part``'s Content-Type and Content-Disposition, for the standard
    library's parameter parsing on values of bounded length."""
    holder = email.message.Message()
    for name in ("content-type", "content-disposition"):
        value = part.get(name)
        if value is not None:
            holder[name] = str(value)[:2000]
    return holder


def _walk(
    part: email.message.Message,
    plain: list[str],
    html: list[str],
    attachments: list[Attachment],
    depth: int,
) -> None:
    params = _params(part)
    ctype = params.get_content_type()
    disposition = str(params.get("content-disposition", "")).split(";", 1)[0].strip().lower()
    filename = header_text(_filename(params), 300)
    payload = part.get_payload()
    multipart = ctype.startswith("multipart/")
    if ctype.startswith("message/") or (isinstance(payload, list) and not multipart):
        attachments.append(Attachment(filename or _message_name(part), ctype, _size(part)))
        return
    if isinstance(payload, list):
        if depth > 30:
            return
        children = [c for c in payload if isinstance(c, email.message.Message)]
        if ctype == "multipart/alternative":
            children = _best_alternative(children)
        for child in children:
            _walk(child, plain, html, attachments, depth + 1)
        return
    if multipart:  # no boundary, or its structure was not read: its text is the body
        ctype = "text/plain"
    elif disposition == "attachment" or filename or ctype not in ("text/plain", "text/html"):
        attachments.append(Attachment(filename or "(unnamed)", ctype, _size(part)))
        return
    data = _payload(part)
    text = decode_bytes(data, params.get_param("charset"))  # type: ignore[arg-type]
    (plain if ctype == "text/plain" else html).append(text)


def _best_alternative(children: list[email.message.Message]) -> list[email.message.Message]:
    """Of the versions of one body, the plain text one, else HTML, else the last one."""
    types = [_params(c).get_content_type() for c in children]
    for wanted in ("text/plain", "text/html"):
        if wanted in types:
            return [children[types.index(wanted)]]
    return children[-1:]


def _filename(params: email.message.Message) -> str:
    try:
        return str(params.get_filename() or "")
    except Exception:  # noqa: BLE001 - malformed RFC 2231 parameters
        return ""


def _message_name(part: email.message.Message) -> str:
    inner = part.get_payload()
    if isinstance(inner, list) and inner and isinstance(inner[0], email.message.Message):
        subject = header_text(inner[0].get("subject"), 200)
        if subject:
            return f"{subject}.eml"
    return "message.eml"


def _payload(part: email.message.Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encoding: take the raw text
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("ascii", "surrogateescape") if isinstance(raw, str) else b""


def _size(part: email.message.Message) -> int:
    payload = part.get_payload()
    if isinstance(payload, list):
        try:
            inner = payload[0] if payload else None
            return len(inner.as_bytes()) if isinstance(inner, email.message.Message) else 0
        except Exception:  # noqa: BLE001 - a message the generator cannot write back
            return 0
    return len(_payload(part))


def _kind(msg: email.message.Message, headers: dict[str, str], sender: str, subject: str) -> str:
    params = _params(msg)
    if params.get_content_type() == "multipart/report":
        if str(params.get_param("report-type", "")).lower() == "delivery-status":
            return "bounce"
    if sender.split("@", 1)[0] in _BOUNCE_SENDERS:
        return "bounce"

    def value(name: str) -> str:
        return header_text(headers.get(name), 100).split(";", 1)[0].strip().lower()

    if "auto-submitted" in headers and value("auto-submitted") != "no":
        return "auto_reply"
    for name in ("x-autoreply", "x-autorespond"):
        if name in headers and value(name) not in ("no", "false", "0"):
            return "auto_reply"
    if value("precedence") in ("auto_reply", "bulk", "junk"):
        return "auto_reply"
    if subject.strip().lower().startswith(_AUTO_SUBJECTS):
        return "auto_reply"
    # A null return path marks bounces, and (RFC 3834) auto replies too: those said so above.
    if "return-path" in headers and value("return-path").replace(" ", "") == "<>":
        return "bounce"
    return "request"

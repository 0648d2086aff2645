"""parse_message on the mail a desk's mailbox really holds: replies in every client's style,
HTML-only mail, wrong charsets, attachments, automatic mail, and bytes that are not mail."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.mail import CUT_MARK, parse_message
from tests.adversarial import linear


class TooSlow(BaseException):
    """Not an Exception: parse_message's never-raise guard must not swallow the alarm."""


@contextmanager
def hard_stop(seconds: float) -> Iterator[None]:
    """tests.adversarial.hard_stop, but its alarm passes through ``except Exception``."""

    def expire(signum: int, frame: object) -> None:
        raise TooSlow(f"still running after {seconds} s: not linear")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def raw_mail(body: str | bytes, *, charset: str = "utf-8", **headers: str) -> bytes:
    head = {
        "From": "Ann Example <ann@example.com>",
        "To": "desk@example.com",
        "Subject": "VPN drops every hour",
        "Date": "Mon, 03 Jun 2024 10:15:00 +0200",
        "Message-ID": "<m1@example.com>",
        "Content-Type": f"text/plain; charset={charset}",
    }
    head.update({k.replace("_", "-"): v for k, v in headers.items()})
    text = "".join(f"{k}: {v}\r\n" for k, v in head.items() if v is not None)
    data = body if isinstance(body, bytes) else body.encode(charset)
    return text.encode("ascii") + b"\r\n" + data


def test_a_plain_request() -> None:
    m = parse_message(raw_mail("Hi,\n\nmy VPN drops every hour since Monday.\n\nThanks,\nAnn\n"))
    assert m.sender == "ann@example.com" and m.sender_name == "Ann Example"
    assert m.subject == m.clean_subject == "VPN drops every hour"
    assert m.date == datetime(2024, 6, 3, 8, 15, tzinfo=UTC)
    assert m.message_id == "<m1@example.com>"
    assert m.body == "Hi,\n\nmy VPN drops every hour since Monday.\n\nThanks,\nAnn"
    assert m.kind == "request" and m.attachments == [] and not m.body_cut


def test_reply_prefixes_go_from_the_clean_subject_and_thread_ids_lead_to_the_ticket() -> None:
    m = parse_message(
        raw_mail(
            "Still broken.",
            Subject="Re: AW: WG: SV: Fwd: RE[2]: VPN drops",
            In_Reply_To="<ack-42@desk.example.com>",
            References="<m1@example.com>\r\n <ack-42@desk.example.com>",
        )
    )
    assert m.clean_subject == "VPN drops"
    assert m.subject == "Re: AW: WG: SV: Fwd: RE[2]: VPN drops"
    assert m.in_reply_to == "<ack-42@desk.example.com>"
    assert m.references == ["<m1@example.com>", "<ack-42@desk.example.com>"]
    assert m.thread_ids == ["<ack-42@desk.example.com>", "<m1@example.com>"]


def test_gmail_reply_keeps_only_the_new_words() -> None:
    body = (
        "It happened again at 14:00.\n\n"
        "On Mon, 3 Jun 2024 at 10:20, Service Desk <desk@example.com>\nwrote:\n\n"
        "> Please send us the time it happens.\n> \n> Desk\n"
    )
    assert parse_message(raw_mail(body)).body == "It happened again at 14:00."


def test_outlook_reply_loses_the_original_message() -> None:
    body = (
        "Yes, that fixed it, thank you!\r\n\r\n"
        "________________________________\r\n"
        "From: Service Desk <desk@example.com>\r\n"
        "Sent: Monday, June 3, 2024 10:20 AM\r\n"
        "To: Ann Example <ann@example.com>\r\n"
        "Subject: RE: VPN drops every hour\r\n\r\n"
        "Please restart the client.\r\n"
    )
    assert parse_message(raw_mail(body)).body == "Yes, that fixed it, thank you!"
    separator = "Done.\n\n-----Original Message-----\nFrom: desk@example.com\nHi Ann"
    assert parse_message(raw_mail(separator)).body == "Done."


def test_german_reply_and_inline_answers() -> None:
    body = (
        "Hallo,\n\n> Welche Version?\n\nVersion 5.2.\n\n"
        "Am 03.06.2024 um 10:20 schrieb Service Desk <desk@example.com>:\n"
        "> Welche Version?\n"
    )
    assert parse_message(raw_mail(body)).body == "Hallo,\n\nVersion 5.2."


def test_signature_and_phone_footer_go() -> None:
    body = (
        "The shared drive S: is read-only for me.\n\nSent from my iPhone\n"
        "-- \nAnn Example\nAccounts Payable\n+49 30 1234567\n"
    )
    assert parse_message(raw_mail(body)).body == "The shared drive S: is read-only for me."


def test_a_legal_disclaimer_goes() -> None:
    body = (
        "Please reset my password.\n\nAnn\n\n"
        "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and intended "
        "solely for the addressee.\n\n"
        "Diese E-Mail enthält vertrauliche Informationen.\n"
    )
    assert parse_message(raw_mail(body)).body == "Please reset my password.\n\nAnn"
    body = "Login fails.\n\nThis email and any attachments are confidential. If you are not..."
    assert parse_message(raw_mail(body)).body == "Login fails."
    # A sentence that only mentions confidentiality is the request itself.
    body = "Where do I find the confidentiality notice template for contracts?"
    assert parse_message(raw_mail(body)).body == body


def test_html_only_mail_reads_as_text() -> None:
    html = (
        "<html><head><style>p {color: red}</style><title>x</title></head><body>"
        "<script>alert('no')</script>"
        "<p>Hello&nbsp;desk,</p><div>the <b>printer</b> on floor&nbsp;3 shows<br>"
        "error&nbsp;E-52.</div><ul><li>tried restart</li><li>tried new toner</li></ul>"
        '<div class="gmail_quote">On Mon, 3 Jun 2024, Desk &lt;desk@example.com&gt; wrote:'
        "<blockquote>Which printer?</blockquote></div></body></html>"
    )
    m = parse_message(raw_mail(html, Content_Type="text/html; charset=utf-8"))
    assert m.body == (
        "Hello desk,\n\nthe printer on floor 3 shows\nerror E-52.\n\n"
        "- tried restart\n- tried new toner"
    )
    assert "alert" not in m.body and "color" not in m.body


def test_plain_text_is_preferred_over_html() -> None:
    msg = EmailMessage()
    msg["From"] = "ann@example.com"
    msg["Subject"] = "Both"
    msg.set_content("plain words")
    msg.add_alternative("<p>html words</p>", subtype="html")
    assert parse_message(msg.as_bytes()).body == "plain words"


def test_latin1_and_a_wrongly_declared_charset() -> None:
    latin = "Grüße, der Drucker im Büro druckt nur €-Zeichen."
    m = parse_message(raw_mail(latin.encode("cp1252"), charset="iso-8859-1"))
    assert m.body == latin
    # Declared Latin-1, sent as UTF-8: read as what it is, not as "GrÃ¼ÃŸe".
    m = parse_message(raw_mail(latin.encode("utf-8"), charset="iso-8859-1"))
    assert m.body == latin
    # Declared UTF-8, sent as Windows-1252.
    m = parse_message(raw_mail(latin.encode("cp1252"), charset="utf-8"))
    assert m.body == latin
    # A charset nobody knows: replacement characters, never an error.
    m = parse_message(raw_mail(b"ok " + b"\xff\xfe", charset="x-klingon-9"))
    assert m.body.startswith("ok ")


def test_a_shift_jis_subject_and_sender_name() -> None:
    import base64

    subject = "プリンターが動きません"
    word = base64.b64encode(subject.encode("shift_jis")).decode()
    name = base64.b64encode("山田".encode("shift_jis")).decode()
    m = parse_message(
        raw_mail(
            "印刷できません".encode("shift_jis"),
            charset="Shift_JIS",
            Subject=f"Re: =?Shift_JIS?B?{word}?=",
            From=f"=?shift_jis?B?{name}?= <yamada@example.jp>",
        )
    )
    assert m.subject == f"Re: {subject}" and m.clean_subject == subject
    assert m.sender_name == "山田" and m.sender == "yamada@example.jp"
    assert m.body == "印刷できません"


def test_attachments_are_listed_not_read() -> None:
    msg = EmailMessage()
    msg["From"] = "ann@example.com"
    msg["Subject"] = "Error log"
    msg.set_content("Log attached.")
    msg.add_attachment(
        b"SECRET-LOG-LINE\n" * 10, maintype="text", subtype="plain", filename="vpn.log"
    )
    msg.add_attachment(
        b"\x89PNG" + b"\x00" * 100, maintype="image", subtype="png", filename="screen shot.png"
    )
    forwarded = EmailMessage()
    forwarded["Subject"] = "Old alert"
    forwarded.set_content("FORWARDED-TEXT")
    msg.add_attachment(forwarded)
    m = parse_message(msg.as_bytes())
    assert m.body == "Log attached."
    assert [(a.filename, a.content_type) for a in m.attachments] == [
        ("vpn.log", "text/plain"),
        ("screen shot.png", "image/png"),
        ("Old alert.eml", "message/rfc822"),
    ]
    assert m.attachments[0].size == 160 and m.attachments[1].size == 104
    assert "SECRET" not in m.body and "FORWARDED" not in m.body


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"X_Autoreply": "yes"},
        {"X_Autorespond": "Out of office"},
        {"Precedence": "bulk"},
        {"Subject": "Automatic reply: VPN drops every hour"},
        {"Subject": "Out of Office: back on Monday"},
    ],
)
def test_automatic_replies_are_not_requests(headers: dict[str, str]) -> None:
    assert parse_message(raw_mail("I am away.", **headers)).kind == "auto_reply"


def test_auto_submitted_no_is_a_person() -> None:
    assert parse_message(raw_mail("Help", Auto_Submitted="no")).kind == "request"


@pytest.mark.parametrize(
    "headers",
    [
        {"From": "Mail Delivery System <MAILER-DAEMON@mx.example.com>"},
        {"From": "postmaster@example.com"},
        {"Return_Path": "<>"},
        {
            "Content_Type": 'multipart/report; report-type=delivery-status; boundary="b"',
            "From": "mx@example.com",
        },
    ],
)
def test_bounces_are_not_requests(headers: dict[str, str]) -> None:
    body = "--b\r\nContent-Type: text/plain\r\n\r\nUndeliverable.\r\n--b--\r\n"
    assert parse_message(raw_mail(body, **headers)).kind == "bounce"


def test_a_huge_body_is_cut_and_says_so() -> None:
    body = "The disk is full. " * 100_000  # 1.8 MB
    m = parse_message(raw_mail(body), max_body_chars=5000)
    assert m.body.endswith(CUT_MARK) and m.body_cut
    assert len(m.body) <= 5000 + len(CUT_MARK) + 1
    assert m.body.startswith("The disk is full.")


def test_missing_headers_and_an_unreadable_date() -> None:
    m = parse_message(b"\r\nJust a body.\r\n")
    assert (m.body, m.sender, m.subject, m.date, m.message_id) == ("Just a body.", "", "", None, "")
    m = parse_message(raw_mail("x", Date="yesterday-ish", From="not an address"))
    assert m.date is None and m.body == "x"
    m = parse_message(raw_mail("x", Date="Mon, 3 Jun 2024 10:15:00"))  # no zone: UTC
    assert m.date == datetime(2024, 6, 3, 10, 15, tzinfo=UTC)


BROKEN = [
    b"",
    b"\x00\xff\xfe" * 1000,
    b"Subject: =?utf-8?B?####?=\r\n\r\nbody",
    b"Subject: =?unknown-charset?Q?abc?=\r\n\r\nbody",
    b"Subject: =?utf-8?Q?" + b"=?" * 50_000 + b"\r\n\r\n",
    b"Content-Type: multipart/mixed\r\n\r\nno boundary at all",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain; "
    b"charset=idna\r\n\r\n\xff\xfe\r\n--x",
    b"Content-Type: text/plain; charset=base64\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!",
    b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n",
    b"Content-Type: multipart/mixed; boundary=a" + b"; x=y" * 100_000 + b"\r\n\r\n--a--",
    b"Content-Type: " + b"multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: " * 400,
    b"From: " + b"<" * 100_000 + b"\r\n\r\n",
    b"References: " + b"<a@b> " * 50_000 + b"\r\n\r\nx",
    b"Content-Type: text/html\r\n\r\n" + b"<div><p><b><a href='" * 20_000,
    b"Date: Mon, 3 Jun 99999 10:15:00 +0200\r\n\r\nx",
    b"\r\n".join(b"X-H%d: v" % i for i in range(50_000)) + b"\r\n\r\nx",
]


@pytest.mark.parametrize("raw", BROKEN, ids=range(len(BROKEN)))
def test_broken_mail_never_raises_or_hangs(raw: bytes) -> None:
    with hard_stop(10):
        m = parse_message(raw)
    assert isinstance(m.body, str) and m.kind in ("request", "auto_reply", "bounce")


@given(st.binary(max_size=5000))
@settings(parent=linear, max_examples=300)
def test_any_bytes_parse(raw: bytes) -> None:
    parse_message(raw)


_PIECES = [
    b"\r\n",
    b"\n",
    b": ",
    b"From: ",
    b"Subject: ",
    b"Content-Type: ",
    b"multipart/mixed; ",
    b"boundary=z",
    b"--z",
    b"--z--",
    b"text/html",
    b"message/rfc822",
    b"=?utf-8?b?",
    b"?=",
    b"<p>",
    b"<blockquote>",
    b"> ",
    b"On x wrote:",
    b"-- ",
    b"\xff",
    b"charset=",
    b"shift_jis",
    b"Content-Transfer-Encoding: base64",
    b"quoted-printable",
    b"=C3",
    b";",
    b'"',
    b"a" * 50,
]


@given(st.lists(st.sampled_from(_PIECES), max_size=300).map(b"".join))
@settings(parent=linear, max_examples=300)
def test_mail_shaped_garbage_parses(raw: bytes) -> None:
    m = parse_message(raw)
    assert len(m.body) <= 20000 + len(CUT_MARK) + 1


@pytest.mark.parametrize(
    "piece", ["<a ", "<!--", "<!-- >", "<script>", "<style>a<", "<a b='", "</", "<?", "<<<>"]
)
def test_html_that_never_closes_stays_fast(piece: str) -> None:
    # html.parser of Python < 3.11.13 took minutes on 200 KB of "<a ": the input is defused.
    html = "<p>Printer offline</p>" + piece * (400_000 // len(piece))
    with hard_stop(10):
        m = parse_message(raw_mail(html, Content_Type="text/html"))
    assert m.body.startswith("Printer offline")


def test_a_big_attachment_is_listed_quickly() -> None:
    msg = EmailMessage()
    msg["From"] = "ann@example.com"
    msg["Subject"] = "Dump"
    msg.set_content("Crash dump attached.")
    msg.add_attachment(
        bytes(range(256)) * 40_000,
        maintype="application",
        subtype="octet-stream",
        filename="crash.dmp",
    )  # 10 MB, 14 MB as base64
    with hard_stop(20):
        m = parse_message(msg.as_bytes())
    assert m.body == "Crash dump attached."
    assert m.attachments == [("crash.dmp", "application/octet-stream", 10_240_000)]

"""Mail the desk sends (acknowledgements, replies) over SMTP.

Every mail is marked ``Auto-Submitted: auto-replied`` (RFC 3834), so a mailbox that answers it
automatically stays quiet and the desk's own intake files it as an auto reply, not a ticket:
no loop between the desk and an out-of-office.  ``In-Reply-To`` and ``References`` put it in
the requester's thread.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol

from core.errors import BackendUnavailableError, CredentialsRefusedError, InvalidInputError


class SmtpSettings(Protocol):
    host: str
    port: int
    user: str | None
    password: object  # str, pydantic SecretStr or None
    starttls: bool
    from_addr: str


def _secret(value: object) -> str:
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if callable(reveal) else value or "")


def _reply(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _address(value: str, what: str) -> str:
    value = value.strip()
    if "\n" in value or "\r" in value or "@" not in parseaddr(value)[1]:
        raise InvalidInputError(f"{what} {value!r} is not a mail address")
    return value


def _message_id(value: str) -> str:
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    return value


def build_message(
    settings: SmtpSettings,
    *,
    to: str,
    subject: str,
    body: str,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
) -> EmailMessage:
    """The mail :func:`send_mail` sends."""
    sender = _address(settings.from_addr, "the sender")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = _address(to, "the recipient")
    msg["Subject"] = _one_line(subject)  # a title from user text must not add headers
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange's own switch for the same
    thread = [_message_id(r) for r in references or [] if _one_line(r)]
    if in_reply_to and _one_line(in_reply_to):
        parent = _message_id(_one_line(in_reply_to))
        msg["In-Reply-To"] = parent
        thread = [r for r in thread if r != parent] + [parent]
    if thread:
        msg["References"] = " ".join(_one_line(r) for r in thread)
    msg.set_content(body)
    return msg


def send_mail(
    settings: SmtpSettings,
    *,
    to: str,
    subject: str,
    body: str,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    timeout: float = 15,
) -> str:
    """Send one plain-text mail; returns its Message-ID (for matching the answer to it)."""
    msg = build_message(
        settings, to=to, subject=subject, body=body, in_reply_to=in_reply_to, references=references
    )
    where = f"SMTP server {settings.host}:{settings.port}"
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, _secret(settings.password))
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as e:
        raise CredentialsRefusedError(
            f"the {where} refused the login of user {settings.user!r}: {e.smtp_code} "
            f"{_reply(e.smtp_error)}"
        ) from None
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as e:
        raise InvalidInputError(f"the {where} refused the mail: {e}") from e
    except smtplib.SMTPNotSupportedError as e:
        raise BackendUnavailableError(f"the {where} does not support this: {e}") from e
    except (smtplib.SMTPException, OSError) as e:  # OSError: refused, reset, timed out
        raise BackendUnavailableError(f"the {where} could not take the mail: {e}") from e
    return str(msg["Message-ID"])

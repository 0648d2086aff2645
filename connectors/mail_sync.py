"""Email intake from an IMAP mailbox: each new mail becomes a desk ticket, triaged on arrival;
a reply joins its ticket; auto-replies and bounces are counted and left alone.

The watermark is the folder's UIDVALIDITY and the last UID taken, saved with the tickets of
its batch, so a killed sync resumes after the last committed mail.  Each mail's Message-ID is
linked to its ticket in the same unit of work: a mailbox whose UIDs were reset (a new
UIDVALIDITY) is read again from the start without taking any mail twice.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.render import acknowledgement
from connectors.sync import SyncContext
from core.errors import FirstlineError, InvalidInputError
from core.settings import Settings
from indexer.service import match_score

_DESK_REF = re.compile(r"\[desk:(\d{1,9})\]")  # in a reply's subject; linear (no nesting)


def imap_config(
    host: str,
    port: int,
    user: str,
    folder: str = "INBOX",
    ssl: bool = True,
    starttls: bool = False,
    ack: bool = False,
    ack_min_confidence: float = 0.6,
) -> dict[str, Any]:
    """A validated mailbox connection's settings (the password is stored apart)."""
    if not host.strip() or any(c.isspace() for c in host.strip()):
        raise InvalidInputError(f"not an IMAP host name: {host[:80]!r}")
    if not user.strip():
        raise InvalidInputError("an IMAP connection needs a user")
    if ssl and starttls:
        raise InvalidInputError("choose --ssl or --starttls, not both")
    return {
        "host": host.strip(),
        "port": int(port),
        "user": user.strip(),
        "folder": folder or "INBOX",
        "ssl": bool(ssl),
        "starttls": bool(starttls),
        "ack": bool(ack),
        "ack_min_confidence": float(ack_min_confidence),
    }


def _key(message_id: str) -> str:
    """A Message-ID as a link key: as it is when short, else its digest (headers can be long,
    the key column is not)."""
    if len(message_id) <= 400:
        return message_id
    import hashlib

    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()


def _size(n: int) -> str:
    return f"{n / 1024:.0f} kB" if n >= 1024 else f"{n} B"


class MailConnector:
    """Constructing it does no I/O."""

    def __init__(self, config: dict[str, Any], secret: str | None, settings: Settings) -> None:
        if not secret:
            raise InvalidInputError("this mailbox connection has no password")
        self.config = config
        self.settings = settings
        self._secret = secret

    def _mailbox(self):  # noqa: ANN202
        from connectors.imap import ImapMailbox

        c = self.config
        return ImapMailbox(
            c["host"],
            c["port"],
            c["user"],
            self._secret,
            folder=c.get("folder", "INBOX"),
            ssl=c.get("ssl", True),
            starttls=c.get("starttls", False),
            timeout=self.settings.connectors.timeout_seconds,
        )

    def check(self) -> dict[str, Any]:
        with self._mailbox() as mailbox:
            return {
                "ok": True,
                "folder": self.config.get("folder"),
                "uidvalidity": mailbox.uidvalidity(),
            }

    def sync(self, ctx: SyncContext) -> None:
        size = self.settings.connectors.batch_size
        with self._mailbox() as mailbox:
            validity = mailbox.uidvalidity()
            seen = ctx.watermark.get("uidvalidity")
            last = int(ctx.watermark.get("last_uid", 0)) if seen == validity else 0
            if seen is not None and seen != validity:
                ctx.counts["uidvalidity_changed"] += 1  # read again; Message-IDs dedupe
            while True:
                mails = mailbox.fetch_since(last, size)
                if not mails:
                    break
                acks: list[dict[str, Any]] = []
                with ctx.batch() as s:
                    for uid, raw in mails:
                        self._take(ctx, s, validity, uid, raw, acks)
                        last = max(last, uid)
                    ctx.save_watermark(s, {"uidvalidity": validity, "last_uid": last})
                for ack in acks:
                    self._acknowledge(ctx, ack)
                ctx.advance(len(mails))

    def _take(
        self, ctx: SyncContext, s: Any, validity: int, uid: int, raw: bytes, acks: list
    ) -> None:
        from connectors.mail import parse_message

        mail = parse_message(raw)
        if mail.kind != "request":
            ctx.counts[f"ignored_{mail.kind}"] += 1
            return
        key = _key(mail.message_id) if mail.message_id else f"uid:{validity}:{uid}"
        if ctx.link(s, key) is not None:
            ctx.counts["already_taken"] += 1
            return
        body = mail.body.strip()
        if mail.attachments:
            listed = ", ".join(
                f"{a[0] or 'unnamed'} ({a[1]}, {_size(a[2])})" for a in mail.attachments
            )
            body = f"{body}\n\n[attachments, not indexed: {listed}]".strip()
        parent = self._parent(ctx, s, mail)
        if parent is not None:
            if ctx.dry_run:
                ctx.planned.append({"mail": key, "reply_to": f"desk:{parent}"})
                ctx.counts["would_append"] += 1
                return
            ctx.desk.add_reply(parent, ctx.who, mail.sender[:200] or None, body, within=s)
            ctx.add_link(s, key, desk_ticket_id=parent)
            ctx.counts["replies"] += 1
            return
        title = (mail.clean_subject or "").strip() or (body.splitlines() or ["(no subject)"])[0][
            :200
        ]
        request = {
            "title": title,
            "description": body,
            "caller": (mail.sender or None) and mail.sender[:200],
            "channel": "email",
        }
        if ctx.dry_run:
            card = ctx.desk.preview(request)
            ctx.planned.append({"mail": key, "title": title, "priority": card.get("priority")})
            ctx.counts["would_open"] += 1
            return
        out = ctx.desk.intake(request, ctx.who, within=s)
        ticket = out["ticket"]
        ctx.add_link(s, key, desk_ticket_id=ticket["id"])
        ctx.counts["opened"] += 1
        if self.config.get("ack") and mail.sender:
            acks.append(
                {
                    "card": out["triage"],
                    "ref": ticket["ref"],
                    "title": title,
                    "to": mail.sender,
                    "message_id": mail.message_id,
                }
            )

    def _parent(self, ctx: SyncContext, s: Any, mail: Any) -> int | None:
        """The desk ticket a reply belongs to: by In-Reply-To / References, else by the
        ticket reference our acknowledgement put in the subject."""
        for ref in mail.thread_ids[:50]:
            link = ctx.link(s, _key(ref))
            if link is not None and link.desk_ticket_id:
                return link.desk_ticket_id
        found = _DESK_REF.search((mail.subject or "")[:1000])
        if found:
            from kb.models import DeskTicket

            ticket = s.get(DeskTicket, int(found.group(1)))
            # Only the ticket's own caller may add to it by quoting its reference: ticket
            # numbers are easy to guess.
            if ticket is not None and (ticket.caller or "").lower() == mail.sender:
                return ticket.id
        return None

    def _acknowledge(self, ctx: SyncContext, ack: dict[str, Any]) -> None:
        """The top KB answer by mail, only when it clears the connection's confidence bar."""
        best = next(iter(ack["card"].get("suggested_articles") or []), None)
        score = match_score(best) if best else None
        if score is None or score < float(self.config.get("ack_min_confidence", 0.6)):
            ctx.counts["ack_withheld"] += 1
            return
        message = acknowledgement(ack["card"], ack["ref"], ack["title"])
        if message is None:
            ctx.counts["ack_withheld"] += 1
            return
        smtp = self.settings.smtp
        if not smtp.host:
            ctx.fail("acknowledgement", "no SMTP server is set (FIRSTLINE_SMTP__HOST)")
            return
        from connectors.smtp import send_mail

        try:
            send_mail(
                smtp,
                to=ack["to"],
                subject=message[0],
                body=message[1],
                in_reply_to=ack["message_id"] or None,
                references=[ack["message_id"]] if ack["message_id"] else None,
                timeout=self.settings.connectors.timeout_seconds,
            )
        except FirstlineError as e:
            ctx.fail(f"acknowledgement to {ack['to']}", e)
            return
        ctx.counts["acknowledged"] += 1

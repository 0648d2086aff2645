"""A mailbox the desk reads over IMAP: new mails by UID, without marking anything as read.

The intake remembers the highest UID it has taken and the folder's UIDVALIDITY; while that stays
the same, ``fetch_since(last_uid, limit)`` returns exactly the mails that arrived after it (when
the server renumbers the folder, UIDVALIDITY changes and the intake starts over).

Driver errors become the project's: a refused login is :class:`CredentialsRefusedError` (its
message names the server and user, never the password), a server that cannot be reached or that
drops the connection is :class:`BackendUnavailableError`.
"""

from __future__ import annotations

import imaplib
import ssl as ssl_module
from types import TracebackType

from core.errors import (
    BackendUnavailableError,
    CredentialsRefusedError,
    InvalidInputError,
    NotFoundError,
)

# Network failures as imaplib raises them: refused or reset connections, timeouts, TLS errors,
# and a connection the server closed under us.
_NETWORK_ERRORS = (OSError, imaplib.IMAP4.abort, EOFError)  # OSError: timeouts, TLS errors too


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: object) -> str:
    if isinstance(data, list | tuple):
        return " ".join(_text(d) for d in data if d is not None)
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)


class ImapMailbox:
    """One folder of one IMAP account.  The constructor does no I/O: the connection opens on
    first use and stays open until :meth:`close`."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        *,
        folder: str = "INBOX",
        ssl: bool = False,
        starttls: bool = False,
        timeout: float = 15,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.folder = folder
        self.ssl = ssl
        self.starttls = starttls
        self.timeout = timeout
        self._conn: imaplib.IMAP4 | None = None

    def __repr__(self) -> str:
        return f"ImapMailbox({self.host!r}, {self.port}, {self.user!r}, folder={self.folder!r})"

    def __enter__(self) -> ImapMailbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def _where(self) -> str:
        return f"IMAP server {self.host}:{self.port}"

    def _connect(self) -> imaplib.IMAP4:
        if self._conn is not None:
            return self._conn
        try:
            if self.ssl:
                context = ssl_module.create_default_context()
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=context, timeout=self.timeout
                )
            else:
                conn = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
            if self.starttls and not self.ssl:
                conn.starttls(ssl_module.create_default_context())
        except (*_NETWORK_ERRORS, imaplib.IMAP4.error) as e:
            raise BackendUnavailableError(f"the {self._where} cannot be reached: {e}") from e
        try:
            conn.login(self.user, self._password)
        except imaplib.IMAP4.abort as e:
            raise BackendUnavailableError(f"the {self._where} closed the connection: {e}") from e
        except imaplib.IMAP4.error as e:
            _drop(conn)
            reply = _text(e.args[0] if e.args else "").replace(self._password, "***")
            if "[UNAVAILABLE]" in reply.upper():  # RFC 5530: the server, not the password
                raise BackendUnavailableError(
                    f"the {self._where} cannot log {self.user!r} in now: {reply}"
                ) from None
            # ``from None``: imaplib's exception carries nothing the message does not.
            raise CredentialsRefusedError(
                f"the {self._where} refused the login of user {self.user!r}: {reply}"
            ) from None
        except _NETWORK_ERRORS as e:
            _drop(conn)
            raise BackendUnavailableError(f"the {self._where} failed during login: {e}") from e
        self._conn = conn
        return conn

    def _select(self) -> tuple[imaplib.IMAP4, int]:
        """The connection with the folder selected read-only (EXAMINE: nothing can be marked
        as seen), and the folder's UIDVALIDITY."""
        conn = self._connect()
        try:
            status, data = conn.select(_quote(self.folder), readonly=True)
            if status != "OK":
                raise NotFoundError(
                    f"the {self._where} has no folder {self.folder!r} for {self.user!r}: "
                    f"{_text(data)}"
                )
            _, validity = conn.response("UIDVALIDITY")
        except imaplib.IMAP4.abort as e:
            self._lost()
            raise BackendUnavailableError(f"the {self._where} closed the connection: {e}") from e
        except imaplib.IMAP4.error as e:
            raise NotFoundError(
                f"the {self._where} cannot open folder {self.folder!r}: {_text(e.args)}"
            ) from e
        except _NETWORK_ERRORS as e:
            self._lost()
            raise BackendUnavailableError(f"the {self._where} stopped answering: {e}") from e
        try:
            return conn, int(_text(validity[-1]).strip())
        except (ValueError, IndexError, TypeError) as e:
            raise BackendUnavailableError(
                f"the {self._where} sent no UIDVALIDITY for {self.folder!r}"
            ) from e

    def uidvalidity(self) -> int:
        """The folder's UIDVALIDITY: while it stays the same, a UID names the same mail."""
        return self._select()[1]

    def fetch_since(self, last_uid: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` mails with a UID above ``last_uid``, oldest first, as (uid, raw
        RFC 5322 bytes).  Nothing is marked as seen."""
        if limit < 1:
            raise InvalidInputError(f"limit must be at least 1, not {limit}")
        if last_uid < 0:
            raise InvalidInputError(f"last_uid must not be negative, not {last_uid}")
        conn, _ = self._select()
        try:
            status, data = conn.uid("SEARCH", f"UID {last_uid + 1}:*")
            if status != "OK":
                raise BackendUnavailableError(f"the {self._where} refused SEARCH: {_text(data)}")
            # "n:*" always includes the highest UID, even when it is below n (RFC 3501 6.4.8).
            uids = sorted(u for u in _uids(data) if u > last_uid)[:limit]
            if not uids:
                return []
            status, data = conn.uid("FETCH", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
            if status != "OK":
                raise BackendUnavailableError(f"the {self._where} refused FETCH: {_text(data)}")
        except imaplib.IMAP4.abort as e:
            self._lost()
            raise BackendUnavailableError(f"the {self._where} closed the connection: {e}") from e
        except imaplib.IMAP4.error as e:
            raise BackendUnavailableError(f"the {self._where} refused a command: {e}") from e
        except _NETWORK_ERRORS as e:
            self._lost()
            raise BackendUnavailableError(f"the {self._where} stopped answering: {e}") from e
        wanted = set(uids)
        mails = {}
        for item in data:
            if isinstance(item, tuple) and len(item) >= 2:
                uid = _fetch_uid(item[0])
                if uid in wanted and isinstance(item[1], bytes):
                    mails[uid] = item[1]
        return sorted(mails.items())

    def close(self) -> None:
        """Log out and close the connection (the mailbox can be used again: it reconnects)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            _drop(conn)

    def _lost(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.shutdown()
            except _NETWORK_ERRORS:
                pass


def _drop(conn: imaplib.IMAP4) -> None:
    try:
        conn.logout()
    except (*_NETWORK_ERRORS, imaplib.IMAP4.error):
        pass


def _uids(data: list) -> list[int]:
    return [int(token) for token in _text(data).split() if token.isdigit()]


def _fetch_uid(header: bytes) -> int | None:
    """The UID in a FETCH response line such as ``b'3 (UID 17 BODY[] {2048}'``."""
    tokens = header.replace(b"(", b" ").replace(b")", b" ").split()
    for name, value in zip(tokens, tokens[1:], strict=False):
        if name.upper() == b"UID" and value.isdigit():
            return int(value)
    return None

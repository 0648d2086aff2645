"""A private Dovecot IMAP server for tests: Debian's ``dovecot`` binary (dovecot-imapd), run as
the current user with every file under one temporary directory, on a free port of 127.0.0.1.

IMAP only, plaintext logins allowed (127.0.0.1, no TLS), one user from a passwd-file with a
maildir.  ``base_dir`` (sockets, pid file) and ``state_dir`` are inside the directory too, and
``instance_name`` is unique, so it never meets a system Dovecot or another test session's.
"""

from __future__ import annotations

import getpass
import grp
import imaplib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "desk"
PASSWORD = "desk-test-password"  # a throwaway account of a throwaway server
START_TIMEOUT = 20.0


class DovecotError(RuntimeError):
    """Dovecot is missing or did not start (the message says why, with its log)."""


def dovecot_version() -> tuple[int, ...]:
    """The installed Dovecot's version, e.g. (2, 3, 19, 1)."""
    out = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True, timeout=10)
    numbers = out.stdout.split()[0].split(".") if out.stdout.strip() else []
    return tuple(int(n) for n in numbers if n.isdigit())


def mail_account() -> tuple[int, int]:
    """The uid and gid that own the maildir: ours, or nobody's when we are root (Dovecot never
    opens mail as root)."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def _config(root: Path, port: int, version: tuple[int, ...]) -> str:
    user = getpass.getuser()
    group = grp.getgrgid(os.getgid()).gr_name
    uid, gid = mail_account()
    if os.getuid() == 0:
        # As root (CI) Dovecot drops privileges for its helpers: give them Debian's accounts.
        internal, login = _existing("dovecot", user), _existing("dovenull", user)
    else:
        internal = login = user
    # Dovecot 2.4 renamed the switch that allows passwords without TLS.
    cleartext = "auth_allow_cleartext = yes" if version >= (2, 4) else "disable_plaintext_auth = no"
    return f"""\
# firstline test server (tests/connectors/dovecot_server.py); Dovecot {".".join(map(str, version))}
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = firstline-test-{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
{cleartext}
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {group if os.getuid() != 0 else internal}
default_login_user = {login}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service auth {{
  user = {user}
  unix_listener auth-userdb {{
    mode = 0600
    user = {user}
  }}
}}
"""


def _existing(name: str, fallback: str) -> str:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return fallback
    return name


@dataclass
class ImapServer:
    host: str
    port: int
    user: str
    password: str
    root: Path
    process: subprocess.Popen | None = None

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put ``raw`` into the mailbox, as a mail arriving would (IMAP APPEND)."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            conn.login(self.user, self.password)
            status, data = conn.append(folder, None, None, raw)
            if status != "OK":
                raise DovecotError(f"APPEND failed: {data!r}")
        finally:
            try:
                conn.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    def stop(self) -> None:
        """Stop Dovecot and every process it started: an IMAP session process outlives the
        master (its client still connected) unless its whole process group is stopped."""
        from tests.conftest import stop_process

        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


def start_dovecot(root: Path, port: int, timeout: float = START_TIMEOUT) -> ImapServer:
    """Start Dovecot in the foreground (``dovecot -F``) and return once it accepts a login.

    ``root`` must be reachable by the mail account (:func:`mail_account`): under root that is
    ``nobody``, so a directory from ``tempfile.mkdtemp`` rather than pytest's private tree."""
    if not os.access(DOVECOT, os.X_OK):
        raise DovecotError(f"Dovecot is not installed ({DOVECOT}; apt-get install dovecot-imapd)")
    version = dovecot_version()
    for sub in ("run", "state"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    uid, gid = mail_account()
    home = root / "home"
    for own in (root / "mail", home):
        own.mkdir(exist_ok=True)
        if os.getuid() == 0:
            os.chown(own, uid, gid)
    root.chmod(0o711)  # the mail process (nobody, under root) passes through to its maildir
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{home}::\n")
    (root / "users").chmod(0o600)
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, port, version))
    server = ImapServer("127.0.0.1", port, USER, PASSWORD, root)
    with open(root / "stdout.log", "ab") as out:
        server.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = imaplib.IMAP4(server.host, port, timeout=2)
            conn.login(USER, PASSWORD)
            conn.logout()
            return server
        except (OSError, imaplib.IMAP4.error) as e:
            error = e
        if server.process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            out = (root / "stdout.log").read_text(errors="replace")[-2000:]
            raise DovecotError(
                f"Dovecot {'.'.join(map(str, version))} did not start ({error}): "
                f"{out.strip()} {server.log().strip()}"
            )
        time.sleep(0.05)

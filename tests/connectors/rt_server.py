"""A real Request Tracker 5 for the tests: Debian's request-tracker5, rt5-db-sqlite and
rt5-standalone, run from a temporary directory with its own SQLite database and site config.

:func:`start_rt` initialises the database (``rt-setup-database-5``), then starts the standalone
server (``rt-server``, Starlet) while a small Perl script, run through RT's own API with the same
site config, adds a queue "Second line", the ticket custom fields "Impact" (select: low, medium,
high) and "Urgency" (free text) on queues General and Second line, and an auth token for root.
Nothing outside the temporary directory is read or written: ``RT_SITE_CONFIG_DIR`` points at an
empty directory so Debian's /etc/request-tracker5/RT_SiteConfig.d (its dbconfig database, its
log settings) is never loaded, and RT's var, cache and session paths are set into the directory.
Outgoing mail goes to an mbox file there.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

RT_LIB = Path("/usr/share/request-tracker5/lib")
RT_SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
RT_SETUP_DATABASE = Path("/usr/sbin/rt-setup-database-5")
INSTALL_HINT = "apt-get install request-tracker5 rt5-db-sqlite rt5-standalone"

SITE_CONFIG = """\
Set($rtname, 'firstline-test');
Set($Organization, 'firstline.test');
Set($Timezone, 'UTC');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, '{root}/rt.db');
Set($WebDomain, '127.0.0.1');
Set($WebPort, {port});
Set($WebPath, '');
Set($WebBaseURL, 'http://127.0.0.1:{port}');
Set($CorrespondAddress, 'rt@firstline.test');
Set($CommentAddress, 'rt-comment@firstline.test');
Set($MailCommand, 'mbox');
Set($LogToSTDERR, 'warning');
Set($LogToSyslog, undef);
Set($LogToFile, undef);
$RT::VarPath = '{root}';
$RT::MasonDataDir = '{root}/mason';
$RT::MasonSessionDir = '{root}/session';
1;
"""

# Run with RT's lib on @INC and the site config in the environment; prints root's token.
SETUP_PERL = r"""
use strict; use warnings;
use RT; RT::LoadConfig(); RT::Init();
my $system = RT->SystemUser;
my ($ok, $msg) = RT::Queue->new($system)->Create(
    Name => 'Second line', Description => 'Escalations');
die "queue Second line: $msg\n" unless $ok;
my @queues = map {
    my $q = RT::Queue->new($system); $q->Load($_) or die "no queue $_\n"; $q
} ('General', 'Second line');
for my $spec (['Impact', 'SelectSingle', [qw(low medium high)]],
              ['Urgency', 'FreeformSingle', []]) {
    my ($name, $type, $values) = @$spec;
    my $cf = RT::CustomField->new($system);
    ($ok, $msg) = $cf->Create(Name => $name, Type => $type,
                              LookupType => RT::Ticket->CustomFieldLookupType);
    die "custom field $name: $msg\n" unless $ok;
    my $order = 0;
    for my $value (@$values) {
        ($ok, $msg) = $cf->AddValue(Name => $value, SortOrder => $order++);
        die "custom field $name value $value: $msg\n" unless $ok;
    }
    for my $queue (@queues) {
        ($ok, $msg) = $cf->AddToObject($queue);
        die "custom field $name on a queue: $msg\n" unless $ok;
    }
}
my $root = RT::CurrentUser->new($system);
$root->Load('root') or die "no user root\n";
my (undef, $tmsg, $token) = RT::AuthToken->new($root)->Create(
    Owner => $root->Id, Description => 'firstline tests');
die "token: $tmsg\n" unless $token;
print "$token\n";
"""


class RTUnavailable(Exception):
    """RT is not installed or did not start (the fixture turns this into a skip or, in CI,
    a failure)."""


def rt_installed() -> str | None:
    """None when RT can be started here, else what is missing."""
    for path in (RT_SERVER, RT_SETUP_DATABASE, RT_LIB / "RT.pm"):
        if not path.exists():
            return f"Request Tracker 5 is not installed (no {path}; {INSTALL_HINT})"
    return None


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


@dataclass
class RTServer:
    """A running RT: ``url`` (http://127.0.0.1:PORT), root's ``token``, and helpers that act
    on tickets through REST 2 the way a person at the desk would."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen
    startup_seconds: float
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def rest(self) -> str:
        return f"{self.url}/REST/2.0"

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.rest,
                headers={"Authorization": f"token {self.token}"},
                timeout=30,
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _send(self, method: str, path: str, body: object) -> object:
        response = self.http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def create_ticket(
        self,
        subject: str,
        content: str,
        *,
        queue: str = "General",
        requestor: str = "alice@example.com",
        content_type: str = "text/plain",
        **fields: object,
    ) -> int:
        body = {
            "Queue": queue,
            "Subject": subject,
            "Content": content,
            "ContentType": content_type,
            "Requestor": requestor,
            **fields,
        }
        created = self._send("POST", "/ticket", body)
        return int(created["id"])  # type: ignore[index]

    def correspond(
        self, ticket_id: int, content: str, *, status: str | None = None, **fields: object
    ) -> list[str]:
        body: dict[str, object] = {"Content": content, "ContentType": "text/plain", **fields}
        if status:
            body["Status"] = status
        return self._send("POST", f"/ticket/{ticket_id}/correspond", body)  # type: ignore[return-value]

    def comment(self, ticket_id: int, content: str, **fields: object) -> list[str]:
        body = {"Content": content, "ContentType": "text/plain", **fields}
        return self._send("POST", f"/ticket/{ticket_id}/comment", body)  # type: ignore[return-value]

    def resolve(self, ticket_id: int, reply: str) -> list[str]:
        """Reply to the requestor and resolve, as an agent closing a ticket does."""
        return self.correspond(ticket_id, reply, status="resolved")

    def edit(self, ticket_id: int, fields: dict[str, object]) -> list[str]:
        return self._send("PUT", f"/ticket/{ticket_id}", fields)  # type: ignore[return-value]

    def ticket(self, ticket_id: int) -> dict:
        return self._send("GET", f"/ticket/{ticket_id}?fields[Queue]=Name", None)  # type: ignore[return-value]


def _run(cmd: list[str], env: dict[str, str], cwd: Path, what: str) -> str:
    try:
        done = subprocess.run(
            cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RTUnavailable(f"{what} failed: {e}") from e
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RTUnavailable(f"{what} failed (exit {done.returncode}): {last[0]}")
    return done.stdout


def start_rt(root: Path, port: int, timeout: float = 90) -> RTServer:
    """Initialise RT in ``root`` and start it on 127.0.0.1:``port``; raises
    :class:`RTUnavailable` with a one-line reason."""
    missing = rt_installed()
    if missing:
        raise RTUnavailable(missing)
    began = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("site.d", "mason", "session"):
        (root / sub).mkdir(exist_ok=True)
    # World-readable: RT runs as whoever starts it (root in CI; Starlet does not drop
    # privileges), but a reader running as www-data must still see the config.
    root.chmod(0o755)
    config = root / "RT_SiteConfig.pm"
    config.write_text(SITE_CONFIG.format(root=root, port=port), encoding="utf-8")
    env = {
        **os.environ,
        "RT_SITE_CONFIG": str(config),
        "RT_SITE_CONFIG_DIR": str(root / "site.d"),
        "PERL5LIB": str(RT_LIB),
    }
    _run(
        [str(RT_SETUP_DATABASE), "--action", "init", "--skip-create"],
        env,
        root,
        "rt-setup-database-5 --action init",
    )
    log_path = root / "rt-server.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(RT_SERVER), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        # The queue, custom fields and token are written while the server loads (both take
        # seconds, mostly Perl compiling RT); RT reads them per request, so the order is free.
        token = _run(["perl", "-e", SETUP_PERL], env, root, "RT setup script").strip()
        url = f"http://127.0.0.1:{port}"
        _wait_until_answering(url, token, process, log_path, began + timeout)
    except BaseException:
        from tests.conftest import stop_process

        stop_process(process)
        raise
    return RTServer(
        url=url,
        token=token,
        root=root,
        process=process,
        startup_seconds=time.monotonic() - began,
    )


def _wait_until_answering(
    url: str, token: str, process: subprocess.Popen, log_path: Path, deadline: float
) -> None:
    while True:
        try:
            response = httpx.get(
                f"{url}/REST/2.0/rt", headers={"Authorization": f"token {token}"}, timeout=2
            )
            if response.status_code == 200:
                return
            if response.status_code != 503:
                raise RTUnavailable(
                    f"RT answered /REST/2.0/rt with HTTP {response.status_code}: "
                    f"{response.text[:200]!r}"
                )
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RTUnavailable(
                f"rt-server exited with {process.returncode}: {_tail(log_path) or 'no output'}"
            )
        if time.monotonic() > deadline:
            raise RTUnavailable(f"rt-server did not answer in time: {_tail(log_path)}")
        time.sleep(0.2)

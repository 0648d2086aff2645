"""Adversarial text for linear-time tests: what a careless or hostile client can send.

Sign-off words, line breaks, mail-header and disclaimer openings, triage rule words, long runs
of one letter, mixed and repeated up to ``MAX_CHARS`` (the API's description limit), plus the
request that froze the API for 67 s (issue #11 failure 5) scaled to that size.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

MAX_CHARS = 100_000

PIECES = [
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "a",
    "é",
    "thanks\n",
    "Thanks,\n",
    "Kind regards\n",
    "mit freundlichen grüßen\n",
    "br",
    "-- \n",
    "--",
    "Sent from my ",
    "From: ",
    "subject:",
    "received from: ",
    "@",
    "this email is confidential",
    "the information contained in this message",
    "whole ",
    "entire ",
    "floor",
    "nobody on the ",
    "change ",
    "the ",
    "process",
    "is down",
    "how do ",
    "\x00",
    "\u2028",
    ".",
    ",",
    "[",
    "](",
    "**",
    "_",
    "|",
    "# ",
    "- ",
    "`",
]


def crafted(size: int = MAX_CHARS) -> str:
    """The request of failure 5 with its run of letters grown to ``size`` characters."""
    head, tail = "hi\nthanks\n", "\nb\nc\nd\ne\nf"
    return head + "a" * (size - len(head) - len(tail)) + tail


def crafted_repeated(size: int = MAX_CHARS) -> str:
    block = "hi\nthanks\n" + "a" * 400 + "\nb\nc\nd\ne\nf"
    return (block * (size // len(block) + 1))[:size]


adversarial_text = st.lists(
    st.tuples(st.sampled_from(PIECES), st.integers(min_value=1, max_value=20_000)),
    min_size=1,
    max_size=30,
).map(lambda parts: "".join(piece * n for piece, n in parts)[:MAX_CHARS])

# The deadline is the guard: quadratic or exponential behaviour on 100 KB takes seconds to
# hours; linear work takes milliseconds.
linear = settings(
    deadline=1000,
    max_examples=40,
    database=None,  # nothing written into the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@contextmanager
def hard_stop(seconds: float = 10.0) -> Iterator[None]:
    """Fail instead of hanging: a catastrophic pattern on 100 KB runs for hours, and hypothesis'
    deadline is only checked once a call returns.  The regular-expression engine checks for
    signals while it backtracks, so the alarm interrupts it (main thread, POSIX only)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: not linear")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

"""Text helpers every room shares.  Linear time only: these run on whatever users send."""

from __future__ import annotations

# C0 controls and DEL, except tab, line feed and carriage return.  PostgreSQL refuses NUL in
# text and SQLite keeps it: removing them where text enters makes both databases agree.
_CONTROLS = {c: None for c in (*range(0, 9), 11, 12, *range(14, 32), 127)}


def clean_text(value: str) -> str:
    """``value`` without control characters (tab and line breaks are kept)."""
    return value.translate(_CONTROLS)


def has_controls(value: str) -> bool:
    """Whether ``value`` holds a character :func:`clean_text` would remove."""
    return any(ord(ch) in _CONTROLS for ch in value)


# Words that carry no topic: never evidence, never highlighted, never a cluster's label ("on",
# "the", "about" say nothing about a network outage).  English function words (Elasticsearch's
# English list among them) and the desk's filler ("please", "same", "got", "thanks").
STOP_WORDS = frozenset(
    """
    a about after all also am an and any another are as at be been being both but by can
    cannot could d did do does doing during each either every for from further get got had
    has have having he her here hers him his how i if in into is it its just kind ll m may
    me might mine more most must my myself neither no nor not now of off on once one only
    onto or other our ours out over own per please pls quite re really s same shall she
    should since so some such t than that the their theirs them then there these they this
    those through to too under up upon us ve very via was we were what when where which
    while who whom whose why will with within without would yet you your yours
    thanks thank hi hello dear regards best cheers
    """.split()
)

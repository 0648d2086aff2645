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


# Function words: they carry grammar, not meaning.  Evidence, highlights and term lists skip
# them ("on", "the", "about" say nothing about a network outage).  Words that carry meaning in
# a request are deliberately absent: "not", "no", "down", "all", "nobody", "everyone", "cannot".
STOP_WORDS = frozenset(
    """
    a an the and or but nor so yet if then than that this these those there here
    of on in at to for from by with about into onto over under after before between through
    during without within upon off out up as per via
    i me my mine myself we us our ours you your yours he him his she her hers it its they
    them their theirs who whom whose which what when where why how
    is are was were be been being am do does did doing have has had having
    will would shall should can could may might must
    s t d ll m re ve just also too very really quite please pls thanks thank hi hello dear
    regards best cheers kind any some each every such own same other another more most
    again further once only both either neither one get got
    """.split()
)


def is_stop_word(word: str) -> bool:
    return word.lower() in STOP_WORDS

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


# Words that carry no topic: never highlighted, never a cluster's label.  English function words
# (Elasticsearch's English list among them) and the desk's filler ("please", "same", "got").
STOP_WORDS = frozenset(
    "a about after all also am an and any are as at be been but by can cannot could did do does "
    "for from get got had has have he her his how i if in into is it its just me my no nor not "
    "now of on or our please same she should since so such that the their them then there these "
    "they this those to too up us was we were what when where which while who why will with "
    "would you your".split()
)

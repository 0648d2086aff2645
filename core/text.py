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

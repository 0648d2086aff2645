"""Readers for ticket and article exports: CSV, JSONL, optionally gzip-compressed.

Each yields ``(row_number, record)`` for good rows and ``(row_number, RowError)`` for rows that
cannot be read, so one broken row never stops an import.  Row numbers are 1-based data rows
(the CSV header is not counted), as a spreadsheet user would count them after the header.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInputError
from core.text import clean_text

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
_SNIFF_BYTES = 8192
_CONTROL_BYTES = [bytes([b]) for b in (*range(0, 9), 11, 12, *range(14, 27), *range(28, 32))]
# zip (xlsx, docx), PNG, JPEG, GIF, PDF, OLE2 (xls, doc, msg)
_BINARY_MAGIC = (b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"\xd0\xcf\x11\xe0")


@dataclass(slots=True)
class RowError:
    row: int
    reason: str


Row = tuple[int, dict[str, Any] | RowError]


def detect_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    raise InvalidInputError(f"{path.name}: unknown file type (use .csv, .jsonl, optionally .gz)")


def _open_binary(path: Path) -> io.BufferedIOBase:
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    if path.is_dir():
        raise InvalidInputError(f"{path}: is a directory, not a file")
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")  # noqa: SIM115


def _bad_bytes(value: str) -> str | None:
    """The first undecodable byte of a value read with surrogateescape, if any."""
    for ch in value:
        if 0xDC80 <= ord(ch) <= 0xDCFF:
            return f"0x{ord(ch) - 0xDC00:02x}"
    return None


def _clean(value: Any) -> Any:
    """``value`` with :func:`clean_text` applied to every string in it (JSON's ``\\u0000``)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def read_rows(path: Path, encoding: str = "utf-8", delimiter: str | None = None) -> Iterator[Row]:
    """Every data row of ``path``; a file that is not readable text is one clear
    :class:`InvalidInputError` (corrupt gzip, binary file), never a traceback."""
    fmt = detect_format(path)
    rows = _read_jsonl(path, encoding) if fmt == "jsonl" else _read_csv(path, encoding, delimiter)
    try:
        _check_text(path, encoding)
        yield from rows
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        if isinstance(e, gzip.BadGzipFile):
            reason = "it does not start with the gzip signature"
        elif isinstance(e, EOFError):
            reason = "it ends in the middle of the compressed data"
        else:
            reason = "the compressed data is damaged"
        raise InvalidInputError(f"{path.name}: not a valid gzip file ({reason})") from e


def _check_text(path: Path, encoding: str) -> None:
    """Refuse a binary file (an image, a spreadsheet renamed .csv) before reading rows."""
    with _open_binary(path) as fh:
        head = fh.read(_SNIFF_BYTES)
    if encoding.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32")):
        return  # their ASCII is half NUL bytes
    # A stray NUL in an export is cleaned like any control character; a file that is mostly
    # control bytes, or starts like an archive, image or document, is not text.
    controls = sum(head.count(b) for b in _CONTROL_BYTES)
    if head.startswith(_BINARY_MAGIC) or controls > max(16, len(head) // 20):
        raise InvalidInputError(
            f"{path.name}: a binary file, not CSV or JSONL text"
            " (if it is UTF-16 text, say so with --encoding utf-16)"
        )


def _read_jsonl(path: Path, encoding: str) -> Iterator[Row]:
    with _open_binary(path) as fh:
        for i, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                # Without its line break, so an error's column is on this line.
                line = raw.decode(encoding).rstrip("\r\n")
            except UnicodeDecodeError as e:
                yield i, RowError(i, f"not valid {encoding} (byte 0x{raw[e.start]:02x})")
                continue
            try:
                obj = json.loads(line)
                if isinstance(obj, dict):
                    obj = _clean(obj)
            except json.JSONDecodeError as e:
                yield i, RowError(i, f"broken JSON: {e.msg} at column {e.colno}")
                continue
            except RecursionError:
                yield i, RowError(i, "JSON nested too deeply")
                continue
            if not isinstance(obj, dict):
                yield i, RowError(i, "a line must hold a JSON object")
                continue
            yield i, obj


def _read_csv(path: Path, encoding: str, delimiter: str | None) -> Iterator[Row]:
    with _open_binary(path) as fh:
        text = io.TextIOWrapper(fh, encoding=encoding, errors="surrogateescape", newline="")
        lines = _PhysicalLines(text)
        first = lines.peek()
        if delimiter is None:
            is_tsv = path.name.lower().removesuffix(".gz").endswith(".tsv")
            delimiter = "\t" if is_tsv else (";" if first.count(";") > first.count(",") else ",")
        records = _csv_records(lines, delimiter)
        try:
            _line_no, header_or_error = next(records)
        except StopIteration:
            return
        if isinstance(header_or_error, str):
            raise InvalidInputError(f"{path.name}: cannot read the header row: {header_or_error}")
        header = [clean_text(h).strip().lstrip("\ufeff") for h in header_or_error]
        if any(_bad_bytes(h) for h in header):
            raise InvalidInputError(f"{path.name}: the header row is not valid {encoding} text")
        if not any(header):
            raise InvalidInputError(f"{path.name}: the header row is empty")
        records.send(len(header))
        row_no = 0
        for _line_no, values in records:
            if isinstance(values, list) and (
                not values or (len(values) == 1 and not values[0].strip())
            ):
                continue  # a blank line is not a row
            row_no += 1
            if isinstance(values, str):
                yield row_no, RowError(row_no, values)
                continue
            if len(values) != len(header):
                yield (
                    row_no,
                    RowError(
                        row_no,
                        f"expected {len(header)} columns, found {len(values)} (broken quoting?)",
                    ),
                )
                continue
            bad = next((b for b in map(_bad_bytes, values) if b), None)
            if bad:
                yield row_no, RowError(row_no, f"not valid {encoding} (byte {bad})")
                continue
            yield row_no, dict(zip(header, map(clean_text, values), strict=True))


class _PhysicalLines:
    """The lines of a text stream (line breaks kept), numbered from 1, with one line of
    look-back so a broken record can be re-read from the line after its first."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._text = text
        self._pushed: list[tuple[int, str]] = []
        self._last = 0

    def peek(self) -> str:
        item = self.next()
        if item is None:
            return ""
        self.push_back([item])
        return item[1]

    def next(self) -> tuple[int, str] | None:
        if self._pushed:
            return self._pushed.pop()
        line = self._text.readline()
        if not line:
            return None
        self._last += 1
        return self._last, line

    def push_back(self, items: list[tuple[int, str]]) -> None:
        self._pushed.extend(reversed(items))


def _parse_record(text: str, delimiter: str) -> list[str]:
    """One complete CSV record; ``csv.Error`` if its quoting is broken."""
    rows = list(csv.reader([text], delimiter=delimiter, strict=True))
    if len(rows) != 1:
        raise csv.Error("more than one record")
    return rows[0]


def _csv_records(
    lines: _PhysicalLines, delimiter: str
) -> Generator[tuple[int, list[str] | str], int | None, None]:
    """Records as ``(first line number, values)``, or ``(line number, reason)`` for a broken
    one.  After the header is yielded, the caller sends its number of columns.

    A record whose quoted field runs over several lines must come out with quotes balanced
    and the header's number of columns.  If not (a quote left open swallows the lines after
    it until the next quote or the end of the file), only its first line is reported and
    reading resumes at the line after it, so the rows that follow still go in.  Every line is
    read at most twice: linear in the size of the file.
    """
    columns: int | None = None
    while (item := lines.next()) is not None:
        first_no, line = item
        taken = [item]
        quotes = line.count('"')
        while quotes % 2 and (more := lines.next()) is not None:
            taken.append(more)
            quotes += more[1].count('"')
        record = "".join(t for _, t in taken)
        if len(taken) == 1:
            try:
                values: list[str] | str = _parse_record(record, delimiter)
            except csv.Error as e:
                reason = "a quote is never closed" if quotes % 2 else str(e)
                values = f"broken CSV quoting on line {first_no}: {reason}"
        else:
            try:
                values = _parse_record(record, delimiter)
                if quotes % 2:
                    raise csv.Error("unexpected end of data")
                if columns is not None and len(values) != columns:
                    raise csv.Error(f"{len(values)} columns")
            except csv.Error:
                lines.push_back(taken[1:])
                values = f"broken CSV quoting on line {first_no}: a quote is never closed"
        sent = yield first_no, values
        if sent is not None:  # the header's width; send() needs a value back
            columns = sent
            yield first_no, []

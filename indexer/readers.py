"""Readers for ticket and article exports: CSV, JSONL, optionally gzip-compressed.

Each yields ``(row_number, record)`` for good rows and ``(row_number, RowError)`` for rows that
cannot be read, so one broken row never stops an import.  Row numbers are 1-based data rows
(the CSV header is not counted), as a spreadsheet user would count them after the header.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInputError

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


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


def read_rows(path: Path, encoding: str = "utf-8", delimiter: str | None = None) -> Iterator[Row]:
    fmt = detect_format(path)
    if fmt == "jsonl":
        yield from _read_jsonl(path, encoding)
    else:
        yield from _read_csv(path, encoding, delimiter)


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
            except json.JSONDecodeError as e:
                yield i, RowError(i, f"broken JSON: {e.msg} at column {e.colno}")
                continue
            if not isinstance(obj, dict):
                yield i, RowError(i, "a line must hold a JSON object")
                continue
            yield i, obj


def _read_csv(path: Path, encoding: str, delimiter: str | None) -> Iterator[Row]:
    with _open_binary(path) as fh:
        text = io.TextIOWrapper(fh, encoding=encoding, errors="surrogateescape", newline="")
        first = text.readline()
        if delimiter is None:
            is_tsv = path.name.lower().removesuffix(".gz").endswith(".tsv")
            delimiter = "\t" if is_tsv else (";" if first.count(";") > first.count(",") else ",")
        reader = csv.reader(itertools.chain([first], text), delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InvalidInputError(f"{path.name}: cannot read the header row: {e}") from e
        header = [h.strip().lstrip("\ufeff") for h in header]
        if not any(header):
            raise InvalidInputError(f"{path.name}: the header row is empty")
        row_no = 0
        while True:
            row_no += 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield (
                    row_no,
                    RowError(row_no, f"broken CSV quoting near line {reader.line_num}: {e}"),
                )
                continue
            if not values or (len(values) == 1 and not values[0].strip()):
                row_no -= 1
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
            yield row_no, dict(zip(header, values, strict=True))

"""The CSV rules shared by both readers (data.reader's reference reader and data.csvfast): decoding,
records, what a numeric cell may look like and how a bad one is reported."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import TinyGMMError

# Values a float32 device can hold with room for the squares the model takes.
VALUE_LIMIT = 1e18


# A plain decimal number as C's strtof and every spreadsheet read it (ASCII digits,
# no thousands separators, no digit grouping underscores as Python's float() allows).
NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


NON_FINITE_RE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


# A number followed by a unit: "5kg", "12.5 %", "3 m/s", "20°C".
UNIT_RE = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([^\d\s.,+-][^\d]*)", re.ASCII)


# Digits grouped with ',' (or '.' / ' ' / "'"), or a decimal comma: "1,000", "1.234.567", "3,5".
GROUPED_RE = re.compile(r"[+-]?\d{1,3}(?:[,.' ]\d{3})+(?:[.,]\d+)?|[+-]?\d+,\d+", re.ASCII)


def lines_list(lines: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(n) for n in lines[:limit])
    return shown + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


def sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TinyGMMError(f"{path}: the file is UTF-16 text; save it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1
        raise TinyGMMError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save the file as UTF-8"
        ) from None
    if "\x00" in text:
        raise TinyGMMError(f"{path}: contains NUL bytes; is it really a CSV file?")
    return text


def iter_records(text: str, path: Path, delimiter: str, line_offset: int = 0) -> Iterator[tuple[int, list[str]]]:
    """(first CSV line number, cells) of every record, blank lines included as []."""
    # newline=None: "\r\n", "\n" and old Mac "\r" line endings all work
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1 + line_offset
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise TinyGMMError(
                f"{path}: malformed CSV at line {start} ({exc}); look for an unbalanced '\"' quote"
            ) from None
        yield start, cells


def read_rows(text: str, path: Path) -> list[tuple[int, list[str]]]:
    """(first CSV line number, cells) of every record, blank lines included as []."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return list(iter_records(text, path, sniff_delimiter(first)))


def check_bytes(raw: bytes, path: Path) -> bytes:
    """The file's bytes without a UTF-8 BOM, once they are known to be UTF-8 text without NULs."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TinyGMMError(f"{path}: the file is UTF-16 text; save it as UTF-8")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.isascii():
        decode(raw, path)
    if b"\x00" in raw:
        raise TinyGMMError(f"{path}: contains NUL bytes; is it really a CSV file?")
    return raw


def row_problem(cells: list[str], cols: list[int], names: list[str], width: int) -> str | None:
    """The first problem of one record (as the reference reader reports it), or None."""
    # extra non-empty cells shift columns, e.g. an unquoted 1,000 split in two
    if any(c.strip() for c in cells[width:]):
        return f"the row has {len(cells)} cells but the header has {width} (a ',' inside a number?)"
    for name, j in zip(names, cols, strict=True):
        if j >= len(cells):
            return f"{name!r} is missing (the row has {len(cells)} of {width} cells)"
        problem = parse_cell(cells[j].strip())[1]
        if problem:
            return f"{name!r} is {problem}"
    return None


def number_hint(cell: str) -> str | None:
    """Why a cell that is not a plain number still looks like one, or None."""
    if GROUPED_RE.fullmatch(cell):
        return f"{cell[:20]!r} has a thousands or decimal separator other than '.'"
    m = UNIT_RE.fullmatch(cell)
    if m:
        return f"{cell[:20]!r} has a unit {m.group(2).strip()[:10]!r}"
    try:
        float(cell)
    except ValueError:
        return None
    return f"{cell[:20]!r} is not a plain decimal number"


def parse_cell(cell: str) -> tuple[float, str | None]:
    if cell == "":
        return np.nan, "empty"
    if NON_FINITE_RE.fullmatch(cell):
        return np.nan, f"not finite ({cell!r})"
    if not NUMBER_RE.fullmatch(cell):
        hint = number_hint(cell)
        if hint:
            return np.nan, f"not a plain number ({hint}; write e.g. 1234.5)"
        return np.nan, f"not a number ({cell[:20]!r})"
    value = float(cell)
    if not np.isfinite(value):  # e.g. 1e999
        return np.nan, f"not finite ({cell[:20]!r})"
    if abs(value) > VALUE_LIMIT:
        return np.nan, f"too large for a float32 device ({cell[:20]!r}; limit {VALUE_LIMIT:g})"
    return value, None


COUNT_RE = re.compile(r"\+?[0-9]+", re.ASCII)

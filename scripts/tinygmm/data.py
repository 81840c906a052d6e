"""Load and validate the training CSV."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import TinyGMMError

FLOAT32_MAX = 3.4028234663852886e38
# Values a float32 device can hold with room for the squares the model takes.
VALUE_LIMIT = 1e18
# Characters a feature name cannot contain: the device protocol joins names with '|'.
NAME_FORBIDDEN = "|"

# A plain decimal number as C's strtof and every spreadsheet read it (ASCII digits,
# no thousands separators, no digit grouping underscores as Python's float() allows).
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NON_FINITE_RE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
# A number followed by a unit: "5kg", "12.5 %", "3 m/s", "20°C".
_UNIT_RE = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([^\d\s.,+-][^\d]*)", re.ASCII)
# Digits grouped with ',' (or '.' / ' ' / "'"), or a decimal comma: "1,000", "1.234.567", "3,5".
_GROUPED_RE = re.compile(r"[+-]?\d{1,3}(?:[,.' ]\d{3})+(?:[.,]\d+)?|[+-]?\d+,\d+", re.ASCII)


@dataclass(frozen=True)
class Dataset:
    """Numeric feature matrix read from a CSV, with where it came from."""

    X: np.ndarray
    feature_names: list[str]
    path: str
    sha256: str
    dropped_lines: list[int] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])


def parse_feature_list(text: str | None) -> list[str] | None:
    """Split ``--features "Age,Spending Score (1-100)"`` into column names."""
    if text is None:
        return None
    names = [n.strip() for n in next(csv.reader([text]))]
    if not names or any(not n for n in names):
        raise TinyGMMError(f"--features: empty column name in {text!r}")
    dup = [n for n, c in Counter(names).items() if c > 1]
    if dup:
        raise TinyGMMError(f"--features: {', '.join(map(repr, dup))} given more than once")
    return names


def _lines_list(lines: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(n) for n in lines[:limit])
    return shown + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _decode(raw: bytes, path: Path) -> str:
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


def _read_rows(text: str, path: Path) -> list[tuple[int, list[str]]]:
    """(first CSV line number, cells) of every record, blank lines included as []."""
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    # newline=None: "\r\n", "\n" and old Mac "\r" line endings all work
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=_sniff_delimiter(first), strict=True)
    rows: list[tuple[int, list[str]]] = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            raise TinyGMMError(
                f"{path}: malformed CSV at line {start} ({exc}); look for an unbalanced '\"' quote"
            ) from None
        rows.append((start, cells))


def _check_name(path: Path, name: str) -> None:
    if any(ch in name for ch in NAME_FORBIDDEN) or not name.isprintable():
        raise TinyGMMError(
            f"{path}: column name {name!r} contains '|' or a control character, which the device protocol "
            "cannot send; rename the column"
        )


def load_csv(
    path: str | Path, features: list[str] | None = None, dropna: bool = False, check_constant: bool = True
) -> Dataset:
    """Read ``features`` (default: every fully numeric column) from a CSV file.

    Raises TinyGMMError with a one-line, actionable message for every problem
    a user can fix in the data: missing file or column, non-numeric or empty
    cells (with their line numbers), rows with more cells than the header,
    non-finite or huge values, constant columns (also constant once the device
    rounds them to float32), numbers written with units or digit grouping.
    """
    p = Path(path)
    if not p.is_file():
        raise TinyGMMError(f"data file not found: {p}")
    raw = p.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    text = _decode(raw, p)
    if not text.strip():
        raise TinyGMMError(f"{p}: the file is empty")
    rows = [(line, r) for line, r in _read_rows(text, p) if any(c.strip() for c in r)]
    header = [h.strip() for h in rows[0][1]]
    # (CSV line number, cells) for every non-blank data row
    body = rows[1:]
    if not body:
        raise TinyGMMError(f"{p}: has a header but no data rows")
    if all(_NUMBER_RE.fullmatch(h) for h in header):
        raise TinyGMMError(
            f"{p}: the first line ({', '.join(header[:4])}{', ...' if len(header) > 4 else ''}) looks like data, "
            "not column names; add a header row"
        )

    dups = sorted(n for n, c in Counter(header).items() if c > 1)
    if features is None:
        features = []
        for j, h in enumerate(header):
            if not h:
                continue  # unnamed column, e.g. a pandas index
            if _column_is_numeric(body, j):
                if not _looks_like_id(h, body, j):
                    features.append(h)
                continue
            hint = _number_like_column(body, j)
            if hint:
                raise TinyGMMError(
                    f"{p}: column {h!r} looks numeric but is not plain numbers ({hint}); "
                    "write bare numbers such as 1234.5, or leave it out with --features"
                )
        if not features:
            raise TinyGMMError(f"{p}: no numeric column found; columns are {', '.join(header)}")
    for name in features:
        if name not in header:
            raise TinyGMMError(f"{p}: no column {name!r}; available columns: {', '.join(repr(h) for h in header)}")
        if name in dups:
            raise TinyGMMError(f"{p}: column name {name!r} appears more than once in the header")
        _check_name(p, name)
    cols = [header.index(n) for n in features]

    X = np.empty((len(body), len(cols)), dtype=np.float64)
    bad: dict[int, str] = {}  # CSV line -> first problem on it
    width = len(header)
    for r, (line, cells) in enumerate(body):
        # extra non-empty cells shift columns, e.g. an unquoted 1,000 split in two
        extra = cells[width:]
        if any(c.strip() for c in extra):
            bad[line] = f"the row has {len(cells)} cells but the header has {width} (a ',' inside a number?)"
        for c, j in enumerate(cols):
            if j >= len(cells):
                value, problem = np.nan, f"missing (the row has {len(cells)} of {width} cells)"
            else:
                value, problem = _parse_cell(cells[j].strip())
            if problem and line not in bad:
                bad[line] = f"{features[c]!r} is {problem}"
            X[r, c] = value
    dropped: list[int] = []
    if bad:
        lines = sorted(bad)
        if not dropna:
            first_line = lines[0]
            raise TinyGMMError(
                f"{p}: {len(lines)} row(s) with unusable values at line(s) {_lines_list(lines)} "
                f"(line {first_line}: {bad[first_line]}); fix them or pass --dropna to drop those rows"
            )
        keep = [i for i, (line, _) in enumerate(body) if line not in bad]
        X = X[keep]
        dropped = lines
        if X.shape[0] == 0:
            raise TinyGMMError(f"{p}: no rows left after --dropna dropped {len(lines)} row(s)")

    for c, name in enumerate(features if check_constant else []):
        col = X[:, c]
        if np.all(col == col[0]):
            raise TinyGMMError(
                f"{p}: column {name!r} is constant ({col[0]:g}); a Gaussian mixture cannot use it, "
                "leave it out of --features"
            )
        c32 = col.astype(np.float32)
        if np.all(c32 == c32[0]):
            raise TinyGMMError(
                f"{p}: column {name!r} is constant at float32 precision (from {col.min():.10g} to {col.max():.10g}); "
                "the device would see one value; rescale it (e.g. subtract its mean) or leave it out of --features"
            )
    return Dataset(X=X, feature_names=list(features), path=str(path), sha256=sha, dropped_lines=dropped)


def _number_hint(cell: str) -> str | None:
    """Why a cell that is not a plain number still looks like one, or None."""
    if _GROUPED_RE.fullmatch(cell):
        return f"{cell[:20]!r} has a thousands or decimal separator other than '.'"
    m = _UNIT_RE.fullmatch(cell)
    if m:
        return f"{cell[:20]!r} has a unit {m.group(2).strip()[:10]!r}"
    try:
        float(cell)
    except ValueError:
        return None
    return f"{cell[:20]!r} is not a plain decimal number"


def _parse_cell(cell: str) -> tuple[float, str | None]:
    if cell == "":
        return np.nan, "empty"
    if _NON_FINITE_RE.fullmatch(cell):
        return np.nan, f"not finite ({cell!r})"
    if not _NUMBER_RE.fullmatch(cell):
        hint = _number_hint(cell)
        if hint:
            return np.nan, f"not a plain number ({hint}; write e.g. 1234.5)"
        return np.nan, f"not a number ({cell[:20]!r})"
    value = float(cell)
    if not np.isfinite(value):  # e.g. 1e999
        return np.nan, f"not finite ({cell[:20]!r})"
    if abs(value) > VALUE_LIMIT:
        return np.nan, f"too large for a float32 device ({cell[:20]!r}; limit {VALUE_LIMIT:g})"
    return value, None


def _cells(body: list[tuple[int, list[str]]], j: int):
    for line, cells in body:
        cell = cells[j].strip() if j < len(cells) else ""
        if cell:
            yield line, cell


def _column_is_numeric(body: list[tuple[int, list[str]]], j: int) -> bool:
    """Most non-empty cells are numbers (a few bad cells are reported, not hidden)."""
    numbers = texts = 0
    for _, cell in _cells(body, j):
        if _NUMBER_RE.fullmatch(cell) or _NON_FINITE_RE.fullmatch(cell):
            numbers += 1
        else:
            texts += 1
    return numbers > texts


def _number_like_column(body: list[tuple[int, list[str]]], j: int) -> str | None:
    """For a column that is not numeric: 'line N: why' if most cells still look like numbers."""
    first = None
    like = total = 0
    for line, cell in _cells(body, j):
        total += 1
        hint = None if _NUMBER_RE.fullmatch(cell) else _number_hint(cell)
        if hint or _NUMBER_RE.fullmatch(cell):
            like += 1
        if hint and first is None:
            first = f"line {line}: {hint}"
        if total >= 1000:
            break
    return first if total and like > total / 2 else None


def _looks_like_id(name: str, body: list[tuple[int, list[str]]], j: int) -> bool:
    """A row identifier (``CustomerID``, ``id``, ``row_id``: distinct integers), not a feature."""
    key = name.strip().lower().replace(" ", "").replace("-", "_")
    if not (key == "id" or key.endswith("id") or key.endswith("_id") or key in ("index", "row", "#")):
        return False
    cells = [cells[j].strip() if j < len(cells) else "" for _, cells in body]
    return all(c.isdigit() for c in cells) and len(set(cells)) == len(cells)

"""Load and validate the training CSV."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import TinyGMMError
from ..names import name_problem, nfc
from . import csvfast
from .rules import (
    COUNT_RE,
    NON_FINITE_RE,
    NUMBER_RE,
    check_bytes,
    lines_list,
    number_hint,
    parse_cell,
    read_rows,
    row_problem,
)

FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Dataset:
    """Numeric feature matrix read from a CSV, with where it came from."""

    X: np.ndarray
    feature_names: list[str]
    path: str
    sha256: str
    dropped_lines: list[int] = field(default_factory=list)
    # columns not taken as features by default: (name, reason)
    left_out: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])


def parse_feature_list(text: str | None) -> list[str] | None:
    """Split ``--features "Age,Spending Score (1-100)"`` into column names."""
    if text is None:
        return None
    names = [nfc(n.strip()) for n in next(csv.reader([text]))]
    if not names or any(not n for n in names):
        raise TinyGMMError(f"--features: empty column name in {text!r}")
    dup = [n for n, c in Counter(names).items() if c > 1]
    if dup:
        raise TinyGMMError(f"--features: {', '.join(map(repr, dup))} given more than once")
    return names


def _check_name(path: Path, name: str) -> None:
    problem = name_problem(name)
    if problem is not None:
        raise TinyGMMError(f"{path}: column name {name!r} {problem}, which the device protocol cannot send; rename it")


def _show(p: Path) -> str:
    """A path for a one-line message (very long names shortened)."""
    text = str(p)
    return text if len(text) <= 120 else text[:60] + "..." + text[-40:]


def read_data_file(path: str | Path) -> bytes:
    """The data file's bytes; a TinyGMMError (never an OSError) when it cannot be read."""
    p = Path(path)
    try:
        if p.is_dir():
            raise TinyGMMError(f"{_show(p)} is a folder, not a CSV file")
        if not p.is_file():
            raise TinyGMMError(f"data file not found: {_show(p)}")
        return p.read_bytes()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise TinyGMMError(f"cannot read the data file {_show(p)}: {why}") from None


class Table(Protocol):
    """The non-blank records of a CSV below its header, by column (see RowTable, csvfast.FastTable)."""

    header: list[str]
    n_rows: int

    def column_is_numeric(self, j: int) -> bool: ...

    def number_like_hint(self, j: int) -> str | None: ...

    def distinct_counts(self, j: int) -> bool: ...

    def values(self, cols: list[int], names: list[str]) -> tuple[np.ndarray, dict[int, str], list[int]]:
        """(X, {CSV line: first problem on it}, the rows of X with a problem)."""
        ...


def load_csv(
    path: str | Path,
    features: list[str] | None = None,
    dropna: bool = False,
    check_constant: bool = True,
    *,
    reader: str = "auto",
) -> Dataset:
    """Read ``features`` (default: every fully numeric column) from a CSV file.

    Raises TinyGMMError with a one-line, actionable message for every problem
    a user can fix in the data: missing or unreadable file, missing column,
    non-numeric or empty cells (with their line numbers), rows with more cells
    than the header, non-finite or huge values, constant columns (also constant
    once the device rounds them to float32), numbers written with units or digit
    grouping. Columns left out by default are named, with the reason, in
    ``Dataset.left_out``.

    Numeric columns are parsed by pandas' C reader (``csvfast``); the records
    with a problem are then read again with the csv module for the exact
    message and line number. Files the fast reader cannot take exactly as the
    csv module would (e.g. quotes spanning lines in the header) use ``RowTable``,
    the reference reader (``reader="reference"`` forces it, for tests).
    """
    p = Path(path)
    raw = read_data_file(p)
    sha = hashlib.sha256(raw).hexdigest()
    body = check_bytes(raw, p)
    del raw
    if not body.strip() or (not body.isascii() and not body.decode("utf-8").strip()):
        raise TinyGMMError(f"{p}: the file is empty")
    try:
        if reader == "reference":
            raise csvfast.Fallback
        table: Table = csvfast.read(body, p)
        return _dataset(table, p, str(path), sha, features, dropna, check_constant)
    except csvfast.Fallback:
        table = RowTable(body.decode("utf-8"), p)
        return _dataset(table, p, str(path), sha, features, dropna, check_constant)


@dataclass(frozen=True)
class Records:
    """A CSV as ``load_csv`` reads it, with its records: what ``stream`` sends and writes back.

    ``rows[i]`` is the record (cells as written) whose values are ``data.X[i]``, ``lines[i]`` the CSV
    line it starts on (a quoted cell may span lines), ``header`` the header record's cells."""

    data: Dataset
    header: list[str]
    rows: list[list[str]]
    lines: list[int]


def load_records(path: str | Path, features: list[str], dropna: bool = False, drop_hint: str = "") -> Records:
    """``features`` of a CSV with every record kept as written, read once, by the reference reader
    (the rules, messages and line numbers of load_csv; constant columns are fine here). ``drop_hint``:
    what the caller's user can do about rows with unusable values besides fixing them."""
    p = Path(path)
    raw = read_data_file(p)
    sha = hashlib.sha256(raw).hexdigest()
    body = check_bytes(raw, p)
    if not body.strip():
        raise TinyGMMError(f"{p}: the file is empty")
    table = RowTable(body.decode("utf-8"), p)
    data = _dataset(table, p, str(path), sha, features, dropna, False, drop_hint or "leave those rows out")
    dropped = set(data.dropped_lines)
    kept = [(line, cells) for line, cells in table.body if line not in dropped]
    assert len(kept) == len(data.X)  # one record per row of X: the same table made both
    return Records(data, table.header, [cells for _, cells in kept], [line for line, _ in kept])


def _default_features(table: Table, p: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Every numeric column that is not a row id, and (name, reason) of each column left out."""
    features: list[str] = []
    left_out: list[tuple[str, str]] = []
    for j, h in enumerate(table.header):
        if not h:
            left_out.append((f"column {j + 1}", "it has no name (e.g. a pandas index)"))
            continue
        if table.column_is_numeric(j):
            if _is_id_name(h) and table.distinct_counts(j):
                left_out.append((h, "a row id: an id name and distinct whole numbers"))
            else:
                features.append(h)
            continue
        hint = table.number_like_hint(j)
        if hint:
            raise TinyGMMError(
                f"{p}: column {h!r} looks numeric but is not plain numbers ({hint}); "
                "write bare numbers such as 1234.5, or leave it out with --features"
            )
        left_out.append((h, "not numeric"))
    if not features:
        raise TinyGMMError(f"{p}: no numeric column found; columns are {', '.join(table.header)}")
    return features, left_out


def _dataset(
    table: Table,
    p: Path,
    path: str,
    sha: str,
    features: list[str] | None,
    dropna: bool,
    check_constant: bool,
    drop_hint: str = "pass --dropna to drop those rows",
) -> Dataset:
    header = table.header = [nfc(h) for h in table.header]  # names are compared in NFC (tinygmm.names)
    if table.n_rows == 0:
        raise TinyGMMError(f"{p}: has a header but no data rows")
    if all(NUMBER_RE.fullmatch(h) for h in header):
        raise TinyGMMError(
            f"{p}: the first line ({', '.join(header[:4])}{', ...' if len(header) > 4 else ''}) looks like data, "
            "not column names; add a header row"
        )
    dups = sorted(n for n, c in Counter(header).items() if c > 1)
    left_out: list[tuple[str, str]] = []
    named = features is not None
    if features is None:
        features, left_out = _default_features(table, p)
    for name in features:
        if name not in header:
            raise TinyGMMError(f"{p}: no column {name!r}; available columns: {', '.join(repr(h) for h in header)}")
        if name in dups:
            raise TinyGMMError(f"{p}: column name {name!r} appears more than once in the header")
        _check_name(p, name)
    cols = [header.index(n) for n in features]
    X, bad, bad_rows = table.values(cols, list(features))
    if named and bad:  # a named column without a single number: one line, not row by row (--dropna would drop all)
        for c, (name, j) in enumerate(zip(features, cols, strict=True)):
            if not np.any(np.isfinite(X[:, c])):
                _check_numeric(table, j, name, p)
    dropped: list[int] = []
    if bad:
        bad_lines = sorted(bad)
        if not dropna:
            first_line = bad_lines[0]
            raise TinyGMMError(
                f"{p}: {len(bad_lines)} row(s) with unusable values at line(s) {lines_list(bad_lines)} "
                f"(line {first_line}: {bad[first_line]}); fix them or {drop_hint}"
            )
        X = np.delete(X, bad_rows, axis=0)
        dropped = bad_lines
        if X.shape[0] == 0:
            raise TinyGMMError(f"{p}: no rows left after --dropna dropped {len(bad_lines)} row(s)")
    if check_constant:
        _check_constant(X, features, p)
    return Dataset(X=X, feature_names=list(features), path=path, sha256=sha, dropped_lines=dropped, left_out=left_out)


def _check_numeric(table: Table, j: int, name: str, p: Path) -> None:
    """A named column that is mostly not numbers is refused in one line (--dropna would drop every row)."""
    if table.column_is_numeric(j):
        return
    hint = table.number_like_hint(j)
    if hint:
        raise TinyGMMError(
            f"{p}: column {name!r} looks numeric but is not plain numbers ({hint}); "
            "write bare numbers such as 1234.5, or leave it out of --features"
        )
    raise TinyGMMError(f"{p}: column {name!r} is not numeric; leave it out of --features")


def _check_constant(X: np.ndarray, features: list[str], p: Path) -> None:
    for c, name in enumerate(features):
        col = X[:, c]
        lo, hi = float(col.min()), float(col.max())
        if lo == hi:
            raise TinyGMMError(
                f"{p}: column {name!r} is constant ({lo:g}); a Gaussian mixture cannot use it, "
                "leave it out of --features"
            )
        if np.float32(lo) == np.float32(hi):
            raise TinyGMMError(
                f"{p}: column {name!r} is constant at float32 precision (from {lo:.10g} to {hi:.10g}); "
                "the device would see one value; rescale it (e.g. subtract its mean) or leave it out of --features"
            )


class RowTable:
    """The reference reader: every record as a list of strings (csv module), checked cell by cell."""

    def __init__(self, text: str, path: Path) -> None:
        rows = [(line, r) for line, r in read_rows(text, path) if any(c.strip() for c in r)]
        if not rows:
            raise TinyGMMError(f"{path}: has no values (every cell is empty)")
        self.header = [h.strip() for h in rows[0][1]]
        # (CSV line number, cells) for every non-blank data row
        self.body = rows[1:]
        self.n_rows = len(self.body)

    def column_is_numeric(self, j: int) -> bool:
        return _column_is_numeric(self.body, j)

    def number_like_hint(self, j: int) -> str | None:
        return _number_like_column(self.body, j)

    def distinct_counts(self, j: int) -> bool:
        cells = [cells[j].strip() if j < len(cells) else "" for _, cells in self.body]
        return _distinct_counts(cells)

    def values(self, cols: list[int], names: list[str]) -> tuple[np.ndarray, dict[int, str], list[int]]:
        X = np.empty((len(self.body), len(cols)), dtype=np.float64)
        bad: dict[int, str] = {}
        bad_rows: list[int] = []
        for r, (line, cells) in enumerate(self.body):
            problem = row_problem(cells, cols, names, len(self.header))
            if problem:
                bad[line] = problem
                bad_rows.append(r)
            for c, j in enumerate(cols):
                X[r, c] = parse_cell(cells[j].strip())[0] if j < len(cells) else np.nan
        return X, bad, bad_rows


def _cells(body: list[tuple[int, list[str]]], j: int):
    for line, cells in body:
        cell = cells[j].strip() if j < len(cells) else ""
        if cell:
            yield line, cell


def _column_is_numeric(body: list[tuple[int, list[str]]], j: int) -> bool:
    """Most non-empty cells are numbers (a few bad cells are reported, not hidden)."""
    numbers = texts = 0
    for _, cell in _cells(body, j):
        if NUMBER_RE.fullmatch(cell) or NON_FINITE_RE.fullmatch(cell):
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
        hint = None if NUMBER_RE.fullmatch(cell) else number_hint(cell)
        if hint or NUMBER_RE.fullmatch(cell):
            like += 1
        if hint and first is None:
            first = f"line {line}: {hint}"
        if total >= 1000:
            break
    return first if total and like > total / 2 else None


# A name that says "row identifier": ``id``, ``ID``, ``row_id``, ``CustomerID``, ``sampleId``, ``index``, ``#``.
# Words are split at non-letters and at lower->upper case steps, so ``Paid``, ``Humid``, ``PAID`` are not ids.
_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_ID_WORDS = ("id", "index", "idx")


def _is_id_name(name: str) -> bool:
    key = name.strip()
    if key.lower() in ("#", "row", "rowid", "row#"):
        return True
    words = _WORD_RE.findall(key)
    return bool(words) and words[-1].lower() in _ID_WORDS


def _distinct_counts(cells: list[str]) -> bool:
    """Every cell a whole number >= 0 (digits only) and no two equal: what a row id looks like."""
    if not cells or not all(COUNT_RE.fullmatch(c) for c in cells):
        return False
    return len({int(c) for c in cells}) == len(cells)

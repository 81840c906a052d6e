"""Load and validate the training CSV."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import TinyGMMError

FLOAT32_MAX = 3.4028234663852886e38
# Values a float32 device can hold with room for the squares the model takes.
VALUE_LIMIT = 1e18


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
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TinyGMMError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save the file as UTF-8"
        ) from None
    if "\x00" in text:
        raise TinyGMMError(f"{path}: contains NUL bytes; is it really a CSV file?")
    return text


def load_csv(path: str | Path, features: list[str] | None = None, dropna: bool = False) -> Dataset:
    """Read ``features`` (default: every fully numeric column) from a CSV file.

    Raises TinyGMMError with a one-line, actionable message for every problem
    a user can fix in the data: missing file or column, non-numeric or empty
    cells (with their line numbers), non-finite or huge values, constant columns.
    """
    p = Path(path)
    if not p.is_file():
        raise TinyGMMError(f"data file not found: {p}")
    raw = p.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    text = _decode(raw, p)
    if not text.strip():
        raise TinyGMMError(f"{p}: the file is empty")
    first = text.splitlines()[0]
    rows = list(csv.reader(io.StringIO(text), delimiter=_sniff_delimiter(first)))
    header = [h.strip() for h in rows[0]]
    # (CSV line number, cells) for every non-blank data row
    body = [(i + 2, r) for i, r in enumerate(rows[1:]) if any(c.strip() for c in r)]
    if not body:
        raise TinyGMMError(f"{p}: has a header but no data rows")

    dups = sorted(n for n, c in Counter(header).items() if c > 1)
    if features is None:
        features = [h for j, h in enumerate(header) if h and _column_is_numeric(body, j)]
        if not features:
            raise TinyGMMError(f"{p}: no numeric column found; columns are {', '.join(header)}")
    for name in features:
        if name not in header:
            raise TinyGMMError(f"{p}: no column {name!r}; available columns: {', '.join(repr(h) for h in header)}")
        if name in dups:
            raise TinyGMMError(f"{p}: column name {name!r} appears more than once in the header")
    cols = [header.index(n) for n in features]

    X = np.empty((len(body), len(cols)), dtype=np.float64)
    bad: dict[int, str] = {}  # CSV line -> first problem on it
    for r, (line, cells) in enumerate(body):
        for c, j in enumerate(cols):
            cell = cells[j].strip() if j < len(cells) else ""
            value, problem = _parse_cell(cell)
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

    for c, name in enumerate(features):
        col = X[:, c]
        if np.all(col == col[0]):
            raise TinyGMMError(
                f"{p}: column {name!r} is constant ({col[0]:g}); a Gaussian mixture cannot use it, "
                "leave it out of --features"
            )
    return Dataset(X=X, feature_names=list(features), path=str(path), sha256=sha, dropped_lines=dropped)


def _parse_cell(cell: str) -> tuple[float, str | None]:
    if cell == "":
        return np.nan, "empty"
    try:
        value = float(cell)
    except ValueError:
        return np.nan, f"not a number ({cell[:20]!r})"
    if not np.isfinite(value):
        return np.nan, f"not finite ({cell!r})"
    if abs(value) > VALUE_LIMIT:
        return np.nan, f"too large for a float32 device ({cell!r})"
    return value, None


def _column_is_numeric(body: list[tuple[int, list[str]]], j: int) -> bool:
    """Most non-empty cells are numbers (a few bad cells are reported, not hidden)."""
    numbers = texts = 0
    for _, cells in body:
        cell = cells[j].strip() if j < len(cells) else ""
        if cell == "":
            continue
        try:
            float(cell)
            numbers += 1
        except ValueError:
            texts += 1
    return numbers > texts

"""The fast path of ``load_csv``: columns parsed by pandas' C reader, problem records re-read with the csv module.

Numbers are parsed in C (pandas 2+ parses floats correctly rounded, as Python's float() does). Nothing
is taken on trust: a record the C reader splits differently from the csv module (checked by counting
records) or a structure it cannot take (a header spanning lines, more cells than the header) raises
``Fallback`` and ``load_csv`` uses the reference reader (``data.reader.RowTable``) instead. Cells that are
empty, non-finite, too large or not plain numbers mark their record, and only those records are read
again with the csv module, so that every message, line number and rule is the reference reader's own.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from . import rules

_TERMINATOR = re.compile(rb"\r\n|\r|\n")


class Fallback(Exception):
    """This file needs the reference reader (data.reader.RowTable)."""


def _count_lines(b: bytes) -> int:
    n = b.count(b"\n") + b.count(b"\r") - b.count(b"\r\n")
    return n + (1 if b and not b.endswith((b"\n", b"\r")) else 0)


def _header(body: bytes) -> tuple[list[str], str, int, int]:
    """(header cells, delimiter, CSV line number of the header, byte offset of the line after it)."""
    pos, line_no, delimiter = 0, 1, None
    while pos < len(body):
        m = _TERMINATOR.search(body, pos)
        end, after = (m.start(), m.end()) if m else (len(body), len(body))
        text = body[pos:end].decode("utf-8")
        if text.count('"') % 2 or len(text.splitlines()) > 1:
            raise Fallback  # a record spanning lines, or a line break only str.splitlines() knows
        if delimiter is None and text.strip():
            delimiter = rules.sniff_delimiter(text)
        if delimiter is not None:
            try:
                cells = next(csv.reader([text], delimiter=delimiter, strict=True), [])
            except csv.Error:
                raise Fallback from None
            if any(c.strip() for c in cells):
                return [c.strip() for c in cells], delimiter, line_no, after
        pos, line_no = after, line_no + 1
    raise Fallback  # no header: the reference reader has the message


def _text_column(values: np.ndarray) -> list[str | None]:
    """Object column -> stripped text (None for an empty cell); booleans pandas guessed stay text."""
    out: list[str | None] = []
    for v in values:
        if isinstance(v, str):
            v = v.strip()
            out.append(v or None)
        elif isinstance(v, float) and v != v:
            out.append(None)
        else:
            out.append(str(v))
    return out


def _read_frame(data: bytes, delimiter: str, width: int) -> pd.DataFrame:
    """Every record as a row (blank ones too), columns 0..width-1, types guessed by pandas."""

    try:
        with warnings.catch_warnings():
            # a first record longer than the header would become the index, with only a warning
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                io.BytesIO(data),
                sep=delimiter,
                header=None,
                names=list(range(width)),
                index_col=False,
                engine="c",
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,
                low_memory=True,  # chunked: a column may mix floats and text, _text_column takes both
                encoding="utf-8",
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, ValueError, OverflowError):
        raise Fallback from None


class FastTable:
    """Columns as float64 arrays (numeric) or stripped text (anything else), blank records removed."""

    def __init__(self, data: bytes, header: list[str], delimiter: str, header_line: int, path: Path) -> None:

        self.header = header
        self._data, self._delimiter, self._offset, self._path = data, delimiter, header_line, path
        width = len(header)
        df = _read_frame(data, delimiter, width)
        if df.shape[1] != width or not isinstance(df.index, pd.RangeIndex):
            raise Fallback
        self._total = len(df)
        if b'"' in data:
            # quoted cells may span lines: count the csv module's records (this also raises its errors)
            if sum(1 for _ in self._records()) != self._total:
                raise Fallback
        elif _count_lines(data) != self._total:
            raise Fallback
        self.numeric: dict[int, np.ndarray] = {}
        self.text: dict[int, list[str | None]] = {}
        present = np.zeros(self._total, dtype=bool)
        for j in range(width):
            col = df[j]
            if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
                arr = col.to_numpy()
                self.numeric[j] = arr
                present |= ~np.isnan(arr) if arr.dtype.kind == "f" else True
            else:
                txt = _text_column(col.to_numpy(dtype=object))
                self.text[j] = txt
                present |= np.fromiter((t is not None for t in txt), dtype=bool, count=len(txt))
        del df
        # blank records (every cell empty or white space) are not rows, as in the reference reader
        self._rows = np.flatnonzero(present)
        if len(self._rows) < self._total:
            keep = self._rows
            self.numeric = {j: a[keep] for j, a in self.numeric.items()}
            self.text = {j: [t[i] for i in keep] for j, t in self.text.items()}
        self.n_rows = len(self._rows)

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        text = self._data.decode("utf-8")
        return rules.iter_records(text, self._path, self._delimiter, self._offset)

    def _lookup(self, rows: list[int]) -> dict[int, tuple[int, list[str]]]:
        """(CSV line, cells) of the given rows, read with the csv module."""
        want = {int(self._rows[r]): r for r in rows}
        found: dict[int, tuple[int, list[str]]] = {}
        n = 0
        for i, record in enumerate(self._records()):
            n = i + 1
            if i in want:
                found[want[i]] = record
        if n != self._total or len(found) != len(want):
            raise Fallback
        return found

    def column_is_numeric(self, j: int) -> bool:
        if j in self.numeric:
            a = self.numeric[j]
            return bool(a.size) and (a.dtype.kind != "f" or bool(np.any(~np.isnan(a))))
        numbers = texts = 0
        for cell in self.text[j]:
            if cell is None:
                continue
            if rules.NUMBER_RE.fullmatch(cell) or rules.NON_FINITE_RE.fullmatch(cell):
                numbers += 1
            else:
                texts += 1
        return numbers > texts

    def number_like_hint(self, j: int) -> str | None:
        if j in self.numeric:
            return None  # only asked of columns that are not numeric: an empty one here
        first = None
        like = total = 0
        for r, cell in enumerate(self.text[j]):
            if cell is None:
                continue
            total += 1
            hint = None if rules.NUMBER_RE.fullmatch(cell) else rules.number_hint(cell)
            if hint or rules.NUMBER_RE.fullmatch(cell):
                like += 1
            if hint and first is None:
                first = (r, hint)
            if total >= 1000:
                break
        if first is None or not (total and like > total / 2):
            return None
        line = self._lookup([first[0]])[first[0]][0]
        return f"line {line}: {first[1]}"

    def distinct_counts(self, j: int) -> bool:
        a = self.numeric.get(j)
        if a is None or a.size == 0:
            return False
        if a.dtype.kind == "f":
            # integers, but a blank record made pandas read the column as floats: ask the text
            if not (np.all(np.isfinite(a)) and np.all(a == np.round(a))):
                return False
            if not (a.min() >= 0 and len(np.unique(a)) == a.size):
                return False
            rows = set(self._rows.tolist())
            return all(
                j < len(cells) and rules.COUNT_RE.fullmatch(cells[j].strip()) is not None
                for i, (_, cells) in enumerate(self._records())
                if i in rows
            )
        return a.dtype.kind in "iu" and bool(a.min() >= 0) and len(np.unique(a)) == a.size

    def values(self, cols: list[int], names: list[str]) -> tuple[np.ndarray, dict[int, str], list[int]]:
        X = np.empty((self.n_rows, len(cols)), dtype=np.float64)
        suspect = np.zeros(self.n_rows, dtype=bool)
        for c, j in enumerate(cols):
            if j in self.numeric:
                v = self.numeric[j].astype(np.float64, copy=False)
                X[:, c] = v
                with np.errstate(invalid="ignore"):
                    suspect |= ~(np.abs(v) <= rules.VALUE_LIMIT)  # nan (empty or missing), inf, too large
            else:
                for r, cell in enumerate(self.text[j]):
                    value, problem = rules.parse_cell(cell or "")
                    X[r, c] = value
                    if problem:
                        suspect[r] = True
        rows = np.flatnonzero(suspect).tolist()
        bad: dict[int, str] = {}
        if rows:
            width = len(self.header)
            for line, cells in self._lookup(rows).values():
                problem = rules.row_problem(cells, cols, names, width)
                if problem is None:
                    raise Fallback  # the C reader saw a problem the csv module does not: trust the latter
                bad[line] = problem
        return X, bad, rows


def read(body: bytes, path: Path) -> FastTable:
    """Parse ``body`` (UTF-8 without BOM, no NULs, not blank); Fallback when the reference reader must."""
    header, delimiter, header_line, start = _header(body)
    return FastTable(body[start:], header, delimiter, header_line, path)

"""In-memory inputs of ``export_model`` checked as scikit-learn checks them: feature names and raw-input arrays.

scikit-learn's rules, applied with one-line TinyGMMErrors instead of tracebacks or warnings:

* feature names are strings (all of them; a DataFrame's default labels 0, 1, 2 are not names), one per
  feature, distinct and not blank; names given for an estimator fitted on a DataFrame must be its
  ``feature_names_in_``, in that order;
* a DataFrame is matched to the estimator's features by column name: the same names in another order
  are reordered, missing or unexpected columns are refused by name (as ``estimator.predict`` refuses
  them); an array is taken by position and must have one column per feature;
* values are finite real numbers (no NaN, inf, text or complex values).

pandas is not imported: a DataFrame is recognised by its ``columns`` and ``dtypes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import TinyGMMError


def _shown(names: Sequence[Any], limit: int = 6) -> str:
    items = [repr(n) for n in list(names)[:limit]]
    return "[" + ", ".join(items) + (", ..." if len(names) > limit else "") + "]"


def check_names(names: Any, d: int, names_in: Sequence[str] | None, what: str = "feature_names") -> list[str]:
    """``names`` as a list of d distinct, non-blank strings that agree with the estimator's ``names_in``."""
    if isinstance(names, (str, bytes)):
        raise TinyGMMError(f"{what} must be a list of {d} names, not one string ({names!r})")
    try:
        given = list(names)
    except TypeError:
        raise TinyGMMError(f"{what} must be a list of {d} names (strings), not a {type(names).__name__}") from None
    bad = [n for n in given if not isinstance(n, str)]
    if bad:
        raise TinyGMMError(
            f"{what} must be strings, as scikit-learn requires; got {bad[0]!r} ({type(bad[0]).__name__}) "
            f"in {_shown(given)}: give the column names as text, e.g. {[str(n) for n in given[:3]]!r}"
        )
    names_str = [str(n) for n in given]  # (numpy's str_ -> str)
    if len(names_str) != d:
        raise TinyGMMError(
            f"{what}: {len(names_str)} feature names for an estimator fitted on {d} features (N_FEATURES = {d})"
        )
    blank = [i for i, n in enumerate(names_str) if not n.strip()]
    if blank:
        raise TinyGMMError(f"{what}[{blank[0]}] is {names_str[blank[0]]!r}: every feature needs a name")
    seen: set[str] = set()
    for n in names_str:
        if n in seen:
            raise TinyGMMError(f"{what} names {n!r} twice: every feature needs its own name")
        seen.add(n)
    if names_in is not None and names_str != list(names_in):
        how = "the same names in another order" if set(names_str) == set(names_in) else "other names"
        raise TinyGMMError(
            f"{what} {_shown(names_str)} are {how} than the estimator's feature_names_in_ {_shown(list(names_in))} "
            f"(the columns it was fitted on); leave {what} out to use those"
        )
    return names_str


def estimator_names(estimator: Any) -> list[str] | None:
    """The estimator's ``feature_names_in_`` (a Pipeline's, else its first step's), or None."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None and hasattr(estimator, "steps"):
        steps = [s for _, s in estimator.steps if s is not None and s != "passthrough"]
        names = getattr(steps[0], "feature_names_in_", None) if steps else None
    return None if names is None else [str(n) for n in names]


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "loc")


def _frame(X: Any, names: list[str], match: list[str] | None, what: str) -> np.ndarray:
    """A DataFrame's columns in the estimator's feature order (matched by name when it has string names)."""
    columns = list(X.columns)
    text = [isinstance(c, str) for c in columns]
    if any(text) and not all(text):
        odd = next(c for c in columns if not isinstance(c, str))
        raise TinyGMMError(
            f"{what}'s column names mix text and other labels ({odd!r}); scikit-learn needs all of them strings"
        )
    if len(set(columns)) != len(columns):
        twice = next(c for c in columns if columns.count(c) > 1)
        raise TinyGMMError(f"{what} has the column {twice!r} twice")
    if all(text) and columns and match is not None:
        expected = match
        missing = [n for n in expected if n not in set(columns)]
        extra = [c for c in columns if c not in set(expected)]
        if missing or extra:
            parts = ([f"missing {_shown(missing)}"] if missing else []) + (
                [f"unexpected {_shown(extra)}"] if extra else []
            )
            raise TinyGMMError(
                f"{what}'s columns do not match the estimator's features: {'; '.join(parts)}; "
                f"give the columns it was fitted on, {_shown(expected, 12)}"
            )
        X = X[expected]  # by name, in the estimator's order
    elif len(columns) != len(names):
        raise TinyGMMError(f"{what} has {len(columns)} columns; expected {len(names)} raw inputs ({_shown(names)})")
    out = np.empty((len(X), len(X.columns)), dtype=np.float64)
    for k, (c, dt) in enumerate(zip(X.columns, X.dtypes, strict=True)):
        column = X.iloc[:, k]
        try:  # numbers (pandas' nullable ones too: NA -> NaN); an object column only when every cell is one
            if getattr(dt, "kind", "O") in "biuf":
                out[:, k] = column.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                out[:, k] = [_number(v) for v in column.to_numpy()]
        except (TypeError, ValueError):
            raise TinyGMMError(
                f"{what}'s column {c!r} is not numeric (dtype {dt}); convert it to numbers or leave it out"
            ) from None
    return out


def _number(v: Any) -> float:
    """One cell of an object column: a real number (bool, int, float, numpy scalar), else ValueError."""
    if isinstance(v, (str, bytes)) or np.iscomplexobj(v):
        raise ValueError(v)
    return float(v)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def raw_inputs(X: Any, names: list[str], match: list[str] | None = None, what: str = "X") -> np.ndarray:
    """X (an array, nested lists or a DataFrame) as an (n, D) float array of finite raw inputs in feature order.

    ``match``: the names a DataFrame's columns are matched to (the estimator's ``feature_names_in_``, or the
    feature names the user gave); None takes the columns by position, as scikit-learn does for an estimator
    fitted without names."""
    d = len(names)
    if _is_frame(X):
        Xa = _frame(X, names, match, what)
    else:
        try:
            arr = np.asarray(X)
        except (TypeError, ValueError) as exc:  # ragged rows
            raise TinyGMMError(f"{what} must be a table of numbers, one row per sample ({_first_line(exc)})") from None
        if arr.dtype.kind == "c":
            raise TinyGMMError(f"{what} holds complex numbers; give real raw inputs")
        if arr.dtype.kind in "OUS":  # object, text: convert only if every cell is a real number
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TinyGMMError(f"{what} must hold numbers ({_first_line(exc)})") from None
        if arr.dtype.kind not in "biuf":
            raise TinyGMMError(f"{what} must be a numeric array of raw inputs (got dtype {arr.dtype})")
        Xa = np.asarray(arr, dtype=np.float64)
        if Xa.ndim != 2 or Xa.shape[1] != d:
            hint = " (one sample: reshape to (1, D))" if Xa.ndim == 1 else ""
            raise TinyGMMError(
                f"{what} has shape {Xa.shape}; expected (n, {d}) raw inputs, one column per feature{hint}"
            )
    if len(Xa) == 0:
        raise TinyGMMError(f"{what} has no rows")
    finite = np.isfinite(Xa)
    if not np.all(finite):
        row, col = (int(i) for i in np.argwhere(~finite)[0])
        count = int((~finite).sum())
        raise TinyGMMError(
            f"{what} has {count} non-finite value(s) (NaN or inf), first at row {row}, feature {names[col]!r}: "
            "drop or impute them first"
        )
    return Xa

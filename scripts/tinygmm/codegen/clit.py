"""C literals: float32 round-trip floats, flash arrays, string literals."""

from __future__ import annotations

import numpy as np

from ..errors import TinyGMMError


def cfloat(v: float) -> str:
    """A float literal that round-trips to the same float32."""
    f = np.float32(v)
    if not np.isfinite(f):
        raise TinyGMMError(f"model constant {v!r} does not fit a float32; cannot export")
    text = repr(float(f)) if f == 0 else np.format_float_positional(f, unique=True, trim="0")
    if len(text) > 16:
        text = np.format_float_scientific(f, unique=True, trim="0")
    if "." not in text and "e" not in text:
        text += ".0"
    if text.endswith("."):
        text += "0"
    return text + "f"


def _rows(values: np.ndarray, per_line: int) -> str:
    flat = [cfloat(v) for v in np.asarray(values, dtype=np.float64).ravel()]
    lines = [", ".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    return "    " + ",\n    ".join(lines)


def float_array(name: str, values: np.ndarray, per_line: int, comment: str) -> str:
    """A float array in flash, ``per_line`` values a line."""
    n = int(np.asarray(values).size)
    return f"// {comment}\nstatic constexpr float {name}[{n}] TINYGMM_FLASH = {{\n{_rows(values, per_line)}\n}};\n"


def int_array(name: str, ctype: str, values: list[int], per_line: int, comment: str) -> str:
    """An integer array in flash (int32_t values get an L suffix)."""
    items = [str(int(v)) + ("L" if ctype == "int32_t" else "") for v in values]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    body = "    " + ",\n    ".join(lines)
    return f"// {comment}\nstatic constexpr {ctype} {name}[{len(items)}] TINYGMM_FLASH = {{\n{body}\n}};\n"


# Feature indices (PERM, Q_PERM) are uint8_t tables up to this many features, uint16_t tables
# up to MAX_INDEXED_FEATURES; the runtime's read_index reads either.
BYTE_INDEXED_FEATURES = 256
MAX_INDEXED_FEATURES = 65536


def index_type(n: int) -> str:
    """The C type of an index into n features (n <= MAX_INDEXED_FEATURES, checked by device_arrays)."""
    return "uint8_t" if n <= BYTE_INDEXED_FEATURES else "uint16_t"


def index_array(name: str, values: list[int], comment: str) -> str:
    """A one-line array of feature indices in flash, of the narrowest type that holds them."""
    ctype = index_type(len(values))
    return f"// {comment}\nstatic constexpr {ctype} {name}[{len(values)}] TINYGMM_FLASH = {{{', '.join(str(int(v)) for v in values)}}};\n"


def byte_array(name: str, values: list[int], comment: str | None) -> str:
    """A one-line uint8_t array in flash."""
    return (
        (f"// {comment}\n" if comment is not None else "")
        + f"static constexpr uint8_t {name}[{len(values)}] TINYGMM_FLASH = {{{', '.join(str(int(v)) for v in values)}}};\n"
    )

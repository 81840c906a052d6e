"""Feature names: which ones a model can carry, and the one form they are compared in.

A feature name is any Unicode text a spreadsheet column can hold (Korean, accented Latin, Cyrillic,
units such as ``µm``, emoji), kept in NFC: the CSV header, ``--features``, ``custom_gmm_features``
and ``export_model(feature_names=...)`` are normalised to NFC when read, so a header saved in NFD
(macOS) matches names typed in NFC, and the model, its JSON, GMM.h and the device's INFO hold NFC.
Refused, because no line of the serial protocol (or a CSV cell on one line) can carry them: control
characters (C0, DEL, C1), line and paragraph separators (U+2028, U+2029), lone surrogates (text that
was not valid UTF-8), and ``|``, the separator of INFO's ``names=``.
"""

from __future__ import annotations

import unicodedata

from .errors import TinyGMMError

SEPARATOR = "|"  # between names in INFO's names= and in GMM.h's FEATURE_NAMES


def nfc(name: str) -> str:
    """The form names are stored and compared in."""
    return unicodedata.normalize("NFC", name)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a feature name (a phrase), or None."""
    if SEPARATOR in name:
        return f"contains '{SEPARATOR}', which separates the names in the device's INFO"
    for ch in name:
        category = unicodedata.category(ch)
        if category == "Cc":
            return f"contains the control character U+{ord(ch):04X}"
        if category in ("Zl", "Zp"):
            return f"contains the line break U+{ord(ch):04X}"
        if category == "Cs":
            return f"contains U+{ord(ch):04X}, a lone surrogate (bytes that were not valid UTF-8)"
    return None


def check_names(names: list[str], what: str = "feature name") -> list[str]:
    """``names`` in NFC, or a one-line TinyGMMError naming the first that cannot be carried."""
    out = []
    for name in names:
        problem = name_problem(name)
        if problem is not None:
            shown = repr(name) if len(name) <= 80 else repr(name[:60]) + "..."  # repr escapes what is not printable
            raise TinyGMMError(f"{what} {shown} {problem}; rename it")
        out.append(nfc(name))
    return out

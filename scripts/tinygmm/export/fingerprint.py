"""What makes an export out of date, computed with the standard library only (the PlatformIO hook's
no-change path uses it): the input-hash tag the outputs carry and the generator's fingerprint."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..codegen.runtime import runtime_paths

INPUT_HASH_TAG = "tinygmm-inputs:"


def generator_fingerprint() -> str:
    """Hash of the C++ runtime and the code generators, so editing either regenerates the header."""
    here = Path(__file__).resolve().parents[1]  # the tinygmm package
    h = hashlib.sha256()
    for path in (
        *runtime_paths(),
        *sorted((here / "codegen").glob("*.py")),
        here / "fit" / "estimator.py",
        here / "export" / "vectors.py",
        here / "anomaly.py",
    ):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]

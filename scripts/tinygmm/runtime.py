"""Where the C++ runtime source is (light: imported on the hook's fast path)."""

from __future__ import annotations

from pathlib import Path

from .errors import TinyGMMError

RUNTIME_NAME = "tinygmm_eval.h"


def runtime_path() -> Path:
    """The runtime in an installed wheel (tinygmm/runtime/), else the repository's lib/."""
    here = Path(__file__).resolve().parent
    for path in (here / "runtime" / RUNTIME_NAME, here.parents[1] / "lib" / "tinygmm" / "src" / RUNTIME_NAME):
        if path.is_file():
            return path
    raise TinyGMMError(f"C++ runtime {RUNTIME_NAME} not found (broken install?)")

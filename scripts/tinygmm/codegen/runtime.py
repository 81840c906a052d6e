"""Where the C++ runtime source is (light: imported on the hook's fast path)."""

from __future__ import annotations

from pathlib import Path

from ..errors import TinyGMMError

RUNTIME_NAME = "tinygmm_eval.h"


def library_path() -> Path:
    """The PlatformIO / Arduino library: in an installed wheel tinygmm/library/, else the repository's lib/tinygmm."""
    here = Path(__file__).resolve().parents[1]  # the tinygmm package
    for path in (here / "library", here.parents[1] / "lib" / "tinygmm"):
        if (path / "library.json").is_file():
            return path
    raise TinyGMMError("the tinygmm library (library.json, src/) was not found next to the package (broken install?)")


def runtime_path() -> Path:
    """The C++ runtime inside the library."""
    path = library_path() / "src" / RUNTIME_NAME
    if not path.is_file():
        raise TinyGMMError(f"C++ runtime {RUNTIME_NAME} not found at {path} (broken install?)")
    return path

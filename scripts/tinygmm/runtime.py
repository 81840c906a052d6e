"""Where the C++ runtime source is (light: imported on the hook's fast path)."""

from __future__ import annotations

from pathlib import Path

from .errors import TinyGMMError

RUNTIME_NAME = "tinygmm_eval.h"


def library_path() -> Path:
    """The PlatformIO / Arduino library: in an installed wheel tinygmm/library/, else the repository's lib/tinygmm."""
    here = Path(__file__).resolve().parent
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


def library_files() -> dict[str, Path]:
    """Every file of the library, labelled: inputs that no export may overwrite (the runtime first)."""
    runtime = runtime_path()
    files = {"the C++ runtime": runtime}
    for path in sorted(library_path().rglob("*")):
        if path.is_file() and path != runtime and "__pycache__" not in path.parts:
            files[f"the tinygmm library's {path.relative_to(library_path())}"] = path
    return files

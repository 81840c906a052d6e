"""tinygmm: Gaussian mixture models fitted with scikit-learn, exported to C++ for microcontrollers."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["ExportResult", "TinyGMMError", "__version__", "export_model"]


def __getattr__(name: str) -> Any:
    # lazy, so that the PlatformIO hook's fast path (tinygmm.pioconfig) does not import numpy
    if name in ("export_model", "ExportResult", "ExportOptions", "PruneReport"):
        from .export import api

        return getattr(api, name)
    if name == "TinyGMMError":
        from .errors import TinyGMMError

        return TinyGMMError
    raise AttributeError(f"module 'tinygmm' has no attribute {name!r}")

"""tinygmm: Gaussian mixture models fitted with scikit-learn, exported to C++ for microcontrollers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import TinyGMMError, TinyGMMWarning
from .version import __version__

if TYPE_CHECKING:
    from .export.api import ExportResult, export_model

__all__ = ["ExportResult", "TinyGMMError", "TinyGMMWarning", "__version__", "export_model"]

_EXPORT_API = ("export_model", "ExportResult", "ExportOptions", "PruneReport")


def __getattr__(name: str) -> object:
    # lazy, so that `import tinygmm` (the PlatformIO hook's no-change path) does not import numpy
    if name in _EXPORT_API:
        from .export import api

        return getattr(api, name)
    raise AttributeError(f"module 'tinygmm' has no attribute {name!r}")

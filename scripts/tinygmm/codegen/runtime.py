"""Where the C++ runtime source is, and which of its parts a header pastes (light: imported on the hook's fast path)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import TinyGMMError

RUNTIME_NAME = "tinygmm_eval.h"  # the whole runtime in one include (the library's users, tests)

# The parts, one concept each, in the order a header pastes them (each only needs those before it).
RUNTIME_PARTS = (
    "tinygmm_platform.h",  # flash access, covariance types, float comparisons: always
    "tinygmm_log_prob.h",  # one component's log-probability per covariance type, centring: always
    "tinygmm_predict.h",  # predict, predict_proba, score_samples, classify: always
    "tinygmm_avr_kernel.h",  # predict of full-covariance models in AVR assembly: models that use it
    "tinygmm_projection.h",  # a pipeline's input projection: pipelines
    "tinygmm_anomaly.h",  # the anomaly decision: anomaly options
    "tinygmm_fixed.h",  # the fixed-point path: --fixed-point
    "tinygmm_anomaly_fixed.h",  # the fixed-point anomaly decision: both
)

# The assembly predict serves full-covariance models up to this dimension (PredictImpl in tinygmm_predict.h).
AVR_KERNEL_MAX_DIMS = 8

_LOCAL_INCLUDE = re.compile(r'^#include "tinygmm_[a-z_]+\.h"\n', re.MULTILINE)


@dataclass(frozen=True)
class RuntimeNeeds:
    """What a model's header uses beyond the float evaluation every header has."""

    avr_kernel: bool = False
    projection: bool = False
    anomaly: bool = False
    fixed_point: bool = False

    def parts(self) -> list[str]:
        wanted = {
            "tinygmm_avr_kernel.h": self.avr_kernel,
            "tinygmm_projection.h": self.projection,
            "tinygmm_anomaly.h": self.anomaly,
            "tinygmm_fixed.h": self.fixed_point,
            "tinygmm_anomaly_fixed.h": self.anomaly and self.fixed_point,
        }
        return [name for name in RUNTIME_PARTS if wanted.get(name, True)]


def library_path() -> Path:
    """The PlatformIO / Arduino library: in an installed wheel tinygmm/library/, else the repository's lib/tinygmm."""
    here = Path(__file__).resolve().parents[1]  # the tinygmm package
    for path in (here / "library", here.parents[1] / "lib" / "tinygmm"):
        if (path / "library.json").is_file():
            return path
    raise TinyGMMError("the tinygmm library (library.json, src/) was not found next to the package (broken install?)")


def _source(name: str) -> Path:
    path = library_path() / "src" / name
    if not path.is_file():
        raise TinyGMMError(f"C++ runtime {name} not found at {path} (broken install?)")
    return path


def runtime_path() -> Path:
    """The C++ runtime inside the library (the include of all its parts)."""
    return _source(RUNTIME_NAME)


def runtime_paths() -> list[Path]:
    """Every file of the C++ runtime: the parts and the include of them all."""
    return [_source(name) for name in (*RUNTIME_PARTS, RUNTIME_NAME)]


def runtime_text(needs: RuntimeNeeds) -> str:
    """The parts a header with these needs pastes, verbatim but for their includes of each other
    (the header pastes those parts itself, before the part that needs them)."""
    texts = [_LOCAL_INCLUDE.sub("", _source(name).read_text(encoding="utf-8")).rstrip() for name in needs.parts()]
    return "\n\n".join(texts)


def library_files() -> dict[str, Path]:
    """Every file of the library and of this package, labelled: inputs no export may overwrite (runtime first)."""
    runtime = runtime_path()
    files = {"the C++ runtime": runtime}
    for path in sorted(library_path().rglob("*")):
        rel = path.relative_to(library_path())
        # the examples' own GMM.h is an export's output (tinygmm export writes it); the rest is input
        if path.is_file() and path != runtime and "__pycache__" not in rel.parts and rel.parts[0] != "examples":
            files[f"the tinygmm library's {rel}"] = path
    package = Path(__file__).resolve().parents[1]  # the tool itself: its Python files are inputs of every export
    seen = set(files.values())
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package)
        if path.is_file() and path not in seen and "__pycache__" not in rel.parts:
            files[f"the tinygmm package's {rel.as_posix()}"] = path
    return files

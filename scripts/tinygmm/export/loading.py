"""Read a saved estimator for ``tinygmm export --model FILE``.

``.skops`` files are read with ``skops.io``, which refuses every type it is
not told to trust: tinygmm trusts exactly the types an exportable estimator
is made of (below) and names any other type the file holds. ``.joblib`` /
``.pkl`` files are pickles: loading one runs whatever code it contains, so
it needs ``--trust-pickle``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib

from ..errors import TinyGMMError

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")

# what a Pipeline of scalers / PCA ending in a (Bayesian) Gaussian mixture holds
TRUSTED_TYPES = (
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.MinMaxScaler",
    "sklearn.preprocessing._data.MaxAbsScaler",
    "sklearn.preprocessing._data.RobustScaler",
    "sklearn.decomposition._pca.PCA",
    "sklearn.mixture._gaussian_mixture.GaussianMixture",
    "sklearn.mixture._bayesian_mixture.BayesianGaussianMixture",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.float32",
    "numpy.int64",
    "numpy.int32",
    "builtins.slice",
)


def load_skops(path: Path) -> Any:
    try:
        import skops.io as sio
    except ImportError:
        raise TinyGMMError(f"{path}: reading .skops files needs skops: pip install skops") from None
    try:
        untrusted = sio.get_untrusted_types(file=path)
        unknown = sorted(set(untrusted) - set(TRUSTED_TYPES))
        if unknown:
            raise TinyGMMError(
                f"{path}: holds types tinygmm does not trust ({', '.join(unknown)}); "
                "only pipelines of scalers / PCA ending in a (Bayesian) Gaussian mixture can be exported"
            )
        return sio.load(path, trusted=list(untrusted))
    except TinyGMMError:
        raise
    except Exception as exc:  # skops raises many types for a damaged file
        raise TinyGMMError(f"{path}: not a readable .skops file ({type(exc).__name__}: {exc})") from None


def load_pickle(path: Path, trust_pickle: bool) -> Any:
    if not trust_pickle:
        raise TinyGMMError(
            f"{path}: loading a pickle (.joblib/.pkl) runs arbitrary code from the file; pass --trust-pickle "
            "only if you made it or trust its author (or save it with skops.io.dump as .skops)"
        )

    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling raises anything
        raise TinyGMMError(f"{path}: could not load the pickle ({type(exc).__name__}: {exc})") from None


def load_estimator(path: str | Path, trust_pickle: bool = False) -> Any:
    """The estimator saved in path (.skops, or .joblib/.pkl with trust_pickle)."""
    p = Path(path)
    if not p.is_file():
        raise TinyGMMError(f"model file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".skops":
        return load_skops(p)
    if suffix in PICKLE_SUFFIXES:
        return load_pickle(p, trust_pickle)
    raise TinyGMMError(f"{p}: unknown model file type {suffix or '(none)'}; expected .skops, .joblib or .pkl")

"""check_model: one validation of a model's shapes and values, wherever it comes from.

Called after fitting, when a model JSON is loaded and when a scikit-learn
estimator is imported, so the code generator only ever sees a model it can
evaluate: shapes per covariance type (scikit-learn's), positive weights,
finite parameters, positive Cholesky diagonals, K within the runtime's limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import TinyGMMError

if TYPE_CHECKING:
    from .exported import ExportedModel

MAX_COMPONENTS = 127  # the runtime's component indices are int8 / uint8 tables

COVARIANCE_SHAPES = {
    "full": lambda k, d: ((k, d, d), (k, d, d)),
    "tied": lambda k, d: ((d, d), (d, d)),
    "diag": lambda k, d: ((k, d), (k, d)),
    "spherical": lambda k, d: ((k,), (k,)),
}


def _cholesky_diagonals(m: ExportedModel) -> np.ndarray:
    pc, t = m.precisions_cholesky, m.covariance_type
    if t == "full":
        return np.array([np.diag(u) for u in pc])
    if t == "tied":
        return np.diag(pc)
    return pc


def _expect(name: str, value: np.ndarray, shape: tuple[int, ...], where: str) -> None:
    if value.shape != shape:
        raise TinyGMMError(f"{where}{name} has shape {value.shape}, expected {shape}")


def check_model(m: ExportedModel, where: str = "") -> None:
    """Raise TinyGMMError (one line, naming the parameter) unless m can be exported as is."""
    t, k, d = m.covariance_type, m.n_components, m.n_dims
    if t not in COVARIANCE_SHAPES:
        raise TinyGMMError(f"{where}covariance_type {t!r} is not one of {', '.join(COVARIANCE_SHAPES)}")
    if k < 1:
        raise TinyGMMError(f"{where}the model has no components")
    if k > MAX_COMPONENTS:
        raise TinyGMMError(f"{where}{k} components: the device runtime supports at most {MAX_COMPONENTS}")
    cov_shape, pc_shape = COVARIANCE_SHAPES[t](k, d)
    _expect("weights", m.weights, (k,), where)
    _expect("means", m.means, (k, d), where)
    _expect("covariances", m.covariances, cov_shape, where)
    _expect("precisions_cholesky", m.precisions_cholesky, pc_shape, where)
    _expect("offset", m.offset, (d,), where)
    _expect("scale", m.scale, (d,), where)
    if m.log_weights is not None:
        _expect("log_weights", m.log_weights, (k,), where)
    raw_d = m.n_features
    if m.projection is not None:
        _expect("projection centre", m.projection.centre, (raw_d,), where)
        _expect("projection matrix", m.projection.matrix, (d, raw_d), where)
    elif raw_d != d:
        raise TinyGMMError(f"{where}{raw_d} feature names for a model of {d} features")
    params = {
        "weights": m.weights,
        "means": m.means,
        "covariances": m.covariances,
        "precisions_cholesky": m.precisions_cholesky,
        "offset": m.offset,
        "scale": m.scale,
        **({"log_weights": m.log_weights} if m.log_weights is not None else {}),
        **({"projection": m.projection.matrix, "projection centre": m.projection.centre} if m.projection else {}),
    }
    for name, value in params.items():
        if not np.all(np.isfinite(value)):
            raise TinyGMMError(f"{where}the fitted parameters are not finite ({name}); nothing written")
    if np.any(m.weights <= 0) or abs(float(m.weights.sum()) - 1.0) > 1e-6:
        raise TinyGMMError(f"{where}weights must be positive and sum to 1 (they sum to {float(m.weights.sum()):.9g})")
    if np.any(m.scale <= 0):
        raise TinyGMMError(f"{where}scale must be positive")
    if np.any(_cholesky_diagonals(m) <= 0):
        raise TinyGMMError(f"{where}precisions_cholesky must have a positive diagonal (a degenerate component?)")

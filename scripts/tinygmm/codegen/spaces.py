"""The input transform and the per-covariance-type math both paths share.

See the glossary in ``codegen/__init__.py`` for the spaces x, u, z, w.
Shapes follow scikit-learn: ``precisions_cholesky`` is (K, D, D) for full,
(D, D) for tied, (K, D) for diag and (K,) for spherical models.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..model.exported import ExportedModel

HALF_SQRT = math.sqrt(0.5)
LOG_2PI = math.log(2.0 * math.pi)
# A mean whose float32 step exceeds this many of its component's standard
# deviations is stored as a float pair, and x - offset computed exactly.
EXACT_LIMIT = 2.0**-17

# ---- per covariance type -------------------------------------------------

_LOG_DET: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "full": lambda pc, k, d: np.array([np.sum(np.log(np.diag(u))) for u in pc]),
    "tied": lambda pc, k, d: np.full(k, np.sum(np.log(np.diag(pc)))),
    "diag": lambda pc, k, d: np.sum(np.log(pc), axis=1),
    "spherical": lambda pc, k, d: d * np.log(pc),
}

# each component's variance along each feature, (K, D), from covariances_
_FEATURE_VARIANCES: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "full": lambda cov, k, d: np.array([np.diag(c) for c in cov]),
    "tied": lambda cov, k, d: np.tile(np.diag(cov), (k, 1)),
    "diag": lambda cov, k, d: cov,
    "spherical": lambda cov, k, d: np.repeat(cov[:, None], d, axis=1),
}

# the precision Cholesky factor of each component in z-space, (K, D, D), given
# A (u = A z + b): diag(A) U (a diagonal matrix for diag and spherical models)
_FACTORS_Z: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "full": lambda pc, A, k: np.stack([A[:, None] * pc[j] for j in range(k)]),
    "tied": lambda pc, A, k: np.stack([A[:, None] * pc] * k),
    "diag": lambda pc, A, k: np.stack([np.diag(A * pc[j]) for j in range(k)]),
    "spherical": lambda pc, A, k: np.stack([np.diag(A * pc[j]) for j in range(k)]),
}

# inverse standard deviation of each component along each feature in
# w-space, (K, D), given the per-feature factor a = A / s (for mean_resolution)
_INV_SD_W: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "full": lambda pc, a: np.sqrt(np.einsum("kij,kij->ki", pc, pc)) * a[None, :],
    "tied": lambda pc, a: np.sqrt(np.einsum("kij,kij->ki", pc[None], pc[None])) * a[None, :],
    "diag": lambda pc, a: pc * a[None, :],
    "spherical": lambda pc, a: np.outer(pc, a),
}


def log_det_cholesky(m: ExportedModel) -> np.ndarray:
    """log det of each component's precision Cholesky factor (u-space), shape (K,)."""
    return _LOG_DET[m.covariance_type](m.precisions_cholesky, m.n_components, m.n_features)


def log_constant(m: ExportedModel) -> np.ndarray:
    """c_k = log w_k + log det U_k - D/2 log(2 pi): component k's log-probability at its mean, (K,).

    log w_k is ``component_log_weights``: a Bayesian mixture's constant terms are folded in here.
    """
    return m.component_log_weights() + log_det_cholesky(m) - 0.5 * m.n_features * LOG_2PI


def precision_factors_z(m: ExportedModel, A: np.ndarray) -> np.ndarray:
    """Each component's precision Cholesky factor in z-space, (K, D, D) upper triangular."""
    return _FACTORS_Z[m.covariance_type](m.precisions_cholesky, A, m.n_components)


def inv_sd_w(m: ExportedModel, a: np.ndarray) -> np.ndarray:
    """1 / sd of each component along each feature of w-space, (K, D), a = A / s."""
    return _INV_SD_W[m.covariance_type](m.precisions_cholesky, a)


# ---- the input transform --------------------------------------------------


def input_transform(m: ExportedModel) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) of the device's z = (x - offset) / scale.

    The offset is the weighted mean of the component means; the scale is the
    user's scaler if there is one, else the mixture's own standard deviation
    (one common value for spherical models, which must stay isotropic). Model
    constants in z-space are of order one, so float32 keeps them precise even
    for badly scaled, strongly correlated raw features.
    """
    means_x = m.offset + m.scale * m.means
    offset = m.weights @ means_x
    if m.scaler != "none":
        return offset, m.scale.copy()
    var = _FEATURE_VARIANCES[m.covariance_type](m.covariances, m.n_components, m.n_features)
    total = m.weights @ (var + (means_x - offset) ** 2)
    scale = np.sqrt(total)
    if m.covariance_type == "spherical":
        scale = np.full_like(scale, np.sqrt(total.mean()))
    return offset, np.where(scale > 0, scale, 1.0)


@dataclass
class Space:
    """z-space of a model: z = (x - o) / s, and u = A z + b_shift (per feature)."""

    o: np.ndarray  # (D,) raw offset
    s: np.ndarray  # (D,) raw scale
    A: np.ndarray  # (D,) s / scale_u
    b_shift: np.ndarray  # (D,) (o - offset_u) / scale_u
    means_z: np.ndarray  # (K, D)


def z_space(m: ExportedModel) -> Space:
    """The standardised space: a mean mu_u becomes (mu_u - b_shift) / A."""
    o, s = input_transform(m)
    A = s / m.scale
    b_shift = (o - m.offset) / m.scale
    return Space(o, s, A, b_shift, (m.means - b_shift) / A)


# ---- shared helpers ---------------------------------------------------------


def discriminative_order(weights: np.ndarray, means: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Features by descending ratio of between-component to within-component variance.

    The first partial sums of predict (and predict_fixed's bins) are the
    marginal distances of the first features; the more they separate the
    components, the earlier a losing component is dropped. means and var are
    (K, D), in one space.
    """
    centre = weights @ means
    between = weights @ (means - centre) ** 2
    within = weights @ var
    ratio = between / np.where(within > 0, within, 1.0)
    return np.array(sorted(range(means.shape[1]), key=lambda i: (-ratio[i], i)), dtype=np.int64)


def upper_factor(p: np.ndarray) -> np.ndarray:
    """Upper triangular U with U U^T = p (p symmetric positive definite)."""
    return np.linalg.cholesky(p[::-1, ::-1])[::-1, ::-1]


def mixture_samples(m: ExportedModel, n: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(raw inputs, winning component) for n points drawn from the mixture itself (seeded)."""
    g = m.to_sklearn()
    g.weights_ = m.weights.copy()  # drawn by the mixing weights (a Bayesian model's log_weights are not)
    g.random_state = 0
    z, _ = g.sample(n)
    return m.offset + m.scale * z, m.to_sklearn().predict(z)


def mean_resolution(means_w: np.ndarray, inv_sd: np.ndarray) -> float:
    """The largest float32 step of a component mean (and so of an input near
    it), in standard deviations of that component along that feature."""
    step = np.spacing(np.abs(means_w).astype(np.float32)).astype(np.float64)
    return float(np.max(step * inv_sd))


def float_pair(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v as hi + lo, two float32 values (hi the nearest float32)."""
    hi = np.asarray(v, dtype=np.float32).astype(np.float64)
    return hi, (np.asarray(v, dtype=np.float64) - hi).astype(np.float32).astype(np.float64)

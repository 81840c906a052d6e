"""The input transform and the per-covariance-type math both paths share.

See the glossary in ``codegen/__init__.py`` for the spaces x, u, z, w.
Shapes follow scikit-learn: ``precisions_cholesky`` is (K, D, D) for full,
(D, D) for tied, (K, D) for diag and (K,) for spherical models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model.exported import ExportedModel
from .covariance import Spherical, kind

LOG_2PI = math.log(2.0 * math.pi)
# A mean whose float32 step exceeds this many of its component's standard
# deviations is stored as a float pair, and x - offset computed exactly.
EXACT_LIMIT = 2.0**-17

# ---- per covariance type: codegen/covariance.py ------------------------------


def log_det_cholesky(m: ExportedModel) -> np.ndarray:
    """log det of each component's precision Cholesky factor (u-space), shape (K,)."""
    return kind(m).compute_log_det_cholesky(m.precisions_cholesky, m.n_components, m.n_features)


def log_constant(m: ExportedModel) -> np.ndarray:
    """c_k = log w_k + log det U_k - D/2 log(2 pi): component k's log-probability at its mean, (K,).

    log w_k is ``component_log_weights``: a Bayesian mixture's constant terms are folded in here.
    """
    return m.component_log_weights() + log_det_cholesky(m) - 0.5 * m.n_features * LOG_2PI


def precision_factors_z(m: ExportedModel, A: np.ndarray) -> np.ndarray:
    """Each component's precision Cholesky factor in z-space, (K, D, D) upper triangular."""
    return kind(m).compute_precision_factors_z(m.precisions_cholesky, A, m.n_components)


def inv_sd_w(m: ExportedModel, a: np.ndarray) -> np.ndarray:
    """1 / sd of each component along each feature of w-space, (K, D), a = A / s."""
    return kind(m).compute_inv_sd_w(m.precisions_cholesky, a)


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
    var = kind(m).compute_feature_variances(m.covariances, m.n_components, m.n_features)
    total = m.weights @ (var + (means_x - offset) ** 2)
    scale = np.sqrt(total)
    if kind(m) is Spherical:  # one scale: the model must stay isotropic
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

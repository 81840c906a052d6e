"""Per covariance type, one place: what the generator computes differently for full, tied, diag and spherical.

Each type is one small class whose functions are named after what they compute (as scikit-learn's
``_compute_precision_cholesky`` / ``_compute_log_det_cholesky``), plus the flags the rest of the generator
asks about; ``kind(m)`` is the model's. Shapes follow scikit-learn: ``precisions_cholesky`` is (K, D, D)
for full, (D, D) for tied, (K, D) for diag and (K,) for spherical models; ``covariances`` likewise.
Spaces: see the glossary in ``codegen/__init__.py``; a record's layout: see ``codegen/records.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .clit import float_array

if TYPE_CHECKING:
    from ..model.exported import ExportedModel
    from .records import Frame

HALF_SQRT = math.sqrt(0.5)


@dataclass
class Records:
    """One covariance type's records and the glue the runtime needs for them."""

    rows: list[list[float]]  # one per component, in the frame's order
    kernel: str  # the runtime's log_prob function
    what: str  # the record layout, for the comment
    arrays: list[str] = field(default_factory=list)  # extra tables (after ORDER)
    shared: str = "0.0f"  # C expression of the term common to all components (of w)
    transform: tuple[str, str] | None = None  # (table, call) replacing the centring (spherical)


def mean_layout(f: Frame, per: str = "_j") -> str:
    """How a record stores a mean, for its comment."""
    return f"mean{per} (hi, lo)" if f.exact else f"mean{per}"


class Covariance:
    """The interface: one subclass per covariance type."""

    name: ClassVar[str]
    c_enum: ClassVar[str]  # tinygmm::CovarianceType in the runtime
    shared_precision: ClassVar[bool] = False  # one precision for every component (tied)
    diagonal: ClassVar[bool] = False  # a diagonal precision factor (the fixed-point path's DIAG)
    ordered_features: ClassVar[bool] = False  # partial sums prune: features in discriminative order, start hints

    @staticmethod
    def compute_log_det_cholesky(pc: np.ndarray, k: int, d: int) -> np.ndarray:
        """log det of each component's precision Cholesky factor (u-space), (K,)."""
        raise NotImplementedError

    @staticmethod
    def compute_feature_variances(cov: np.ndarray, k: int, d: int) -> np.ndarray:
        """Each component's variance along each feature, (K, D), from covariances_."""
        raise NotImplementedError

    @staticmethod
    def compute_precision_factors_z(pc: np.ndarray, A: np.ndarray, k: int) -> np.ndarray:
        """Each component's precision Cholesky factor in z-space diag(A) U, (K, D, D), given u = A z + b."""
        raise NotImplementedError

    @staticmethod
    def compute_inv_sd_w(pc: np.ndarray, a: np.ndarray) -> np.ndarray:
        """1 / sd of each component along each feature of w-space, (K, D), given a = A / s."""
        raise NotImplementedError

    @staticmethod
    def build_records(f: Frame) -> Records:
        """The float path's record of each component."""
        raise NotImplementedError


class Full(Covariance):
    name = "full"
    c_enum = "COV_FULL"
    ordered_features = True

    @staticmethod
    def compute_log_det_cholesky(pc: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.array([np.sum(np.log(np.diag(u))) for u in pc])

    @staticmethod
    def compute_feature_variances(cov: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.array([np.diag(c) for c in cov])

    @staticmethod
    def compute_precision_factors_z(pc: np.ndarray, A: np.ndarray, k: int) -> np.ndarray:
        return np.stack([A[:, None] * pc[j] for j in range(k)])

    @staticmethod
    def compute_inv_sd_w(pc: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.sqrt(np.einsum("kij,kij->ki", pc, pc)) * a[None, :]

    @staticmethod
    def build_records(f: Frame) -> Records:
        """c, then per column j: mean_j and U[0..j][j]."""
        u = [f.packed(f.m.precisions_cholesky[j], f.perm) for j in range(f.m.n_components)]
        rows = []
        for j in f.order:
            r, pos = [f.c[j]], 0
            for col in range(f.m.n_features):
                r += [*f.mean(j, col), *u[j][pos : pos + col + 1]]
                pos += col + 1
            rows.append(r)
        what = f"c, then per column j: {mean_layout(f)}, U[0..j][j] (U: sqrt(1/2) precision Cholesky)"
        return Records(rows, "full_log_prob", what)


class Tied(Covariance):
    name = "tied"
    c_enum = "COV_TIED"
    shared_precision = True

    @staticmethod
    def compute_log_det_cholesky(pc: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.full(k, np.sum(np.log(np.diag(pc))))

    @staticmethod
    def compute_feature_variances(cov: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.tile(np.diag(cov), (k, 1))

    @staticmethod
    def compute_precision_factors_z(pc: np.ndarray, A: np.ndarray, k: int) -> np.ndarray:
        return np.stack([A[:, None] * pc] * k)

    @staticmethod
    def compute_inv_sd_w(pc: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.sqrt(np.einsum("kij,kij->ki", pc[None], pc[None])) * a[None, :]

    @staticmethod
    def build_records(f: Frame) -> Records:
        """A linear discriminant: c - 1/2 mean' P mean, then P mean (the shared quadratic term cancels)."""
        d = f.m.n_features
        uw = (f.sp.A / f.sp.s)[:, None] * f.m.precisions_cholesky
        prec_w = uw @ uw.T
        slope = f.means_w @ prec_w  # (K, D)
        intercept = f.c - 0.5 * np.einsum("ki,ij,kj->k", f.means_w, prec_w, f.means_w)
        table = float_array(
            "PREC_CHOL",
            f.packed(f.m.precisions_cholesky),
            d * (d + 1) // 2,
            "sqrt(1/2) * shared precision Cholesky in w-space, packed by column",
        )
        rows = [[intercept[j], *slope[j]] for j in f.order]
        shared = "tinygmm::tied_shared<D>(w, PREC_CHOL)"
        return Records(rows, "linear_log_prob", "c - 1/2 mean' P mean, then P mean", [table], shared)


class Diag(Covariance):
    name = "diag"
    c_enum = "COV_DIAG"
    diagonal = True
    ordered_features = True

    @staticmethod
    def compute_log_det_cholesky(pc: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.sum(np.log(pc), axis=1)

    @staticmethod
    def compute_feature_variances(cov: np.ndarray, k: int, d: int) -> np.ndarray:
        return cov

    @staticmethod
    def compute_precision_factors_z(pc: np.ndarray, A: np.ndarray, k: int) -> np.ndarray:
        return np.stack([np.diag(A * pc[j]) for j in range(k)])

    @staticmethod
    def compute_inv_sd_w(pc: np.ndarray, a: np.ndarray) -> np.ndarray:
        return pc * a[None, :]

    @staticmethod
    def build_records(f: Frame) -> Records:
        """c, then per feature: mean_i and sqrt(1/2) / sd_i."""
        p = f.m.precisions_cholesky * (f.sp.A / f.sp.s)[None, :] * HALF_SQRT
        if f.perm is not None:
            p = p[:, f.perm]
        d = f.m.n_features
        rows = [[f.c[j], *[v for i in range(d) for v in (*f.mean(j, i), p[j, i])]] for j in f.order]
        return Records(rows, "diag_log_prob", f"c, then {mean_layout(f, '_i')}, sqrt(1/2) / sd_i per feature")


class Spherical(Covariance):
    name = "spherical"
    c_enum = "COV_SPHERICAL"
    diagonal = True

    @staticmethod
    def compute_log_det_cholesky(pc: np.ndarray, k: int, d: int) -> np.ndarray:
        return d * np.log(pc)

    @staticmethod
    def compute_feature_variances(cov: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.repeat(cov[:, None], d, axis=1)

    @staticmethod
    def compute_precision_factors_z(pc: np.ndarray, A: np.ndarray, k: int) -> np.ndarray:
        return np.stack([np.diag(A * pc[j]) for j in range(k)])

    @staticmethod
    def compute_inv_sd_w(pc: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.outer(pc, a)

    @staticmethod
    def build_records(f: Frame) -> Records:
        """c, precision / 2, mean: isotropic in z-space; w-space is isotropic too only if s is
        uniform (no user scaler), else the device scales its input (D multiplies)."""
        A, s, d = f.sp.A, f.sp.s, f.m.n_features
        iso = bool(np.all(s == s[0]))
        h = 0.5 * (f.m.precisions_cholesky * A[0] / (s[0] if iso else 1.0)) ** 2
        means = f.sp.means_z
        rows = [
            [f.c[j], h[j], *[v for i in range(d) for v in (f.mean(j, i) if iso else [means[j, i]])]] for j in f.order
        ]
        what = "c, precision / 2, mean" + (" (hi, lo per feature)" if f.exact else "")
        transform = None
        if not iso:
            table = float_array("IN_INV_SCALE", 1.0 / s, max(d, 1), "z = (x - IN_OFFSET) * IN_INV_SCALE (D)")
            transform = (table, "tinygmm::standardize<D>(x, w, IN_OFFSET, IN_INV_SCALE)")
        return Records(rows, "spherical_log_prob", what, transform=transform)


COVARIANCES: dict[str, type[Covariance]] = {c.name: c for c in (Full, Tied, Diag, Spherical)}


def kind(m: ExportedModel) -> type[Covariance]:
    """The covariance type of a model (check_model has refused any other)."""
    return COVARIANCES[m.covariance_type]

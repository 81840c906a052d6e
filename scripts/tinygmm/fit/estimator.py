"""A fitted scikit-learn estimator -> ExportedModel.

Accepted: ``GaussianMixture`` and ``BayesianGaussianMixture`` (any covariance
type), alone or as the last step of a ``Pipeline`` whose earlier steps are
scalers or PCAs. Every earlier step is affine, so the chain is folded into
one map u = A x + a: per feature (offset, scale) while every step is, else a
``Projection`` (P x D after a reducing PCA). A Bayesian mixture's
per-component constants are folded into ``log_weights``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import sklearn
from scipy.special import digamma
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ..data.inputs import check_names, estimator_names
from ..errors import TinyGMMError
from ..model.check import check_model
from ..model.exported import ExportedModel, Projection
from ..names import nfc

MIXTURES = ("GaussianMixture", "BayesianGaussianMixture")
STEPS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "PCA")
if TYPE_CHECKING:
    from ..data.reader import Dataset
    from .sweep import FitResult

SUPPORTED = f"supported: {' or '.join(MIXTURES)}, alone or after any of {', '.join(STEPS)} in a Pipeline"


@dataclass
class Affine:
    """u = (x - offset) / scale per feature while ``matrix`` is None, else u = matrix @ x + shift."""

    offset: np.ndarray
    scale: np.ndarray
    matrix: np.ndarray | None = None
    shift: np.ndarray | None = None
    centre: np.ndarray | None = None  # a raw point in the data's range (the first centring step's centre)

    def then_per_feature(self, centre_u: np.ndarray, scale_u: np.ndarray) -> Affine:
        """Compose with u' = (u - centre_u) / scale_u."""
        if self.matrix is None:  # (x - offset - centre_u scale) / (scale scale_u): exact for the first step
            centre = self.centre
            if centre is None and np.any(centre_u != 0):
                centre = self.offset + centre_u * self.scale
            return Affine(self.offset + centre_u * self.scale, self.scale * scale_u, centre=centre)
        return Affine(
            self.offset, self.scale, self.matrix / scale_u[:, None], (self.shift - centre_u) / scale_u, self.centre
        )

    def then_linear(self, mean_u: np.ndarray, components: np.ndarray, divide: np.ndarray) -> Affine:
        """Compose with u' = components (u - mean_u) / divide (a PCA)."""
        if self.matrix is None:
            matrix, shift = np.diag(1.0 / self.scale), -self.offset / self.scale
            centre = self.centre if self.centre is not None else self.offset + mean_u * self.scale
        else:
            matrix, shift, centre = self.matrix, self.shift, self.centre
        assert shift is not None
        return Affine(
            self.offset,
            self.scale,
            components @ matrix / divide[:, None],
            components @ (shift - mean_u) / divide,
            centre,
        )


def _step_name(step: Any) -> str:
    return type(step).__name__


def _per_feature(step: Any) -> tuple[np.ndarray, np.ndarray]:
    """(centre, scale) of a scaler, u' = (u - centre) / scale."""
    name, n = _step_name(step), int(step.n_features_in_)
    zeros, ones = np.zeros(n), np.ones(n)
    if name == "StandardScaler":  # mean_ is set even when with_mean=False, and then not used
        centre = step.mean_ if step.with_mean and step.mean_ is not None else zeros
        return centre, (step.scale_ if step.with_std and step.scale_ is not None else ones)
    if name == "RobustScaler":
        centre = step.center_ if step.with_centering and step.center_ is not None else zeros
        return centre, (step.scale_ if step.with_scaling and step.scale_ is not None else ones)
    if name == "MaxAbsScaler":
        return zeros, step.scale_
    # MinMaxScaler: u' = u * scale_ + min_; for (0, 1) exactly (u - data_min_) / data_range_
    if getattr(step, "clip", False):
        raise TinyGMMError("MinMaxScaler(clip=True) is not affine; refit with clip=False")
    if tuple(step.feature_range) == (0, 1) and np.all(step.data_range_ > 0):
        return step.data_min_, step.data_range_
    return -step.min_ / step.scale_, 1.0 / step.scale_


def _pca(step: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    divide = np.ones(step.components_.shape[0])
    if step.whiten:  # as PCA.transform: sqrt(explained_variance_), floored at eps
        divide = np.sqrt(step.explained_variance_)
        divide = np.where(divide < np.finfo(divide.dtype).eps, np.finfo(divide.dtype).eps, divide)
    return step.mean_, step.components_, divide


def _check_fitted(step: Any, where: str) -> None:

    try:
        check_is_fitted(step)
    except NotFittedError:
        raise TinyGMMError(f"{where}{_step_name(step)} is not fitted: call fit() before exporting") from None
    except TypeError as exc:
        raise TinyGMMError(f"{where}{_step_name(step)} is not a scikit-learn estimator ({exc}); {SUPPORTED}") from None


def split_pipeline(estimator: Any) -> tuple[list[tuple[str, Any]], Any]:
    """(preprocessing steps, mixture); one clear error for anything unsupported."""
    name = _step_name(estimator)
    if name == "Pipeline":
        steps = [(n, s) for n, s in estimator.steps if s is not None and s != "passthrough"]
        if not steps:
            raise TinyGMMError(f"the Pipeline has no steps; {SUPPORTED}")
        pre, (last_name, mixture) = steps[:-1], steps[-1]
        if _step_name(mixture) not in MIXTURES:
            raise TinyGMMError(
                f"the Pipeline's last step {last_name!r} is a {_step_name(mixture)}, not a mixture; {SUPPORTED}"
            )
        for n, s in pre:
            if _step_name(s) not in STEPS:
                raise TinyGMMError(f"unsupported Pipeline step {n!r} ({_step_name(s)}); {SUPPORTED}")
        return pre, mixture
    if name not in MIXTURES:
        raise TinyGMMError(f"cannot export a {name}; {SUPPORTED}")
    return [], estimator


def fold_steps(steps: list[tuple[str, Any]], d: int) -> Affine:
    """The pipeline's preprocessing as one affine map of the d raw features."""
    affine = Affine(np.zeros(d), np.ones(d))
    for _, step in steps:
        if _step_name(step) == "PCA":
            affine = affine.then_linear(*_pca(step))
        else:
            centre, scale = _per_feature(step)
            affine = affine.then_per_feature(np.asarray(centre, float), np.asarray(scale, float))
    return affine


def bayesian_log_weights(g: Any) -> np.ndarray:
    """A BayesianGaussianMixture's per-component constant: _estimate_log_weights plus the terms
    _estimate_log_prob adds to the Gaussian log-density of precisions_cholesky_, (K,)."""

    d = g.means_.shape[1]
    dof = np.broadcast_to(np.asarray(g.degrees_of_freedom_, dtype=np.float64), (g.n_components,))
    log_lambda = d * np.log(2.0) + np.sum(digamma(0.5 * (dof - np.arange(d)[:, None])), axis=0)
    extra = -0.5 * d * np.log(dof) + 0.5 * (log_lambda - d / g.mean_precision_)
    return np.asarray(g._estimate_log_weights(), dtype=np.float64) + extra


def default_names(estimator: Any, steps: list[tuple[str, Any]], mixture: Any) -> list[str]:
    first = steps[0][1] if steps else mixture
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = getattr(first, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [f"x{i}" for i in range(int(first.n_features_in_))]


def describe(steps: list[tuple[str, Any]], mixture: Any) -> str:
    """A one-line description for the provenance, e.g. StandardScaler -> PCA(4) -> GaussianMixture(6, full)."""
    parts = []
    for _, s in steps:
        if _step_name(s) == "PCA":
            parts.append(f"PCA({s.n_components_}{', whiten' if s.whiten else ''})")
        else:
            parts.append(_step_name(s))
    extra = f", {mixture.weight_concentration_prior_type}" if _step_name(mixture) == "BayesianGaussianMixture" else ""
    parts.append(f"{_step_name(mixture)}({mixture.n_components}, {mixture.covariance_type}{extra})")
    return " -> ".join(parts)


def scaler_name(steps: list[tuple[str, Any]]) -> str:
    """The model JSON's scaler: as the CSV path names its own, else the step names."""
    if not steps:
        return "none"
    if len(steps) == 1 and _step_name(steps[0][1]) == "StandardScaler":
        return "standard"
    if len(steps) == 1 and _step_name(steps[0][1]) == "MinMaxScaler" and tuple(steps[0][1].feature_range) == (0, 1):
        return "minmax"
    return "+".join(_step_name(s) for _, s in steps)


def from_estimator(estimator: Any, feature_names: Any = None, what: str = "feature_names") -> ExportedModel:
    """The ExportedModel of a fitted estimator (see the module docstring), checked by check_model.

    ``feature_names`` (default the estimator's): checked as scikit-learn checks names; ``what`` is how
    the user gave them (``feature_names``, ``--features``), for the error message."""

    steps, mixture = split_pipeline(estimator)
    for _, s in [*steps, (None, mixture)]:
        _check_fitted(s, "")
    d = int((steps[0][1] if steps else mixture).n_features_in_)
    if feature_names is None:
        names = default_names(estimator, steps, mixture)
    else:
        names = check_names(feature_names, d, estimator_names(estimator), what)
    names = [nfc(n) for n in names]  # names are kept in NFC (tinygmm.names)
    affine = fold_steps(steps, d)
    p = int(mixture.means_.shape[1])
    if affine.matrix is None:
        offset, scale, projection, scaler = affine.offset, affine.scale, None, scaler_name(steps)
    else:  # v = matrix (x - centre), u = v + matrix centre + shift: offset = -(matrix centre + shift)
        centre = affine.centre if affine.centre is not None else np.zeros(d)
        assert affine.shift is not None
        projection = Projection(np.asarray(centre, float).copy(), affine.matrix)
        offset, scale, scaler = -(affine.matrix @ centre + affine.shift), np.ones(p), "none"
    bayesian = _step_name(mixture) == "BayesianGaussianMixture"
    m = ExportedModel(
        feature_names=names,
        covariance_type=mixture.covariance_type,
        weights=np.asarray(mixture.weights_, dtype=np.float64),
        means=np.asarray(mixture.means_, dtype=np.float64),
        covariances=np.asarray(mixture.covariances_, dtype=np.float64),
        precisions_cholesky=np.asarray(mixture.precisions_cholesky_, dtype=np.float64),
        scaler=scaler,
        offset=np.asarray(offset, dtype=np.float64),
        scale=np.asarray(scale, dtype=np.float64),
        options={"estimator": describe(steps, mixture)},
        converged=bool(getattr(mixture, "converged_", True)),
        sklearn_version=sklearn.__version__,
        log_weights=bayesian_log_weights(mixture) if bayesian else None,
        projection=projection,
    )
    check_model(m)
    return m


def model_of_fit(result: FitResult, data: Dataset, options: dict[str, Any]) -> ExportedModel:
    """The model of a CSV fit: its estimator through the one import path, plus the fit's record."""
    m = from_estimator(result.estimator, list(data.feature_names))
    return replace(
        m,
        options=dict(options),
        data={
            "path": data.path,
            "sha256": data.sha256,
            "rows": data.n_samples,
            "dropped_lines": list(data.dropped_lines),
            "left_out": [list(c) for c in data.left_out],
        },
        selection=[vars(r) for r in result.sweep],
        converged=bool(result.converged),
    )

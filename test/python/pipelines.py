"""The estimator grid of the pipeline parity tests, on a real data set that ships with scikit-learn.

load_breast_cancer: 569 rows, 30 features on very different scales (areas ~1e3, fractal
dimensions ~1e-2), no download. One row per (mixture, preprocessing):
{GaussianMixture x 4 covariance types, BayesianGaussianMixture x 2 weight priors} x
{none, StandardScaler, StandardScaler + PCA(4), PCA(whiten=True), MinMaxScaler}.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

MIXTURES: dict[str, Callable[[], Any]] = {}
PREPROCESSING: dict[str, Callable[[], list[Any]]] = {}


def _mixtures() -> None:
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

    for cov in ("full", "tied", "diag", "spherical"):
        MIXTURES[f"gmm-{cov}"] = lambda cov=cov: GaussianMixture(4, covariance_type=cov, reg_covar=1e-4, random_state=0)
    # the two priors on two covariance types, so that every BGMM code path (dof per component or shared) is crossed
    MIXTURES["bgmm-process-full"] = lambda: BayesianGaussianMixture(
        n_components=5, covariance_type="full", reg_covar=1e-4, max_iter=300, random_state=0
    )
    MIXTURES["bgmm-distribution-diag"] = lambda: BayesianGaussianMixture(
        n_components=5,
        covariance_type="diag",
        weight_concentration_prior_type="dirichlet_distribution",
        reg_covar=1e-4,
        max_iter=300,
        random_state=0,
    )


def _preprocessing() -> None:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    PREPROCESSING["none"] = lambda: []
    PREPROCESSING["standard"] = lambda: [StandardScaler()]
    PREPROCESSING["standard+pca4"] = lambda: [StandardScaler(), PCA(n_components=4, random_state=0)]
    PREPROCESSING["pca-whiten"] = lambda: [PCA(whiten=True, random_state=0)]
    PREPROCESSING["minmax"] = lambda: [MinMaxScaler()]


_mixtures()
_preprocessing()
GRID = [(mix, pre) for mix in MIXTURES for pre in PREPROCESSING]


@cache
def data() -> np.ndarray:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer().data


@cache
def fitted(mix: str, pre: str) -> Any:
    from sklearn.pipeline import make_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the model is what it is, parity is the point
        return make_pipeline(*PREPROCESSING[pre](), MIXTURES[mix]()).fit(data())


def ll_tolerance(ll: np.ndarray, far: np.ndarray) -> np.ndarray:
    """score_samples tolerance per point: 1e-3 in range, 1e-5 relative far out.

    In range also allows 1e-5 relative: in 30 dimensions a uniform point of the bounding box is
    thousands of log-units from every component (|ll| ~ 1e3..1e4), where one float32 step of the
    result is already above 1e-3. Data rows (|ll| < 100) are held to 1e-3.
    """
    rel = 1e-5 * np.abs(ll)
    return np.where(far, rel, np.maximum(1e-3, rel))

"""Synthetic data and fitted models for the tests (seeded, generated on the fly)."""

from __future__ import annotations

import numpy as np

from tinygmm.data.reader import Dataset
from tinygmm.fit.estimator import model_of_fit
from tinygmm.fit.sweep import FitOptions, fit
from tinygmm.model.exported import ExportedModel


def mixture_data(d: int, k: int, n: int = 300, seed: int = 0) -> np.ndarray:
    """n points from k Gaussian blobs in d dimensions, features on different scales."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-10, 10, size=(k, d))
    labels = rng.integers(0, k, size=n)
    X = np.empty((n, d))
    for j in range(k):
        idx = labels == j
        # random orientation, axis lengths 0.3..3: correlated but not degenerate
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        a = np.diag(rng.uniform(0.3, 3.0, size=d)) @ q
        X[idx] = means[j] + rng.normal(size=(idx.sum(), d)) @ a
    # features in different units and offsets, as real data has
    X = X * 10.0 ** rng.uniform(-1, 2, size=d) + rng.uniform(-50, 50, size=d)
    return X


def dataset(X: np.ndarray) -> Dataset:
    names = [f"f{i}" for i in range(X.shape[1])]
    return Dataset(X=X, feature_names=names, path="<synthetic>", sha256="0" * 64)


def fitted_model(
    X: np.ndarray, k: int, covariance_type: str = "full", scaler: str = "none", seed: int = 0
) -> ExportedModel:
    opts = FitOptions(n_components=k, covariance_type=covariance_type, scaler=scaler, random_state=seed)
    data = dataset(X)
    return model_of_fit(fit(data, opts), data, opts.as_dict())


REG_COVAR = 1e-6  # FitOptions' default, as in scikit-learn


def tiny_variance_data(seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """A broad cluster and a 60-point cluster of spread 1e-9, far below reg_covar."""
    rng = np.random.default_rng(seed)
    broad = rng.normal(size=(200, 3)) * [1.0, 10.0, 100.0] + [0.0, 50.0, -200.0]
    centre = np.array([3.0, 80.0, 100.0])
    return np.vstack([broad, centre + rng.normal(size=(60, 3)) * 1e-9]), centre


def floor_ring(centre: np.ndarray) -> np.ndarray:
    sd = np.sqrt(REG_COVAR)
    return np.array([centre + t * sd * np.asarray(v) for t in (1.0, 2.0, 5.0) for v in ([1, 1, 1], [0, 0, -1])])

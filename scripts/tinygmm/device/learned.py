"""A learning device's parameters (DUMP) as a model JSON that ``report``, ``verify`` and ``export`` take."""

from __future__ import annotations

import numpy as np
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

from ..codegen.identity import stamp_hash
from ..errors import TinyGMMError
from ..model.check import check_model
from ..model.exported import ExportedModel
from .client import DeviceInfo, Dump


def learned_model(dump: Dump, info: DeviceInfo, source: str = "") -> ExportedModel:
    """The model the device has learned: its float32 parameters in float64, the precision Cholesky factors
    computed here (float64, as scikit-learn does), the feature names from its INFO; the hash stamped."""
    weights = np.array(dump.weights, dtype=np.float64)
    means = np.array(dump.means, dtype=np.float64)
    covariances = np.array(dump.covariances, dtype=np.float64)
    if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(means)) and np.all(np.isfinite(covariances))):
        raise TinyGMMError("the device's learned parameters are not all finite: not saved")
    weights = weights / weights.sum()  # the device's s0 / total in float32: sums to 1 within rounding
    try:
        pc = _compute_precision_cholesky(covariances, dump.covariance_type)
    except ValueError as exc:
        raise TinyGMMError(f"a learned covariance is not positive definite in float64: {exc}") from None
    d = means.shape[1]
    m = ExportedModel(
        feature_names=list(info.names),
        covariance_type=dump.covariance_type,
        weights=weights,
        means=means,
        covariances=covariances,
        precisions_cholesky=pc,
        offset=np.zeros(d),
        scale=np.ones(d),
        options={
            "estimator": "OnlineGMM (learned on the device)",
            "learned_on_device": {
                "device_model": info.model,
                "samples_learned": dump.learned,
                "threshold": dump.threshold if np.isfinite(dump.threshold) else None,
                "reg_covar": dump.reg_covar,
            },
        },
        data={"path": None, "source": source or "device"},
    )
    check_model(m, "learned model: ")
    stamp_hash(m)
    return m

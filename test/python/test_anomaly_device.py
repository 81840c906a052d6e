"""The anomaly decision of generated headers (host g++), against scikit-learn.

is_anomaly(x) must equal scikit-learn's ``score_samples(x) < threshold`` on
data rows, a grid around the data and far points, except within the float32
resolution of the threshold (the tolerance of score_samples itself: 1e-3 in
range, 1e-5 relative far out); decision_function must be score_samples minus
the threshold; the fixed-point decision must be the exact result of the
integer model, and right wherever the score is further from the threshold
than the stated error bound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import require_tool
from cppharness import compile_anomaly_models, evaluate_anomaly
from synth import fitted_model, mixture_data
from tinygmm.anomaly import AnomalyThreshold, calibrate_quantile
from tinygmm.codegen.fixedpoint import fixed_point
from tinygmm.export.vectors import make_inputs, sklearn_outputs
from tinygmm.model.exported import ExportedModel

MODELS = [
    # (D, K, covariance_type, scaler, quantile)
    (2, 7, "full", "none", 0.05),
    (3, 1, "full", "standard", 0.02),
    (5, 3, "full", "minmax", 0.1),
    (8, 10, "full", "none", 0.05),
    (4, 5, "diag", "none", 0.05),
    (3, 4, "spherical", "minmax", 0.05),
    (2, 3, "spherical", "none", 0.2),
    (3, 4, "tied", "none", 0.05),
]


def inputs(m: ExportedModel, X: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, far) : every data row, a box 50 % wider than the data, points far out."""
    grid, far = make_inputs(m, X, n_in=200, n_far=40, seed=seed)
    rng = np.random.default_rng(seed)
    lo, hi = X.min(axis=0), X.max(axis=0)
    box = lo - 0.25 * (hi - lo) + rng.random((300, X.shape[1])) * 1.5 * (hi - lo)
    x = np.vstack([X, box, grid]).astype(np.float32).astype(np.float64)
    return x, np.concatenate([np.zeros(len(X) + len(box), bool), far])


def fixed_reference(m: ExportedModel, t: AnomalyThreshold, zq: np.ndarray) -> np.ndarray:
    """is_anomaly_fixed by the integer model: 0 normal, 1 anomalous, -1 undecided."""
    q = fixed_point(m)
    lpq, clamped = q.log_prob_q(zq)
    scale = 2.0 ** (2 * q.T)
    hi = int(round(t.threshold * scale))
    lo = int(np.floor((t.threshold - np.log(m.n_components)) * scale))
    normal = np.any((lpq >= hi) & ~clamped, axis=1)
    below = np.all(lpq < lo, axis=1)
    return np.where(normal, 0, np.where(below, 1, -1))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    require_tool("g++")
    models, thresholds, data = [], [], []
    for d, k, cov, scaler, quant in MODELS:
        X = mixture_data(d, k, n=300, seed=d * 10 + k)
        m = fitted_model(X, k, cov, scaler, seed=k)
        g = m.to_sklearn()
        t = calibrate_quantile(lambda Z, g=g, m=m: g.score_samples(m.transform(Z)), X, quant)
        models.append(m)
        thresholds.append(t)
        data.append(inputs(m, X, seed=d + k))
    exe = compile_anomaly_models(models, thresholds, tmp_path_factory.mktemp("anomaly"))
    outs = evaluate_anomaly(exe, [(i, x) for i, (x, _) in enumerate(data)])
    return list(zip(MODELS, models, thresholds, data, outs, strict=True))


def tolerance(score: np.ndarray, far: np.ndarray) -> np.ndarray:
    return np.where(far, 1e-5 * np.abs(score), 1e-3)


def test_is_anomaly_matches_sklearn(runs: list[tuple]) -> None:
    for spec, m, t, (x, far), out in runs:
        ref = sklearn_outputs(m, x)["log_likelihood"]
        want = ref < t.threshold
        clear = np.abs(ref - t.threshold) > tolerance(ref, far)
        bad = np.flatnonzero(clear & (out.is_anomaly != want))
        assert not len(bad), f"{spec}: is_anomaly differs from sklearn at {x[bad[:3]].tolist()} (scores {ref[bad[:3]]})"
        # the sets are not trivial: both decisions occur in range, and far points are anomalies
        assert want[~far].any() and (~want[~far]).any(), spec
        assert out.is_anomaly[far].all(), spec
        assert clear.mean() > 0.99, f"{spec}: too many inputs near the threshold"


def test_is_anomaly_is_the_device_score_below_its_threshold(runs: list[tuple]) -> None:
    """The bound-based shortcut decides as the device's own score_samples would (to float32 rounding)."""
    for spec, _, t, _, out in runs:
        assert out.threshold == float(np.float32(t.threshold)), spec
        fin = np.isfinite(out.score)
        near = fin & (np.abs(out.score - out.threshold) <= 1e-5 * max(1.0, abs(out.threshold)))
        want = ~(out.score >= out.threshold)
        assert np.array_equal(out.is_anomaly[~near], want[~near]), spec


def test_decision_function_is_score_minus_threshold(runs: list[tuple]) -> None:
    for spec, _, _, _, out in runs:
        want = (out.score.astype(np.float32) - np.float32(out.threshold)).astype(np.float64)
        fin = np.isfinite(out.score)
        assert np.array_equal(out.decision[fin], want[fin]), spec
        assert np.all(np.isneginf(out.decision[~fin])), spec
        assert np.array_equal(out.decision[fin] < 0, out.score[fin] < out.threshold), spec


def test_fixed_point_decision(runs: list[tuple]) -> None:
    """is_anomaly_fixed is exactly the integer model's decision; decided answers are right
    wherever the score is further from the threshold than the error bound; is_anomaly_q
    (integer, else float) is right wherever the float decision is."""
    for spec, m, t, (x, far), out in runs:
        inside = out.quantized
        assert inside.mean() > 0.5, spec
        ref_fixed = fixed_reference(m, t, out.zq[inside])
        assert np.array_equal(out.fixed[inside], ref_fixed), f"{spec}: is_anomaly_fixed is not the integer model"
        assert (ref_fixed >= 0).mean() > 0.8, f"{spec}: the integer decision rarely decides"
        score = sklearn_outputs(m, x)["log_likelihood"]
        eps, _ = fixed_point(m).log_prob_error(x)
        bound = eps.max(axis=1)
        decided = inside & (out.fixed >= 0)
        clear = decided & (np.abs(score - t.threshold) > bound + 1e-3)
        assert np.array_equal(out.fixed[clear] == 1, score[clear] < t.threshold), spec
        clear_f = np.abs(score - t.threshold) > np.maximum(tolerance(score, far), np.where(decided, bound, 0) + 1e-3)
        assert np.array_equal(out.is_anomaly_q[clear_f], score[clear_f] < t.threshold), spec


def test_a_wrong_threshold_is_caught(runs: list[tuple], tmp_path: Path) -> None:
    """The comparison has teeth: a header whose threshold is moved by 0.5 disagrees with sklearn."""
    spec, m, t, (x, far), _ = runs[0]
    moved = AnomalyThreshold(t.threshold + 0.5, t.method, t.training_flag_rate, t.quantile)
    exe = compile_anomaly_models([m], [moved], tmp_path)
    out = evaluate_anomaly(exe, [(0, x)])[0]
    ref = sklearn_outputs(m, x)["log_likelihood"]
    assert np.any(out.is_anomaly != (ref < t.threshold)), spec

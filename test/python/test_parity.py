"""Generated C++ (compiled with g++) against scikit-learn, over the whole grid.

D in 1..8, K in 1..10, the four covariance types, with and without a scaler.
"""

from __future__ import annotations

import numpy as np
import pytest

from cppharness import compile_models, evaluate
from synth import fitted_model, mixture_data
from tinygmm.export.vectors import is_near_tie, sklearn_outputs

D_RANGE = range(1, 9)
K_RANGE = range(1, 11)
FAR_FACTORS = (1e2, 1e4, 1e6)


def inputs(X: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = hi - lo
    inside = np.vstack([X[rng.choice(len(X), 60, replace=False)], lo + rng.random((60, X.shape[1])) * span])
    far = []
    for f in FAR_FACTORS:
        dirs = rng.normal(size=(10, X.shape[1]))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        far.append(X.mean(axis=0) + f * span * dirs)
    all_x = np.vstack([inside, *far]).astype(np.float32).astype(np.float64)
    is_far = np.zeros(len(all_x), dtype=bool)
    is_far[len(inside) :] = True
    return all_x, is_far


@pytest.mark.parametrize("scaler", ["none", "standard"])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_grid_matches_sklearn(tmp_path, covariance_type: str, scaler: str) -> None:
    models, jobs, meta = [], [], []
    for d in D_RANGE:
        X = mixture_data(d, 5, n=250, seed=d)
        for k in K_RANGE:
            m = fitted_model(X, k, covariance_type, scaler, seed=k)
            x, far = inputs(X, seed=100 * d + k)
            jobs.append((len(models), x))
            meta.append((d, k, far))
            models.append(m)
    exe = compile_models(models, tmp_path)
    results = evaluate(exe, jobs)

    near_ties = 0
    failures: list[str] = []
    for m, (_idx, x), (d, k, far), out in zip(models, jobs, meta, results, strict=False):
        ref = sklearn_outputs(m, x)
        decided = ~is_near_tie(ref["gap"], ref["top"])
        near_ties += int((~decided).sum())
        tag = f"{covariance_type}/{scaler} D={d} K={k}"
        wrong = decided & (out.predict != ref["label"])
        if wrong.any():
            failures.append(f"{tag}: predict differs on {wrong.sum()} decided points, e.g. x={x[wrong][0]}")
        if (out.label != out.predict).any():
            failures.append(f"{tag}: classify and predict disagree")
        perr = np.abs(out.proba - ref["proba"]).max()
        if perr > 1e-4:
            failures.append(f"{tag}: predict_proba error {perr:.2e}")
        ll_in = np.abs(out.log_likelihood - ref["log_likelihood"])[~far].max()
        if ll_in > 1e-3:
            failures.append(f"{tag}: score_samples abs error {ll_in:.2e} in range")
        rel = np.abs(out.log_likelihood - ref["log_likelihood"]) / np.abs(ref["log_likelihood"])
        if rel[far].max() > 1e-5:
            failures.append(f"{tag}: score_samples rel error {rel[far].max():.2e} far out")
        if not np.all(np.isfinite(out.log_likelihood)) or not np.array_equal(out.log_likelihood, out.score):
            failures.append(f"{tag}: score_samples not finite or differs from classify")
    n_points = sum(len(x) for _, x in jobs)
    print(
        f"\n{covariance_type}/{scaler}: {len(models)} models, {n_points} points, {near_ties} near-ties reported separately"
    )
    assert not failures, "\n".join(failures[:20])
    assert near_ties < 0.01 * n_points

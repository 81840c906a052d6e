"""Exported scikit-learn estimators (pipelines, Bayesian mixtures) against scikit-learn itself.

Every row of pipelines.GRID (6 mixtures x 5 preprocessings on load_breast_cancer, 30 features)
is exported with tinygmm's estimator import, compiled with g++ and evaluated on data rows, points
of the bounding box and points 1e2..1e6 x the data range away. Reference: the fitted estimator's
own predict / predict_proba / score_samples. Tolerances as everywhere: predict exact away from
near ties, predict_proba <= 1e-4, score_samples <= 1e-3 in range (see pipelines.ll_tolerance for
box points, which are far in 30 dimensions) and 1e-5 relative far out.
"""

from __future__ import annotations

import numpy as np
import pytest

from cppharness import compile_models, evaluate
from pipelines import GRID, data, fitted, ll_tolerance
from tinygmm.estimator import from_estimator
from tinygmm.vectors import is_near_tie, make_inputs, sklearn_outputs


def parity_failures(tag: str, est, m, x, far, predict, proba, ll) -> list[str]:
    ref = sklearn_outputs(m, x)  # the gap / top of the exported model, for the near-tie rule
    want_label, want_proba, want_ll = est.predict(x), est.predict_proba(x), est.score_samples(x)
    failures = []
    decided = ~is_near_tie(ref["gap"], ref["top"])
    wrong = decided & (predict != want_label)
    if wrong.any():
        failures.append(f"{tag}: predict differs on {wrong.sum()} decided points, e.g. row {np.flatnonzero(wrong)[0]}")
    perr = np.abs(proba - want_proba).max()
    if perr > 1e-4:
        failures.append(f"{tag}: predict_proba error {perr:.2e}")
    err = np.abs(ll - want_ll)
    bad = ~(err <= ll_tolerance(want_ll, far))
    if bad.any():
        i = np.flatnonzero(bad)[0]
        failures.append(f"{tag}: score_samples {ll[i]!r} vs {want_ll[i]!r} at point {i} (far={far[i]})")
    return failures


@pytest.fixture(scope="module")
def grid_models():
    ests = [fitted(mix, pre) for mix, pre in GRID]
    return ests, [from_estimator(e) for e in ests]


def test_exported_model_is_the_estimator(grid_models) -> None:
    """The host side's float64 rebuild (ExportedModel.transform + to_sklearn) equals the estimator."""
    ests, models = grid_models
    X = data()
    for (mix, pre), est, m in zip(GRID, ests, models, strict=True):
        x, _ = make_inputs(m, X, n_in=40, n_far=12)
        ref = sklearn_outputs(m, x)
        assert np.array_equal(ref["label"], est.predict(x)), (mix, pre)
        np.testing.assert_allclose(ref["proba"], est.predict_proba(x), atol=1e-9, err_msg=f"{mix}/{pre}")
        np.testing.assert_allclose(ref["log_likelihood"], est.score_samples(x), rtol=1e-9, atol=1e-9)
        assert (m.projection is not None) == ("pca" in pre), (mix, pre)


def test_grid_matches_sklearn_on_host(tmp_path, grid_models) -> None:
    ests, models = grid_models
    X = data()
    exe = compile_models(models, tmp_path)
    jobs, fars = [], []
    for i, m in enumerate(models):
        x, far = make_inputs(m, X, n_in=60, n_far=30, seed=i)
        jobs.append((i, x))
        fars.append(far)
    failures, ties, points = [], 0, 0
    for (mix, pre), est, m, (_, x), far, out in zip(GRID, ests, models, jobs, fars, evaluate(exe, jobs), strict=True):
        tag = f"{mix}/{pre}"
        failures += parity_failures(tag, est, m, x, far, out.predict, out.proba, out.log_likelihood)
        if not (np.array_equal(out.label, out.predict) and np.array_equal(out.log_likelihood, out.score)):
            failures.append(f"{tag}: classify, predict and score_samples disagree")
        ref = sklearn_outputs(m, x)
        ties += int(is_near_tie(ref["gap"], ref["top"]).sum())
        points += len(x)
    print(f"\n{len(models)} estimators, {points} points, {ties} near ties")
    assert not failures, "\n".join(failures[:20])
    assert ties < 0.01 * points


def test_reducing_pca_projects_once(grid_models) -> None:
    """StandardScaler + PCA(4): the device evaluates the mixture on 4 projected values, after one 4 x 30
    projection (PROJ holds 120 floats, the records are those of a 4-feature model)."""
    from tinygmm.codegen import render_header

    ests, models = grid_models
    m = models[GRID.index(("gmm-full", "standard+pca4"))]
    assert (m.n_features, m.n_dims) == (30, 4)
    text = render_header(m, ["test"])
    assert "static const int N_FEATURES = 30;" in text and "static const int N_DIMS = 4;" in text
    assert "static constexpr float PROJ[120]" in text
    assert "static constexpr float RECORDS[60]" in text  # 4 components x (1 + 4 means + 10 factor entries)

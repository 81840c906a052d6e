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
from test_avr_sim import avr  # noqa: F401 - the fixture (skips without avr-g++ / simavr)
from tinygmm.export.vectors import is_near_tie, make_inputs, sklearn_outputs
from tinygmm.fit.estimator import from_estimator


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
    from tinygmm.codegen.header import render_header

    ests, models = grid_models
    m = models[GRID.index(("gmm-full", "standard+pca4"))]
    assert (m.n_features, m.n_dims) == (30, 4)
    text = render_header(m, ["test"])
    assert "static const int N_FEATURES = 30;" in text and "static const int N_DIMS = 4;" in text
    assert "static constexpr float PROJ[120]" in text
    assert "static constexpr float RECORDS[60]" in text  # 4 components x (1 + 4 means + 10 factor entries)


# ---- the same on a simulated ATmega328P (a subset: each row is one firmware build) ----

AVR_SUBSET = [
    ("gmm-full", "standard+pca4"),
    ("bgmm-process-full", "standard+pca4"),
    ("bgmm-distribution-diag", "pca-whiten"),
    ("gmm-tied", "minmax"),
    ("gmm-spherical", "standard"),
    ("gmm-diag", "none"),
]


@pytest.mark.parametrize(("mix", "pre"), AVR_SUBSET)
def test_subset_matches_sklearn_on_avr(avr, tmp_path, mix: str, pre: str) -> None:  # noqa: F811
    """The golden runner (test/avr) on simavr: AVR float arithmetic, flash constants, 30 raw features."""
    from test_avr_sim import run_golden
    from tinygmm.codegen.header import render_header
    from tinygmm.export.vectors import golden, render_vectors

    est = fitted(mix, pre)
    m = from_estimator(est)
    prov = [f"pipeline parity {mix}/{pre}"]
    (tmp_path / "GMM.h").write_text(render_header(m, prov))
    (tmp_path / "golden_vectors.h").write_text(render_vectors(golden(m, data(), n_in=24, n_far=12), m, prov))
    run = run_golden(avr, tmp_path, m)
    failures = parity_failures(f"{mix}/{pre} (AVR)", est, m, run.X, run.far, run.predict, run.proba, run.ll)
    assert np.array_equal(run.label, run.predict) and np.array_equal(run.argmax, run.predict)
    assert np.array_equal(run.ll, run.score)
    assert not failures, "\n".join(failures)
    print(f"\n{mix}/{pre}: {len(run.X)} vectors, classify {run.cycles.mean():.0f} cycles mean; {run.flash} B flash")


# ---- fixed point through a pipeline ----

FIXED_MAIN = r"""
#include <stdio.h>
%(includes)s
struct Entry { int d; int (*predict_q)(const float*); bool (*quantize)(const float*, int16_t*); };
static const Entry ENTRIES[] = {
%(entries)s
};
int main() {
  int idx;
  float x[64];
  int16_t zq[64];
  while (scanf("%%d", &idx) == 1) {
    const Entry& e = ENTRIES[idx];
    for (int i = 0; i < e.d; ++i) if (scanf("%%f", &x[i]) != 1) return 2;
    printf("%%d %%d\n", e.predict_q(x), e.quantize(x, zq) ? 1 : 0);
  }
  return 0;
}
"""


def test_fixed_point_through_pipelines(tmp_path, grid_models) -> None:
    """predict_q of a pipeline quantises the projected input; it returns the estimator's label wherever
    the stated error bound (FixedPoint.log_prob_error, on the mixture's own input v) decides, and
    outside the quantisation domain (float fallback) away from near ties: >= 99 % of in-range points
    per model, >= 99.5 % overall."""
    import shutil
    import subprocess

    from test_fixed_point import decided_by_bound
    from tinygmm.codegen.header import render_header

    ests, models = grid_models
    rows = [i for i, (mix, pre) in enumerate(GRID) if pre in ("standard+pca4", "pca-whiten", "minmax")]
    includes, entries = [], []
    for i in rows:
        (tmp_path / f"f{i}.h").write_text(render_header(models[i], ["fixed"], f"f{i}", fixed_point=True))
        includes.append(f'#include "f{i}.h"')
        entries.append(f"  {{f{i}::N_FEATURES, f{i}::predict_q, f{i}::quantize}},")
    (tmp_path / "fixed.cpp").write_text(FIXED_MAIN % {"includes": "\n".join(includes), "entries": "\n".join(entries)})
    cxx = shutil.which("g++") or "c++"
    flags = ["-std=c++11", "-O1", "-Wall", "-Wextra", "-Werror"]
    subprocess.run(
        [cxx, *flags, "-I", str(tmp_path), str(tmp_path / "fixed.cpp"), "-o", str(tmp_path / "fx")], check=True
    )
    jobs = [(j, make_inputs(models[i], data(), n_in=200, n_far=30, seed=i)) for j, i in enumerate(rows)]
    lines = [f"{j} " + " ".join(repr(float(v)) for v in row) for j, (x, _) in jobs for row in np.asarray(x, np.float32)]
    out = subprocess.run(
        [str(tmp_path / "fx")], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True
    )
    res = np.array([r.split() for r in out.stdout.splitlines()], dtype=np.int64)
    failures, pos, decided_total, agree_total, n_in = [], 0, 0, 0, 0
    for (_, (x, far)), i in zip(jobs, rows, strict=True):
        pq, in_domain = res[pos : pos + len(x)].T
        pos += len(x)
        m, est = models[i], ests[i]
        view = m.mixture_view()
        want = est.predict(x)
        decided = decided_by_bound(view, m.project(x)) & (in_domain == 1)
        outside = in_domain == 0
        tag = "/".join(GRID[i])
        if (decided & (pq != want)).any():
            failures.append(f"{tag}: predict_q differs on {(decided & (pq != want)).sum()} points the bound decides")
        ref = sklearn_outputs(m, x)
        float_decided = ~is_near_tie(ref["gap"], ref["top"])
        if (outside & float_decided & (pq != want)).any():
            failures.append(f"{tag}: predict_q differs outside the domain (float fallback)")
        agree = float((pq == want)[~far].mean())
        if agree < 0.99:
            failures.append(f"{tag}: predict_q agrees with the estimator on only {agree:.1%} of in-range points")
        decided_total += int(decided[~far].sum())
        agree_total += int((pq == want)[~far].sum())
        n_in += int((~far).sum())
    print(
        f"\n{len(rows)} pipelines: predict_q agrees on {agree_total} of {n_in} in-range points; the bound "
        f"decides {decided_total} (box points of PCA(whiten) models lie outside the domain: float fallback)"
    )
    assert not failures, "\n".join(failures)
    assert agree_total >= 0.995 * n_in

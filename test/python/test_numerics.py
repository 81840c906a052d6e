"""Issue 7, numerics: generated headers (compiled with g++) on extreme inputs and degenerate models.

Inputs: +-FLT_MAX, +-1e30 (the float32 quadratic overflows), +-1e15 and +-1e18 (far, but the
log-likelihood still fits a float32), subnormals (1e-45, 1e-40), +-0.0. Models: ordinary ones,
ones with a component of near-zero spread (its variance is reg_covar alone) and ones with a
component of weight 1e-3 or 2e-3 (1 or 2 points of 1000), for the four covariance types, with
and without a scaler.

Where scikit-learn's float64 answer is meaningful and fits a float32, the C++ matches it within the
parity tolerances (predict_proba 1e-4, score_samples 1e-3 absolute or 1e-5 relative far out).
Where the quadratic overflows float32, the score is -inf and predict still matches scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cppharness import Outputs, compile_models, evaluate
from synth import REG_COVAR, fitted_model, floor_ring, mixture_data, tiny_variance_data
from tinygmm.codegen.records import device_arrays
from tinygmm.export.vectors import is_near_tie, sklearn_outputs
from tinygmm.model.exported import ExportedModel

FLT_MAX = float(np.finfo(np.float32).max)  # 3.4028235e38
SMALL = (0.0, -0.0, 1e-45, -1e-45, 1e-40, -1e-40)  # zeros and float32 subnormals
LARGE = (1e15, -1e15, 1e18, -1e18)  # far out, but |score| < FLT_MAX
OVERFLOW = (1e30, -1e30, FLT_MAX, -FLT_MAX)  # the float32 quadratic overflows
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
SCALERS = ("none", "standard")

PROBA_TOL = 1e-4
SCORE_ABS_TOL = 1e-3
SCORE_REL_TOL = 1e-5


def rare_data(n_rare: int, seed: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """1000 points: two big blobs and n_rare (1 or 2) points far from both."""
    rng = np.random.default_rng(seed)
    rare = np.array([[60.0, 60.0], [60.5, 59.5]])[:n_rare]
    n = (1000 - n_rare) // 2
    X = np.vstack(
        [
            rng.normal(size=(n, 2)) * [2.0, 1.0],
            rng.normal(size=(1000 - n_rare - n, 2)) * [1.0, 3.0] + [15.0, 0.0],
            rare,
        ]
    )
    return X, rare


@dataclass
class Case:
    name: str
    covariance_type: str
    scaler: str
    model: ExportedModel
    X: np.ndarray  # training data
    special: np.ndarray  # points of interest (tiny cluster centre, rare points)
    ring: np.ndarray  # points 1-5 standard deviations from the reg_covar-floored cluster


def build_cases() -> list[Case]:
    Xt, centre = tiny_variance_data()
    datasets = [
        ("ordinary", mixture_data(3, 3, n=300, seed=1), np.empty((0, 3))),
        ("tiny-variance", Xt, np.vstack([centre, centre + [0.0, 1.0, 0.0], centre - [0.0, 0.0, 0.1]])),
        ("rare-2-of-1000", *rare_data(2)),
        ("rare-1-of-1000", *rare_data(1)),
    ]
    cases = []
    for cov in COVARIANCE_TYPES:
        for scaler in SCALERS:
            for name, X, special in datasets:
                k = 2 if name == "tiny-variance" else 3
                ring = floor_ring(centre) if name == "tiny-variance" else np.empty((0, X.shape[1]))
                cases.append(Case(name, cov, scaler, fitted_model(X, k, cov, scaler), X, special, ring))
    return cases


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Case], Path]:
    cases = build_cases()
    exe = compile_models([c.model for c in cases], tmp_path_factory.mktemp("numerics"))
    return cases, exe


def substitute(centre: np.ndarray, values: tuple[float, ...]) -> np.ndarray:
    """Every value on all features at once, and on one feature at a time (others at centre)."""
    rows = []
    for v in values:
        rows.append(np.full(len(centre), v))
        for j in range(len(centre)):
            r = centre.copy()
            r[j] = v
            rows.append(r)
    return np.array(rows)


def near(case: Case, values: tuple[float, ...]) -> np.ndarray:
    """substitute() around the data mean and around one data row."""
    return np.vstack([substitute(case.X.mean(axis=0), values), substitute(case.X[0].copy(), values)])


def run(harness: tuple[list[Case], Path], cov: str, make) -> list[tuple[Case, np.ndarray, Outputs, dict]]:
    """Evaluate make(case) on every model of one covariance type; with scikit-learn's outputs."""
    cases, exe = harness
    jobs, chosen = [], []
    for i, c in enumerate(cases):
        if c.covariance_type == cov:
            x = np.asarray(make(c), dtype=np.float32).astype(np.float64)  # what the device is fed
            jobs.append((i, x))
            chosen.append(c)
    outs = evaluate(exe, jobs)
    res = []
    for c, (_, x), out in zip(chosen, jobs, outs, strict=True):
        with np.errstate(all="ignore"):
            ref = sklearn_outputs(c.model, x)
        res.append((c, x, out, ref))
    return res


def reference_is_meaningful(ref: dict) -> np.ndarray:
    """scikit-learn's float64 result is a usable reference: finite, fits a float32, normalised.

    Far enough out, float64 loses the differences between components (all log-probabilities
    round to the same -1e35) and scikit-learn's predict_proba is then not even normalised
    ([1, 1, 1] for tied models at 1e18): such points are checked for sanity only.
    """
    ll = ref["log_likelihood"]
    return np.isfinite(ll) & (np.abs(ll) < 1e37) & (np.abs(ref["proba"].sum(axis=1) - 1) < 1e-9)


def check_parity(c: Case, x: np.ndarray, out: Outputs, ref: dict) -> tuple[list[str], int, int]:
    """Failures, number of points compared, number of near ties (predict/proba not compared)."""
    tag = f"{c.name} {c.covariance_type}/{c.scaler}"
    fails = []
    k = c.model.n_components
    # always: no crash, a valid index, classify agrees with predict, finite and normalised outputs
    if not np.all((out.predict >= 0) & (out.predict < k)) or not np.array_equal(out.label, out.predict):
        fails.append(f"{tag}: predict/classify index invalid or disagreeing")
    if not (np.all(np.isfinite(out.proba)) and np.all(np.isfinite(out.log_likelihood))):
        bad = ~np.all(np.isfinite(out.proba), axis=1) | ~np.isfinite(out.log_likelihood)
        fails.append(f"{tag}: non-finite output at x={x[bad][0]} (ll={out.log_likelihood[bad][0]})")
        return fails, 0, 0
    if np.abs(out.proba.sum(axis=1) - 1).max() > 1e-5:
        fails.append(f"{tag}: predict_proba does not sum to 1")
    if not np.array_equal(out.log_likelihood, out.score):
        fails.append(f"{tag}: score_samples differs from classify's log-likelihood")
    ok = reference_is_meaningful(ref)
    decided = ok & ~is_near_tie(ref["gap"], ref["top"])
    ll, rll = out.log_likelihood, ref["log_likelihood"]
    err = np.abs(ll - rll)
    tol = np.maximum(SCORE_ABS_TOL, SCORE_REL_TOL * np.abs(rll))
    if np.any(ok & (err > tol)):
        i = np.argmax(np.where(ok, err / tol, 0))
        fails.append(f"{tag}: score_samples {ll[i]!r} vs scikit-learn {rll[i]!r} at x={x[i]}")
    perr = np.abs(out.proba - ref["proba"]).max(axis=1)
    if np.any(decided & (perr > PROBA_TOL)):
        i = np.argmax(np.where(decided, perr, 0))
        fails.append(f"{tag}: predict_proba error {perr[i]:.2e} at x={x[i]}")
    if np.any(decided & (out.predict != ref["label"])):
        i = np.argmax(decided & (out.predict != ref["label"]))
        fails.append(f"{tag}: predict {out.predict[i]} vs scikit-learn {ref['label'][i]} at x={x[i]}")
    return fails, int(ok.sum()), int((ok & ~decided).sum())


def test_models_are_as_degenerate_as_intended(harness: tuple[list[Case], Path]) -> None:
    """The fixtures really exercise reg_covar flooring and near-zero weights."""
    cases, _ = harness
    for c in cases:
        m = c.model
        if c.name == "tiny-variance":
            # the 1e-9 cluster's variance (in the space scikit-learn fitted) is reg_covar alone
            if m.covariance_type == "full":
                smallest = min(np.linalg.eigvalsh(s).min() for s in m.covariances)
            elif m.covariance_type in ("diag", "spherical"):
                smallest = m.covariances.min()
            else:  # tied: one covariance for both clusters, dominated by the broad one
                continue
            assert smallest == pytest.approx(REG_COVAR, rel=1e-3), (c.covariance_type, c.scaler)
            assert np.all(np.isfinite(m.precisions_cholesky))
    rare = [c for c in cases if c.name.startswith("rare")]
    tiny_weights = [c for c in rare if c.model.weights.min() < 0.0025]
    assert len(tiny_weights) >= 0.6 * len(rare), [(c.covariance_type, c.scaler, c.name) for c in rare]
    for c in tiny_weights:
        assert c.model.weights.min() == pytest.approx(int(c.name[5]) / 1000, abs=1e-3)


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_small_and_subnormal_inputs_match_sklearn(harness: tuple[list[Case], Path], cov: str) -> None:
    """+-0.0, 1e-45 and 1e-40 (float32 subnormals), alone and mixed with ordinary values."""
    fails, compared = [], 0
    for c, x, out, ref in run(harness, cov, lambda c: near(c, SMALL)):
        f, n, _ = check_parity(c, x, out, ref)
        fails += f
        compared += n
    assert not fails, "\n".join(fails[:10])
    assert compared > 0


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_degenerate_components_match_sklearn(harness: tuple[list[Case], Path], cov: str) -> None:
    """Points on and next to the reg_covar-floored cluster and the near-zero-weight component."""

    def inputs(c: Case) -> np.ndarray:
        rng = np.random.default_rng(0)
        rows = c.X[rng.choice(len(c.X), 40, replace=False)]
        ring = c.ring if c.scaler != "none" or c.covariance_type == "tied" else c.ring[:0]  # see below
        return np.vstack([c.special, rows, c.X[-5:], ring]) if len(c.special) else rows

    fails = []
    for c, x, out, ref in run(harness, cov, inputs):
        fails += check_parity(c, x, out, ref)[0]
        if c.name == "tiny-variance" and cov != "tied":
            # at the centre of the floored cluster that component wins, as in scikit-learn
            assert out.predict[0] == ref["label"][0]
            assert out.proba[0].max() == pytest.approx(1.0, abs=1e-6)
    assert not fails, "\n".join(fails[:10])


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_large_inputs_match_sklearn(harness: tuple[list[Case], Path], cov: str) -> None:
    """+-1e15 and +-1e18 (the largest training values allowed): finite, and as scikit-learn where
    its float64 answer still resolves the components; elsewhere a normalised, finite answer."""
    fails, compared, ties = [], 0, 0
    for c, x, out, ref in run(harness, cov, lambda c: near(c, LARGE)):
        f, n, t = check_parity(c, x, out, ref)
        fails += f
        compared += n
        ties += t
    assert not fails, "\n".join(fails[:10])
    assert compared > 0.5 * sum(len(near(c, LARGE)) for c in harness[0] if c.covariance_type == cov)
    print(f"\n{cov}: {compared} large inputs compared, {ties} near ties (predict/proba not compared)")


def overflow_results(harness: tuple[list[Case], Path], cov: str) -> list[tuple[Case, np.ndarray, Outputs, dict]]:
    res = run(harness, cov, lambda c: near(c, OVERFLOW))
    for c, x, _, ref in res:
        # scikit-learn, in float64, is finite there: its score is far below -FLT_MAX
        assert np.all(np.isfinite(ref["log_likelihood"])) and np.all(ref["log_likelihood"] < -FLT_MAX), c.name
        assert len(x) > 0
    return res


def tied_linear_ranking(m: ExportedModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ranking of a tied model's components (the shared quadratic term cancels)."""
    z = m.transform(x)
    prec = m.precisions_cholesky @ m.precisions_cholesky.T
    lin = z @ (m.means @ prec).T + (np.log(m.weights) - 0.5 * np.einsum("ki,ij,kj->k", m.means, prec, m.means))
    srt = np.sort(lin, axis=1)
    gap = srt[:, -1] - srt[:, -2] if lin.shape[1] > 1 else np.full(len(lin), np.inf)
    return np.argmax(lin, axis=1), gap, srt[:, -1]


@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_overflowing_inputs_give_minus_inf_and_sklearns_label(harness: tuple[list[Case], Path], cov: str) -> None:
    """x at +-1e30 or +-FLT_MAX on one or all features: ||U^T (x - mean)||^2 overflows float32.

    scikit-learn's float64 score there is below -FLT_MAX, so the closest float32 answer is -inf;
    the runtime then ranks the components at x scaled down by a power of two (far out the
    ordering is that of the quadratic terms), so predict and classify still give scikit-learn's
    label, and predict_proba puts all the probability on it (the gaps are astronomically large).
    """
    compared = ties = 0
    for c, x, out, ref in overflow_results(harness, cov):
        k = c.model.n_components
        assert np.all((out.predict >= 0) & (out.predict < k)), c.name
        assert np.array_equal(out.label, out.predict), c.name
        assert np.all(np.isfinite(out.proba)), c.name
        np.testing.assert_allclose(out.proba.sum(axis=1), 1.0, atol=1e-5)
        ll = out.log_likelihood
        assert np.all((ll == -np.inf) | (ll < -1e30)), (c.name, ll)
        assert np.array_equal(ll, out.score), c.name
        labels, gap, top = ref["label"], ref["gap"], ref["top"]
        if cov == "tied":
            # scikit-learn's float64 cannot rank tied components this far out: its log-probabilities
            # (~1e60) carry absolute errors far above the gaps (~1e30). The exact ranking is that of
            # the linear discriminant log w_k + z' P mu_k - mu_k' P mu_k / 2, computed here directly.
            labels, gap, top = tied_linear_ranking(c.model, x)
        decided = ~is_near_tie(gap, top)
        wrong = decided & (out.predict != labels)
        assert not wrong.any(), f"{c.name}: predict differs from the reference on {wrong.sum()} far inputs"
        compared += int(decided.sum())
        ties += int((~decided).sum())
    assert compared > 0
    print(f"\n{cov}: {compared} overflowing inputs agree with scikit-learn, {ties} near ties not compared")


@pytest.mark.parametrize("cov", ["full", "diag", "spherical"])
def test_unscaled_floored_cluster_tail_matches_sklearn(harness: tuple[list[Case], Path], cov: str) -> None:
    """Unscaled model, points 1, 2 and 5 sd (of reg_covar) from the near-zero-spread cluster.

    The floored cluster (sd = sqrt(reg_covar) = 1e-3) sits ~230 from the mixture centre, where one
    float32 step (1.5e-5) is 0.015 sd: neither x - offset nor the mean fits in one float32 that closely,
    and score_samples 1-5 sd out was off by up to 4e-2. Such models are exported EXACT (x - offset and
    the means as float pairs); the others keep one float per mean.
    """
    fails, exact = [], []
    for c, x, out, ref in run(harness, cov, lambda c: c.ring if c.name == "tiny-variance" else c.X[:1]):
        if c.name == "tiny-variance" and c.scaler == "none":
            fails += check_parity(c, x, out, ref)[0]
            exact.append(device_arrays(c.model).exact)
    assert exact and all(exact), "the floored far cluster is what EXACT is for"
    assert not fails, "\n".join(fails)


def test_only_models_that_need_it_are_exact(harness: tuple[list[Case], Path]) -> None:
    """Float pairs cost a subtraction per feature and component: ordinary models do without them, and
    the floored far cluster gets them (in --scaler standard space too, where it is 1.5e-4 sd a step)."""
    cases, _ = harness
    for c in cases:
        exact = device_arrays(c.model).exact
        if c.name == "ordinary" or c.covariance_type == "tied":
            assert not exact, (c.name, c.covariance_type, c.scaler)
        elif c.name == "tiny-variance" and (c.scaler == "none" or c.covariance_type != "spherical"):
            assert exact, (c.name, c.covariance_type, c.scaler)
    customers = (Path(__file__).resolve().parents[2] / "include" / "GMM.h").read_text()
    assert "EXACT = false" in customers, "the demo model keeps one float per mean"

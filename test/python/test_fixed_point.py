"""The --fixed-point integer path (g++ and avr-g++) against scikit-learn.

predict_q must agree with scikit-learn on >= 99.9 % of a grid of in-range
points and on every point whose top-two gap exceeds the stated quantisation
error bound (FixedPoint.log_prob_error) of both components; points outside the
quantisation domain go through the float path and must match as predict does.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from synth import fitted_model, mixture_data
from tinygmm.codegen.fixedpoint import fixed_bins, fixed_point
from tinygmm.codegen.header import render_header
from tinygmm.export.vectors import is_near_tie, sklearn_outputs

COV_TYPES = ("full", "tied", "diag", "spherical")
CASES = [(d, k) for d in (1, 2, 3, 5, 8) for k in (1, 3, 7, 10)]

MAIN = r"""
#include <stdio.h>
%(includes)s
struct Entry {
  int d;
  int (*predict_q)(const float*);
  int (*predict)(const float*);
  bool (*quantize)(const float*, int16_t*);
  int (*predict_fixed)(const int16_t*);
};
static const Entry ENTRIES[] = {
%(entries)s
};
int main() {
  int idx;
  float x[16];
  int16_t zq[16];
  while (scanf("%%d", &idx) == 1) {
    if (idx < 0) {  // -1 - idx, then D integers: predict_fixed on them
      const Entry& e = ENTRIES[-1 - idx];
      for (int i = 0; i < e.d; ++i) {
        int v;
        if (scanf("%%d", &v) != 1) return 2;
        zq[i] = (int16_t)v;
      }
      printf("%%d\n", e.predict_fixed(zq));
      continue;
    }
    const Entry& e = ENTRIES[idx];
    for (int i = 0; i < e.d; ++i) if (scanf("%%f", &x[i]) != 1) return 2;
    const bool in = e.quantize(x, zq);
    printf("%%d %%d %%d %%d\n", e.predict_q(x), e.predict(x), in ? 1 : 0, in ? e.predict_fixed(zq) : -1);
  }
  return 0;
}
"""


def inputs(X: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = hi - lo
    inside = np.vstack([X[rng.choice(len(X), 100, replace=False)], lo + rng.random((300, X.shape[1])) * span])
    dirs = rng.normal(size=(30, X.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    far = X.mean(axis=0) + np.repeat([1e2, 1e4, 1e6], 10)[:, None] * span * dirs
    all_x = np.vstack([inside, far]).astype(np.float32).astype(np.float64)
    is_far = np.zeros(len(all_x), bool)
    is_far[len(inside) :] = True
    return all_x, is_far


def compile_fixed(models, workdir: Path) -> Path:
    includes, entries = [], []
    for i, m in enumerate(models):
        ns = f"q{i}"
        (workdir / f"{ns}.h").write_text(render_header(m, [f"fixed-point test model {i}"], ns, fixed_point=True))
        includes.append(f'#include "{ns}.h"')
        entries.append(f"  {{{ns}::N_FEATURES, {ns}::predict_q, {ns}::predict, {ns}::quantize, {ns}::predict_fixed}},")
    src = workdir / "fixed.cpp"
    src.write_text(MAIN % {"includes": "\n".join(includes), "entries": "\n".join(entries)})
    exe = workdir / "fixed"
    cxx = shutil.which("g++") or "c++"
    flags = ["-std=c++11", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    subprocess.run([cxx, *flags, "-I", str(workdir), str(src), "-o", str(exe)], check=True)
    return exe


def run_fixed(exe: Path, jobs) -> list[np.ndarray]:
    lines = [f"{i} " + " ".join(repr(float(v)) for v in row) for i, X in jobs for row in np.asarray(X, np.float32)]
    out = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    rows = np.array([r.split() for r in out.stdout.splitlines()], dtype=np.int64)
    res, pos = [], 0
    for _, X in jobs:
        res.append(rows[pos : pos + len(X)])
        pos += len(X)
    return res


def decided_by_bound(m, X: np.ndarray) -> np.ndarray:
    """True where the top component beats every other by more than both error bounds."""
    eps, lp = fixed_point(m).log_prob_error(X)
    top = np.argmax(lp, axis=1)
    rows = np.arange(len(X))
    margin = lp[rows, top][:, None] - lp - eps[rows, top][:, None] - eps
    margin[rows, top] = np.inf
    return np.all(margin > 0, axis=1)


@pytest.mark.parametrize("scaler", ["none", "standard"])
@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_fixed_point_matches_sklearn(tmp_path, covariance_type: str, scaler: str) -> None:
    models, jobs, meta = [], [], []
    for d, k in CASES:
        X = mixture_data(d, 5, n=250, seed=d)
        m = fitted_model(X, k, covariance_type, scaler, seed=k)
        x, far = inputs(X, seed=100 * d + k)
        jobs.append((len(models), x))
        meta.append((d, k, far))
        models.append(m)
    results = run_fixed(compile_fixed(models, tmp_path), jobs)
    failures, n_in, n_agree = [], 0, 0
    for m, (_, x), (d, k, far), out in zip(models, jobs, meta, results, strict=True):
        ref = sklearn_outputs(m, x)
        float_decided = ~is_near_tie(ref["gap"], ref["top"])
        pq, pf, in_dom, pfix = out.T
        tag = f"{covariance_type}/{scaler} D={d} K={k}"
        inside = ~far
        n_in += int(inside.sum())
        n_agree += int((pq[inside] == ref["label"][inside]).sum())
        exact = float_decided & decided_by_bound(m, x)
        wrong = exact & (pq != ref["label"])
        if wrong.any():
            failures.append(f"{tag}: predict_q wrong on {wrong.sum()} points beyond the error bound, x={x[wrong][0]}")
        if (far & (in_dom == 1)).any() and d > 0:
            pass  # a far point can still be inside the domain for tiny spans; nothing to check
        out_dom = in_dom == 0
        if (out_dom & float_decided & (pq != ref["label"])).any():
            failures.append(f"{tag}: out-of-domain points must follow the float predict")
        if (pq[out_dom] != pf[out_dom]).any():
            failures.append(f"{tag}: predict_q differs from predict outside the domain")
        dom = in_dom == 1
        if dom.any() and (pfix[dom] == ref["label"][dom]).mean() < 0.99:
            failures.append(f"{tag}: predict_fixed agrees on only {(pfix[dom] == ref['label'][dom]).mean():.3f}")
    rate = n_agree / n_in
    print(f"\n{covariance_type}/{scaler}: predict_q agrees with scikit-learn on {rate:.5f} of {n_in} in-range points")
    assert not failures, "\n".join(failures[:20])
    assert rate >= 0.999


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_predict_fixed_is_the_exact_integer_argmax(tmp_path, covariance_type: str) -> None:
    """The bins' bounds only skip components that cannot win: predict_fixed returns exactly
    the first argmax of the K integer log-probabilities (emulated in Python), for in-range
    inputs, for inputs on both sides of every bin edge and for any int16 input."""
    rng = np.random.default_rng(5)
    models, jobs = [], []
    for d, k in CASES:
        X = mixture_data(d, 5, n=250, seed=d)
        m = fitted_model(X, k, covariance_type, "none", seed=k)
        q, bins = fixed_point(m), fixed_bins(m, fixed_point(m))
        zq = np.clip(np.round(q.z(inputs(X, seed=d + k)[0][:400]) * 2.0**q.F), -32767, 32767)
        edges = bins.lo + (2**bins.s) * np.arange(len(bins.visit) + 1)
        at_edges = zq[rng.integers(0, len(zq), 2 * len(edges))].copy()
        at_edges[:, 0] = np.clip(np.concatenate([edges, edges - 1]), -32767, 32767)
        wild = rng.integers(-32767, 32768, size=(100, d))
        jobs.append(np.vstack([zq, at_edges, wild]).astype(np.int64))
        models.append(m)
    exe = compile_fixed(models, tmp_path)
    lines = [f"{-1 - i} " + " ".join(map(str, row)) for i, z in enumerate(jobs) for row in z]
    out = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    got = np.array(out.stdout.split(), dtype=np.int64)
    pos = 0
    for (d, k), m, z in zip(CASES, models, jobs, strict=True):
        lpq, _ = fixed_point(m).log_prob_q(z)
        want = np.argmax(lpq, axis=1)
        bad = np.flatnonzero(got[pos : pos + len(z)] != want)
        assert bad.size == 0, (
            f"{covariance_type} D={d} K={k}: zq={z[bad[0]]} got {got[pos + bad[0]]}, want {want[bad[0]]}"
        )
        pos += len(z)


def test_fixed_point_error_bound_is_stated(tmp_path) -> None:
    X = mixture_data(2, 5, n=250, seed=2)
    m = fitted_model(X, 4, "full", "none", seed=1)
    text = render_header(m, ["t"], "gmm", fixed_point=True)
    for name in ("FIXED_INPUT_BITS", "FIXED_LOG_PROB_BITS", "FIXED_Z_MAX", "FIXED_Y_ERROR_MAX", "predict_q("):
        assert name in text
    assert "predict_q" not in render_header(m, ["t"], "gmm")
    q = fixed_point(m)
    eps, _ = q.log_prob_error(X)
    assert np.all(eps > 0) and np.median(eps) < 0.05


def test_fixed_point_compiles_for_avr(tmp_path) -> None:
    avr = shutil.which("avr-g++")
    if avr is None:
        pytest.skip("avr-g++ not installed (apt-get install gcc-avr avr-libc)")
    includes, calls = [], []
    for i, cov in enumerate(COV_TYPES):
        for j, (d, scaler) in enumerate(((1, "none"), (3, "standard"), (8, "none"))):
            ns = f"a{i}_{j}"
            X = mixture_data(d, 4, n=200, seed=d)
            m = fitted_model(X, 5, cov, scaler, seed=1)
            (tmp_path / f"{ns}.h").write_text(render_header(m, ["avr"], ns, fixed_point=True))
            includes.append(f'#include "{ns}.h"')
            calls.append(
                f"  {{ float p[{ns}::N_COMPONENTS]; float ll; int16_t zq[{ns}::N_FEATURES];\n"
                f"    r += {ns}::predict(x) + {ns}::predict_q(x) + {ns}::classify(x, p, &ll) + "
                f"{ns}::predict_proba(x, p) + ({ns}::quantize(x, zq) ? {ns}::predict_fixed(zq) : 0);\n"
                f"    r += (int){ns}::score_samples(x); }}"
            )
    src = tmp_path / "avr.cpp"
    src.write_text(
        "\n".join(includes)
        + "\nvolatile float in[8];\nvolatile int out;\nint main() {\n  float x[8];\n"
        + "  for (int i = 0; i < 8; ++i) x[i] = in[i];\n  int r = 0;\n"
        + "\n".join(calls)
        + "\n  out = r;\n  return 0;\n}\n"
    )
    flags = ["-std=c++11", "-mmcu=atmega328p", "-Os", "-Wall", "-Wextra", "-Werror", "-c"]  # 12 models: no link
    subprocess.run([avr, *flags, "-I", str(tmp_path), str(src), "-o", str(tmp_path / "avr.o")], check=True)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_soft_float_pruned_predict_equals_classify(tmp_path, monkeypatch, covariance_type: str) -> None:
    """The AVR code path (integer float compares, pruning, bound break) built on the host:
    predict must return exactly classify's argmax, on in-range and far points."""
    import cppharness

    monkeypatch.setattr(cppharness, "CXXFLAGS", [*cppharness.CXXFLAGS, "-DTINYGMM_SOFT_FLOAT=1"])
    models, jobs = [], []
    for d, k in CASES:
        X = mixture_data(d, 5, n=250, seed=d)
        models.append(fitted_model(X, k, covariance_type, "none", seed=k))
        jobs.append((len(jobs), inputs(X, seed=7 * d + k)[0]))
    results = cppharness.evaluate(cppharness.compile_models(models, tmp_path), jobs)
    for (d, k), out in zip(CASES, results, strict=True):
        assert np.array_equal(out.predict, out.label), f"{covariance_type} D={d} K={k}"


def test_cli_fixed_point_flag(tmp_path, root) -> None:
    from tinygmm.cli import main

    args = ["export", "--data", str(root / "data" / "customers.csv"), "--n-components", "3"]
    args += ["--features", "Annual Income (k$),Spending Score (1-100)", "--vectors", "none"]
    out = ["--header", str(tmp_path / "GMM.h"), "--json", str(tmp_path / "GMM.json")]
    assert main([*args, *out]) == 0
    assert "predict_q" not in (tmp_path / "GMM.h").read_text()
    assert main([*args, *out, "--fixed-point", "--if-changed"]) == 0  # a different export: rewritten
    text = (tmp_path / "GMM.h").read_text()
    assert "inline int predict_q(const float* x)" in text and "FIXED_INPUT_BITS" in text

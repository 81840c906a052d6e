"""tinygmm_online.h against its float32 reference (tinygmm.online) on the same streams.

A learn step calls no libm function (the learner's own exp_table / log_table / log_near1 are float32
operations only), so the reference reproduces the C++ bit for bit on the host (g++), on simavr's
ATmega328P (avr-libc's soft float) and on QEMU's Cortex-M0 and RV32IMC (libgcc's soft float); on the
Cortex-M4F, whose compiler fuses multiply-adds into the FPU's VFMA, to float32 tolerance.
Also: the reference refuses hostile input without changing its state, survives a constant stream, a stream
that starves a component and (on the host build) 10^6 steps; the header start recovers the exported model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from online_runner import (
    Case,
    build_avr,
    build_host,
    build_qemu,
    run_host,
    run_qemu,
    run_reference,
    run_simavr,
)
from qemu_targets import BY_NAME
from tinygmm.online import BAD_INPUT, OK, OnlineConfig, OnlineGMM

ROOT = Path(__file__).resolve().parents[2]
CENTRES = np.array([[0, 0], [5, -3], [10, -6], [15, -9]], np.float32)


def clusters(n: int, d: int = 2, k: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 6
    lab = rng.integers(0, k, n)
    return (centres[lab] + rng.normal(size=(n, d)) * rng.uniform(0.3, 1.5, d)).astype(np.float32)


def close(a: np.ndarray, b: np.ndarray, rtol: float) -> bool:
    return bool(np.all(np.abs(a - b) <= rtol * (np.abs(b) + 1e-2)))


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed (apt-get install gcc-avr avr-libc simavr)")


CASES = {
    "full-scratch": lambda: Case(4, 2, "full", clusters(3000), every=500),
    "diag-scratch": lambda: Case(3, 3, "diag", clusters(3000, 3, 3, seed=1), every=500),
    "full-d4-forgetting": lambda: Case(3, 4, "full", clusters(2000, 4, 3, seed=2), OnlineConfig(gamma_floor=0.01)),
    "full-adapt": lambda: Case(
        4,
        2,
        "full",
        clusters(2000, seed=3),
        OnlineConfig(alpha=0.9, t0=50),
        start=(np.full(4, 0.25, np.float32), CENTRES, np.tile(np.eye(2, dtype=np.float32), (4, 1, 1))),
        every=400,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_host_build_equals_reference_bit_for_bit(name: str, tmp_path: Path) -> None:
    case = CASES[name]()
    dev = run_host(build_host(case, tmp_path))
    ref = run_reference(case)
    assert dev.status == ref.status
    assert dev.reload_same
    assert [t for t, _ in dev.dumps] == [t for t, _ in ref.dumps]
    for (_, a), (_, b) in zip(dev.dumps, ref.dumps, strict=True):
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_avr_equals_reference(tmp_path: Path) -> None:
    require("avr-g++")
    require("simavr")
    for i, case in enumerate([CASES["full-scratch"](), CASES["diag-scratch"]()]):
        case.X = case.X[:1200]  # the stream lives in the ATmega328P's 32 KB of flash
        dev = run_simavr(build_avr(case, tmp_path / str(i)))
        ref = run_reference(case)
        assert dev.status == ref.status
        assert dev.reload_same
        assert len(dev.dumps) == len(ref.dumps) > 1
        for (ta, a), (tb, b) in zip(dev.dumps, ref.dumps, strict=True):
            assert ta == tb
            assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), np.max(np.abs(a - b))


def test_hostile_stream_on_host_and_reference(tmp_path: Path) -> None:
    X = clusters(1500)
    bad = np.array([[np.nan, 0], [0, np.inf], [-np.inf, 1], [1e30, 0], [0, -3e15]], np.float32)
    X = np.concatenate([X[:700], bad, X[700:], bad]).astype(np.float32)
    case = Case(4, 2, "full", X, every=100)
    dev = run_host(build_host(case, tmp_path))
    ref = run_reference(case)
    assert dev.status == ref.status
    assert dev.status.count(BAD_INPUT) == 2 * len(bad)
    for (_, a), (_, b) in zip(dev.dumps, ref.dumps, strict=True):
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
        assert np.all(np.isfinite(a))


def test_refused_input_leaves_the_reference_untouched() -> None:
    g = OnlineGMM(4, 2)
    g.begin_scratch(OnlineConfig())
    g.learn_many(clusters(500))
    before = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in vars(g).items()}
    for x in ([np.nan, 0.0], [np.inf, 1.0], [1e30, 0.0]):
        assert g.learn(np.array(x, np.float32)) == BAD_INPUT
    after = vars(g)
    for k, v in before.items():
        assert np.array_equal(np.asarray(v), np.asarray(after[k])), k


def test_constant_stream_and_starved_component_stay_usable() -> None:
    g = OnlineGMM(3, 2)
    g.begin(
        OnlineConfig(gamma_floor=0.02),
        np.full(3, 1 / 3, np.float32),
        np.array([[0, 0], [5, 5], [-5, 5]], np.float32),
        np.tile(np.eye(2, dtype=np.float32), (3, 1, 1)),
    )
    for _ in range(2000):  # one point only: the other two components starve
        assert g.learn(np.array([0.5, -0.5], np.float32)) == OK
    w, m, c = g.params()
    assert np.all(w >= 1e-3 * 0.99) and abs(float(w.sum()) - 1) < 1e-5
    assert np.all(np.linalg.eigvalsh(c.astype(np.float64)) > 0)
    assert np.all(np.isfinite(m)) and np.isfinite(g.score_samples([[0.5, -0.5]])[0])
    # then two clusters: the starved components are restarted by splits and take one each
    X = clusters(4000, 2, 3, seed=5)
    g.learn_many(X)
    assert g.splits > 0
    w, m, c = g.params()
    assert np.all(w > 0.1)


def test_a_million_steps_on_the_host(tmp_path: Path) -> None:
    """10^6 steps (decreasing steps, then a forgetting learner) without a reset: finite, normalised."""
    rng = np.random.default_rng(9)
    n = 1_000_000
    X = (CENTRES[rng.integers(0, 4, n)] + rng.normal(size=(n, 2)) * 0.7).astype(np.float32)
    src = tmp_path / "million.cpp"
    (tmp_path / "x.bin").write_bytes(X.tobytes())
    src.write_text(
        r"""
#include <stdio.h>
#include <stdlib.h>
#include "tinygmm_online.h"
int main(int argc, char** argv) {
  (void)argc;
  FILE* f = fopen(argv[1], "rb");
  tinygmm::OnlineGMM<4, 2> a, b;
  tinygmm::OnlineConfig cfg = tinygmm::online_defaults();
  a.begin_scratch(cfg);
  cfg.gamma_floor = 0.001f;
  b.begin_scratch(cfg);
  float x[2];
  long bad = 0;
  while (fread(x, sizeof x, 1, f) == 1) bad += (a.learn(x) < 0) + (b.learn(x) < 0);
  float w[4], m[8], c[16];
  for (int l = 0; l < 2; ++l) {
    (l ? b : a).get_params(w, m, c);
    printf("%u %ld %g", (l ? b : a).samples_seen(), bad, (l ? b : a).threshold());
    for (int i = 0; i < 4; ++i) printf(" %.9g", w[i]);
    for (int i = 0; i < 8; ++i) printf(" %.9g", m[i]);
    for (int i = 0; i < 16; ++i) printf(" %.9g", c[i]);
    printf("\n");
  }
  return 0;
}
"""
    )
    exe = tmp_path / "million"
    subprocess.run(
        [
            "g++",
            "-std=c++11",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{ROOT / 'lib/tinygmm/src'}",
            str(src),
            "-o",
            str(exe),
        ],
        check=True,
    )
    out = subprocess.run([str(exe), str(tmp_path / "x.bin")], capture_output=True, text=True, check=True).stdout
    for line, tol in zip(out.splitlines(), (0.05, 0.25), strict=True):  # the forgetting learner is noisier
        v = np.array(line.split(), float)
        assert v[0] == n and v[1] == 0 and np.isfinite(v[2])
        w, m, c = v[3:7], v[7:15].reshape(4, 2), v[15:].reshape(4, 2, 2)
        assert abs(w.sum() - 1) < 1e-4 and np.all(np.isfinite(m))
        assert np.all(np.linalg.eigvalsh(c) > 0)
        # every true centre found
        assert np.max(np.min(np.linalg.norm(m[None] - CENTRES[:, None], axis=2), axis=1)) < tol


def test_header_start_recovers_the_exported_model(tmp_path: Path) -> None:
    """begin_from_header on include/GMM.h: weights, means, covariances of include/GMM.json to float32."""
    model = json.loads((ROOT / "include" / "GMM.json").read_text())
    src = tmp_path / "hdr.cpp"
    src.write_text(
        r"""
#include <stdio.h>
#include "GMM.h"
#include "tinygmm_online.h"
int main() {
  tinygmm::OnlineGMM<gmm::N_COMPONENTS, gmm::N_FEATURES> g;
  if (g.begin_from_header<gmm::detail::Model>(tinygmm::online_defaults(), gmm::COVARIANCE_TYPE) != 0) return 1;
  float w[gmm::N_COMPONENTS], m[gmm::N_COMPONENTS * gmm::N_FEATURES];
  float c[gmm::N_COMPONENTS * gmm::N_FEATURES * gmm::N_FEATURES];
  g.get_params(w, m, c);
  for (float v : w) printf("%.9g ", v);
  for (float v : m) printf("%.9g ", v);
  for (float v : c) printf("%.9g ", v);
  return 0;
}
"""
    )
    exe = tmp_path / "hdr"
    subprocess.run(
        [
            "g++",
            "-std=c++11",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{ROOT / 'include'}",
            f"-I{ROOT / 'lib/tinygmm/src'}",
            str(src),
            "-o",
            str(exe),
        ],
        check=True,
    )
    v = np.array(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split(), float)
    k, d = len(model["weights"]), len(model["means"][0])
    w, m, c = v[:k], v[k : k + k * d].reshape(k, d), v[k + k * d :].reshape(k, d, d)
    np.testing.assert_allclose(w, model["weights"], rtol=1e-4)
    np.testing.assert_allclose(m, model["means"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(c, model["covariances"], rtol=1e-3)


@pytest.mark.parametrize("target_name", ["cortex-m0", "cortex-m4f", "rv32imc"])
def test_qemu_cores_equal_reference(target_name: str, tmp_path: Path) -> None:
    """The runner on QEMU's 32-bit cores against the reference: bit for bit on the soft-float cores, to float32
    tolerance on the Cortex-M4F (fused multiply-adds)."""
    target = BY_NAME[target_name]
    if target.missing():
        pytest.skip(target.missing())
    case = CASES["full-scratch"]()
    case.X = case.X[:1500]
    dev = run_qemu(target, build_qemu(case, tmp_path, target))
    ref = run_reference(case)
    assert dev.status == ref.status
    assert dev.reload_same
    assert len(dev.dumps) == len(ref.dumps) > 1
    for (ta, a), (tb, b) in zip(dev.dumps, ref.dumps, strict=True):
        assert ta == tb
        if target_name == "cortex-m4f":
            assert close(a, b, 1e-4), np.max(np.abs(a - b))
        else:
            assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), np.max(np.abs(a - b))

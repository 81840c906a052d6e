"""Sizes the generated code and the protocol assume, under AddressSanitizer and UBSan.

Models of D in {1, 2, 16, 17, 30, 255, 256, 257, 300} input features (feature-index tables switch
from uint8_t to uint16_t above 256; field counts from 8 to 16 bits above 255; D = 30 is the README's
StandardScaler -> PCA(4) -> GaussianMixture on load_breast_cancer) are exported with export_model,
built with the protocol library and its glue (``-fsanitize=address,undefined -fno-sanitize-recover=all``)
and fed valid, too-long and malformed lines. Every reply is checked against scikit-learn on the
same float32 inputs: labels exactly, the probability to 1e-4 and the log-likelihood to 1e-4
relative (float32 sums over up to 300 terms). One binary holds every model (one namespace each),
in the README's form ``LineProtocolWith<request_max(N_FEATURES)>``, with an explicit values buffer
of N_FEATURES, and with one too small (the parser must refuse, not overflow); a second one builds
lib/tinygmm/src/tinygmm_device.h, the firmware's glue, with the 30- and the 300-feature model.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tinygmm import export_model

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "lib" / "tinygmm" / "src"
DIMS = (1, 2, 16, 17, 30, 255, 256, 257, 300)
FLAGS = [
    "-std=c++11",
    "-O0",
    "-g",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-Wall",
    "-Wextra",
    "-Werror",
]


def request_max(d: int) -> int:
    """tinygmm::request_max: the longest request the host sends for d features."""
    return 16 * d + 13


@dataclass
class Fitted:
    estimator: Any
    rows: np.ndarray  # inputs the tests send (float32 values, as float64)


def fit(d: int) -> Fitted:
    """A small model of d input features: full covariance up to 17, diag above (K = 2)."""
    if d == 30:  # the README's example
        x = load_breast_cancer().data
        est = make_pipeline(StandardScaler(), PCA(n_components=4), GaussianMixture(6, random_state=0)).fit(x)
        return Fitted(est, x[::97][:6].astype(np.float32).astype(np.float64))
    rng = np.random.default_rng(d)
    x = np.vstack([rng.normal(size=(60, d)) - 1.5, rng.normal(size=(60, d)) * 2 + 1.5]) * 3.0 + 10.0
    cov = "full" if d <= 17 else "diag"
    est = GaussianMixture(2, covariance_type=cov, random_state=0, max_iter=20).fit(x)
    rows = np.vstack([x[:3], x[-3:], x[:1] * 5.0]).astype(np.float32).astype(np.float64)
    return Fitted(est, rows)


HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
%(includes)s
#include "tinygmm_protocol.h"

static void out(void*, const char* data, size_t len) { fwrite(data, 1, len, stdout); }

template <class P>
static int serve(P& p) {
  p.begin();
  static char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) p.feed(buf, n);
  return 0;
}

// form 0: the README's LineProtocolWith<request_max(N)>; 1: room for N values; 2: room for N - 1
template <uint16_t L, uint16_t N>
static int run(const tinygmm::DeviceModel& m, int form) {
  if (form == 0) {
    tinygmm::LineProtocolWith<L> p(m, out, 0);
    return serve(p);
  }
  if (form == 1) {
    tinygmm::LineProtocolWith<L, N> p(m, out, 0);
    return serve(p);
  }
  tinygmm::LineProtocolWith<L, (N > 1 ? N - 1 : 1)> p(m, out, 0);
  return serve(p);
}

#define MODEL(ns)                                                                                \
  static const tinygmm::DeviceModel ns##_model = {ns::N_FEATURES, ns::N_COMPONENTS, ns::FEATURE_NAMES, \
                                                  ns::MODEL_HASH,                                  \
                                                  tinygmm::classify_with<ns::N_COMPONENTS, ns::classify>};
%(models)s

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const int d = atoi(argv[1]), form = atoi(argv[2]);
%(cases)s
  return 2;
}
"""

DEVICE = r"""
#include <stdio.h>
#include "tinygmm_device.h"

static void out(void*, const char* data, size_t len) { fwrite(data, 1, len, stdout); }

int main() {
  tinygmm_device::Protocol p(tinygmm_device::MODEL, out, 0);
  p.begin();
  static char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) p.feed(buf, n);
  return 0;
}
"""


def compile_cpp(cxx: str, source: Path, includes: list[Path], out: Path) -> Path:
    cmd = [cxx, *FLAGS, *(f"-I{p}" for p in includes), str(source), str(LIB / "tinygmm_protocol.cpp"), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    return out


@dataclass
class Built:
    models: dict[int, Fitted]
    hashes: dict[int, str]
    harness: Path
    device: dict[int, Path]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    cxx = shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    tmp = tmp_path_factory.mktemp("sizes")
    models, hashes = {d: fit(d) for d in DIMS}, {}
    for d, f in models.items():  # one fixed-point model with a uint16_t Q_PERM, compiled beside the others
        res = export_model(f.estimator, tmp / f"m{d}.h", namespace=f"m{d}", fixed_point=d == 257)
        hashes[d] = res.model.model_hash
    includes = "\n".join(f'#include "m{d}.h"' for d in DIMS)
    model_lines = "\n".join(f"MODEL(m{d})" for d in DIMS)
    cases = "\n".join(f"  if (d == {d}) return run<{request_max(d)}, {d}>(m{d}_model, form);" for d in DIMS)
    src = tmp / "harness.cpp"
    src.write_text(HARNESS % {"includes": includes, "models": model_lines, "cases": cases})
    harness = compile_cpp(cxx, src, [tmp, LIB], tmp / "harness")
    device = {}
    for d in (30, 300):  # the firmware's glue, with its static_asserts, sized from GMM.h
        ddir = tmp / f"device{d}"
        ddir.mkdir()
        export_model(models[d].estimator, ddir / "GMM.h")
        shutil.copy(ROOT / "lib" / "tinygmm" / "src" / "tinygmm_device.h", ddir)  # it includes the "GMM.h" beside it
        (ddir / "main.cpp").write_text(DEVICE)
        device[d] = compile_cpp(cxx, ddir / "main.cpp", [ddir, LIB], ddir / "device")
    return Built(models, hashes, harness, device)


def talk(cmd: list[str], lines: list[str]) -> list[str]:
    r = subprocess.run(cmd, input="".join(line + "\n" for line in lines), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-4000:]  # a sanitizer report exits non-zero
    return r.stdout.splitlines()


def vector(row: np.ndarray) -> str:
    return ",".join(f"{v:.9g}" for v in row)


def check_ok(reply: str, est: Any, row: np.ndarray) -> None:
    fields = reply.split()
    assert fields[0] == "OK", reply
    label, prob, ll = int(fields[1]), float(fields[2]), float(fields[3])
    x = row[None, :]
    assert label == int(est.predict(x)[0]), reply
    assert prob == pytest.approx(float(est.predict_proba(x)[0].max()), abs=1e-4), reply
    assert ll == pytest.approx(float(est.score_samples(x)[0]), rel=1e-4, abs=1e-3), reply


def requests(d: int, f: Fitted) -> tuple[list[str], list[str | None]]:
    """(lines, the reply expected for each; None: an OK checked against scikit-learn)."""
    ones = ["1"] * d
    lines = [vector(r) for r in f.rows]
    want: list[str | None] = [None] * len(lines)
    cases = [
        ("INFO", f"INFO protocol=2 components={f.estimator[-1].n_components if d == 30 else 2} features={d} "),
        ("1," * (request_max(d) // 2 + 2) + "1", "ERR too-long"),  # longer than the line buffer
        (",".join(ones + ["1"]), f"ERR count expected {d} got {d + 1}"),  # > 255 values: 16-bit counts
        (",".join(["1", "", "1"]), "ERR empty-field 2"),
        (",".join(ones[:-1] + ["1x"]), f"ERR bad-number {d}"),
        (",".join(["nan"] + ones[1:]), "ERR not-finite 1"),
        ("hello", "ERR unknown-command hello"),
    ]
    for line, reply in cases:
        lines.append(line)
        want.append(reply)
    return lines, want


@pytest.mark.parametrize("d", DIMS)
def test_every_size_answers_as_the_host_without_overflow(built: Built, d: int) -> None:
    """The README's form and an exact values buffer: the same replies, each as scikit-learn says."""
    f = built.models[d]
    lines, want = requests(d, f)
    for form in (0, 1):
        got = talk([str(built.harness), str(d), str(form)], lines)
        assert got[0] == f"READY tinygmm {built.hashes[d]}"
        assert len(got) == 1 + len(lines), got
        for reply, expected, line, i in zip(got[1:], want, lines, range(len(lines)), strict=True):
            if expected is None:
                check_ok(reply, f.estimator, f.rows[i])
            else:
                assert reply.startswith(expected), (line[:80], reply)
        assert f"line_max={request_max(d)} " in got[1 + len(f.rows)]


@pytest.mark.parametrize("d", [d for d in DIMS if d > 1])
def test_a_values_buffer_smaller_than_the_model_refuses_instead_of_overflowing(built: Built, d: int) -> None:
    """LineProtocolWith<L, N - 1> for a model of N features: valid lines get ERR too-long, and the
    parser writes nothing past the buffer (AddressSanitizer would stop the process)."""
    f = built.models[d]
    got = talk([str(built.harness), str(d), "2"], [vector(r) for r in f.rows[:2]] + ["1," * (d - 1) + "1"])
    assert got[1:] == ["ERR too-long"] * 3


@pytest.mark.parametrize("d", [30, 300])
def test_the_device_glue_builds_and_answers_at_30_and_300_features(built: Built, d: int) -> None:
    """tinygmm_device.h, as the firmware uses it, with no build flag: no TINYGMM_MAX_FEATURES."""
    f = built.models[d]
    lines, want = requests(d, f)
    got = talk([str(built.device[d])], lines)
    assert got[0] == f"READY tinygmm {built.hashes[d]}"
    for reply, expected, i in zip(got[1:], want, range(len(lines)), strict=True):
        if expected is None:
            check_ok(reply, f.estimator, f.rows[i])
        else:
            assert reply.startswith(expected), reply

"""The anomaly decision and the protocol's anomaly fields on a simulated ATmega328P (simavr).

Same runners as test_avr_sim.py: predict_runner.cpp prints is_anomaly,
is_anomaly_q and is_anomaly_fixed on the AVR and on the host (soft-float code
path), which must agree line for line and with scikit-learn's
``score_samples < threshold`` away from the threshold; protocol_runner.cpp with
a model that has a threshold must give the host's replies, anomaly flags included.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, require_tool
from synth import fitted_model, mixture_data
from test_avr_sim import (  # noqa: F401, F811  (avr is a fixture)
    AVR_DIR,
    AVR_FLAGS,
    HOST_FLAGS,
    LIB_DIR,
    AvrTools,
    avr,
    build,
    predict_inputs,
    reply_lines,
    simulate,
    write_predict_inputs,
    write_script_header,
)
from tinygmm.anomaly import calibrate_quantile
from tinygmm.codegen.fixedpoint import fixed_point
from tinygmm.codegen.header import render_header
from tinygmm.export.vectors import sklearn_outputs

MODELS = [
    # (D, K, covariance_type, scaler)
    (2, 7, "full", "none"),
    (3, 4, "diag", "standard"),
    (3, 4, "tied", "none"),
    (2, 3, "spherical", "minmax"),
]


@pytest.mark.parametrize(("d", "k", "covariance_type", "scaler"), MODELS, ids=lambda v: str(v))
def test_anomaly_decisions_on_avr(
    avr: AvrTools,  # noqa: F811
    tmp_path: Path,
    d: int,
    k: int,
    covariance_type: str,
    scaler: str,
) -> None:
    gxx = require_tool("g++")
    X = mixture_data(d, k, n=300, seed=d * 10 + k)
    m = fitted_model(X, k, covariance_type, scaler, seed=k)
    g = m.to_sklearn()
    t = calibrate_quantile(lambda Z: g.score_samples(m.transform(Z)), X, 0.05)
    x = predict_inputs(X, seed=d + k)
    q = fixed_point(m)
    with np.errstate(over="ignore", invalid="ignore"):
        z = q.z(np.nan_to_num(x.astype(np.float64))) * 2.0**q.F
    zq = np.clip(np.round(np.nan_to_num(z)), -32767, 32767).astype(np.int64)
    (tmp_path / "GMM.h").write_text(render_header(m, ["avr anomaly test"], fixed_point=True, anomaly=t))
    write_predict_inputs(tmp_path / "predict_inputs.h", x, zq)
    flags = ["-DPREDICT_RUNNER_FIXED", "-DPREDICT_RUNNER_ANOMALY"]
    src, inc = [AVR_DIR / "predict_runner.cpp"], [tmp_path, AVR_DIR]
    host = build(gxx, [*HOST_FLAGS, "-DTINYGMM_SOFT_FLOAT=1", *flags], src, inc, tmp_path / "host")
    host_lines = subprocess.run([str(host)], capture_output=True, timeout=60, check=True).stdout.decode().splitlines()
    elf = build(avr.cxx, [*AVR_FLAGS, *flags], src, inc, tmp_path / "anomaly.elf")
    avr_lines = [ln for ln in simulate(avr.simavr, elf) if ln.startswith(("P ", "END"))]
    assert host_lines[-1] == "END" and len(host_lines) == len(x) + 1
    diff = [(a, h) for a, h in zip(avr_lines, host_lines, strict=False) if a != h]
    assert len(avr_lines) == len(host_lines) and not diff, f"AVR differs from the host: {diff[:5]}"

    rows = [ln.split()[1:] for ln in host_lines[:-1]]
    is_anom = np.array([r[-2] == "1" for r in rows])
    is_anom_q = np.array([r[-1] == "1" for r in rows])
    ok = np.all(np.isfinite(x), axis=1)
    score = sklearn_outputs(m, x[ok].astype(np.float64))["log_likelihood"]
    far = np.zeros(len(x), bool)
    far[200:] = True  # predict_inputs: 60 rows, 140 box, then far points
    tol = np.where(far[ok], 1e-5 * np.abs(score), 1e-3)
    clear = np.abs(score - t.threshold) > tol
    want = score < t.threshold
    assert want[clear].any() and (~want[clear]).any()
    assert np.array_equal(is_anom[ok][clear], want[clear]), "is_anomaly differs from scikit-learn"
    eps, _ = q.log_prob_error(x[ok].astype(np.float64))
    clear_q = np.abs(score - t.threshold) > np.maximum(tol, eps.max(axis=1) + 1e-3)
    assert np.array_equal(is_anom_q[ok][clear_q], want[clear_q]), "is_anomaly_q differs from scikit-learn"
    assert is_anom[~ok].all(), "NaN / inf inputs are anomalous"


def test_protocol_with_a_threshold_on_avr(avr: AvrTools, tmp_path: Path) -> None:  # noqa: F811
    """The firmware's replies with a thresholded model: AVR = host, flags and INFO included."""
    import sys

    gxx = require_tool("g++")
    model_dir = tmp_path / "include"
    model_dir.mkdir()
    args = ["--data", str(ROOT / "data" / "customers.csv"), "--features", "Age,Spending Score (1-100)"]
    args += ["--n-components", "4", "--random-state", "42", "--anomaly-quantile", "0.05", "--vectors", "none"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tinygmm",
            "export",
            *args,
            "--header",
            str(model_dir / "GMM.h"),
            "--json",
            str(model_dir / "GMM.json"),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    (model_dir / "tinygmm_device.h").write_bytes((ROOT / "lib" / "tinygmm" / "src" / "tinygmm_device.h").read_bytes())
    requests = ["INFO", "35,50", "200,-300", "200,-300", "35,50", "200,-300", "35,50", "35,50", "35,50", "90,99"]
    write_script_header(tmp_path / "protocol_script.h", ("\n".join(requests) + "\n").encode())
    sources = [AVR_DIR / "protocol_runner.cpp", LIB_DIR / "tinygmm_protocol.cpp"]
    includes = [tmp_path, AVR_DIR, model_dir, LIB_DIR]
    host = build(gxx, HOST_FLAGS, sources, includes, tmp_path / "protocol_host")
    host_lines = subprocess.run([str(host)], capture_output=True, timeout=60, check=True).stdout.decode().splitlines()
    elf = build(avr.cxx, AVR_FLAGS, sources, includes, tmp_path / "protocol.elf")
    avr_lines = reply_lines(simulate(avr.simavr, elf))
    assert " threshold=" in host_lines[1] and " alarm=3/5 names=" in host_lines[1]
    oks = [ln.split() for ln in host_lines[2:-1]]
    flags = [int(f[4]) for f in oks]
    bits = [f & 1 for f in flags]
    assert bits[:8] == [0, 1, 1, 0, 1, 0, 0, 0]
    assert [f >> 1 for f in flags] == [int(sum(bits[max(0, i - 4) : i + 1]) >= 3) for i in range(len(bits))]
    assert 2 in [f & 2 for f in flags]

    def kind(ln: str) -> list[str]:  # the floats may differ in their last digits (AVR's double is a float)
        return [
            t for i, t in enumerate(ln.split()) if not (ln.startswith("OK") and i in (2, 3)) and "threshold=" not in t
        ]

    assert [kind(ln) for ln in avr_lines] == [kind(ln) for ln in host_lines]
    a_thr = float(avr_lines[1].split("threshold=")[1].split()[0])
    h_thr = float(host_lines[1].split("threshold=")[1].split()[0])
    assert abs(a_thr - h_thr) <= 1e-6 * abs(h_thr)

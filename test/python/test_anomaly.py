"""Anomaly threshold: calibration at export, the CLI, the firmware's replies and the k-of-n filter."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, require_tool
from tinygmm.anomaly import (
    AnomalyOptions,
    best_threshold,
    calibrate_quantile,
    calibrate_validation,
    detection_metrics,
    load_labelled,
)
from tinygmm.errors import TinyGMMError
from tinygmm.platformio.config import OPTIONS

CUSTOMERS = ROOT / "data" / "customers.csv"
FEATURES = "Age,Spending Score (1-100)"


def identity(X: np.ndarray) -> np.ndarray:
    return np.asarray(X)[:, 0]


# ---- calibration ---------------------------------------------------------------------


def test_quantile_flags_that_fraction_of_the_training_rows() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 1))
    for q in (0.01, 0.05, 0.3):
        t = calibrate_quantile(identity, X, q)
        assert t.method == "quantile" and t.quantile == q
        assert t.training_flag_rate == pytest.approx(q, abs=1.5e-3)
        assert t.threshold == pytest.approx(np.quantile(X[:, 0], q))


def test_best_threshold_maximises_f1_over_every_cut() -> None:
    """Against a brute force over every possible cut, with sklearn.metrics.f1_score."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    for trial in range(5):
        s = np.round(np.concatenate([rng.normal(0, 1, 80), rng.normal(-2, 1, 20)]), 1)  # ties on purpose
        y = np.r_[np.zeros(80, int), np.ones(20, int)]
        t = best_threshold(s, y)
        u = np.unique(s)
        brute = max(f1_score(y, (s < c).astype(int), zero_division=0) for c in np.r_[u, u[-1] + 1])
        assert f1_score(y, (s < t).astype(int)) == pytest.approx(brute), trial
        assert not np.any(s == t), "the threshold lies between scores, not on one"


def test_max_fpr_limits_the_false_positive_rate_and_maximises_recall() -> None:
    rng = np.random.default_rng(4)
    s = np.concatenate([rng.normal(0, 1, 200), rng.normal(-1.5, 1, 50)])
    y = np.r_[np.zeros(200, int), np.ones(50, int)]
    X = s[:, None]
    t = calibrate_validation(identity, X, X, y, max_fpr=0.05)
    assert t.method == "validation-fpr" and t.validation["fpr"] <= 0.05
    # one more flagged row (the next score up) would break the limit or not raise recall
    above = np.sort(s[s >= t.threshold])
    nxt = detection_metrics(s, y, float(above[0]) + 1e-9)
    assert nxt["fpr"] > 0.05 or nxt["recall"] == t.validation["recall"]
    f1 = calibrate_validation(identity, X, X, y)
    assert f1.method == "validation-f1" and f1.validation["f1"] >= t.validation["f1"]


def test_detection_metrics_are_sklearns() -> None:
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    s = np.array([-5.0, -4.0, -1.0, 0.0, 1.0, 2.0, -3.0])
    y = np.array([1, 1, 0, 0, 0, 0, 0])
    m = detection_metrics(s, y, -2.0)
    pred = (s < -2).astype(int)
    assert m["precision"] == precision_score(y, pred) and m["recall"] == recall_score(y, pred)
    assert m["fpr"] == pytest.approx(1 / 5) and m["roc_auc"] == roc_auc_score(y, -s)
    assert m["confusion"] == {"tn": 4, "fp": 1, "fn": 0, "tp": 2}


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (AnomalyOptions(quantile=0.0), "--anomaly-quantile must be in (0, 1)"),
        (AnomalyOptions(quantile=1.0), "--anomaly-quantile must be in (0, 1)"),
        (AnomalyOptions(threshold=float("inf")), "finite"),
        (AnomalyOptions(threshold=float("nan")), "finite"),
        (AnomalyOptions(threshold=1e39), "--anomaly-threshold 1e+39 is beyond float32's range"),
        (AnomalyOptions(threshold=-3.5e38), "--anomaly-threshold -3.5e+38 is beyond float32's range"),
        (AnomalyOptions(quantile=0.1, threshold=-3.0), "only one of"),
        (AnomalyOptions(validation="v.csv"), "needs --anomaly-label"),
        (AnomalyOptions(label="y"), "only applies with --anomaly-validation"),
        (AnomalyOptions(validation="v.csv", label="y", max_fpr=1.5), "--anomaly-max-fpr"),
    ],
)
def test_bad_options_are_one_clear_error(opts: AnomalyOptions, message: str) -> None:
    with pytest.raises(TinyGMMError, match=re.escape(message)):
        opts.validate()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_labels_as_strings_need_the_anomalous_one_named(tmp_path: Path) -> None:
    p = write(tmp_path / "v.csv", "a,b,state\n1,2,ok\n3,4,broken\n5,6,ok\n")
    with pytest.raises(TinyGMMError, match="--anomaly-positive"):
        load_labelled(p, ["a", "b"], "state")
    X, y, pos = load_labelled(p, ["a", "b"], "state", "broken")
    assert X.tolist() == [[1, 2], [3, 4], [5, 6]] and y.tolist() == [0, 1, 0] and pos == "broken"
    with pytest.raises(TinyGMMError, match="not a value of column"):
        load_labelled(p, ["a", "b"], "state", "fine")
    p01 = write(tmp_path / "w.csv", "a,b,y\n1,2,0\n3,4,1.0\n")
    assert load_labelled(p01, ["a", "b"], "y")[1].tolist() == [0, 1]
    assert load_labelled(p01, ["a", "b"], "y", "0")[1].tolist() == [1, 0]


@pytest.mark.parametrize(
    ("text", "label", "message"),
    [
        ("a,b,y\n1,2,0\n3,4,0\n", "y", "exactly two values"),
        ("a,c,y\n1,2,0\n3,4,1\n", "y", "another feature set"),
        ("a,b,y\n1,2,0\n3,4,1\n", "z", "no column 'z'"),
        ("a,b,y\n1,2,0\n3,4,\n", "y", "empty label"),
        ("a,b,y\n1,2,0\n3,4,1\n5,6,2\n", "y", "exactly two values"),
        ("a,b,y\n1,2,0\n3,4,1\n", "b", "also a model feature"),
    ],
)
def test_bad_validation_files(tmp_path: Path, text: str, label: str, message: str) -> None:
    p = write(tmp_path / "v.csv", text)
    with pytest.raises(TinyGMMError, match=message):
        load_labelled(p, ["a", "b"], label, None)


def test_validation_needs_both_classes() -> None:
    X = np.zeros((5, 1))
    with pytest.raises(TinyGMMError, match="both classes"):
        calibrate_validation(identity, X, X, np.zeros(5, int))


def test_every_anomaly_flag_has_a_platformio_option() -> None:
    from tinygmm.cli import build_parser

    export = build_parser()._subparsers._group_actions[0].choices["export"]  # type: ignore[union-attr]
    flags = {s for a in export._actions for s in a.option_strings if s.startswith("--anomaly-")}
    assert flags == {f for _, f in OPTIONS if f.startswith("--anomaly-")}
    assert all(name == f[2:].replace("-", "_") for name, f in OPTIONS if f.startswith("--anomaly-"))


# ---- the CLI ---------------------------------------------------------------------------


def export(tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tinygmm", "export", "--data", str(CUSTOMERS), "--features", FEATURES]
    cmd += ["--n-components", "4", "--random-state", "42", "--vectors", "none"]
    cmd += ["--header", str(tmp / "GMM.h"), "--json", str(tmp / "GMM.json"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


def validation_csv(tmp: Path) -> Path:
    """Rows of the training data (normal) and points away from it (anomalous), labelled ok/broken."""
    rng = np.random.default_rng(1)
    lines = ["Age,Spending Score (1-100),state"]
    data = np.loadtxt(CUSTOMERS, delimiter=",", skiprows=1, usecols=(2, 4))
    for a, s in data[rng.choice(len(data), 80, replace=False)]:
        lines.append(f"{a:g},{s:g},ok")
    for a, s in np.column_stack([rng.uniform(0, 110, 20), rng.uniform(-40, 140, 20)]):
        lines.append(f"{a:.2f},{s:.2f},broken")
    return write(tmp / "validation.csv", "\n".join(lines) + "\n")


def test_export_with_validation_labels(tmp_path: Path) -> None:
    v = validation_csv(tmp_path)
    r = export(tmp_path, "--anomaly-validation", str(v), "--anomaly-label", "state", "--anomaly-positive", "broken")
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "GMM.json").read_text())
    a = doc["anomaly"]
    assert a["method"] == "validation-f1" and a["validation"]["n_anomalous"] == 20
    for key, printed in (
        ("precision", "precision"),
        ("recall", "recall"),
        ("f1", "F1"),
        ("fpr", "FPR"),
        ("roc_auc", "ROC AUC"),
    ):
        assert 0.0 <= a["validation"][key] <= 1.0 and f"{printed} {a['validation'][key]:.4f}" in r.stdout
    assert a["validation"]["roc_auc"] > 0.8  # the anomalies are outside the data: easy to tell apart
    header = (tmp_path / "GMM.h").read_text()
    assert "static const float ANOMALY_THRESHOLD = " in header and "inline bool is_anomaly(" in header
    assert f"anomaly threshold {a['threshold']:.9g}" in header.split("#ifndef")[0]  # the header comment
    assert f"flags {100 * a['training_flag_rate']:.2f} %" in header


def test_export_quantile_is_deterministic_and_in_the_input_hash(tmp_path: Path) -> None:
    assert export(tmp_path, "--anomaly-quantile", "0.02").returncode == 0
    first = (tmp_path / "GMM.h").read_bytes()
    doc = json.loads((tmp_path / "GMM.json").read_text())
    assert doc["anomaly"]["quantile"] == 0.02 and doc["anomaly"]["training_flag_rate"] == pytest.approx(0.02, abs=0.003)
    assert export(tmp_path, "--anomaly-quantile", "0.02").returncode == 0
    assert (tmp_path / "GMM.h").read_bytes() == first
    r = export(tmp_path, "--anomaly-quantile", "0.05", "--if-changed")
    assert "up to date" not in r.stdout and (tmp_path / "GMM.h").read_bytes() != first
    r = export(tmp_path, "--anomaly-quantile", "0.05", "--if-changed")
    assert "up to date" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--anomaly-quantile", "1.5"], "--anomaly-quantile must be in (0, 1)"),
        (["--anomaly-threshold", "inf"], "finite"),
        (["--anomaly-validation", "VALID", "--anomaly-label", "Age"], "also a model feature"),
        (["--anomaly-validation", "ONECLASS", "--anomaly-label", "state"], "exactly two values"),
        (["--anomaly-validation", "OTHER", "--anomaly-label", "state"], "another feature set"),
    ],
)
def test_bad_anomaly_input_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    files = {
        "VALID": validation_csv(tmp_path),
        "ONECLASS": write(tmp_path / "one.csv", "Age,Spending Score (1-100),state\n20,30,ok\n40,50,ok\n"),
        "OTHER": write(tmp_path / "other.csv", "Age,Income,state\n20,30,ok\n40,50,broken\n"),
    }
    args = [str(files.get(a, a)) for a in args]
    r = export(tmp_path, *args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert message in r.stderr
    assert not (tmp_path / "GMM.h").exists() and not (tmp_path / "GMM.json").exists()


# ---- the firmware ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def anomaly_firmware(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from fw import DEMO_ARGS, build_firmware, make_project

    require_tool("g++")
    project = make_project(tmp_path_factory.mktemp("fw-anomaly") / "p", [*DEMO_ARGS, "--anomaly-quantile", "0.05"])
    return project, build_firmware(project)


def test_firmware_replies_carry_the_decision_and_the_alarm(anomaly_firmware: tuple[Path, Path]) -> None:
    from fw import run_firmware
    from tinygmm.model.exported import ExportedModel

    project, exe = anomaly_firmware
    doc = json.loads((project / "include" / "GMM.json").read_text())
    t = doc["anomaly"]["threshold"]
    m = ExportedModel.load(project / "include" / "GMM.json")
    normal, odd = "35,50", "200,-300"
    seq = [normal, odd, odd, normal, odd, odd, normal, normal, normal, normal, normal]
    lines = run_firmware(exe, ("INFO\n" + "\n".join(seq) + "\n").encode())
    assert lines[1] == (
        f"INFO protocol=2 components=4 features=2 line_max=45 model={m.model_hash} "
        f"threshold={float(np.float32(t)):.9g} alarm=3/5 names=Age|Spending Score (1-100)"
    )
    from tinygmm.device.client import parse_info, parse_reply

    info = parse_info(lines[1])
    assert info is not None and np.float32(info.threshold) == np.float32(t) and info.alarm == (3, 5)
    assert [parse_reply(ln, info).anomaly for ln in lines[2:]] == [int(ln.split()[4]) for ln in lines[2:]]
    flags = [int(ln.split()[4]) for ln in lines[2:]]
    anomalous = [f & 1 for f in flags]
    assert anomalous == [0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0]
    # alarm: at least 3 of the last 5 anomalous
    window = [sum(anomalous[max(0, i - 4) : i + 1]) >= 3 for i in range(len(seq))]
    assert [bool(f & 2) for f in flags] == window and any(window) and not window[-1]
    lls = [float(ln.split()[3]) for ln in lines[2:]]
    assert [int(ll < t) for ll in lls] == anomalous


def test_stream_and_verify_with_a_threshold(anomaly_firmware: tuple[Path, Path], tmp_path: Path) -> None:
    project, exe = anomaly_firmware
    out = tmp_path / "labelled.csv"
    cli = [sys.executable, "-m", "tinygmm"]
    r = subprocess.run(
        [*cli, "stream", "--port", f"native:{exe}", str(CUSTOMERS), "--out", str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    rows = out.read_text().splitlines()
    assert rows[0].endswith(",label,probability,log_likelihood,anomaly,alarm") and len(rows) == 401
    t = json.loads((project / "include" / "GMM.json").read_text())["anomaly"]
    flagged = sum(row.split(",")[-2] == "1" for row in rows[1:])
    assert abs(flagged - 400 * t["training_flag_rate"]) <= 2
    r = subprocess.run(
        [*cli, "verify", "--port", f"native:{exe}", "--json", "include/GMM.json", str(CUSTOMERS)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "anomaly decisions" in r.stdout and "100.00% of" in r.stdout and "verify: PASS" in r.stdout


def test_verify_refuses_a_threshold_the_device_does_not_have(
    anomaly_firmware: tuple[Path, Path], tmp_path: Path
) -> None:
    project, exe = anomaly_firmware
    doc = json.loads((project / "include" / "GMM.json").read_text())
    doc["anomaly"]["threshold"] += 0.5
    other = tmp_path / "moved.json"
    other.write_text(json.dumps(doc))
    r = subprocess.run(
        [sys.executable, "-m", "tinygmm", "verify", "--port", f"native:{exe}", "--json", str(other), str(CUSTOMERS)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "anomaly threshold" in r.stderr


# ---- the k-of-n filter ---------------------------------------------------------------------

FILTER_MAIN = r"""
#include <stdio.h>
#include "tinygmm_filter.h"
template <uint8_t N>
static void run(uint8_t k, const char* bits) {
  tinygmm::KOfN<N> f(k);
  for (const char* p = bits; *p; ++p) {
    const bool a = f.update(*p == '1');
    putchar(a ? '1' : '0');
    if (a != f.alarm()) putchar('!');
  }
  printf(" %d\n", f.count());
}
int main() {
  char bits[4096];
  int n, k;
  while (scanf("%d %d %4095s", &n, &k, bits) == 3) {
    switch (n) {
      case 1: run<1>((uint8_t)k, bits); break;
      case 5: run<5>((uint8_t)k, bits); break;
      case 8: run<8>((uint8_t)k, bits); break;
      case 13: run<13>((uint8_t)k, bits); break;
      case 255: run<255>((uint8_t)k, bits); break;
    }
  }
  return 0;
}
"""


def k_of_n(bits: list[int], k: int, n: int) -> tuple[list[int], int]:
    k = min(max(k, 1), n)
    out = [int(sum(bits[max(0, i - n + 1) : i + 1]) >= k) for i in range(len(bits))]
    return out, sum(bits[-n:])


def test_k_of_n_filter_matches_a_sliding_window(tmp_path: Path) -> None:
    gxx = require_tool("g++")
    src = tmp_path / "filter.cpp"
    src.write_text(FILTER_MAIN)
    exe = tmp_path / "filter"
    subprocess.run(
        [
            gxx,
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-I",
            str(ROOT / "lib" / "tinygmm" / "src"),
            str(src),
            "-o",
            str(exe),
        ],
        check=True,
    )
    rng = np.random.default_rng(5)
    cases = []
    for n in (1, 5, 8, 13, 255):
        for k in (0, 1, 2, n // 2, n, min(n + 3, 255)):  # k is a uint8_t
            for p in (0.1, 0.5, 0.9):
                cases.append((n, k, [int(b) for b in rng.random(700) < p]))
    text = "".join(f"{n} {k} {''.join(map(str, b))}\n" for n, k, b in cases)
    lines = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(lines) == len(cases)
    for (n, k, b), line in zip(cases, lines, strict=True):
        got, count = line.split()
        want, want_count = k_of_n(b, k, n)
        assert got == "".join(map(str, want)) and int(count) == want_count, (n, k)


# ---- the report ----------------------------------------------------------------------------


def test_report_shows_the_threshold_and_the_validation_curves(tmp_path: Path) -> None:
    import re

    v = validation_csv(tmp_path)
    auto = ["--n-components", "auto", "--max-components", "4"]  # the JSON keeps the sweep: the report need not re-fit
    anomaly = ["--anomaly-validation", str(v), "--anomaly-label", "state", "--anomaly-positive", "broken"]
    r = export(tmp_path, *auto, *anomaly)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "report"
    cli = [sys.executable, "-m", "tinygmm", "report"]
    r = subprocess.run([*cli, "--json", str(tmp_path / "GMM.json"), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    page = (out / "index.html").read_text()
    assert 'id="anomaly"' in page and (out / "anomaly_scores.png").is_file() and (out / "anomaly_curves.png").is_file()
    a = json.loads((tmp_path / "GMM.json").read_text())["anomaly"]
    c = a["validation"]["confusion"]
    cells = re.findall(r"<tr><td class=\"l\">(anomalous|normal)</td><td>(\d+)</td><td>(\d+)</td></tr>", page)
    assert cells == [("anomalous", str(c["tp"]), str(c["fn"])), ("normal", str(c["fp"]), str(c["tn"]))]
    assert f"ROC AUC {a['validation']['roc_auc']:.4f}" in page
    # a report of a model without a threshold has no anomaly section, and removes the stale PNGs
    assert export(tmp_path, *auto).returncode == 0
    r = subprocess.run([*cli, "--json", str(tmp_path / "GMM.json"), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert 'id="anomaly"' not in (out / "index.html").read_text() and not (out / "anomaly_scores.png").exists()


def test_platformio_options_become_anomaly_flags(tmp_path: Path) -> None:
    from tinygmm.platformio.config import read_ini

    ini = write(
        tmp_path / "platformio.ini",
        "[platformio]\ndefault_envs = native\n\n[env]\ncustom_gmm_anomaly_validation = v.csv\n"
        "custom_gmm_anomaly_label = state\ncustom_gmm_anomaly_positive = broken\n\n"
        "[env:native]\ncustom_gmm_anomaly_max_fpr = 0.05\n\n[env:uno]\ncustom_gmm_anomaly_quantile = 0.01\n",
    )
    assert read_ini(ini) == [
        "--anomaly-validation", str(tmp_path / "v.csv"), "--anomaly-label", "state", "--anomaly-positive", "broken",
        "--anomaly-max-fpr", "0.05",
    ]  # fmt: skip
    assert "--anomaly-quantile" in read_ini(ini, "uno")

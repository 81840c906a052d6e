"""The benchmark (scripts/bench/run.py) builds and produces sane numbers.

One small model, few inputs, no timing asserts: this only proves that the
firmware, the simavr harness, avr-size, callgrind and the emlearn / naive
builds work together.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_quick(tmp_path) -> None:
    if not Path("/usr/include/simavr/sim_avr.h").is_file():
        pytest.skip("libsimavr-dev not installed (apt-get install libsimavr-dev simavr)")
    for tool in ("avr-gcc", "avr-size", "valgrind"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    # find, never import: importing emlearn sets numpy.seterr(all="raise") for the whole process
    if importlib.util.find_spec("emlearn") is None:
        pytest.skip("emlearn not installed (pip install emlearn==0.23.2)")
    cmd = [sys.executable, str(ROOT / "scripts" / "bench" / "run.py"), "--quick", "--out", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    doc = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "results.md").read_text().startswith("# tinygmm benchmark")
    (case,) = doc["cases"]
    res = case["results"]
    assert set(res) == {"tinygmm", "tinygmm-fixed", "tinygmm-fixed-int", "emlearn", "naive"}
    for name, r in res.items():
        assert r["avr_cycles_mean_in_range"] > 100, name
        assert r["flash_bytes"] > 100, name
        assert 0 < r["stack_bytes"] < 1024, name
        assert r["host_instructions"] > 10, name
        assert r["avr_equals_host"], name
        assert r["agree_in_range"] > 0.9, name
    assert res["tinygmm"]["agree_in_range"] == 1.0 and res["tinygmm"]["agree_far"] == 1.0
    assert res["tinygmm"]["sram_bytes"] == 0


def test_anomaly_bench_quick(tmp_path) -> None:
    """scripts/bench/anomaly.py --quick: detectors side by side, and the decision's AVR cost."""
    if not Path("/usr/include/simavr/sim_avr.h").is_file():
        pytest.skip("libsimavr-dev not installed (apt-get install libsimavr-dev simavr)")
    if shutil.which("avr-gcc") is None or shutil.which("avr-size") is None:
        pytest.skip("avr-gcc / avr-size not installed")
    cmd = [sys.executable, str(ROOT / "scripts" / "bench" / "anomaly.py"), "--quick", "--out", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    doc = json.loads((tmp_path / "anomaly.json").read_text())
    assert (tmp_path / "anomaly.md").read_text().startswith("# Anomaly detection benchmark")
    (ds,) = doc["datasets"]
    assert {"IsolationForest", "OneClassSVM", "LocalOutlierFactor"} <= set(ds["quality"])
    for name, r in ds["quality"].items():
        assert 0.5 < r["roc_auc"] <= 1.0 and 0.0 <= r["f1_quantile"] <= 1.0, name
    c = doc["customers"]
    assert c["is_anomaly"]["equals_sklearn"] == 1.0 and c["score_samples < T"]["equals_sklearn"] == 1.0
    assert all(c[f]["cycles_mean"] > 100 and c[f]["flash_bytes"] > 100 for f in ("predict", "is_anomaly"))

"""scripts/bench/fit_scale.py runs end to end on a small file (no timing asserts: it is a benchmark)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_fit_scale_small(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "scripts/bench/fit_scale.py"), "--rows", "3000", "--k", "2"]
    cmd += ["--max-components", "2", "--out", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    doc = json.loads((tmp_path / "fit_scale_results_3e03.json").read_text())
    names = [r["name"] for r in doc["runs"]]
    assert names == ["baseline fixed", "tinygmm fixed", "baseline auto", "tinygmm auto"]
    for r in doc["runs"]:
        assert r["seconds"] > 0 and r["max_rss_mb"] > 10 and r["tree_pss_mb"] > 10, r
    assert set(doc["ratios"]) == {"fixed", "auto"}
    assert "| tinygmm auto |" in (tmp_path / "fit_scale_results_3e03.md").read_text()

"""The auto-K sweep: parallel fits give the sequential results bit for bit; EM stuck is said, not hidden."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from tinygmm.cli import main
from tinygmm.data.reader import Dataset
from tinygmm.fit import sweep as F
from tinygmm.model.exported import ExportedModel
from tinygmm.platformio.config import OPTIONS


def dataset(X: np.ndarray) -> Dataset:
    return Dataset(X=X, feature_names=[f"f{i}" for i in range(X.shape[1])], path="mem", sha256="")


def blobs(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (k, d))
    return centres[rng.integers(0, k, n)] + rng.normal(0, 1, (n, d))


def params(g: object) -> bytes:
    return b"".join(
        np.ascontiguousarray(getattr(g, a)).tobytes()
        for a in ("weights_", "means_", "covariances_", "precisions_cholesky_")
    )


def test_parallel_sweep_equals_sequential_bit_for_bit() -> None:
    """n_jobs=2 (two loky worker processes) against n_jobs=1 (this process): same rows, same chosen model."""
    X = blobs(30_000, 8, 3)
    assert F.sweep_jobs(2, 4, X.size) == 2, "the data must be large enough for the worker processes to be used"
    runs = {}
    for jobs in (1, 2):
        opts = F.FitOptions(n_components=None, max_components=4, n_jobs=jobs, max_iter=20)
        runs[jobs] = F.fit(dataset(X), opts)
    one, two = runs[1], runs[2]
    assert one.sweep == two.sweep  # dataclass equality: every float exactly equal
    assert [r.k for r in one.sweep] == [1, 2, 3, 4]
    assert one.gmm.n_components == two.gmm.n_components
    assert params(one.gmm) == params(two.gmm)
    # and a row is what scikit-learn says of that K fitted on its own
    from sklearn.mixture import GaussianMixture

    g = GaussianMixture(2, random_state=0, max_iter=20).fit(X)
    row = one.sweep[1]
    assert row.log_likelihood == pytest.approx(g.score(X) * len(X), rel=1e-9)
    assert row.bic == pytest.approx(g.bic(X), rel=1e-9) and row.aic == pytest.approx(g.aic(X), rel=1e-9)


def test_small_data_is_swept_in_process() -> None:
    assert F.sweep_jobs(None, 10, 1000) == 1
    assert F.sweep_jobs(1, 10, 10**8) == 1
    assert F.sweep_jobs(8, 3, 10**8) == 3  # never more workers than K values


def test_progress_line_has_elapsed_and_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    p = F.Progress("tinygmm: choosing K")
    monkeypatch.setattr(F.time, "monotonic", lambda: p.start + 30.0)
    assert p.line(4, 10, 0.6) == "tinygmm: choosing K: 4/10 K values fitted, 30 s elapsed, about 20 s left"
    assert p.line(10, 10, 1.0) == "tinygmm: choosing K: 10/10 K values fitted, 30 s elapsed"
    monkeypatch.setattr(F.time, "monotonic", lambda: p.start + 200.0)
    assert p.line(1, 10, 0.1).endswith("3 min 20 s elapsed, about 30 min 00 s left")


def test_n_jobs_option_and_its_platformio_twin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ("n_jobs", "--n-jobs") in OPTIONS
    data = tmp_path / "d.csv"
    data.write_text("a,b\n" + "".join(f"{i % 7}.5,{i % 5}\n" for i in range(30)))
    rc = main(["export", "--data", str(data), "--n-jobs", "0", "--header", str(tmp_path / "G.h")])
    assert rc == 2 and "--n-jobs must be >= 1" in capsys.readouterr().err
    assert "n_jobs" not in F.FitOptions(n_jobs=3).as_dict()  # never part of the model's options


# --------------------------------------------------------------------------
# EM stuck: a larger K below a smaller K's log-likelihood is named, with what to try
# --------------------------------------------------------------------------


def test_mark_em_stuck_compares_with_every_smaller_k() -> None:
    lls = [-100.0, -80.0, -85.0, -79.0, -81.0, -60.0]
    rows = F.mark_em_stuck([F.SweepRow(k + 1, ll, 0.0, 0.0, k) for k, ll in enumerate(lls)])
    # K=3 is below K=2; K=5 is below K=4 (the best so far), not only below its neighbour
    assert [r.em_stuck_below for r in rows] == [None, None, 2, None, 4, None]


STUCK_ARGS = ["--n-components", "auto", "--max-components", "5", "--init-params", "random_from_data"]


@pytest.fixture(scope="module")
def stuck_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One EM iteration from random rows: K = 3..5 end below K = 2 (scikit-learn's own fits)."""
    tmp = tmp_path_factory.mktemp("stuck")
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(6, 1, (100, 2))])
    (tmp / "d.csv").write_text("a,b\n" + "".join(f"{x!r},{y!r}\n" for x, y in X.tolist()))
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "tinygmm", "export", "--data", "d.csv", *STUCK_ARGS, "--max-iter", "1"]
        + ["--header", "G.h", "--json", "G.json", "--vectors", "none"],
        cwd=tmp,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    return tmp, r.stdout, r.stderr


def test_stuck_rows_are_marked_in_table_json_and_warning(stuck_export: tuple[Path, str, str]) -> None:
    tmp, out, err = stuck_export
    doc = json.loads((tmp / "G.json").read_text())
    rows = doc["selection"]
    lls = [r["log_likelihood"] for r in rows]
    stuck = [r["k"] for r in rows if r["em_stuck_below"] is not None]
    assert stuck, "this setup is meant to get EM stuck"
    for r in rows:
        below = max(lls[: r["k"] - 1], default=-math.inf)
        assert (r["em_stuck_below"] is not None) == (r["log_likelihood"] < below)
    table = {int(m.group(1)): m.group(0) for m in re.finditer(r"^\s*(\d+) .*$", out, re.MULTILINE)}
    for r in rows:
        marked = "EM stuck: logL below K=" in table[r["k"]]
        assert marked == (r["k"] in stuck), table[r["k"]]
        # no negative LRT statistic without the note on its row
        if r["lrt_statistic"] is not None and r["lrt_statistic"] < 0:
            assert marked
    assert any(r["lrt_statistic"] is not None and r["lrt_statistic"] < 0 for r in rows)
    assert "try --n-init 5" in out
    assert f"EM got stuck for K={', '.join(map(str, stuck))}" in err and "--n-init" in err


def test_report_says_em_got_stuck(stuck_export: tuple[Path, str, str]) -> None:
    tmp, _, _ = stuck_export
    # an older JSON without the marks: the report marks the rows itself
    doc = json.loads((tmp / "G.json").read_text())
    for r in doc["selection"]:
        del r["em_stuck_below"]
    (tmp / "old.json").write_text(json.dumps(doc))
    for name in ("G.json", "old.json"):
        assert (
            main(["report", "--json", str(tmp / name), "--data", str(tmp / "d.csv"), "--out", str(tmp / name[:-5])])
            == 0
        )
        html = (tmp / name[:-5] / "index.html").read_text()
        assert "EM stuck: log-likelihood below K=2" in html
        assert "try --n-init 5" in html
    m = ExportedModel.load(tmp / "G.json")
    assert m.selection[0]["em_stuck_below"] is None

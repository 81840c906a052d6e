"""One line means one line, naming what the user gave (issue 22, item 5).

A bad flag, custom_gmm_* key or export_model keyword gets exactly one stderr line (exit 2), with no
numpy / scikit-learn warning before it, naming the option the way the user wrote it (``--flag``,
``custom_gmm_key`` or the keyword) and the value as typed. Library warnings during a successful run
come out as one ``tinygmm: warning:`` line each, never as Python's two-line warning text.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

import tinygmm
from piofake import Exited, FakeEnv, run_script
from tinygmm.cli import device as cli_device
from tinygmm.cli import main
from tinygmm.errors import TinyGMMError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("oneline")
    rng = np.random.default_rng(5)
    X = np.r_[rng.normal(0, 1, (50, 2)), rng.normal(6, 1, (50, 2))]
    (d / "d.csv").write_text("a,b\n" + "".join(f"{x:.5f},{y:.5f}\n" for x, y in X))
    (d / "v.csv").write_text("a,b,y\n" + "".join(f"{x:.5f},{y:.5f},{i % 2}\n" for i, (x, y) in enumerate(X)))
    return d


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT / "scripts"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tinygmm", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=300
    )


BASE = ["export", "--data", "d.csv", "--n-components", "2", "--header", "o.h", "--json", "o.json", "--vectors", "none"]

# (extra flags, what the one line must contain)
BAD_FLAGS = [
    (["--anomaly-threshold=1e39"], ["--anomaly-threshold 1e39", "float32"]),
    (["--anomaly-threshold=-3.5e38"], ["--anomaly-threshold -3.5e38"]),
    (["--anomaly-threshold", "1E+300"], ["--anomaly-threshold 1E+300"]),
    (["--anomaly-threshold", "-1e39"], ["--anomaly-threshold -1e39"]),  # a negative value as its own word
    (["--tol", "-1e-3"], ["--tol", "got -1e-3"]),
    (["--anomaly-threshold=nan"], ["--anomaly-threshold nan"]),
    (["--anomaly-threshold=-inf", "--fixed-point"], ["--anomaly-threshold -inf"]),
    (["--anomaly-quantile=1e-400"], ["--anomaly-quantile", "1e-400"]),
    (["--anomaly-quantile=1"], ["--anomaly-quantile", "got 1"]),
    (["--anomaly-max-fpr=0.1"], ["--anomaly-max-fpr only applies with --anomaly-validation"]),
    (["--anomaly-validation", "v.csv", "--anomaly-label", "y", "--anomaly-max-fpr", "7"], ["--anomaly-max-fpr"]),
    (["--random-state=-1"], ["--random-state -1", "0 to 4294967295"]),
    (["--random-state=4294967296"], ["--random-state 4294967296"]),
    (["--tol=0"], ["--tol", "got 0"]),
    (["--reg-covar=-1e-3"], ["--reg-covar", "got -1e-3"]),
    (["--alpha=1.5", "--criterion", "lrt"], ["--alpha", "got 1.5"]),
    (["--tol=abc"], ["--tol", "invalid float value: 'abc'"]),
]


@pytest.mark.parametrize(("extra", "words"), BAD_FLAGS, ids=[" ".join(e) for e, _ in BAD_FLAGS])
def test_bad_flag_is_one_line_naming_it(folder: Path, extra: list[str], words: list[str]) -> None:
    r = _cli(folder, *BASE, *extra)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("tinygmm: error: "), r.stderr
    for word in words:
        assert word in r.stderr, r.stderr
    assert "Warning" not in r.stderr and "model constant" not in r.stderr
    assert not (folder / "o.h").exists()


INI_CASES = [
    ("custom_gmm_anomaly_threshold = 1e39", ["custom_gmm_anomaly_threshold 1e39"]),
    ("custom_gmm_random_state = -7", ["custom_gmm_random_state -7"]),
    ("custom_gmm_tol = -1", ["custom_gmm_tol", "got -1"]),
    ("custom_gmm_max_iter = abc", ["argument custom_gmm_max_iter", "'abc'"]),  # argparse's own
    ("custom_gmm_anomaly_quantile = 0.1\ncustom_gmm_anomaly_threshold = -5", ["custom_gmm_anomaly_quantile"]),
]


def _ini(folder: Path, line: str) -> Path:
    (folder / "platformio.ini").write_text(
        f"[env:x]\nplatform = native\ncustom_gmm_data = d.csv\ncustom_gmm_n_components = 2\n"
        f"custom_gmm_vectors = none\n{line}\n"
    )
    return folder / "platformio.ini"


@pytest.mark.parametrize(("line", "words"), INI_CASES)
def test_ini_key_named_as_written_by_export_platformio(folder: Path, line: str, words: list[str]) -> None:
    _ini(folder, line)
    r = _cli(folder, "export", "--platformio", "platformio.ini", "--env", "x", "--header", "o.h", "--json", "o.json")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    for word in words:
        assert word in r.stderr, r.stderr
    # a flag given on the command line overrides the key, and is named as a flag
    r = _cli(folder, "export", "--platformio", "platformio.ini", "--env", "x", "--random-state", "-3")
    if "random_state" in line:
        assert "--random-state -3" in r.stderr and r.stderr.count("\n") == 1


def test_ini_key_named_by_the_hook(folder: Path, capfd: pytest.CaptureFixture[str]) -> None:
    _ini(folder, "custom_gmm_anomaly_threshold = -1e39")
    with pytest.raises(Exited):
        run_script(FakeEnv(folder, "x"))
    err = capfd.readouterr().err
    assert "tinygmm: error: custom_gmm_anomaly_threshold -1e39 is beyond float32's range" in err
    assert "Warning" not in err and "Traceback" not in err


def test_library_warnings_become_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The mechanism: a numpy RuntimeWarning (twice) in a command that succeeds is one warning line."""

    def noisy(_args: object) -> int:
        np.float32(np.float64(1e39))
        np.float32(np.float64(-1e39))
        return 0

    monkeypatch.setattr(cli_device, "cmd_classify", noisy)
    assert main(["classify", "--port", "P", "1,2"]) == 0
    err = capsys.readouterr().err
    assert err == "tinygmm: warning: overflow encountered in cast\n"

    def noisy_then_fails(_args: object) -> int:
        np.float32(np.float64(1e39))
        warnings.warn("a second,\nlong warning", UserWarning, stacklevel=1)
        raise TinyGMMError("--something 5 is wrong; give 4")

    monkeypatch.setattr(cli_device, "cmd_classify", noisy_then_fails)
    assert main(["classify", "--port", "P", "1,2"]) == 2
    assert capsys.readouterr().err == "tinygmm: error: --something 5 is wrong; give 4\n"


def test_export_model_warnings_are_one_per_message_at_the_callers_line(tmp_path: Path) -> None:
    """A fitted estimator whose EM did not converge exports; nothing raw escapes export_model."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = GaussianMixture(3, max_iter=1, random_state=0).fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tinygmm.export_model(g, tmp_path / "GMM.h", X=X, anomaly_quantile=0.01)
    assert all(issubclass(w.category, tinygmm.TinyGMMWarning) for w in caught)
    assert all(Path(w.filename).resolve() == Path(__file__).resolve() for w in caught)


def test_negative_values_in_any_spelling_are_taken(folder: Path) -> None:
    """``--anomaly-threshold -1.25e1`` (and the same custom_gmm_* key) is a value, not an option."""
    r = _cli(folder, *BASE, "--anomaly-threshold", "-1.25e1")
    assert r.returncode == 0, r.stderr
    assert "anomaly threshold -12.5 " in r.stdout
    _ini(folder, "custom_gmm_anomaly_threshold = -1.25e1")
    r = _cli(folder, "export", "--platformio", "platformio.ini", "--env", "x", "--header", "o.h", "--json", "o.json")
    assert r.returncode == 0 and "anomaly threshold -12.5 " in r.stdout, r.stderr
    (folder / "o.h").unlink()
    (folder / "o.json").unlink()

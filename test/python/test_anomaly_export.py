"""Anomaly thresholds through the one export path: export_model(), export --model, and the v2 replies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import tinygmm
from pipelines import data, fitted
from tinygmm.cli import main
from tinygmm.device.client import DeviceInfo, impossible, parse_info, parse_reply
from tinygmm.errors import TinyGMMError


def test_export_model_calibrates_on_x_and_keeps_the_model_hash(tmp_path: Path) -> None:
    """A pipeline (scaler + PCA): T is the quantile of scikit-learn's score_samples on X; the header
    gains the threshold, MODEL_HASH (the emitted constants) stays the model's."""
    est = fitted("gmm-full", "standard+pca4")
    X = data()
    plain = tinygmm.export_model(est, tmp_path / "plain.h")
    res = tinygmm.export_model(est, tmp_path / "GMM.h", json=tmp_path / "GMM.json", X=X, anomaly_quantile=0.05)
    assert res.anomaly is not None and res.anomaly.method == "quantile"
    assert res.anomaly.threshold == pytest.approx(np.quantile(est.score_samples(X), 0.05), rel=1e-9)
    assert res.anomaly.training_flag_rate == pytest.approx(0.05, abs=2 / len(X))
    assert res.model.model_hash == plain.model.model_hash
    assert "ANOMALY_THRESHOLD" in res.header and "ANOMALY_THRESHOLD" not in plain.header
    doc = json.loads((tmp_path / "GMM.json").read_text())
    assert doc["anomaly"]["threshold"] == res.anomaly.threshold and doc["anomaly"]["rows"] == "training rows"


def test_projected_header_decides_as_scikit_learn(tmp_path: Path) -> None:
    """is_anomaly / is_anomaly_q of a projected header (x -> project -> mixture), compiled with g++."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    from cppharness import compile_anomaly_models, evaluate_anomaly
    from tinygmm.fit.estimator import from_estimator

    est = fitted("gmm-diag", "standard+pca4")
    X = data()
    res = tinygmm.export_model(est, tmp_path / "GMM.h", X=X, anomaly_quantile=0.1)
    exe = compile_anomaly_models([from_estimator(est)], [res.anomaly], tmp_path / "cpp")
    (out,) = evaluate_anomaly(exe, [(0, X)])
    ref = est.score_samples(X.astype(np.float32).astype(np.float64))
    clear = np.abs(ref - out.threshold) > 1e-3
    assert clear.sum() > 0.9 * len(X)
    np.testing.assert_array_equal(out.is_anomaly[clear], ref[clear] < out.threshold)
    np.testing.assert_array_equal(out.is_anomaly_q[clear], ref[clear] < out.threshold)


def test_export_model_validation_arrays(tmp_path: Path) -> None:
    est = fitted("gmm-diag", "standard")
    X = data()
    rng = np.random.default_rng(0)
    odd = X[:60] + rng.normal(0, 3, size=(60, X.shape[1])) * X.std(axis=0)
    Xv, yv = np.vstack([X[60:180], odd]), np.r_[np.zeros(120), np.ones(60)]
    res = tinygmm.export_model(est, tmp_path / "GMM.h", X=X, anomaly_validation=(Xv, yv), anomaly_max_fpr=0.05)
    assert res.anomaly is not None and res.anomaly.method == "validation-fpr"
    assert res.anomaly.validation["fpr"] <= 0.05 and res.anomaly.validation["recall"] > 0.5
    s = est.score_samples(Xv)
    assert res.anomaly.validation["confusion"]["tp"] == int(np.sum((s < res.anomaly.threshold) & (yv == 1)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"anomaly_quantile": 0.05, "anomaly_threshold": -3.0}, "give only one of"),
        ({"anomaly_quantile": 1.5}, "must be in \\(0, 1\\)"),
        ({"anomaly_validation": (np.zeros((4, 30)), [0, 0, 0, 0])}, "both classes"),
        ({"anomaly_validation": (np.zeros((4, 30)), [0, 1, 2, 0])}, "0 \\(normal\\) or 1"),
        ({"anomaly_validation": (np.zeros((4, 3)), [0, 1, 1, 0])}, "expected \\(n, 30\\)"),
        ({"anomaly_max_fpr": 0.1}, "only applies with"),
    ],
)
def test_bad_anomaly_arguments_write_nothing(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(TinyGMMError, match=message):
        tinygmm.export_model(fitted("gmm-diag", "standard"), tmp_path / "GMM.h", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_cli_model_path_takes_the_anomaly_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--model has no training rows: the quantile is taken on inputs drawn from the mixture."""
    import joblib

    est = fitted("gmm-diag", "standard")
    joblib.dump(est, tmp_path / "m.joblib")
    argv = ["export", "--model", str(tmp_path / "m.joblib"), "--trust-pickle", "--header", str(tmp_path / "GMM.h")]
    argv += ["--json", str(tmp_path / "GMM.json"), "--vectors", "none", "--anomaly-quantile", "0.02"]
    assert main(argv) == 0
    assert "anomaly threshold" in capsys.readouterr().out
    a = json.loads((tmp_path / "GMM.json").read_text())["anomaly"]
    assert a["method"] == "quantile" and a["rows"] == "inputs drawn from the mixture"
    from tinygmm.model.exported import ExportedModel

    m = ExportedModel.load(tmp_path / "GMM.json")
    s = est.score_samples(m.sample_inputs())
    assert a["threshold"] == pytest.approx(np.quantile(s, 0.02), rel=1e-9)
    header = (tmp_path / "GMM.h").read_text()
    assert "the 0.02-quantile of the inputs drawn from the mixture' score_samples" in header
    # the threshold is in the input hash: another quantile is not up to date
    assert main([*argv[:-1], "0.05", "--if-changed"]) == 0
    assert "up to date" not in capsys.readouterr().out


def info(threshold: float | None = -5.0, alarm: tuple[int, int] | None = (3, 5)) -> DeviceInfo:
    return DeviceInfo(3, 2, ["a", "b"], "0123456789abcdef", 2, 45, threshold, alarm)


def test_info_anomaly_keys_follow_the_v2_layout() -> None:
    got = parse_info("INFO protocol=2 components=3 features=2 line_max=45 model=00ff threshold=-5.5 alarm=3/5 names=a|b")
    assert got is not None and got.threshold == -5.5 and got.alarm == (3, 5) and got.names == ["a", "b"]
    # unknown keys before names= are ignored; a model without a threshold has none
    got = parse_info("INFO protocol=2 components=3 features=2 line_max=45 model=00ff future=1 names=a|b")
    assert got is not None and got.threshold is None and got.alarm is None
    for bad in ("threshold=nan alarm=3/5", "threshold=x alarm=3/5", "threshold=-5 alarm=6/5", "threshold=-5"):
        assert parse_info(f"INFO protocol=2 components=3 features=2 model=00ff {bad} names=a|b") is None, bad


def test_ok_flags_are_checked_against_the_threshold() -> None:
    r = parse_reply("OK 1 0.9 -7.5 1", info())
    assert r is not None and r.is_anomaly and not r.alarm
    assert impossible(r, info()) is None
    assert impossible(parse_reply("OK 1 0.9 -7.5 3 later-field", info()), info()) is None  # later fields are ignored
    assert "contradicts" in (impossible(parse_reply("OK 1 0.9 -2.5 1", info()), info()) or "")
    assert "contradicts" in (impossible(parse_reply("OK 1 0.9 -7.5 0", info()), info()) or "")
    assert "no anomaly flags" in (impossible(parse_reply("OK 1 0.9 -7.5", info()), info()) or "")
    assert "1-of-n" in (impossible(parse_reply("OK 1 0.9 -7.5 1", info()), info(alarm=(1, 4))) or "")
    # within the printed score's rounding of T either flag is possible; without a threshold no flag is needed
    assert impossible(parse_reply("OK 1 0.9 -5.000001 0", info()), info()) is None
    assert impossible(parse_reply("OK 1 0.9 -7.5", info(None, None)), info(None, None)) is None
    # without a threshold in INFO a trailing field is a later version's, not flags (readers ignore it)
    r = parse_reply("OK 1 0.9 -7.5 1", info(None, None))
    assert r is not None and r.anomaly is None and r.is_anomaly is None and r.log_likelihood == -7.5

"""tinygmm.export_model and tinygmm export --model: what is accepted, what is refused, what is written."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import tinygmm
from pipelines import data, fitted
from tinygmm.cli import main
from tinygmm.errors import TinyGMMError
from tinygmm.fit.estimator import from_estimator
from tinygmm.model.exported import ExportedModel
from tinygmm.platformio.config import export_args


def outputs(tmp: Path) -> dict[str, Path]:
    return {"header": tmp / "GMM.h", "json": tmp / "GMM.json", "vectors": tmp / "golden_vectors.h"}


def test_pipeline_export_writes_the_header_contract(tmp_path: Path) -> None:
    est = fitted("gmm-full", "standard+pca4")
    o = outputs(tmp_path)
    res = tinygmm.export_model(est, o["header"], json=o["json"], vectors=o["vectors"], X=data()[:100])
    assert sorted(res.written) == sorted(o.values())
    text = o["header"].read_text()
    assert "static const int N_FEATURES = 30;" in text and "static const int N_COMPONENTS = 4;" in text
    assert "x0|x1|x2" in text  # no feature_names_in_: x0..x29
    assert f'MODEL_HASH[] TINYGMM_FLASH = "{res.model.model_hash}"' in text
    assert "estimator: StandardScaler -> PCA(4) -> GaussianMixture(4, full)" in text
    loaded = ExportedModel.load(o["json"])
    assert loaded.model_hash == res.model.model_hash and loaded.projection is not None
    x = data()[:50]
    np.testing.assert_allclose(loaded.to_sklearn().score_samples(loaded.transform(x)), est.score_samples(x), rtol=1e-12)
    vec = o["vectors"].read_text()
    assert "static const int N_FEATURES = 30;" in vec and res.model.model_hash in vec
    # the header compiles on its own (several translation units: all inline)
    cxx = shutil.which("g++")
    if cxx:
        src = tmp_path / "use.cpp"
        src.write_text('#include "GMM.h"\nint main() { float x[gmm::N_FEATURES] = {0}; return gmm::predict(x); }\n')
        subprocess.run([cxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path), str(src), "-o",
                        str(tmp_path / "use")], check=True)  # fmt: skip


def test_feature_names_come_from_the_dataframe(tmp_path: Path) -> None:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.mixture import GaussianMixture
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ds = load_breast_cancer()
    names = [str(c) for c in ds.feature_names]
    df = pd.DataFrame(ds.data, columns=names)
    est = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0)).fit(df)
    res = tinygmm.export_model(est, tmp_path / "GMM.h")
    assert res.model.feature_names == names
    assert "mean radius|mean texture" in (tmp_path / "GMM.h").read_text()
    assert res.model.scaler == "standard" and res.model.projection is None


def test_a_csv_export_is_the_pipeline_it_fits(tmp_path: Path) -> None:
    """One export path: tinygmm export --scaler standard gives the model export_model gives for the
    Pipeline(StandardScaler, GaussianMixture) it fitted (same parameters, same hash)."""
    from sklearn.mixture import GaussianMixture
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    csv = tmp_path / "d.csv"
    X = data()[:, :3]
    csv.write_text("a,b,c\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in X) + "\n")
    args = ["export", "--data", str(csv), "--n-components", "3", "--scaler", "standard", "--vectors", "none"]
    assert main([*args, "--header", str(tmp_path / "a.h"), "--json", str(tmp_path / "a.json")]) == 0
    from tinygmm.data.reader import load_csv

    Xc = load_csv(str(csv), None).X
    est = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0)).fit(Xc)
    res = tinygmm.export_model(est, tmp_path / "b.h", feature_names=["a", "b", "c"])
    assert ExportedModel.load(tmp_path / "a.json").model_hash == res.model.model_hash


def test_bayesian_mixture_prune_reports_its_cost(tmp_path: Path) -> None:
    est = fitted("bgmm-process-full", "standard+pca4")
    weights = est[-1].weights_
    below = float(np.sort(weights)[1]) * 1.0001  # drops the two lightest components
    res = tinygmm.export_model(est, tmp_path / "GMM.h", X=data(), prune_below=below)
    r = res.pruned
    assert r is not None and len(r.dropped) == 2 and len(r.kept) == len(weights) - 2
    assert res.model.n_components == len(weights) - 2
    assert 0.0 <= r.label_changes <= 1.0 and r.max_log_likelihood_change >= 0.0
    full = tinygmm.export_model(est, tmp_path / "full.h", X=data(), prune_below=0.0)
    assert full.pruned is not None and full.pruned.dropped == [] and full.pruned.label_changes == 0.0
    assert full.pruned.max_log_likelihood_change == 0.0 and full.model.n_components == len(weights)
    with pytest.raises(TinyGMMError, match="every component"):
        tinygmm.export_model(est, tmp_path / "none.h", prune_below=2.0)


def _refused(tmp_path: Path, match: str, *args, **kw) -> None:
    header = tmp_path / "GMM.h"
    header.write_text("previous\n")
    with pytest.raises(TinyGMMError, match=match):
        tinygmm.export_model(*args, header, json=tmp_path / "GMM.json", **kw)
    assert header.read_text() == "previous\n" and not (tmp_path / "GMM.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["GMM.h"]


def test_bad_estimators_get_one_clear_error_and_nothing_written(tmp_path: Path) -> None:
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X = data()[:, :4]
    _refused(tmp_path, "GaussianMixture is not fitted: call fit", GaussianMixture(2))
    _refused(tmp_path, "StandardScaler is not fitted", Pipeline([("s", StandardScaler()), ("g", GaussianMixture())]))
    poly = Pipeline([("poly", PolynomialFeatures()), ("gmm", GaussianMixture(2, random_state=0))]).fit(X)
    _refused(tmp_path, r"unsupported Pipeline step 'poly' \(PolynomialFeatures\); supported: .*PCA", poly)
    _refused(tmp_path, "cannot export a KMeans; supported", KMeans(2, n_init=1).fit(X))
    g = GaussianMixture(2, random_state=0).fit(X)
    _refused(tmp_path, "3 feature names for an estimator fitted on 4 features", g, feature_names=["a", "b", "c"])
    g.means_ = g.means_.copy()
    g.means_[1, 2] = np.nan
    _refused(tmp_path, r"not finite \(means\)", g)


def test_check_model_runs_on_json_load(tmp_path: Path) -> None:
    res = tinygmm.export_model(fitted("gmm-diag", "standard"), tmp_path / "GMM.h", json=tmp_path / "GMM.json")
    doc = json.loads((tmp_path / "GMM.json").read_text())
    # one component's mean missing: check_model names it before the hash check (whose constants
    # could not even be generated from such a model)
    doc["means"] = doc["means"][:-1]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(TinyGMMError, match=r"bad.json: means has shape \(3, 30\), expected \(4, 30\)"):
        ExportedModel.load(tmp_path / "bad.json")
    assert ExportedModel.load(tmp_path / "GMM.json").model_hash == res.model.model_hash


def test_cli_exports_a_skops_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("skops")
    import skops.io as sio

    est = fitted("bgmm-distribution-diag", "minmax")
    sio.dump(est, tmp_path / "m.skops")
    o = outputs(tmp_path)
    names = ",".join(f"f{i}" for i in range(30))
    argv = ["export", "--model", str(tmp_path / "m.skops"), "--features", names, "--header", str(o["header"])]
    argv += ["--json", str(o["json"]), "--vectors", str(o["vectors"])]
    assert main(argv) == 0
    m = ExportedModel.load(o["json"])
    assert m.feature_names[0] == "f0" and m.log_weights is not None
    x = data()[:40]
    np.testing.assert_allclose(m.to_sklearn().score_samples(m.transform(x)), est.score_samples(x), rtol=1e-12)
    assert main([*argv, "--if-changed"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_cli_refuses_pickles_without_trust(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import joblib

    joblib.dump(fitted("gmm-spherical", "none"), tmp_path / "m.joblib")
    argv = ["export", "--model", str(tmp_path / "m.joblib"), "--header", str(tmp_path / "GMM.h"), "--vectors", "none"]
    argv += ["--json", str(tmp_path / "GMM.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "runs arbitrary code" in err and "--trust-pickle" in err and "Traceback" not in err
    assert not (tmp_path / "GMM.h").exists()
    assert main([*argv, "--trust-pickle"]) == 0
    assert "N_FEATURES = 30;" in (tmp_path / "GMM.h").read_text()
    (tmp_path / "m.txt").write_text("x")
    assert main(["export", "--model", str(tmp_path / "m.txt")]) == 2
    assert "expected .skops, .joblib or .pkl" in capsys.readouterr().err
    assert main(["export", "--model", str(tmp_path / "m.joblib"), "--data", "x.csv"]) == 2
    assert "cannot be given with it" in capsys.readouterr().err


def test_pio_custom_gmm_model_replaces_the_data_option() -> None:
    ini = {"custom_gmm_data": "data/customers.csv", "custom_gmm_model": "models/m.skops", "custom_gmm_header": "h.h"}
    args = export_args(ini.get)
    assert "--data" not in args and args[args.index("--model") + 1] == "models/m.skops"
    assert export_args({"custom_gmm_data": "d.csv", "custom_gmm_trust_pickle": "yes"}.get) == [
        "--data",
        "d.csv",
        "--trust-pickle",
    ]


def test_bayesian_constants_match_sklearn_term_by_term() -> None:
    """log_weights + GaussianMixture's log-density is BayesianGaussianMixture's weighted log-probability."""
    from sklearn.mixture import BayesianGaussianMixture

    X = data()[:, :5]
    for cov in ("full", "tied", "diag", "spherical"):
        for prior in ("dirichlet_process", "dirichlet_distribution"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                b = BayesianGaussianMixture(
                    n_components=4, covariance_type=cov, weight_concentration_prior_type=prior, random_state=0
                ).fit(X)
            m = from_estimator(b)
            np.testing.assert_allclose(
                m.weighted_log_prob(X), b._estimate_weighted_log_prob(X), rtol=1e-12, err_msg=f"{cov}/{prior}"
            )


def test_check_model_limits_components_and_needs_positive_factors() -> None:
    from tinygmm.model.check import check_model

    k, d = 128, 2
    m = ExportedModel(
        feature_names=["a", "b"],
        covariance_type="diag",
        weights=np.full(k, 1.0 / k),
        means=np.zeros((k, d)),
        covariances=np.ones((k, d)),
        precisions_cholesky=np.ones((k, d)),
        offset=np.zeros(d),
        scale=np.ones(d),
    )
    with pytest.raises(TinyGMMError, match="128 components: the device runtime supports at most 127"):
        check_model(m)
    m2 = ExportedModel(**{**m.__dict__, "weights": np.full(2, 0.5), "means": np.zeros((2, d))})
    m2.covariances, m2.precisions_cholesky = np.ones((2, d)), np.array([[1.0, 1.0], [1.0, -1.0]])
    with pytest.raises(TinyGMMError, match="positive diagonal"):
        check_model(m2)
    m2.precisions_cholesky = np.ones((2, 3))
    with pytest.raises(TinyGMMError, match=r"precisions_cholesky has shape \(2, 3\), expected \(2, 2\)"):
        check_model(m2)


def test_unusual_step_compositions_fold_exactly() -> None:
    """Scalers after a PCA, scalers without centring or scaling, other MinMax ranges, RobustScaler,
    MaxAbsScaler, passthrough steps: the folded map gives the estimator's own outputs in float64."""
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    X = data()[:, :8]
    chains = [
        [MaxAbsScaler(), PCA(5, whiten=True), RobustScaler()],
        [StandardScaler(with_mean=False), MinMaxScaler(feature_range=(-1, 2))],
        [RobustScaler(with_centering=False), "passthrough", PCA(3), StandardScaler(with_std=False)],
        [MinMaxScaler(), PCA(8), MaxAbsScaler()],
    ]
    for chain in chains:
        steps = [(f"s{i}", s) for i, s in enumerate(chain)] + [("gmm", GaussianMixture(3, random_state=0))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = Pipeline(steps).fit(X)
        m = from_estimator(est)
        x = np.vstack([X[:40], X.mean(axis=0) + 1e3 * X.std(axis=0)])
        g = m.to_sklearn()
        np.testing.assert_allclose(g.score_samples(m.transform(x)), est.score_samples(x), rtol=1e-9, err_msg=str(chain))
        assert np.array_equal(g.predict(m.transform(x)), est.predict(x))
        has_pca = any(type(s).__name__ == "PCA" for s in chain)
        assert (m.projection is not None) == has_pca

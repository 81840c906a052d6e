"""export_model takes Python inputs as scikit-learn takes them (issue 22, item 4).

Names are strings (all of them), one per feature, distinct, not blank, and the estimator's own
``feature_names_in_`` when it has them; a DataFrame X (or X_val) is matched by column name to the
estimator's features: reordered when it holds the same columns, refused naming the missing and
unexpected ones otherwise; arrays are taken by position. Every refusal is one TinyGMMError line
naming the argument, and nothing is written.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygmm

COLUMNS = ["Age", "Income", "Spending Score (1-100)"]


def _points() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.r_[rng.normal([30, 50, 40], [5, 10, 8], (70, 3)), rng.normal([55, 20, 80], [4, 6, 5], (70, 3))]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.DataFrame(_points(), columns=COLUMNS)


@pytest.fixture(scope="module")
def named(frame: pd.DataFrame) -> Any:
    """Fitted on a DataFrame: has feature_names_in_."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0)).fit(frame)


@pytest.fixture(scope="module")
def unnamed() -> Any:
    """Fitted on an array: no feature_names_in_."""
    return GaussianMixture(2, random_state=0).fit(_points())


def _refused(tmp_path: Path, estimator: Any, words: list[str], **kw: Any) -> str:
    header = tmp_path / "GMM.h"
    header.write_text("previous\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning on the way to the error either
        with pytest.raises(tinygmm.TinyGMMError) as info:
            tinygmm.export_model(estimator, header, json=tmp_path / "GMM.json", **kw)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert header.read_text() == "previous\n" and not (tmp_path / "GMM.json").exists()
    return message


@pytest.mark.parametrize(
    ("names", "words"),
    [
        ([0, 1, 2], ["feature_names must be strings", "0 (int)"]),  # a DataFrame's default labels
        (np.arange(3), ["feature_names must be strings"]),
        (["a", 1.5, "c"], ["feature_names must be strings", "1.5 (float)"]),
        (["a", None, "c"], ["feature_names must be strings", "None"]),
        ([b"a", b"b", b"c"], ["feature_names must be strings", "bytes"]),
        ("abc", ["feature_names must be a list of 3 names, not one string"]),
        (3, ["feature_names must be a list of 3 names"]),
        (["a", "b"], ["feature_names: 2 feature names for an estimator fitted on 3 features"]),
        (["a", "b", "c", "d"], ["feature_names: 4 feature names"]),
        (["a", "b", "a"], ["feature_names names 'a' twice"]),
        (["a", "", "c"], ["feature_names[1] is ''", "needs a name"]),
        (["a", "  ", "c"], ["feature_names[1] is '  '"]),
    ],
)
def test_bad_feature_names(tmp_path: Path, unnamed: Any, names: Any, words: list[str]) -> None:
    _refused(tmp_path, unnamed, words, feature_names=names)


def test_names_as_any_string_sequence(tmp_path: Path, unnamed: Any) -> None:
    for names in (("a", "b", "c"), np.array(["a", "b", "c"]), pd.Index(["a", "b", "c"])):
        res = tinygmm.export_model(unnamed, tmp_path / "GMM.h", feature_names=names)
        assert res.model.feature_names == ["a", "b", "c"] and all(type(n) is str for n in res.model.feature_names)


@pytest.mark.parametrize(
    ("names", "words"),
    [
        (list(reversed(COLUMNS)), ["the same names in another order", "feature_names_in_", "Age"]),
        (["x", "y", "z"], ["other names than the estimator's feature_names_in_"]),
    ],
)
def test_names_must_agree_with_feature_names_in(tmp_path: Path, named: Any, names: list[str], words: list[str]) -> None:
    _refused(tmp_path, named, words, feature_names=names)


def test_names_equal_to_feature_names_in_are_fine(tmp_path: Path, named: Any) -> None:
    res = tinygmm.export_model(named, tmp_path / "GMM.h", feature_names=list(COLUMNS))
    assert res.model.feature_names == COLUMNS


@pytest.mark.parametrize("order", [[2, 0, 1], [1, 2, 0], [2, 1, 0]])
def test_dataframe_columns_are_matched_by_name(
    tmp_path: Path, named: Any, frame: pd.DataFrame, order: list[int]
) -> None:
    """A DataFrame in another column order gives exactly the threshold and vectors of the right order."""
    kw = {"anomaly_quantile": 0.05, "vectors": tmp_path / "v.h"}
    ref = tinygmm.export_model(named, tmp_path / "a.h", X=frame, **kw)
    shuffled = frame[[COLUMNS[i] for i in order]]
    kw["vectors"] = tmp_path / "w.h"
    res = tinygmm.export_model(named, tmp_path / "b.h", X=shuffled, **kw)
    assert ref.anomaly is not None and res.anomaly is not None
    assert res.anomaly.threshold == ref.anomaly.threshold
    assert (tmp_path / "v.h").read_text() == (tmp_path / "w.h").read_text()
    # the permuted array (what the code did before) gives another threshold: the test can fail
    permuted = tinygmm.export_model(named, tmp_path / "c.h", X=shuffled.to_numpy(), anomaly_quantile=0.05)
    assert permuted.anomaly is not None and permuted.anomaly.threshold != ref.anomaly.threshold


def test_dataframe_matched_to_given_names_without_feature_names_in(
    tmp_path: Path, unnamed: Any, frame: pd.DataFrame
) -> None:
    ref = tinygmm.export_model(unnamed, tmp_path / "a.h", feature_names=COLUMNS, X=frame, anomaly_quantile=0.05)
    res = tinygmm.export_model(
        unnamed, tmp_path / "b.h", feature_names=COLUMNS, X=frame[COLUMNS[::-1]], anomaly_quantile=0.05
    )
    assert ref.anomaly is not None and res.anomaly is not None and res.anomaly.threshold == ref.anomaly.threshold


def test_dataframe_with_default_labels_is_taken_by_position(tmp_path: Path, named: Any, frame: pd.DataFrame) -> None:
    ref = tinygmm.export_model(named, tmp_path / "a.h", X=frame, anomaly_quantile=0.05)
    res = tinygmm.export_model(named, tmp_path / "b.h", X=pd.DataFrame(frame.to_numpy()), anomaly_quantile=0.05)
    assert ref.anomaly is not None and res.anomaly is not None and res.anomaly.threshold == ref.anomaly.threshold


def _bad_frames(frame: pd.DataFrame) -> list[tuple[str, Any, list[str]]]:
    return [
        ("missing", frame[COLUMNS[:2]], ["X's columns do not match", "missing ['Spending Score (1-100)']"]),
        ("extra", frame.assign(Gender=1.0), ["unexpected ['Gender']"]),
        ("renamed", frame.rename(columns={"Age": "age"}), ["missing ['Age']", "unexpected ['age']"]),
        ("mixed-labels", frame.set_axis(["Age", 1, "Income"], axis=1), ["mix text and other labels"]),
        ("twice", frame.set_axis(["Age", "Age", "Income"], axis=1), ["the column 'Age' twice"]),
        ("text", frame.assign(Age=frame["Age"].astype(str) + " y"), ["column 'Age' is not numeric"]),
        ("object", frame.astype(object).assign(Income="x"), ["column 'Income' is not numeric"]),
        ("nan", frame.assign(Income=np.where(frame.index == 5, np.nan, frame["Income"])), ["non-finite", "row 5"]),
        ("inf", frame.assign(Age=np.where(frame.index == 7, -np.inf, frame["Age"])), ["non-finite", "'Age'"]),
        ("empty", frame.iloc[:0], ["X has no rows"]),
        ("2-columns-by-position", pd.DataFrame(frame.to_numpy()[:, :2]), ["X has 2 columns; expected 3"]),
    ]


def test_bad_dataframes(tmp_path: Path, named: Any, frame: pd.DataFrame) -> None:
    for name, X, words in _bad_frames(frame):
        sub = tmp_path / name
        sub.mkdir()
        _refused(sub, named, words, X=X, anomaly_quantile=0.05)


@pytest.mark.parametrize(
    ("X", "words"),
    [
        (np.zeros((10, 2)), ["X has shape (10, 2); expected (n, 3)"]),
        (np.zeros(3), ["X has shape (3,)", "reshape"]),
        (np.zeros((0, 3)), ["X has no rows"]),
        (np.full((4, 3), np.nan), ["X has 12 non-finite value(s)"]),
        (np.array([[1.0, 2.0, np.inf]]), ["non-finite", "feature 'x2'"]),
        (np.ones((4, 3)) + 1j, ["complex"]),
        ([[1, 2, 3], [1, 2]], ["X must be a table of numbers"]),
        ([["1", "2", "three"]], ["X must hold numbers"]),
        (np.array([[1, 2, 3]], dtype=object), None),  # numbers in an object array are fine
        ([[1, 2, 3]], None),
    ],
)
def test_arrays(tmp_path: Path, unnamed: Any, X: Any, words: list[str] | None) -> None:
    if words is None:
        tinygmm.export_model(unnamed, tmp_path / "GMM.h", X=X)
    else:
        _refused(tmp_path, unnamed, words, X=X, anomaly_quantile=0.05)


def test_validation_rows_are_checked_alike(tmp_path: Path, named: Any, frame: pd.DataFrame) -> None:
    y = (np.arange(len(frame)) % 7 == 0).astype(int)
    ref = tinygmm.export_model(named, tmp_path / "a.h", anomaly_validation=(frame, y))
    res = tinygmm.export_model(named, tmp_path / "b.h", anomaly_validation=(frame[COLUMNS[::-1]], pd.Series(y)))
    assert ref.anomaly is not None and res.anomaly is not None and res.anomaly.threshold == ref.anomaly.threshold
    cases = [
        ((frame.assign(Extra=0.0), y), ["anomaly_validation's X_val's columns do not match", "unexpected ['Extra']"]),
        ((frame.to_numpy()[:, :2], y), ["anomaly_validation's X_val has shape"]),
        ((frame.assign(Age="old"), y), ["anomaly_validation's X_val's column 'Age' is not numeric"]),
        (frame, ["anomaly_validation must be a pair (X_val, y_val), not a DataFrame"]),
        ((frame, ["yes"] * len(frame)), ["y_val must be 0/1 labels"]),
        ((frame, y[:-1]), ["y_val must be 140 labels"]),
    ]
    for i, (validation, words) in enumerate(cases):
        sub = tmp_path / str(i)
        sub.mkdir()
        _refused(sub, named, words, anomaly_validation=validation)


def test_keyword_errors_name_the_keyword(tmp_path: Path, unnamed: Any) -> None:
    """Messages shared with the CLI name export_model's keywords, with the value given."""
    msg = _refused(tmp_path, unnamed, ["anomaly_threshold 1e+39", "float32"], anomaly_threshold=1e39)
    assert "--" not in msg
    msg = _refused(
        tmp_path, unnamed, ["anomaly_quantile", "anomaly_threshold"], anomaly_quantile=0.1, anomaly_threshold=1.0
    )
    assert "--" not in msg
    assert "--" not in _refused(tmp_path, unnamed, ["anomaly_max_fpr"], anomaly_max_fpr=0.1)

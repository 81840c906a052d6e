"""Issue 7, hostile input: malformed or degenerate CSVs and options given to ``tinygmm export``.

Every case ends in exactly one of two ways:

* a correct model: the JSON's model predicts like a scikit-learn fit on the same
  (cleaned) data, and the header's model constants are all finite float32 values;
* one clear ``tinygmm: error: ...`` line on stderr, no traceback, exit code != 0,
  the previous header / JSON / vectors byte-identical and no temporary files left.

Most cases call ``tinygmm.cli.main`` in-process (fast); a few run ``python -m
tinygmm`` to prove exit codes and stderr end to end.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from tinygmm.cli import main
from tinygmm.model.exported import ExportedModel

PREVIOUS = {
    "GMM.h": b"// previous header\n",
    "GMM.json": b'{"previous": "json"}\n',
    "golden.h": b"// previous vectors\n",
}
FLOAT_LITERAL = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?f\b")


def blobs(seed: int = 0, n: int = 40) -> np.ndarray:
    """Two well separated 2-D blobs, rounded so that the CSV text round-trips exactly."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0.0, 1.0, (n, 2)), rng.normal(8.0, 1.0, (n, 2)) * [1.0, 0.5]])
    return np.round(X, 4)


def csv_text(X: np.ndarray, header: str = "a,b", sep: str = ",", nl: str = "\n") -> str:
    return header.replace(",", sep) + nl + nl.join(sep.join(repr(float(v)) for v in row) for row in X) + nl


BASE = blobs()
BASE_CSV = csv_text(BASE)


def with_row(row: str, at: int = 0, text: str = BASE_CSV) -> str:
    """BASE_CSV with one extra data line inserted after data line ``at`` (CSV line at + 2)."""
    lines = text.splitlines(keepends=True)
    return "".join(lines[: at + 1] + [row + "\n"] + lines[at + 1 :])


def prepare(tmp: Path, data: bytes | str) -> Path:
    out = tmp / "out"
    out.mkdir()
    for name, content in PREVIOUS.items():
        (out / name).write_bytes(content)
    (tmp / "d.csv").write_bytes(data.encode() if isinstance(data, str) else data)
    return out


def export_args(tmp: Path, *args: str, vectors: bool = False) -> list[str]:
    out = tmp / "out"
    return [
        "export",
        "--data",
        str(tmp / "d.csv"),
        "--header",
        str(out / "GMM.h"),
        "--json",
        str(out / "GMM.json"),
        "--vectors",
        str(out / "golden.h") if vectors else "none",
        *args,
    ]


def assert_nothing_lost(tmp: Path) -> None:
    out = tmp / "out"
    for name, content in PREVIOUS.items():
        assert (out / name).read_bytes() == content, f"{name} changed after a failed export"
    assert sorted(p.name for p in out.iterdir()) == sorted(PREVIOUS), "temporary files left behind"
    assert sorted(p.name for p in tmp.iterdir()) == ["d.csv", "out"]


def assert_one_error_line(rc: int, stderr: str, message: str) -> str:
    assert rc not in (0, None), stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("tinygmm: error: "), lines[0]
    assert message in lines[0], lines[0]
    return lines[0]


def finite_literals(code: str) -> np.ndarray:
    """Every float literal in C code, checked finite in float32; no nan/inf spelled out."""
    assert not re.search(r"\b(nan|inf|infinity|huge_val)f?\b", code, re.IGNORECASE)
    values = np.array([float(t[:-1]) for t in FLOAT_LITERAL.findall(code)])
    assert values.size > 0
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(values.astype(np.float32)))
    return values


def header_constants(header: str) -> np.ndarray:
    """Every float literal after the pasted runtime (the model's constants)."""
    return finite_literals(header.split("// ---- end of runtime ----", 1)[1])


def check_model(
    tmp: Path, X: np.ndarray, names: list[str] | None = None, k: int | None = None, scaler: str = "none", **gmm_kw
) -> ExportedModel:
    """The exported model equals scikit-learn fitted directly on X (the cleaned data)."""
    out = tmp / "out"
    header_constants((out / "GMM.h").read_text())
    m = ExportedModel.load(out / "GMM.json")
    assert m.feature_names == (names or ["a", "b"])
    assert m.data["rows"] == len(X)
    for arr in (m.weights, m.means, m.covariances, m.precisions_cholesky):
        assert np.all(np.isfinite(arr))
    Z = X
    if scaler == "standard":
        from sklearn.preprocessing import StandardScaler

        Z = StandardScaler().fit_transform(X)
    np.testing.assert_allclose(m.transform(X), Z, rtol=1e-12, atol=1e-12)
    ref = GaussianMixture(n_components=k or m.n_components, random_state=0, **gmm_kw).fit(Z)
    g = m.to_sklearn()
    np.testing.assert_array_equal(g.predict(Z), ref.predict(Z))
    np.testing.assert_allclose(g.score_samples(Z), ref.score_samples(Z), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(g.predict_proba(Z), ref.predict_proba(Z), atol=1e-9)
    return m


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


# --------------------------------------------------------------------------
# Inputs that must give a correct model
# --------------------------------------------------------------------------

SAME_AS_BASE = {
    "comma delimiter (reference)": BASE_CSV,
    "semicolon delimiter": csv_text(BASE, sep=";"),
    "tab delimiter": csv_text(BASE, sep="\t"),
    "UTF-8 BOM": "\ufeff" + BASE_CSV,
    "BOM and semicolons": "\ufeff" + csv_text(BASE, sep=";"),
    "CRLF line endings": csv_text(BASE, nl="\r\n"),
    "old Mac CR line endings": csv_text(BASE, nl="\r"),
    "quoted numbers and names": '"a","b"\n' + "".join(f'"{x!r}","{y!r}"\n' for x, y in BASE.tolist()),
    "blank lines everywhere": "\n\n" + BASE_CSV.replace("\n", "\n\n") + "\n   \n",
    "whitespace around names and cells": " a ,\tb \n" + "".join(f" {x!r} ,  {y!r}\n" for x, y in BASE.tolist()),
    "trailing empty cells (spreadsheet export)": "a,b,\n" + "".join(f"{x!r},{y!r},\n" for x, y in BASE.tolist()),
    "unnamed index column (pandas to_csv)": ",a,b\n"
    + "".join(f"{i},{x!r},{y!r}\n" for i, (x, y) in enumerate(BASE.tolist())),
    "text column skipped": "a,label,b\n" + "".join(f"{x!r},c{i % 3},{y!r}\n" for i, (x, y) in enumerate(BASE.tolist())),
    "unused text column with nan": "a,b,c\n"
    + "".join(f"{x!r},{y!r},{'nan' if i % 2 else 'red'}\n" for i, (x, y) in enumerate(BASE.tolist())),
}


@pytest.fixture(scope="module")
def reference_hash(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Model hash of BASE exported from a plain comma-separated file."""
    tmp = tmp_path_factory.mktemp("reference")
    prepare(tmp, BASE_CSV)
    assert main(export_args(tmp, "--n-components", "2")) == 0
    return ExportedModel.load(tmp / "out/GMM.json").model_hash


@pytest.mark.parametrize("text", SAME_AS_BASE.values(), ids=SAME_AS_BASE.keys())
def test_format_variants_give_the_same_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reference_hash: str, text: str
) -> None:
    prepare(tmp_path, text)
    rc, _, err = run_main(export_args(tmp_path, "--n-components", "2"), capsys)
    assert rc == 0, err
    m = check_model(tmp_path, BASE)
    # the same numbers give the same model whatever the file looks like
    assert m.model_hash == reference_hash


def test_unused_duplicate_column_with_features(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prepare(tmp_path, "a,b,c,c\n" + "".join(f"{x!r},{y!r},1,x\n" for x, y in BASE.tolist()))
    rc, _, err = run_main(export_args(tmp_path, "--n-components", "2", "--features", "a,b"), capsys)
    assert rc == 0, err
    check_model(tmp_path, BASE)


def test_whitespace_in_features_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prepare(tmp_path, " a , b ,c\n" + "".join(f"{x!r},{y!r},{i}\n" for i, (x, y) in enumerate(BASE.tolist())))
    rc, _, err = run_main(export_args(tmp_path, "--n-components", "2", "--features", " b , a "), capsys)
    assert rc == 0, err
    check_model(tmp_path, BASE[:, ::-1], names=["b", "a"])


def test_many_duplicated_rows_are_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    X = np.repeat(BASE[::4], 6, axis=0)  # 20 distinct rows, each 6 times
    prepare(tmp_path, csv_text(X))
    rc, _, err = run_main(export_args(tmp_path, "--n-components", "2"), capsys)
    assert rc == 0, err
    check_model(tmp_path, X)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_fewer_distinct_rows_than_components(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """2 distinct points repeated, K=3: scikit-learn still fits (reg_covar), the export matches it.

    (The export warns that EM did not converge: k-means finds only 2 distinct clusters.)
    """
    X = np.array([[1.0, 2.0], [3.0, 4.0]] * 30)
    prepare(tmp_path, csv_text(X))
    rc, _, err = run_main(export_args(tmp_path, "--n-components", "3"), capsys)
    assert rc == 0, err
    m = check_model(tmp_path, X)
    assert m.n_components == 3


def test_single_point_cluster_far_away(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An outlier with K=2 gets its own component; reg_covar keeps its covariance finite."""
    X = np.vstack([BASE[:40], [[1000.0, -1000.0]]])
    prepare(tmp_path, csv_text(X))
    rc, _, err = run_main(export_args(tmp_path, "--n-components", "2", vectors=True), capsys)
    assert rc == 0, err
    m = check_model(tmp_path, X)
    labels = m.to_sklearn().predict(X)
    assert (labels == labels[-1]).sum() == 1, "the outlier should be alone in its component"
    alone = labels[-1]
    np.testing.assert_allclose(m.covariances[alone], 1e-6 * np.eye(2), rtol=1e-6, atol=1e-12)
    assert m.weights[alone] == pytest.approx(1 / 41)
    finite_literals((tmp_path / "out/golden.h").read_text())


def test_tiny_values_with_standard_scaler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Values around 1e-30 (still normal float32): without a scaler reg_covar swamps them,
    with --scaler standard the two blobs are found."""
    X = BASE * 1e-30
    prepare(tmp_path, csv_text(X))
    rc, _, err = run_main(export_args(tmp_path, "--n-components", "2", "--scaler", "standard"), capsys)
    assert rc == 0, err
    m = check_model(tmp_path, X, scaler="standard")
    labels = m.to_sklearn().predict(m.transform(X))
    assert len(set(labels[:40])) == 1 and len(set(labels[40:])) == 1 and labels[0] != labels[-1]


def test_huge_but_allowed_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """1e15-scale features (below the 1e18 limit): finite header constants, same model as scikit-learn."""
    X = BASE * 1e15
    prepare(tmp_path, csv_text(X))
    rc, _, err = run_main(export_args(tmp_path, "--n-components", "2"), capsys)
    assert rc == 0, err
    check_model(tmp_path, X)


def test_collinear_features(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """b = 2 a exactly: singular empirical covariance, reg_covar keeps the model finite."""
    X = np.column_stack([BASE[:, 0], 2 * BASE[:, 0]])
    prepare(tmp_path, csv_text(X))
    rc, _, err = run_main(export_args(tmp_path, "--n-components", "2"), capsys)
    assert rc == 0, err
    check_model(tmp_path, X)


def test_nan_inf_cells_dropped_with_dropna(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = with_row("nan,1", 3)
    text = with_row("2,-inf", 10, text)
    text = with_row("1e300,2", 20, text)
    text = with_row("5kg,2", 30, text)
    prepare(tmp_path, text)
    rc, out, err = run_main(export_args(tmp_path, "--n-components", "2", "--dropna"), capsys)
    assert rc == 0, err
    assert "dropped 4 row(s) at CSV line(s) 5, 12, 22, 32" in out
    check_model(tmp_path, BASE)


def test_auto_with_more_components_than_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """K=auto, --max-components 10 on 4 rows: the sweep stops at K=4 (one row each).

    BIC then prefers K=4, singleton components whose covariance is reg_covar alone:
    that is what scikit-learn's BIC says, and the exported model matches it.
    """
    X = np.array([[0.0, 1.0], [1.0, 0.0], [5.0, 6.0], [6.0, 5.5]])
    prepare(tmp_path, csv_text(X))
    rc, out, err = run_main(export_args(tmp_path, "--n-components", "auto", "--max-components", "10"), capsys)
    assert rc == 0, err
    m = check_model(tmp_path, X)
    assert len(m.selection) == 4 and 1 <= m.n_components <= 4
    bics = [GaussianMixture(k, random_state=0).fit(X).bic(X) for k in range(1, 5)]
    assert m.n_components == int(np.argmin(bics)) + 1
    assert "<- chosen" in out


# --------------------------------------------------------------------------
# Inputs that must give one clear error and leave the outputs alone
# --------------------------------------------------------------------------

BAD_DATA = {
    "blank lines only": ("\n \n\t\n\r\n", [], "the file is empty"),
    "header only, CRLF and blank lines": ("a,b\r\n\r\n  \r\n", [], "has a header but no data rows"),
    "no header row": ("1,2\n3,4\n5,7\n", [], "the first line (1, 2) looks like data, not column names"),
    "duplicate column names": (
        "a,b,a\n" + "".join(f"{x!r},{y!r},{x!r}\n" for x, y in BASE.tolist()),
        [],
        "column name 'a' appears more than once",
    ),
    "duplicate after stripping": (
        "a, b ,b\n1,2,3\n4,5,6\n",
        ["--features", "b"],
        "column name 'b' appears more than once",
    ),
    "nan cell": (with_row("nan,1", 4), [], "line(s) 6 (line 6: 'a' is not finite ('nan'))"),
    "NaN cell": (with_row("1,NaN", 0), [], "line 2: 'b' is not finite ('NaN')"),
    "inf cell": (with_row("inf,1", 0), [], "'a' is not finite ('inf')"),
    "-inf cell": (with_row("1,-Infinity", 0), [], "'b' is not finite ('-Infinity')"),
    "overflowing literal": (with_row("1e999,1", 0), [], "'a' is not finite ('1e999')"),
    "huge value": (with_row("1e300,1", 0), [], "'a' is too large for a float32 device ('1e300'"),
    "float32 max": (with_row("3.4028235e38,1", 0), [], "too large for a float32 device"),
    "all rows identical": ("a,b\n" + "1.5,2\n" * 50, [], "column 'a' is constant (1.5)"),
    "constant in float32": (
        "a,b\n" + "".join(f"{1e8 + i % 3},{i}\n" for i in range(30)),
        [],
        "column 'a' is constant at float32 precision",
    ),
    "tiny values flush to zero": (csv_text(BASE * 1e-300), [], "column 'a' is constant at float32 precision"),
    "non-UTF-8 header": ("Temp\xe9rature,b\n1,2\n3,4\n".encode("latin-1"), [], "not UTF-8 text (byte 0xe9 on line 1)"),
    "non-UTF-8 cell": (BASE_CSV.encode() + b"\xff,1\n", [], f"byte 0xff on line {len(BASE) + 2}"),
    "UTF-16 file": (BASE_CSV.encode("utf-16"), [], "the file is UTF-16 text; save it as UTF-8"),
    "NUL bytes": (BASE_CSV.encode() + b"\x00\x00", [], "contains NUL bytes"),
    "missing cell (short row)": (with_row("5", 2), [], "line 4: 'b' is missing (the row has 1 of 2 cells)"),
    "extra cell (unquoted 1,000)": (with_row("1,000,5", 2), [], "line 4: the row has 3 cells but the header has 2"),
    "quoted thousands, auto features": (
        'a,b\n"1,000",1\n"2,500",2\n"3,750",1\n',
        [],
        "column 'a' looks numeric but is not plain numbers (line 2: '1,000' has a thousands",
    ),
    "quoted thousands, --features": (
        with_row('"1,000",5', 2),
        ["--features", "a,b"],
        "'a' is not a plain number ('1,000' has a thousands or decimal separator",
    ),
    "decimal commas in a ;-file": (
        "a;b\n1,5;2\n2,5;3\n3,25;1\n",
        [],
        "column 'a' looks numeric but is not plain numbers (line 2: '1,5'",
    ),
    "numbers with units": (
        "a,b\n5kg,1\n7kg,2\n6.5kg,1\n",
        [],
        "column 'a' looks numeric but is not plain numbers (line 2: '5kg' has a unit 'kg')",
    ),
    "one number with a unit": (with_row("20 %,1", 0), [], "line 2: 'a' is not a plain number ('20 %' has a unit '%'"),
    "python-only number syntax": (with_row("1_000,1", 0), [], "'1_000' is not a plain decimal number"),
    "non-ASCII digits": (with_row("\u0661\u0662,1", 0), [], "is not a plain decimal number"),
    "hex number": (with_row("0x10,1", 0), [], "'a' is not a number ('0x10')"),
    "unbalanced quote": (with_row('"5,1', 1), [], "malformed CSV at line 3"),
    "'|' in a feature name": (csv_text(BASE, header="a|x,b"), [], "column name 'a|x' contains '|'"),
    "everything dropped": (
        "a,b\nx,1\n2,\n",
        ["--dropna", "--features", "a,b"],
        "no rows left after --dropna dropped 2 row(s)",
    ),
    "dropna leaves fewer rows than K": (
        "a,b\n1,2\n3,5\nx,1\n,4\n",
        ["--dropna", "--n-components", "3"],
        "2 data rows but 3 components",
    ),
}


@pytest.mark.parametrize(("data", "args", "message"), BAD_DATA.values(), ids=BAD_DATA.keys())
def test_bad_data_one_line_error_and_nothing_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: str | bytes, args: list[str], message: str
) -> None:
    prepare(tmp_path, data)
    if "--n-components" not in args:
        args = [*args, "--n-components", "2"]
    rc, _, err = run_main(export_args(tmp_path, *args, vectors=True), capsys)
    assert_one_error_line(rc, err, message)
    assert_nothing_lost(tmp_path)


BAD_OPTIONS = {
    "negative K": (["--n-components", "-2"], "--n-components must be >= 1 or 'auto', got -2"),
    "max-components 0": (["--n-components", "auto", "--max-components", "0"], "--max-components must be >= 1, got 0"),
    "unknown scaler": (["--scaler", "robust"], "--scaler must be one of none, standard, minmax; got 'robust'"),
    "unknown criterion": (
        ["--n-components", "auto", "--criterion", "hqic"],
        "--criterion must be one of bic, aic, lrt",
    ),
    "unknown init": (["--init-params", "kmeans++"], "--init-params must be one of"),
    "alpha 0": (["--criterion", "lrt", "--alpha", "0"], "--alpha must be in (0, 1), got 0"),
    "alpha 1.5": (["--criterion", "lrt", "--alpha", "1.5"], "--alpha must be in (0, 1), got 1.5"),
    "alpha nan": (["--criterion", "lrt", "--alpha", "nan"], "--alpha must be in (0, 1), got nan"),
    "reg-covar inf": (["--reg-covar", "inf"], "--reg-covar must be a finite number >= 0, got inf"),
    "reg-covar negative": (["--reg-covar=-1e-6"], "--reg-covar must be a finite number >= 0"),
    "tol nan": (["--tol", "nan"], "--tol must be a finite number > 0, got nan"),
    "tol 0": (["--tol", "0"], "--tol must be a finite number > 0, got 0"),
    "max-iter 0": (["--max-iter", "0"], "--max-iter must be >= 1, got 0"),
    "n-init 0": (["--n-init", "0"], "--n-init must be >= 1, got 0"),
    "empty name in --features": (["--features", "a,,b"], "--features: empty column name"),
    "unknown feature (case differs)": (["--features", "A,b"], "no column 'A'; available columns: 'a', 'b'"),
    "bad namespace": (["--namespace", "my-model"], "invalid C++ namespace 'my-model'"),
    "ill-defined covariance (reg-covar 0, collapsed rows)": (
        ["--n-components", "3", "--reg-covar", "0", "--data-override"],
        "scikit-learn could not fit K=3: Fitting the mixture model failed because some components have "
        "ill-defined empirical covariance",
    ),
}


@pytest.mark.parametrize(("args", "message"), BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_bad_options_one_line_error_and_nothing_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    data = BASE_CSV
    if "--data-override" in args:
        args = [a for a in args if a != "--data-override"]
        data = "a,b\n" + "1,2\n3,4\n" * 20 + "5,7\n"  # three distinct points, two of them repeated
    prepare(tmp_path, data)
    if "--n-components" not in args:
        args = [*args, "--n-components", "2"]
    rc, _, err = run_main(export_args(tmp_path, *args, vectors=True), capsys)
    assert_one_error_line(rc, err, message)
    assert_nothing_lost(tmp_path)


# --------------------------------------------------------------------------
# End to end through a real process: exit code and stderr as a user sees them
# --------------------------------------------------------------------------


def run_process(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinygmm", *export_args(tmp, *args, vectors=True)],
        cwd=tmp,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    ("data", "args", "message"),
    [
        (with_row("2,-inf", 5), [], "'b' is not finite ('-inf')"),
        ("a,b\r1,2\r\xe9,3\r".encode("latin-1"), [], "not UTF-8 text (byte 0xe9 on line 3)"),
        ("a,b\n" + "1,2\n3,4\n" * 20 + "5,7\n", ["--reg-covar", "0", "--n-components", "3"], "ill-defined"),
        (BASE_CSV, ["--alpha", "-1"], "--alpha must be in (0, 1)"),
    ],
    ids=["-inf cell", "latin-1 with CR line endings", "degenerate fit", "alpha negative"],
)
def test_process_exit_code_and_stderr(tmp_path: Path, data: str | bytes, args: list[str], message: str) -> None:
    prepare(tmp_path, data)
    if "--n-components" not in args:
        args = [*args, "--n-components", "2"]
    r = run_process(tmp_path, *args)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert_one_error_line(r.returncode, r.stderr, message)
    assert_nothing_lost(tmp_path)


def test_process_success_on_hostile_but_valid_file(tmp_path: Path) -> None:
    """BOM, semicolons, CRLF, quoted cells, blank lines and trailing separators, all at once."""
    rows = "".join(f'"{x!r}";{y!r};\r\n\r\n' for x, y in BASE.tolist())
    prepare(tmp_path, '\ufeff\r\n a ;"b";\r\n' + rows)
    r = run_process(tmp_path, "--n-components", "2")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    check_model(tmp_path, BASE)
    finite_literals((tmp_path / "out/golden.h").read_text())
    doc = json.loads((tmp_path / "out/GMM.json").read_text())
    assert doc["data"]["rows"] == len(BASE)

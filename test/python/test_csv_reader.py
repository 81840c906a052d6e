"""The CSV reader: the fast (pandas C) path gives exactly what the reference (csv module) reader gives.

``load_csv`` parses numbers with pandas and re-reads only the records with a problem through the csv
module (``tinygmm.data.csvfast``); ``reader="reference"`` forces the cell-by-cell reader it replaced. Every
input here is loaded both ways and must give the same matrix (bit for bit), features, dropped lines and
left-out columns, or the same one-line error.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest

from test_hostile_export import BAD_DATA, SAME_AS_BASE
from tinygmm.data import csvfast
from tinygmm.data.reader import load_csv
from tinygmm.data.rules import check_bytes
from tinygmm.errors import TinyGMMError


def outcome(path: Path, reader: str, **kw: object) -> tuple[object, ...]:
    try:
        d = load_csv(path, reader=reader, **kw)  # type: ignore[arg-type]
    except TinyGMMError as exc:
        return ("error", str(exc))
    return ("ok", d.X.tobytes(), d.X.shape, d.feature_names, d.dropped_lines, d.left_out, d.sha256)


def fast_path_taken(path: Path) -> bool:
    try:
        csvfast.read(check_bytes(path.read_bytes(), path), path)
    except (csvfast.Fallback, TinyGMMError):
        return False
    return True


def same_both_ways(path: Path, **kw: object) -> tuple[object, ...]:
    fast, ref = outcome(path, "auto", **kw), outcome(path, "reference", **kw)
    assert fast == ref, path.read_bytes()[:300]
    return fast


CASES = {**{f"valid: {k}": v for k, v in SAME_AS_BASE.items()}, **{f"bad: {k}": v[0] for k, v in BAD_DATA.items()}}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("dropna", [False, True], ids=["strict", "dropna"])
def test_hostile_files_read_the_same_both_ways(tmp_path: Path, text: str | bytes, dropna: bool) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    same_both_ways(path, dropna=dropna)
    with contextlib.suppress(TinyGMMError):  # the file has no column a or b
        same_both_ways(path, dropna=dropna, features=["a", "b"])


# cells a careless export or a hostile file contains
CELLS_TEXT = (
    "1|-2.5|+.5|5.|1e5|1E-3|1.e2|.5e1|007|1e-400|1e999|1e300|3.4028235e38||  |  7 |\t8|nan|NaN|-nan|inf|-Infinity|"
    "+inf|NA|null|True|false|1,000|1.234.567|3,5|5kg|20 %|1_000|0x10|1d5|1.5e|e5|.|-|+-1|1..2|\u0661\u0662|12\u00a0|"
    '\u00e9t\u00e9|x|a b|"4"|"1,5"|" 6 "|""|"x""y"|#3'
)
CELLS = CELLS_TEXT.split("|")
SEPARATORS = [",", ";", "\t"]
NEWLINES = ["\n", "\r\n", "\r"]


def random_csv(rng: np.random.Generator) -> str:
    sep = SEPARATORS[rng.integers(len(SEPARATORS))]
    nl = NEWLINES[rng.integers(len(NEWLINES))]
    width = int(rng.integers(1, 5))
    names = ["a", "b", "CustomerID", "Paid", "Humid", "label", "", "id", "sampleId"]
    header = [names[i] for i in rng.choice(len(names), width, replace=False)]
    lines = [sep.join(header)]
    n = int(rng.integers(1, 30))
    bad_rate = rng.choice([0.0, 0.02, 0.1, 0.5])
    kinds = rng.integers(0, 3, width)  # per column: 0 floats, 1 integers (ids), 2 anything
    for i in range(n):
        cells = []
        for c in range(width):
            if kinds[c] == 2 or rng.random() < bad_rate:
                cells.append(CELLS[rng.integers(len(CELLS))])
            elif kinds[c] == 1:
                cells.append(str(i + 1))
            else:
                cells.append(repr(float(np.round(rng.normal(0, 10), int(rng.integers(0, 6))))))
        r = rng.random()
        if r < 0.03:
            cells = cells[:-1]  # a short row
        elif r < 0.05:
            cells.append(CELLS[rng.integers(len(CELLS))])  # an extra cell
        elif r < 0.08:
            lines.append("")  # a blank line
        elif r < 0.1:
            lines.append(sep * (width - 1))  # a row of empty cells
        lines.append(sep.join(cells))
    return nl.join(lines) + (nl if rng.random() < 0.8 else "")


def test_random_hostile_files_read_the_same_both_ways(tmp_path: Path) -> None:
    rng = np.random.default_rng(20261201)
    path = tmp_path / "d.csv"
    fast = ok = 0
    n_files = 400
    for _ in range(n_files):
        path.write_text(random_csv(rng), newline="")
        fast += fast_path_taken(path)
        for dropna in (False, True):
            ok += same_both_ways(path, dropna=dropna)[0] == "ok"
    # the comparison is only worth something if the fast path ran, on good and on bad files
    assert fast > 0.5 * n_files, fast  # files with an over-long record go to the reference reader
    assert 0.1 * n_files < ok < 1.9 * n_files, ok


def test_large_numeric_file_is_read_exactly(tmp_path: Path) -> None:
    """20,000 rows of every float spelling: the C parser's numbers are Python's float() of each cell."""
    rng = np.random.default_rng(5)
    v = rng.normal(0, 1, (20000, 3)) * 10.0 ** rng.integers(-12, 12, (20000, 3))
    fmt = ["%r", "%.17g", "%.6e", "%.3f"]
    rows = [",".join((fmt[(i + c) % 4] % float(x)) for c, x in enumerate(r)) for i, r in enumerate(v)]
    path = tmp_path / "d.csv"
    path.write_text("x,y,z\n" + "\n".join(rows) + "\n")
    assert fast_path_taken(path)
    d = load_csv(path)
    expected = np.array([[float(c) for c in r.split(",")] for r in rows])
    assert d.X.tobytes() == expected.tobytes()


# --------------------------------------------------------------------------
# Default features: only real row ids are left out, and every column left out is named
# --------------------------------------------------------------------------


def test_columns_ending_in_id_are_features_unless_name_and_values_both_say_id(tmp_path: Path) -> None:
    n = 30
    rows = [f"{i + 1},{i * 3 + 1},{(i * 7) % 31},{40 + i % 9},{i % 4 + 0.5},c{i % 2}" for i in range(n)]
    path = tmp_path / "d.csv"
    path.write_text("CustomerID,Paid,Humid,sampleId,x,label\n" + "\n".join(rows) + "\n")
    for reader in ("auto", "reference"):
        d = load_csv(path, reader=reader)
        # Paid and Humid hold distinct integers but their names only end in "id"; sampleId repeats values
        assert d.feature_names == ["Paid", "Humid", "sampleId", "x"]
        assert d.left_out == [
            ("CustomerID", "a row id: an id name and distinct whole numbers"),
            ("label", "not numeric"),
        ]


@pytest.mark.parametrize(
    ("name", "is_id"),
    [(n, True) for n in ("id", "ID", "row_id", "CustomerID", "sampleId", "Row Id", "index", "#")]
    + [(n, False) for n in ("Paid", "Humid", "PAID", "Acid", "Idle", "idea", "valid")],
)
def test_id_names(tmp_path: Path, name: str, is_id: bool) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f"{name},x\n" + "".join(f"{i},{i % 5}.5\n" for i in range(10)))
    d = load_csv(path)
    assert (name not in d.feature_names) == is_id
    assert ((name, "a row id: an id name and distinct whole numbers") in d.left_out) == is_id


def test_cli_names_the_columns_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygmm.cli import main

    path = tmp_path / "d.csv"
    path.write_text(",CustomerID,Paid,x,label\n" + "".join(f"{i},{i},{i * 3},{i % 7}.5,c\n" for i in range(40)))
    argv = ["export", "--data", str(path), "--n-components", "2", "--vectors", "none"]
    assert main([*argv, "--header", str(tmp_path / "G.h"), "--json", str(tmp_path / "G.json")]) == 0
    out = capsys.readouterr().out
    assert "features: Paid, x" in out
    assert "left out: column 1 (it has no name" in out
    assert "'CustomerID' (a row id: an id name and distinct whole numbers)" in out
    assert "'label' (not numeric)" in out


# --------------------------------------------------------------------------
# I/O trouble: one line, never a traceback
# --------------------------------------------------------------------------


def run_export(tmp: Path, data: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    from tinygmm.cli import main

    out = tmp / "out"
    out.mkdir(exist_ok=True)
    rc = main(
        ["export", "--data", data, "--header", str(out / "G.h"), "--json", str(out / "G.json"), "--vectors", "none"]
        + list(extra)
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("tinygmm: error: ")
    assert list(out.iterdir()) == []
    return rc, err


@pytest.mark.parametrize("extra", [[], ["--if-changed"]], ids=["plain", "if-changed"])
def test_file_name_too_long(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]) -> None:
    _, err = run_export(tmp_path, str(tmp_path / ("x" * 300 + ".csv")), capsys, *extra)
    assert "cannot read the data file" in err and "File name too long" in err
    assert len(err) < 300


def test_read_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """/proc/self/mem is a regular file whose first read fails with EIO: a real read error."""
    if not Path("/proc/self/mem").is_file():
        pytest.skip("no /proc/self/mem on this system")
    _, err = run_export(tmp_path, "/proc/self/mem", capsys)
    assert "cannot read the data file /proc/self/mem: Input/output error" in err


def test_folder_given_as_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, err = run_export(tmp_path, str(tmp_path), capsys)
    assert "is a folder, not a CSV file" in err


@pytest.mark.parametrize("text", [",,\n,,\n", ";\r\n;\r\n", '"",""\n\n,,,\n'], ids=["commas", "semicolons", "quoted"])
def test_csv_of_empty_cells_only(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    (tmp_path / "d.csv").write_text(text)
    _, err = run_export(tmp_path, str(tmp_path / "d.csv"), capsys)
    assert "has no values (every cell is empty)" in err

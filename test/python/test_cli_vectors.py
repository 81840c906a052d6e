"""The device commands take what the device takes and read CSVs as export does (issue 22, item 7).

``classify`` accepts every spelling of a vector the firmware parses (tinygmm_protocol.cpp
parse_number: signs, leading dots, exponents, commas and/or spaces, and inf/nan, which the device
then refuses), wherever the vectors stand among the options; number flags take negative values in
any spelling. ``stream`` and ``verify`` read the CSV with export's reader (data.reader): one record
per labelled row whatever its quoted cells hold, with the CSV line numbers of that reader.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygmm.cli.common import negative_values
from tinygmm.cli.device import looks_like_vector, vector_arguments
from tinygmm.data.reader import load_csv, load_records

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["Age", "Spending Score (1-100)"]


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinygmm", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


# ---- the command line, without a device ----------------------------------------------------------


@pytest.mark.parametrize(
    "word",
    ["-0.5,0.2", "-1e-3,2", "-1E+3 2", "-.5,-.5", "-5", "-inf", "-Infinity,1", "-nan", "-1,,2", "-e5", "-1 -2"],
)
def test_device_spellings_starting_with_minus_are_vectors(word: str) -> None:
    assert looks_like_vector(word)
    assert vector_arguments(["classify", "--port", "P", word]) == ["classify", "--port", "P", "--", word]


@pytest.mark.parametrize("word", ["-h", "--help", "--port=P", "--bogus", "-x", "--timeout=3"])
def test_options_stay_options(word: str) -> None:
    assert not looks_like_vector(word)
    assert vector_arguments(["classify", word, "1,2"]) == ["classify", word, "--", "1,2"]


def test_vectors_keep_their_order_around_options() -> None:
    argv = ["classify", "-5,3", "--port", "P", "1,2", "--timeout", "-1", "+1,2", "--", "--port", "-x"]
    assert vector_arguments(argv) == [
        "classify",
        "--port",
        "P",
        "--timeout",
        "-1",
        "--",
        "-5,3",
        "1,2",
        "+1,2",
        "--port",
        "-x",
    ]
    assert vector_arguments(["stream", "--port", "P", "-1.csv"]) == ["stream", "--port", "P", "-1.csv"]


def test_negative_numbers_for_number_flags() -> None:
    assert negative_values(["export", "--anomaly-threshold", "-1e3", "--tol", "1e-3", "--data", "-d.csv"]) == [
        "export",
        "--anomaly-threshold=-1e3",
        "--tol",
        "1e-3",
        "--data",
        "-d.csv",
    ]
    assert negative_values(["export", "--random-state", "-1", "--", "--tol", "-1e3"])[-3:] == ["--", "--tol", "-1e3"]


# ---- against the native firmware -------------------------------------------------------------------


def _answers(stdout: str) -> dict[str, str]:
    return dict(line.split(" -> ", 1) for line in stdout.splitlines())


def test_classify_takes_every_spelling_the_device_takes(firmware: tuple[Path, Path]) -> None:
    project, exe = firmware
    port = f"native:{exe}"
    same = {  # spelling -> the same vector spelled plainly
        "-0.5,0.2": "-0.5,0.2",
        "-5e-1 2e-1": "-0.5,0.2",
        "-.5, .2": "-0.5,0.2",
        "+19,+39": "19,39",
        "1.9e1,3.9E+1": "19,39",
        "-1e-3,2": "-0.001,2",
        "-60 -10": "-60,-10",
    }
    plain = sorted(set(same.values()))
    r = run_cli(project, "classify", *list(same)[:3], "--port", port, *list(same)[3:], "--timeout", "5", "--", *plain)
    assert r.returncode == 0, r.stderr
    got = _answers(r.stdout)
    assert len(r.stdout.splitlines()) == len(same) + len(plain)
    for spelled, canonical in same.items():
        assert got[spelled.strip()] == got[canonical] and got[canonical].startswith("label="), (spelled, got)
    # what the device reads but refuses: its own answer, exit 1, the others still answered
    r = run_cli(project, "classify", "--port", port, "-inf,2", "19,39", "-nan 1", "-1,,2", "-e5,1")
    assert r.returncode == 1 and "unrecognized" not in r.stderr, r.stderr
    got = _answers(r.stdout)
    assert got["-inf,2"] == "ERR not-finite 1" and got["-nan 1"] == "ERR not-finite 1"
    assert got["-1,,2"] == "ERR empty-field 2" and got["-e5,1"] == "ERR bad-number 1"
    assert got["19,39"].startswith("label=")


TRICKY = {
    "multiline-note": 'Age,Spending Score (1-100),note\n19,39,"hello\nworld"\n21,81,ok\n\n20,6,"a\n\nb"\n',
    "crlf": 'Age,Spending Score (1-100),note\r\n19,39,"x\r\ny"\r\n21,81,z\r\n',
    "cr": 'Age,Spending Score (1-100),note\r19,39,"x\ry"\r21,81,z\r',
    "semicolon-bom": '\ufeffAge;Spending Score (1-100);note\n19;39;"p;\nq"\n21;81;r\n',
    "multiline-header": '"Age",Spending Score (1-100),"long\nname"\n19,39,"1\n2\n3"\n35,"60",x\n',
    "quoted-blank-lines": 'note,Age,Spending Score (1-100)\n"\n\n",19,39\n"",21,81\n',
}


@pytest.mark.parametrize("name", list(TRICKY))
def test_records_are_what_export_reads(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(TRICKY[name].encode("utf-8"))
    rec = load_records(path, FEATURES)
    X = load_csv(path, FEATURES, check_constant=False).X
    assert np.array_equal(rec.data.X, X) and len(rec.rows) == len(X) == len(rec.lines)
    header_cells = [c.strip() for c in rec.header]
    for row, x in zip(rec.rows, X, strict=True):
        assert [float(row[header_cells.index(f)]) for f in FEATURES] == list(x)
    assert rec.lines == sorted(rec.lines) and rec.lines[0] >= 2


def test_stream_labels_one_row_per_record(firmware: tuple[Path, Path], tmp_path: Path) -> None:
    project, exe = firmware
    path = tmp_path / "notes.csv"
    path.write_text(TRICKY["multiline-note"], newline="")
    out = tmp_path / "labelled.csv"
    r = run_cli(project, "stream", "--port", f"native:{exe}", str(path), "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert len(rows) == 4 and rows[0][-3:] == ["label", "probability", "log_likelihood"]
    assert [row[2] for row in rows[1:]] == ["hello\nworld", "ok", "a\n\nb"]
    r = run_cli(project, "classify", "--port", f"native:{exe}", "19,39", "21,81", "20,6")
    labels = [line.split("label=")[1].split()[0] for line in r.stdout.splitlines()]
    assert [row[3] for row in rows[1:]] == labels
    r = run_cli(project, "stream", "--port", f"native:{exe}", str(path))
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3, r.stdout


def test_verify_reads_the_csv_as_export_does(firmware: tuple[Path, Path], tmp_path: Path) -> None:
    project, exe = firmware
    lines = (ROOT / "data" / "customers.csv").read_text().splitlines()
    text = (
        lines[0]
        + ',"a note\nover two lines"\n'
        + "".join(line + (',"x\ny"\n' if i % 3 == 0 else ",plain\n") for i, line in enumerate(lines[1:]))
    )
    path = tmp_path / "noted.csv"
    path.write_text(text, newline="")
    r = run_cli(
        project, "verify", "--port", f"native:{exe}", "--json", str(project / "include" / "GMM.json"), str(path)
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"({len(lines) - 1} from {path}" in r.stdout and "verify: PASS" in r.stdout


def test_stream_bad_row_names_its_line_not_a_flag_stream_lacks(firmware: tuple[Path, Path], tmp_path: Path) -> None:
    project, exe = firmware
    path = tmp_path / "bad.csv"
    path.write_text('Age,Spending Score (1-100),note\n19,39,"two\nlines"\n21,lots,x\n', newline="")
    r = run_cli(project, "stream", "--port", f"native:{exe}", str(path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "line(s) 4" in r.stderr and "--dropna" not in r.stderr

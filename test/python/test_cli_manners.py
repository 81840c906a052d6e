"""How the command line and the Python API behave with a user: defaults that make sense in any folder,
no abbreviated options, an unknown option named with the closest one and the sub-command's help, every
default in the help, a non-numeric column in one line, a short ExportResult repr."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

import tinygmm
from tinygmm.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = ROOT / "data" / "customers.csv"
FEATURES = "Age,Spending Score (1-100)"


def parsers() -> dict[str, argparse.ArgumentParser]:
    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {"tinygmm": top, **{f"tinygmm {name}": p for name, p in sub.choices.items()}}


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(list(args)))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def test_export_in_an_empty_folder_writes_gmm_h_and_gmm_json_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(CUSTOMERS, tmp_path / "readings.csv")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "export", "--data", "readings.csv", "--features", FEATURES, "--n-components", "3")
    assert code == 0, err
    assert out.strip().splitlines()[-1].endswith("-> GMM.h, GMM.json")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["GMM.h", "GMM.json", "readings.csv"]
    code, out, err = cli(
        capsys, "export", "--data", "readings.csv", "--features", FEATURES, "--n-components", "3", "--vectors", "v.h"
    )
    assert code == 0, err
    assert "static const float" in (tmp_path / "v.h").read_text()  # golden vectors: only when asked


def test_no_parser_takes_an_abbreviation(capsys: pytest.CaptureFixture[str]) -> None:
    for prog, parser in parsers().items():
        assert parser.allow_abbrev is False, prog
    code, out, err = cli(capsys, "export", "--data", str(CUSTOMERS), "--n-component", "4")
    assert (code, out) == (2, "")
    assert err == (
        "tinygmm: error: unrecognized argument --n-component (did you mean --n-components? "
        "see 'tinygmm export --help')\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["export", "--data", "x.csv", "--featurs", "Age"],
            "unrecognized argument --featurs (did you mean --features? see 'tinygmm export --help')",
        ),
        (
            ["export", "--featurs=Age"],
            "unrecognized argument --featurs=Age (did you mean --features? see 'tinygmm export --help')",
        ),
        (
            ["report", "--data", "x.csv", "--max-iters", "3"],
            "unrecognized argument --max-iters (did you mean --max-iter? see 'tinygmm report --help')",
        ),
        (
            ["classify", "--port", "loop://", "--timout", "3", "1,2"],
            "unrecognized argument --timout (did you mean --timeout? see 'tinygmm classify --help')",
        ),
        (
            ["verify", "--port", "loop://", "--jsn", "m.json"],
            "unrecognized argument --jsn (did you mean --json? see 'tinygmm verify --help')",
        ),
        (["export", "--data", "x.csv", "--zzzzzz"], "unrecognized argument --zzzzzz (see 'tinygmm export --help')"),
        (["export", "--data", "x.csv", "stray"], "unrecognized argument stray (see 'tinygmm export --help')"),
    ],
)
def test_an_unknown_option_names_the_closest_and_the_subcommands_help(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = cli(capsys, *args)
    assert (code, out, err) == (2, "", f"tinygmm: error: {message}\n")


def test_every_option_of_every_subcommand_shows_its_default() -> None:
    checked = 0
    for prog, parser in parsers().items():
        for action in parser._actions:
            if not action.option_strings or action.default in (None, False, argparse.SUPPRESS):
                continue
            assert "(default" in (action.help or ""), f"{prog} {action.option_strings[0]}"
            checked += 1
    assert checked >= 30
    device = parsers()["tinygmm classify"]
    helps = {s: a.help or "" for a in device._actions for s in a.option_strings}
    assert "(default: 2)" in helps["--timeout"] and "(default: GMM.h)" in helps["--header"]
    verify = {s: a.help or "" for a in parsers()["tinygmm verify"]._actions for s in a.option_strings}
    assert "(default: GMM.json)" in verify["--json"] and "beside --json" in verify["--header"]
    export = {s: a.help or "" for a in parsers()["tinygmm export"]._actions for s in a.option_strings}
    for flag, shown in (("--header", "GMM.h"), ("--json", "GMM.json"), ("--vectors", "none"), ("--tol", "0.001")):
        assert f"(default: {shown})" in export[flag], flag


@pytest.mark.parametrize("dropna", [[], ["--dropna"]])
def test_a_named_column_that_is_not_numbers_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dropna: list[str]
) -> None:
    code, out, err = cli(
        capsys,
        "export",
        "--data",
        str(CUSTOMERS),
        "--features",
        "Age,Gender",
        "--header",
        str(tmp_path / "G.h"),
        *dropna,
    )
    assert (code, out) == (2, "")
    assert err == f"tinygmm: error: {CUSTOMERS}: column 'Gender' is not numeric; leave it out of --features\n"
    assert list(tmp_path.iterdir()) == []


def test_a_column_with_a_few_bad_cells_is_still_reported_by_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.csv"
    rows = [f"{i % 7 + 0.5 * i},{(i * 13) % 11 + 0.25 * i}" for i in range(40)]
    rows[5] = "oops,3"
    data.write_text("a,b\n" + "\n".join(rows) + "\n")
    code, _, err = cli(
        capsys,
        "export",
        "--data",
        str(data),
        "--features",
        "a,b",
        "--n-components",
        "2",
        "--header",
        str(tmp_path / "G.h"),
    )
    assert code == 2
    assert "1 row(s) with unusable values at line(s) 7" in err and "--dropna" in err


def test_export_result_repr_is_short_and_keeps_the_header(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(300, 3)) + np.repeat([[0, 0, 0], [6, 6, 6]], 150, axis=0)
    g = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    res = tinygmm.export_model(g, tmp_path / "GMM.h", json=tmp_path / "GMM.json")
    text = repr(res)
    assert text == (
        f"ExportResult(K=2, D=3, covariance_type='diag', model_hash={res.model.model_hash!r}, "
        f"written=[{str(tmp_path / 'GMM.h')!r}, {str(tmp_path / 'GMM.json')!r}])"
    )
    assert str(res) == text and len(text) < 300
    assert res.header == (tmp_path / "GMM.h").read_text() and len(res.header) > 10_000

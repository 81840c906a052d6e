"""Issue 22, item 8: feature names in any language, end to end.

A CSV whose header holds Korean, accented Latin (saved decomposed, NFD, as macOS may), Cyrillic with
a micro sign, an ohm sign and an emoji: exported by the CLI (``--features`` typed in NFC) and by
``export_model``, compiled with every cross compiler installed, built into the native firmware and
spoken to (INFO, ``verify``, ``stream`` on a CSV with its columns in another order and in NFD), and
reported. What a line cannot carry (control characters, lone surrogates, '|') is refused in one line.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import serial
from sklearn.mixture import GaussianMixture

from conftest import require_tool
from fw import build_firmware, make_project
from tinygmm import export_model
from tinygmm.cli import main
from tinygmm.device.client import DeviceClient
from tinygmm.device.native import PtyDevice
from tinygmm.device.uno_sim import build_uno_firmware, simavr_available
from tinygmm.errors import TinyGMMError
from tinygmm.model.exported import ExportedModel

# (as written in the CSV header, as the model holds it: NFC)
NAMES = [
    ("나이", "나이"),
    (unicodedata.normalize("NFD", "지출 점수 (1-100)"), "지출 점수 (1-100)"),
    (unicodedata.normalize("NFD", "Température"), "Température"),
    ("Размер µm", "Размер µm"),  # MICRO SIGN, which NFC keeps
    ("R \u2126", "R \u03a9"),  # OHM SIGN: NFC makes it the Greek capital omega
    ("기분 \U0001f600", "기분 \U0001f600"),
]
RAW = [raw for raw, _ in NAMES]
NFC = [n for _, n in NAMES]
CENTRES = np.array([[30, 50, 20, 1.5, 4, 1], [50, 20, 25, 3.0, 8, 3]], dtype=float)


def write_csv(path: Path, header: list[str], X: np.ndarray, order: list[int] | None = None) -> None:
    order = order if order is not None else list(range(len(header)))
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["note", *(header[j] for j in order)])
        for i, row in enumerate(X.tolist()):
            w.writerow([f"row {i}", *(repr(row[j]) for j in order)])


def sample(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(c, [3, 5, 2, 0.2, 0.5, 0.3], (n // 2, len(c))) for c in CENTRES])
    return np.round(X, 4)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(project, native firmware, training CSV) for a model exported by the CLI."""
    tmp = tmp_path_factory.mktemp("unicode")
    data = tmp / "data.csv"
    write_csv(data, RAW, sample(200, 1))
    features = ",".join('"' + n + '"' for n in NFC)  # typed in NFC; the header is partly NFD
    proj = make_project(
        tmp / "project", ["--data", str(data), "--features", features, "--n-components", "2", "--random-state", "0"]
    )
    return proj, build_firmware(proj), data


def test_the_model_holds_the_names_in_nfc(project: tuple[Path, Path, Path]) -> None:
    proj, _, _ = project
    m = ExportedModel.load(proj / "include" / "GMM.json")
    assert m.feature_names == NFC
    raw_json = json.loads((proj / "include" / "GMM.json").read_text(encoding="utf-8"))
    assert NFC[0] in json.dumps(raw_json, ensure_ascii=False)
    header = (proj / "include" / "GMM.h").read_bytes()
    assert header.isascii()  # names are escapes in the string literal and in the comments


def compile_and_print(cxx: str, header_dir: Path, tmp: Path) -> bytes:
    src = tmp / "names.cpp"
    src.write_text('#include <stdio.h>\n#include "GMM.h"\nint main() { fputs(gmm::FEATURE_NAMES, stdout); }\n')
    exe = tmp / "names"
    flags = ["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", str(header_dir)]
    r = subprocess.run([cxx, *flags, str(src), "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return subprocess.run([str(exe)], capture_output=True, check=True).stdout


def test_the_header_gives_the_names_back_byte_for_byte(project: tuple[Path, Path, Path], tmp_path: Path) -> None:
    proj, _, _ = project
    for cxx in ("g++", "clang++"):
        got = compile_and_print(require_tool(cxx), proj / "include", tmp_path)
        assert got == "|".join(NFC).encode("utf-8"), cxx


CROSS = {
    "avr-g++": ["-std=gnu++11", "-mmcu=atmega328p", "-Os"],
    "arm-none-eabi-g++": ["-std=c++11", "-mcpu=cortex-m4", "-mthumb", "-Os"],
    "riscv64-unknown-elf-g++": ["-std=c++11", "-march=rv32imc", "-mabi=ilp32", "-Os", "--specs=picolibc.specs"],
}


@pytest.mark.parametrize("cxx", sorted(CROSS))
def test_the_header_compiles_with_the_cross_compilers(
    project: tuple[Path, Path, Path], tmp_path: Path, cxx: str
) -> None:
    proj, _, _ = project
    tool = require_tool(cxx)
    src = tmp_path / "unit.cpp"
    src.write_text(
        '#include "GMM.h"\n'
        "const char* names() { return gmm::FEATURE_NAMES; }\n"
        "int label(const float* x) { return gmm::predict(x); }\n"
    )
    flags = [*CROSS[cxx], "-fno-exceptions", "-Wall", "-Wextra", "-Werror", "-I", str(proj / "include")]
    r = subprocess.run([tool, *flags, "-c", str(src), "-o", str(tmp_path / "unit.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]


def test_export_model_takes_the_same_names(project: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """Names given to export_model (here NFD, as a DataFrame read from that CSV would have them) end in
    NFC, and the header holds the same bytes as the CLI's."""
    import pandas as pd

    proj, _, _ = project
    X = sample(200, 1)
    gm = GaussianMixture(2, random_state=0).fit(X)
    export_model(gm, tmp_path / "a.h", feature_names=RAW, json=tmp_path / "a.json")
    assert ExportedModel.load(tmp_path / "a.json").feature_names == NFC
    gm_df = GaussianMixture(2, random_state=0).fit(pd.DataFrame(X, columns=RAW))
    export_model(gm_df, tmp_path / "b.h", json=tmp_path / "b.json")
    assert ExportedModel.load(tmp_path / "b.json").feature_names == NFC

    def names_line(p: Path) -> str:
        return next(line for line in p.read_text().splitlines() if "FEATURE_NAMES[]" in line)

    assert names_line(tmp_path / "a.h") == names_line(tmp_path / "b.h") == names_line(proj / "include" / "GMM.h")


def test_the_device_sends_the_names_and_the_host_decodes_them(project: tuple[Path, Path, Path]) -> None:
    _, exe, _ = project
    with PtyDevice(exe) as dev:
        port = serial.Serial(dev.port, 115200, timeout=0.05)
        try:
            for protocol in (2, 1):
                info = DeviceClient(port, timeout=5.0, max_protocol=protocol).sync()
                assert info.names == NFC, protocol
        finally:
            port.close()


def test_the_simulated_uno_sends_the_names_from_flash(project: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """avr-g++ 5.4 and PROGMEM: the Uno firmware's INFO carries the same UTF-8 bytes (verify compares
    the device's names with the model's)."""
    missing = simavr_available()
    if missing:
        pytest.skip(f"simulated Uno needs avr-g++, Debian's Arduino core and libsimavr: {missing}")
    proj, _, data = project
    elf = build_uno_firmware(proj, tmp_path / "uno.elf")
    r = run_cli(proj, "verify", "--port", f"simavr:{elf}", "--json", "include/GMM.json", str(data))
    assert r.returncode == 0 and "verify: PASS" in r.stdout, r.stdout + r.stderr


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinygmm", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_verify_and_stream_match_columns_by_name(project: tuple[Path, Path, Path], tmp_path: Path) -> None:
    proj, exe, data = project
    r = run_cli(proj, "verify", "--port", f"native:{exe}", "--json", "include/GMM.json", str(data))
    assert r.returncode == 0 and "verify: PASS" in r.stdout, r.stdout + r.stderr
    # the columns in another order, every name in NFD
    X = sample(20, 7)
    other = tmp_path / "other.csv"
    write_csv(other, [unicodedata.normalize("NFD", n) for n in NFC], X, order=[5, 3, 1, 0, 4, 2])
    out = tmp_path / "labelled.csv"
    r = run_cli(proj, "stream", "--port", f"native:{exe}", str(other), "--out", str(out))
    assert r.returncode == 0, r.stderr
    m = ExportedModel.load(proj / "include" / "GMM.json")
    expected = m.to_sklearn().predict(m.transform(X.astype(np.float32).astype(np.float64)))
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(X)
    label_column = next(c for c in rows[0] if "label" in c)
    assert [int(row[label_column]) for row in rows] == expected.tolist()


def test_report_shows_the_names(
    project: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, _, data = project
    out = tmp_path / "report"
    pair = ",".join(unicodedata.normalize("NFD", n) for n in (NFC[2], NFC[0]))  # as typed on macOS
    argv = ["report", "--json", str(proj / "include" / "GMM.json"), "--data", str(data), "--out", str(out)]
    assert main([*argv, "--plot-features", pair]) == 0
    err = capsys.readouterr().err
    assert "Warning" not in err and "Glyph" not in err, err
    page = (out / "index.html").read_text(encoding="utf-8")
    for name in NFC:
        assert name in page, name


def test_custom_gmm_features_in_platformio_ini(project: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, _, data = project
    (tmp_path / "platformio.ini").write_text(
        f"[env:board]\nplatform = native\ncustom_gmm_data = {data}\n"
        f"custom_gmm_features = {NFC[2]},{unicodedata.normalize('NFD', NFC[1])},{NFC[0]}\n"
        "custom_gmm_n_components = 2\n",
        encoding="utf-8",
    )
    r = run_cli(
        tmp_path,
        "export",
        "--platformio",
        "platformio.ini",
        "--env",
        "board",
        "--header",
        "GMM.h",
        "--json",
        "GMM.json",
    )
    assert r.returncode == 0, r.stderr
    assert ExportedModel.load(tmp_path / "GMM.json").feature_names == [NFC[2], NFC[1], NFC[0]]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a\x00", "control character U+0000"),
        ("b\x1b[31m", "control character U+001B"),
        ("c\x9b", "control character U+009B"),
        ("d\udcff", "lone surrogate"),
        ("e\u2029f", "line break U+2029"),
        ("f|g", "contains '|'"),
    ],
)
def test_export_model_refuses_what_cannot_be_carried(tmp_path: Path, name: str, why: str) -> None:
    gm = GaussianMixture(1, random_state=0).fit(sample(40, 2)[:, :2])
    with pytest.raises(TinyGMMError) as err:
        export_model(gm, tmp_path / "GMM.h", feature_names=["ok", name], json=tmp_path / "GMM.json")
    message = str(err.value)
    assert "\n" not in message and why in message and repr(name) in message
    assert list(tmp_path.iterdir()) == []


def test_bidi_and_comment_breakers_in_names_stay_inside_literals(tmp_path: Path) -> None:
    """A right-to-left override, '*/' and a last backslash: the header is ASCII and compiles; -Wbidi-chars
    (GCC 12) has nothing to say; the literal gives the names back exactly."""
    names = ["abc\u202edef", "x */ y", "trail\\"]
    gm = GaussianMixture(1, random_state=0).fit(sample(40, 2)[:, :3])
    export_model(gm, tmp_path / "GMM.h", feature_names=names)
    assert (tmp_path / "GMM.h").read_bytes().isascii()
    assert compile_and_print(require_tool("g++"), tmp_path, tmp_path) == "|".join(names).encode("utf-8")


def test_cli_refusal_names_the_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.csv"
    write_csv(data, ["나이", "점수\x07"], sample(40, 3)[:, :2])
    assert main(["export", "--data", str(data), "--header", str(tmp_path / "GMM.h"), "--vectors", "none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "column name '점수\\x07' contains the control character U+0007" in err[0], err
    assert not (tmp_path / "GMM.h").exists()


def test_anomaly_validation_columns_and_label_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The validation CSV's header in NFD, its label column in Korean, given as --anomaly-label in NFC."""
    data = tmp_path / "train.csv"
    write_csv(data, RAW, sample(200, 1))
    X = np.vstack([sample(40, 4), sample(10, 5) + 40.0])
    y = np.array([0] * 40 + [1] * 10)
    val = tmp_path / "val.csv"
    with val.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([unicodedata.normalize("NFD", n) for n in [*NFC, "이상 여부"]])
        w.writerows([*map(repr, row), str(label)] for row, label in zip(X.tolist(), y.tolist(), strict=True))
    argv = ["export", "--data", str(data), "--header", str(tmp_path / "GMM.h"), "--json", str(tmp_path / "GMM.json")]
    argv += ["--vectors", "none", "--n-components", "2", "--anomaly-validation", str(val), "--anomaly-label", "이상 여부"]
    assert main(argv) == 0, capsys.readouterr().err
    assert ExportedModel.load(tmp_path / "GMM.json").feature_names == NFC

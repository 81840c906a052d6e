"""The exported model and the serial protocol on a simulated ATmega328P, without PlatformIO.

Firmwares in test/avr are built with Debian's avr-g++ (avr-libc only, no
Arduino core) and run under simavr at 16 MHz; their UART text arrives on
simavr's stderr.

* golden_runner.cpp evaluates the golden vectors of a freshly exported model
  with GMM.h on the AVR's own float arithmetic; the results are compared here
  with scikit-learn, with the tolerances of the Unity parity suite.
* protocol_runner.cpp feeds a scripted byte stream through lib/tinygmm and
  tinygmm_device.h; its replies are compared line by line with the same
  program built for the host with g++.

Skipped (with the reason) when avr-g++, avr-libc or simavr are missing;
scripts/test.sh installs them (gcc-avr, avr-libc, simavr).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, require_tool
from synth import fitted_model, floor_ring, mixture_data, tiny_variance_data
from tinygmm.codegen.header import render_header
from tinygmm.export.vectors import GoldenVectors, golden, is_near_tie, make_inputs, render_vectors, sklearn_outputs
from tinygmm.model.exported import ExportedModel

AVR_DIR = ROOT / "test" / "avr"
LIB_DIR = ROOT / "lib" / "tinygmm" / "src"
MCU = "atmega328p"
F_CPU = 16_000_000
AVR_FLAGS = [f"-mmcu={MCU}", "-Os", "-std=gnu++11", "-Wall", "-Wextra", "-Werror", f"-DF_CPU={F_CPU}UL"]
HOST_FLAGS = ["-std=gnu++11", "-O1", "-Wall", "-Wextra", "-Werror"]
SIM_TIMEOUT = 120  # seconds of wall time; the runners need well under one

PROBA_ABS = 1e-4
LL_ABS = 1e-3  # in range
LL_REL = 1e-5  # far outside the data

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SIMAVR_LINE_MAX = 256  # simavr prints its UART buffer when full, even mid-line


# ---- tools ---------------------------------------------------------------------


@dataclass(frozen=True)
class AvrTools:
    cxx: str
    simavr: str


@pytest.fixture(scope="module")
def avr(tmp_path_factory: pytest.TempPathFactory) -> AvrTools:
    cxx, simavr = shutil.which("avr-g++"), shutil.which("simavr")
    if cxx is None:
        pytest.skip("avr-g++ not installed (Debian: apt-get install gcc-avr avr-libc; scripts/test.sh does)")
    if simavr is None:
        pytest.skip("simavr not installed (Debian: apt-get install simavr; scripts/test.sh does)")
    probe = tmp_path_factory.mktemp("avr-probe") / "probe.cpp"
    probe.write_text("#include <avr/io.h>\nint main() { return UDR0; }\n")
    r = subprocess.run(
        [cxx, *AVR_FLAGS, "-c", str(probe), "-o", str(probe.with_suffix(".o"))], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(
            f"avr-g++ cannot build for {MCU} (is avr-libc installed? apt-get install avr-libc): {r.stderr.strip()[:300]}"
        )
    return AvrTools(cxx, simavr)


def build(cxx: str, flags: list[str], sources: list[Path], includes: list[Path], out: Path) -> Path:
    cmd = [cxx, *flags, *[f"-I{p}" for p in includes], *map(str, sources), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"build failed: {' '.join(cmd)}\n{r.stderr}"
    return out


def avr_size(elf: Path) -> tuple[int, int]:
    """(flash, static RAM) bytes of an AVR ELF, from its section sizes."""
    size = shutil.which("avr-size")
    if size is None:
        return -1, -1
    out = subprocess.run([size, "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sec = {m[0]: int(m[1]) for m in re.findall(r"^(\.\w+)\s+(\d+)", out, re.M)}
    return sec.get(".text", 0) + sec.get(".data", 0), sec.get(".data", 0) + sec.get(".bss", 0)


def simulate(simavr: str, elf: Path) -> list[str]:
    """Run the firmware to its final sleep; return the UART lines (without their newline)."""
    try:
        r = subprocess.run(
            [simavr, "-m", MCU, "-f", str(F_CPU), str(elf)], capture_output=True, timeout=SIM_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"simavr did not finish within {SIM_TIMEOUT} s (the firmware must end with cli + sleep)")
    text = ANSI_RE.sub("", (r.stderr + r.stdout).decode("latin-1"))
    assert r.returncode == 0, f"simavr exited with {r.returncode}:\n{text[-2000:]}"
    # simavr prints each UART line with its '\n' (any byte < 0x20, in fact) shown
    # as '.', and flushes a full 256-byte buffer without one: join those pieces.
    lines, pending = [], ""
    for raw in text.splitlines():
        if raw.endswith("."):
            lines.append(pending + raw[:-1])
            pending = ""
        elif len(raw) >= SIMAVR_LINE_MAX:
            pending += raw
        else:
            lines.append(pending + raw)  # simavr's own messages ("Loaded 123 .text ...")
            pending = ""
    return lines


def hex_float(token: str) -> float:
    return struct.unpack(">f", bytes.fromhex(token))[0]


# ---- golden vectors on the AVR ---------------------------------------------------


@dataclass
class GoldenRun:
    model: ExportedModel
    far: np.ndarray
    predict: np.ndarray
    label: np.ndarray
    argmax: np.ndarray
    cycles: np.ndarray
    ll: np.ndarray
    score: np.ndarray
    X: np.ndarray
    proba: np.ndarray
    flash: int
    ram: int


def export_customers(out: Path) -> ExportedModel:
    """The firmware's model, exported with the CLI as platformio.ini configures it."""
    cmd = [
        sys.executable,
        "-m",
        "tinygmm",
        "export",
        "--data",
        str(ROOT / "data" / "customers.csv"),
        "--features",
        "Age, Spending Score (1-100)",
        "--random-state",
        "42",
        "--header",
        str(out / "GMM.h"),
        "--json",
        str(out / "GMM.json"),
        "--vectors",
        str(out / "golden_vectors.h"),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return ExportedModel.load(out / "GMM.json")


def export_synthetic(out: Path, d: int, k: int, covariance_type: str, scaler: str) -> ExportedModel:
    """A synthetic model, exported with the API (header and golden vectors)."""
    X = mixture_data(d, k, n=300, seed=d * 10 + k)
    m = fitted_model(X, k, covariance_type, scaler, seed=k)
    prov = [f"test model D={d} K={k} {covariance_type}/{scaler}"]
    (out / "GMM.h").write_text(render_header(m, prov))
    (out / "golden_vectors.h").write_text(render_vectors(golden(m, X), m, prov))
    return m


def run_golden(avr: AvrTools, model_dir: Path, m: ExportedModel) -> GoldenRun:
    elf = build(avr.cxx, AVR_FLAGS, [AVR_DIR / "golden_runner.cpp"], [model_dir, AVR_DIR], model_dir / "golden.elf")
    lines = simulate(avr.simavr, elf)
    head = [ln for ln in lines if ln.startswith("GOLDEN ")]
    rows = [ln.split()[1:] for ln in lines if ln.startswith("V ")]
    assert head and "END" in lines, "incomplete output from the AVR:\n" + "\n".join(lines[-20:])
    n, d, k, model_hash = head[0].split()[1:]
    n, d, k = int(n), int(d), int(k)
    assert (d, k, model_hash) == (m.n_features, m.n_components, m.model_hash)
    assert [int(r[0]) for r in rows] == list(range(n))
    flash, ram = avr_size(elf)
    return GoldenRun(
        model=m,
        far=np.array([r[1] == "1" for r in rows]),
        predict=np.array([int(r[2]) for r in rows]),
        label=np.array([int(r[3]) for r in rows]),
        argmax=np.array([int(r[4]) for r in rows]),
        cycles=np.array([int(r[5]) for r in rows]),
        ll=np.array([hex_float(r[6]) for r in rows]),
        score=np.array([hex_float(r[7]) for r in rows]),
        X=np.array([[hex_float(t) for t in r[8 : 8 + d]] for r in rows]),
        proba=np.array([[hex_float(t) for t in r[8 + d : 8 + d + k]] for r in rows]),
        flash=flash,
        ram=ram,
    )


def parity_failures(run: GoldenRun) -> list[str]:
    """Compare the AVR's results with scikit-learn on the same float32 inputs."""
    ref = sklearn_outputs(run.model, run.X)
    tie = is_near_tie(ref["gap"], ref["top"])
    failures = []
    for i in range(len(run.X)):
        where = f"vector {i} x={run.X[i].tolist()}"
        if not tie[i] and run.predict[i] != ref["label"][i]:
            failures.append(f"{where}: predict {run.predict[i]}, sklearn {ref['label'][i]}")
        if run.label[i] != run.predict[i] or run.argmax[i] != run.predict[i]:
            failures.append(
                f"{where}: classify {run.label[i]} / predict_proba {run.argmax[i]} / predict {run.predict[i]}"
            )
        perr = np.abs(run.proba[i] - ref["proba"][i]).max()
        if perr > PROBA_ABS:
            failures.append(f"{where}: predict_proba off by {perr:.3g}: {run.proba[i]} vs {ref['proba'][i]}")
        ll, want = run.ll[i], ref["log_likelihood"][i]
        if not np.isfinite(ll) or ll != run.score[i]:
            failures.append(f"{where}: classify log-likelihood {ll} vs score_samples {run.score[i]}")
        elif run.far[i] and abs(ll - want) > LL_REL * abs(want):
            failures.append(
                f"{where}: score_samples {ll!r} vs {want!r}, relative error {abs(ll - want) / abs(want):.3g}"
            )
        elif not run.far[i] and abs(ll - want) > LL_ABS:
            failures.append(f"{where}: score_samples {ll!r} vs {want!r}, error {abs(ll - want):.3g}")
    return failures


SYNTHETIC = [
    # (D, K, covariance_type, scaler)
    (2, 2, "spherical", "none"),
    (3, 3, "tied", "standard"),
    (4, 5, "diag", "minmax"),
    (8, 10, "full", "standard"),
]


@pytest.fixture(scope="module")
def customers_run(avr: AvrTools, tmp_path_factory: pytest.TempPathFactory) -> GoldenRun:
    out = tmp_path_factory.mktemp("avr-customers")
    return run_golden(avr, out, export_customers(out))


def report(name: str, run: GoldenRun) -> None:
    ok = run.cycles[run.cycles < 0xFFFFFFFF]
    print(
        f"\n{name}: {len(run.X)} vectors on simulated {MCU} @ 16 MHz; classify "
        f"{ok.mean():.0f} cycles mean, {ok.max()} max ({ok.max() / 16:.0f} us); "
        f"runner {run.flash} B flash, {run.ram} B static RAM"
    )


def test_golden_vectors_on_avr_customers(customers_run: GoldenRun) -> None:
    report("customers (CLI export, as platformio.ini)", customers_run)
    assert customers_run.far.any() and (~customers_run.far).any()
    failures = parity_failures(customers_run)
    assert not failures, "AVR differs from scikit-learn:\n" + "\n".join(failures[:20])


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_exact_model_on_avr(avr: AvrTools, tmp_path: Path, covariance_type: str) -> None:
    """A cluster floored to reg_covar far from the mixture's centre (exported EXACT: float-pair means,
    x - offset to the last bit): on the AVR too, 1, 2 and 5 sd from it, within scikit-learn's tolerance."""
    X, centre = tiny_variance_data()
    m = fitted_model(X, 2, covariance_type, "none")
    header = render_header(m, [f"test model: floored far cluster, {covariance_type}"])
    assert "EXACT = true" in header
    (tmp_path / "GMM.h").write_text(header)
    ring = floor_ring(centre)
    rest, far = make_inputs(m, X)
    x = np.vstack([ring, [centre], rest]).astype(np.float32).astype(np.float64)
    out = sklearn_outputs(m, x)
    v = GoldenVectors(
        x,
        out["label"],
        out["proba"],
        out["log_likelihood"],
        np.concatenate([np.zeros(len(ring) + 1, bool), far]),
        is_near_tie(out["gap"], out["top"]),
    )
    (tmp_path / "golden_vectors.h").write_text(render_vectors(v, m, ["floored far cluster"]))
    run = run_golden(avr, tmp_path, m)
    report(f"EXACT {covariance_type}", run)
    failures = parity_failures(run)
    assert not failures, "AVR differs from scikit-learn:\n" + "\n".join(failures[:20])


@pytest.mark.parametrize(("d", "k", "covariance_type", "scaler"), SYNTHETIC, ids=lambda v: str(v))
def test_golden_vectors_on_avr_synthetic(
    avr: AvrTools, tmp_path: Path, d: int, k: int, covariance_type: str, scaler: str
) -> None:
    m = export_synthetic(tmp_path, d, k, covariance_type, scaler)
    run = run_golden(avr, tmp_path, m)
    report(f"D={d} K={k} {covariance_type}/{scaler}", run)
    failures = parity_failures(run)
    assert not failures, "AVR differs from scikit-learn:\n" + "\n".join(failures[:20])


def test_parity_check_catches_a_wrong_result(customers_run: GoldenRun) -> None:
    """The comparison has teeth: one perturbed AVR result is reported, naming the vector."""
    import copy

    bad = copy.deepcopy(customers_run)
    i = int(np.flatnonzero(~bad.far)[3])
    bad.ll[i] += 2 * LL_ABS
    bad.score[i] = bad.ll[i]
    failures = parity_failures(bad)
    assert len(failures) == 1 and failures[0].startswith(f"vector {i} ")

    bad = copy.deepcopy(customers_run)
    j = int(np.flatnonzero(bad.far)[0])
    bad.proba[j, 0] += 2 * PROBA_ABS
    assert [f.split(":")[0].split(" x=")[0] for f in parity_failures(bad)] == [f"vector {j}"]


# ---- the serial protocol on the AVR vs the host -----------------------------------


def model_features(header: Path) -> int:
    m = re.search(r"static const int N_FEATURES = (\d+);", header.read_text())
    assert m, f"no N_FEATURES in {header}"
    return int(m.group(1))


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8, polynomial 0x07 (the protocol's optional request signature)."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def protocol_script(d: int) -> bytes:
    """Requests covering protocol v1: valid vectors with every separator and line end,
    every error, empty lines, an over-long line and binary garbage."""

    def vec(values: list[str], sep: str = ",", end: str = "\n") -> bytes:
        return (sep.join(values) + end).encode()

    rng = np.random.default_rng(7)
    seps = [",", ", ", " ", " ,", "\t", " , "]
    ends = ["\n", "\r\n", "\r", "\n\r"]
    script = [b"INFO\n", b"info\r", b"  Info \r\n"]
    for i in range(24):  # moderate values, as data would be
        values = [f"{v:.{i % 5}f}" for v in rng.uniform(0, 100, size=d)]
        script.append(vec(values, seps[i % len(seps)], ends[i % len(ends)]))
    for scale in (1e3, 1e5, 1e7, 1e9):  # further out, still finite in float32
        script.append(vec([f"{v:.6g}" for v in rng.normal(size=d) * scale]))
    ones = ["1"] * d

    def signed(body: str, flip: int = 0, lower: bool = False) -> bytes:
        hh = f"{crc8(body.encode()) ^ flip:02X}"
        return f"{body}*{hh.lower() if lower else hh}\n".encode()

    def signed2(body: str, rid: int, flip: int = 0) -> bytes:
        covered = f"{body}#{rid:04X}"
        return f"{covered}*{zlib.crc32(covered.encode()) ^ flip:08X}\n".encode()

    def second(s: str) -> list[str]:  # value 2 (or the only one) replaced by s
        return ["1", s] + ["1"] * (d - 2) if d >= 2 else [s]

    script += [
        vec(["1e30"] * d),  # finite, but the log-likelihood is below -FLT_MAX: OK ... -inf
        vec(["-3e38"] * d),
        vec([*ones, "1"]),  # count
        vec(ones[:-1] if d > 1 else ["1", "2"]),
        vec([*ones, ""]),  # empty-field
        vec(["", *ones]),
        vec(second("") if d >= 2 else ["", "1"]),
        vec(second("x1")),  # bad-number
        vec(second("1.2.3")),
        vec(second("0x10")),
        vec(second("-")),
        vec(second("nan")),  # not-finite
        vec(second("-inf")),
        vec(second("1e39")),  # out-of-range
        vec(second("-1e300")),
        vec(second("1e-50")),  # underflow: accepted
        b"HELLO\n",  # unknown-command
        b"info please\n",
        b"abcdefghijklmnopqrstuvwxyzabcdefghij\r\n",
        b"\n",  # empty lines are ignored
        b"   \t \r\n\r\r",
        b"1," * 100 + b"1\n",  # too-long (201 chars), then the next line is fine
        vec(ones),
        b"\x80\x81\xfe\xff\x00\x01\x1b[0m garbage\n",  # binary garbage, then recovery
        vec(ones),
        b"}{*&^%$#@!\r",
        vec(ones, " "),
        # optional "*HH" CRC-8 signature: good (upper and lower case) and bad
        signed(",".join(ones)),
        signed("INFO", lower=True),
        signed(",".join(ones[:-1] or ["1", "2"])),
        signed(",".join(ones), flip=0x10),
        # protocol v2 "#IIII*CCCCCCCC" (CRC-32): good, an INFO, an error, a bad CRC, leading blanks
        signed2(",".join(ones), 0x1A2B),
        signed2("INFO", 0xFFFF),
        signed2(",".join(ones[:-1] or ["1", "2"]), 0x0001),
        signed2(",".join(ones), 0x0002, flip=1),
        signed2("  " + ",".join(ones), 0x0003),
        # the runner feeds 1..7 bytes at a time, so lines arrive split anywhere
        vec([f"{10 * j + 0.5}" for j in range(d)], " , ", "\r\n"),
    ]
    return b"".join(script)


def c_string(data: bytes, per_line: int = 64) -> str:
    """A C string literal holding exactly these bytes (octal escapes, split into chunks)."""
    chunks = []
    for start in range(0, len(data), per_line):
        out = []
        for b in data[start : start + per_line]:
            c = chr(b)
            out.append(c if 0x20 <= b < 0x7F and c not in '"\\?' else f"\\{b:03o}")
        chunks.append('    "' + "".join(out) + '"')
    return "\n".join(chunks) if chunks else '    ""'


def write_script_header(path: Path, script: bytes) -> None:
    path.write_text(
        "// Generated by test/python/test_avr_sim.py - the request stream for protocol_runner.cpp.\n"
        f"static const char SCRIPT[{len(script) + 1}] RUNNER_FLASH =\n{c_string(script)};\n"
    )


REPLY_RE = re.compile(r"^(READY|OK|INFO|ERR|END)\b")
SIGNATURE_RE = re.compile(r"(?: #[0-9A-F]{4}\*[0-9A-F]{8}|\*[0-9A-F]{2})$")


def reply_lines(lines: list[str]) -> list[str]:
    return [ln for ln in lines if REPLY_RE.match(ln)]


def compare_replies(avr_lines: list[str], host_lines: list[str]) -> list[str]:
    """Same lines; OK lines may differ in the last digits of their floats (float32 on both,
    but the host formats through double), never in kind or label unless it is a near tie."""
    problems = []
    if len(avr_lines) != len(host_lines):
        problems.append(f"{len(avr_lines)} reply lines on the AVR, {len(host_lines)} on the host")
    for n, (a, h) in enumerate(zip(avr_lines, host_lines, strict=False), 1):
        if a == h:
            continue
        # a signed reply ("...*HH") may differ in its CRC exactly when its digits differ
        fa, fh = SIGNATURE_RE.sub("", a).split(), SIGNATURE_RE.sub("", h).split()
        same_signing = bool(SIGNATURE_RE.search(a)) == bool(SIGNATURE_RE.search(h))
        if same_signing and fa[0] == fh[0] == "OK" and len(fa) == len(fh) == 4:
            pa, ph, la, lh = float(fa[2]), float(fh[2]), float(fa[3]), float(fh[3])
            tie = max(pa, ph) <= 0.5 + 1e-3  # another component is as likely: either label is right
            if (fa[1] == fh[1] or tie) and abs(pa - ph) <= PROBA_ABS and abs(la - lh) <= max(LL_ABS, LL_REL * abs(lh)):
                continue
        problems.append(f"reply {n}: AVR {a!r} vs host {h!r}")
    return problems


def test_protocol_on_avr_matches_host(avr: AvrTools, tmp_path: Path) -> None:
    gxx = require_tool("g++")
    header = ROOT / "include" / "GMM.h"
    d = model_features(header)
    script = protocol_script(d)
    write_script_header(tmp_path / "protocol_script.h", script)
    sources = [AVR_DIR / "protocol_runner.cpp", LIB_DIR / "tinygmm_protocol.cpp"]
    includes = [tmp_path, AVR_DIR, ROOT / "include", LIB_DIR]

    host = build(gxx, HOST_FLAGS, sources, includes, tmp_path / "protocol_host")
    host_out = subprocess.run([str(host)], capture_output=True, timeout=60, check=True).stdout.decode()
    host_lines = host_out.splitlines()
    assert reply_lines(host_lines) == host_lines, f"unexpected host output:\n{host_out}"

    elf = build(avr.cxx, AVR_FLAGS, sources, includes, tmp_path / "protocol.elf")
    flash, ram = avr_size(elf)
    avr_lines = reply_lines(simulate(avr.simavr, elf))
    print(
        f"\nprotocol: {len(script)} request bytes, {len(host_lines)} replies; AVR runner {flash} B flash, {ram} B static RAM"
    )

    # the script exercises every reply of protocol v1
    assert host_lines[0].startswith("READY tinygmm ") and host_lines[-1] == f"END replies={len(host_lines) - 1}"
    unsigned = [SIGNATURE_RE.sub("", ln) for ln in host_lines]
    kinds = {" ".join(ln.split()[:2]) if ln.startswith("ERR") else ln.split()[0] for ln in unsigned}
    errors = ["count", "empty-field", "bad-number", "not-finite", "out-of-range", "unknown-command"]
    for kind in ["READY", "OK", "INFO", "END"] + [f"ERR {e}" for e in [*errors, "too-long", "checksum"]]:
        assert kind in kinds, f"the script never produced {kind!r}"
    assert sum(ln != u for ln, u in zip(host_lines, unsigned, strict=True)) == 9, "expected 9 signed replies"

    problems = compare_replies(avr_lines, host_lines)
    assert not problems, "the protocol behaves differently on the AVR:\n" + "\n".join(problems[:20])


def test_reply_comparison_catches_differences() -> None:
    host = ["READY tinygmm ab", "OK 1 0.999 -7.1234", "ERR count expected 2 got 3", "END replies=3"]
    assert compare_replies(host, host) == []
    assert compare_replies(["READY tinygmm ab", "OK 1 0.999 -7.12341", *host[2:]], host) == []
    assert compare_replies(["READY tinygmm ab", "OK 0 0.999 -7.1234", *host[2:]], host) != []
    assert compare_replies(["READY tinygmm ab", "OK 1 0.998 -7.1234", *host[2:]], host) != []
    assert compare_replies(["READY tinygmm ab", "ERR overflow", *host[2:]], host) != []
    assert compare_replies(host[:-1], host) != []
    signed = ["OK 1 0.999 -7.1234*3A"]
    assert compare_replies(["OK 1 0.999 -7.12341*C5"], signed) == []  # digits (and so the CRC) differ
    assert compare_replies(["OK 1 0.999 -7.1234"], signed) != []


# ---- every predict entry point on the AVR vs the host and scikit-learn ----------

PREDICT_MODELS = [
    # (D, K, covariance_type, scaler)
    (2, 7, "full", "none"),
    (2, 2, "full", "none"),  # no start hint
    (1, 3, "full", "none"),
    (5, 6, "full", "minmax"),
    (3, 5, "full", "standard"),
    (8, 10, "full", "none"),
    (4, 5, "diag", "none"),
    (3, 4, "spherical", "minmax"),
    (3, 4, "tied", "none"),
]


def predict_inputs(X: np.ndarray, seed: int) -> np.ndarray:
    """Data rows, a uniform box around the data, far points out to 1e30 x the span, inf and NaN."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    rows = X[rng.choice(len(X), 60, replace=False)]
    box = lo - 0.25 * span + rng.random((140, d)) * 1.5 * span
    dirs = rng.normal(size=(40, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    far = X.mean(axis=0) + np.repeat(10.0 ** np.arange(2, 32, 3), 4)[:, None] * span * dirs
    odd = np.tile(X.mean(axis=0), (3, 1))
    odd[0, 0], odd[1, -1], odd[2, 0] = np.inf, -np.inf, np.nan
    return np.vstack([rows, box, far, odd]).astype(np.float32)


def write_predict_inputs(path: Path, X: np.ndarray, zq: np.ndarray | None) -> None:
    floats = ", ".join(
        f"{float(v)!r}f" if np.isfinite(v) else ("NAN" if np.isnan(v) else ("INFINITY" if v > 0 else "-INFINITY"))
        for v in X.ravel()
    )
    ints = ", ".join(str(int(v)) for v in (zq.ravel() if zq is not None else [0]))
    path.write_text(
        "#include <math.h>\n#include <stdint.h>\nnamespace inputs {\n"
        f"static const int N = {len(X)};\n"
        f"static const float X[{X.size}] TINYGMM_FLASH = {{{floats}}};\n"
        f"static const int16_t ZQ[{max(1, 0 if zq is None else zq.size)}] TINYGMM_FLASH = {{{ints}}};\n"
        "}\n"
    )


def run_predict(avr: AvrTools, out: Path, fixed: bool) -> tuple[list[str], list[str]]:
    """(AVR lines, host lines) of predict_runner for the GMM.h and predict_inputs.h in out."""
    gxx = require_tool("g++")
    flags = ["-DPREDICT_RUNNER_FIXED"] if fixed else []
    src, inc = [AVR_DIR / "predict_runner.cpp"], [out, AVR_DIR]
    host = build(gxx, [*HOST_FLAGS, "-DTINYGMM_SOFT_FLOAT=1", *flags], src, inc, out / "predict_host")
    host_lines = subprocess.run([str(host)], capture_output=True, timeout=60, check=True).stdout.decode().splitlines()
    elf = build(avr.cxx, [*AVR_FLAGS, *flags], src, inc, out / "predict.elf")
    return [ln for ln in simulate(avr.simavr, elf) if ln.startswith(("P ", "END"))], host_lines


@pytest.mark.parametrize(("d", "k", "covariance_type", "scaler"), PREDICT_MODELS, ids=lambda v: str(v))
def test_predict_paths_on_avr(avr: AvrTools, tmp_path: Path, d: int, k: int, covariance_type: str, scaler: str) -> None:
    """predict (for full models the hand-written AVR kernel), and with --fixed-point quantize,
    predict_q and predict_fixed, on the AVR: line for line what the same source computes on
    the host (the C++ soft-float code path),
    predict equal to scikit-learn away from near-ties, quantize equal to a float32
    emulation, and predict_fixed the exact argmax of the integer model."""
    from tinygmm.codegen.fixedpoint import QUANT_MAGIC, fixed_point

    X = mixture_data(d, k, n=300, seed=d * 10 + k)
    m = fitted_model(X, k, covariance_type, scaler, seed=k)
    x = predict_inputs(X, seed=d + k)
    q = fixed_point(m)
    rng = np.random.default_rng(k)
    zq_in = np.vstack(
        [
            np.clip(np.round(q.z(x[:200].astype(np.float64)) * 2.0**q.F), -32767, 32767),
            rng.integers(-32767, 32768, (len(x) - 200, d)),
        ]
    ).astype(np.int64)
    (tmp_path / "GMM.h").write_text(render_header(m, ["avr predict test"], fixed_point=True))
    write_predict_inputs(tmp_path / "predict_inputs.h", x, zq_in)
    avr_lines, host_lines = run_predict(avr, tmp_path, fixed=True)
    assert host_lines[-1] == "END" and len(host_lines) == len(x) + 1
    diff = [(a, h) for a, h in zip(avr_lines, host_lines, strict=False) if a != h]
    assert len(avr_lines) == len(host_lines) and not diff, f"AVR differs from the host: {diff[:5]}"

    rows = [ln.split()[1:] for ln in host_lines[:-1]]
    pred = np.array([int(r[1]) for r in rows])
    ok = np.all(np.isfinite(x), axis=1)
    ref = sklearn_outputs(m, x[ok].astype(np.float64))
    decided = ~is_near_tie(ref["gap"], ref["top"])
    assert np.array_equal(pred[ok][decided], ref["label"][decided]), "predict differs from scikit-learn"

    # quantize: x * gain + a (fused) or (x - a) * gain + MAGIC, each operation rounded to float32
    xp = x[:, q.perm]
    g, a = q.gain.astype(np.float32), q.qa.astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        v = xp * g + a if q.fused else (xp - a) * g + np.float32(QUANT_MAGIC)
        r = v.astype(np.float64) - QUANT_MAGIC
        inside = np.all(np.isfinite(v) & (np.abs(r) <= 32767), axis=1)
    got_in = np.array([r[3] == "1" for r in rows])
    got_zq = np.array([[int(t) for t in r[4 : 4 + d]] for r in rows])
    assert np.array_equal(got_in, inside), "quantize's domain check differs from the emulation"
    assert np.array_equal(got_zq[inside], r[inside].astype(np.int64)), "quantize's rounding differs from the emulation"

    lpq, _ = q.log_prob_q(zq_in)
    assert np.array_equal(np.array([int(r[-1]) for r in rows]), np.argmax(lpq, axis=1)), (
        "predict_fixed is not the integer argmax"
    )

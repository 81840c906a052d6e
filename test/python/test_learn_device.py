"""Learning on the device over the wire (LEARN, FREEZE, THAW, RESET, SAVE, LOAD, DUMP; docs/online.md).

The native firmware built with TINYGMM_LEARN runs on a pty as the device; the float32 reference
(tinygmm.online) learns the same stream, and DUMP gives the device's parameters bit for bit. simavr runs the
real Uno firmware (Arduino core, EEPROM) the same way, also bit for bit. The frozen firmware has no learning command.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import serial

from fw import make_project
from test_link_faults import LineFaults
from tinygmm.device.client import (
    DeviceClient,
    Dump,
    Reply,
    open_port,
    parse_dump,
    parse_learn_reply,
)
from tinygmm.device.native import PtyDevice, build_native
from tinygmm.device.uno_sim import SimulatedUno, build_uno_firmware, simavr_available
from tinygmm.model.exported import ExportedModel
from tinygmm.online import OnlineConfig, OnlineGMM

ROOT = Path(__file__).resolve().parents[2]
ADAPT, SCRATCH = 1, 2


def stream(n: int, seed: int = 0) -> np.ndarray:
    """Customers-like rows (Age, Spending Score): four clusters, float32-exact."""
    rng = np.random.default_rng(seed)
    centres = np.array([[25, 75], [45, 20], [55, 50], [30, 40]], np.float64)
    lab = rng.integers(0, 4, n)
    return (centres[lab] + rng.normal(size=(n, 2)) * [4.0, 8.0]).astype(np.float32)


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    if shutil.which("g++") is None:
        pytest.skip("no g++")
    out = tmp_path_factory.mktemp("learnfw")
    return {level: build_native(ROOT, out / f"fw{level}", learn=level) for level in (0, ADAPT, SCRATCH)}


@contextmanager
def device(exe: Path, max_protocol: int = 2) -> Iterator[DeviceClient]:
    with PtyDevice(exe) as dev:
        ser = open_port(dev.port)
        try:
            client = DeviceClient(ser, timeout=5.0, rx_budget=None, max_protocol=max_protocol)
            client.sync()
            # an INFO sent while the program starts may be answered twice; v1's framing would take the late
            # answer for a lost reply and send the batch again (a LEARN learned twice): drain it first
            while client.read_line(0.3) is not None:
                pass
            yield client
        finally:
            ser.close()


def bits(v: object) -> bytes:
    return np.asarray(v, np.float32).tobytes()


def assert_dump_is(dump: Dump, ref: OnlineGMM) -> None:
    """DUMP equals the reference's parameters bit for bit (weights, means, covariances)."""
    w, mu, cov = ref.params()
    assert dump.learned == ref.t
    assert bits(dump.weights) == bits(w)
    assert bits(dump.means) == bits(mu)
    assert bits(dump.covariances) == bits(cov)
    assert bits(dump.threshold) == bits(ref.threshold)


def learn_all(client: DeviceClient, X: np.ndarray) -> list[str]:
    return [r.line for r in client.learn_many(X)]


@pytest.mark.parametrize("max_protocol", [2, 1])
def test_scratch_stream_matches_the_reference_bit_for_bit(firmware: dict[int, Path], max_protocol: int) -> None:
    X = stream(600)
    ref = OnlineGMM(4, 2, "full", warm=16)
    ref.begin_scratch(OnlineConfig())
    with device(firmware[SCRATCH], max_protocol) as client:
        assert client.protocol == max_protocol  # v1 framing: replies paired in order, INFO markers
        replies = client.learn_many(X)
        statuses = [ref.learn(x) for x in X]
        assert [r.line for r in replies[:16]] == [f"WARMING {i}/16" for i in range(1, 17)]
        assert all(r.ok for r in replies[16:]) and statuses.count(0) == len(X) - 15
        assert replies[-1].line.endswith(" learned=600")
        assert_dump_is(client.dump(), ref)
        # a classify request on a learning device answers from the current parameters
        label, proba, ll = ref.classify(np.array([30.0, 60.0], np.float32))
        r = client.classify([30.0, 60.0])
        assert r.label == label and r.log_likelihood == pytest.approx(float(ll), abs=1e-5)
        assert r.probability == pytest.approx(float(proba[label]), abs=1e-6)


def test_a_faulty_link_never_makes_a_sample_learned_twice(firmware: dict[int, Path]) -> None:
    """LEARN with sequence numbers (seq=) through lines dropped, duplicated, reordered and corrupted both ways:
    each sample is learned exactly once and in order, so DUMP equals the reference's bit for bit; the
    requests re-sent after a lost reply were answered "OK duplicate" instead of being learned again."""
    X = stream(600, seed=9)
    ref = OnlineGMM(4, 2, "full", warm=16)
    ref.begin_scratch(OnlineConfig())
    for x in X:
        ref.learn(x)
    with PtyDevice(firmware[SCRATCH]) as dev:
        port = LineFaults(serial.Serial(dev.port, 115200, timeout=0.05), seed=3, rate=0.03)
        try:
            client = DeviceClient(port, timeout=0.3, window=8, retries=30, rx_budget=None)
            client.sync()
            while client.read_line(0.3) is not None:  # (an INFO answered twice while it started)
                pass
            port.enabled = True
            replies = client.learn_many(X)
            port.enabled = False
            dump = client.dump()
        finally:
            port.close()
    assert sum(port.faults.values()) > 50
    assert any(r.line.startswith("OK duplicate learned=") for r in replies)  # lost replies happened
    assert not any(r.line.startswith("ERR") for r in replies), [r.line for r in replies if r.line.startswith("ERR")]
    assert_dump_is(dump, ref)


def test_learn_replies_score_the_sample_before_learning_it(firmware: dict[int, Path]) -> None:
    X = stream(120, seed=3)
    ref = OnlineGMM(4, 2, "full", warm=16)
    ref.begin_scratch(OnlineConfig())
    with device(firmware[SCRATCH]) as client:
        for x, r in zip(X, client.learn_many(X), strict=True):
            before = ref.classify(x) if ref.ready else None
            ref.learn(x)
            if before is None or not r.ok:
                continue
            assert r.label == before[0]
            assert r.log_likelihood == pytest.approx(float(before[2]), abs=2e-4 * max(1.0, abs(float(before[2]))))


def test_adapt_starts_from_the_header_and_tracks_the_reference(firmware: dict[int, Path]) -> None:
    model = ExportedModel.load(ROOT / "include" / "GMM.json")
    X = stream(400, seed=1)
    with device(firmware[ADAPT]) as client:
        start = client.dump()
        assert start.learned == 0
        np.testing.assert_allclose(start.weights, model.weights, rtol=1e-5)
        np.testing.assert_allclose(start.means, model.means, rtol=1e-6)
        np.testing.assert_allclose(start.covariances, model.covariances, rtol=2e-5)
        learn_all(client, X)
        end = client.dump()
    ref = OnlineGMM(4, 2, "full", warm=0)
    ref.begin(OnlineConfig(t0=100.0), model.weights, model.means, model.covariances)
    for x in X:
        ref.learn(x)
    w, mu, cov = ref.params()
    assert end.learned == 400
    np.testing.assert_allclose(end.weights, w, rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(end.means, mu, rtol=2e-3)
    np.testing.assert_allclose(end.covariances, cov, rtol=2e-3, atol=1e-3)


def test_save_reset_load_resumes_bit_for_bit(firmware: dict[int, Path]) -> None:
    X = stream(500, seed=2)
    with device(firmware[SCRATCH]) as client:
        learn_all(client, X[:300])
        saved = client.control("SAVE").line
        assert saved.startswith("OK saved ")
        learn_all(client, X[300:])
        straight = client.dump()
        assert client.control("RESET").line == "OK reset start=scratch"
        assert " mode=warming start=scratch learned=0 " in client.request_many(["INFO"], parse=lambda line, info: Reply(line))[0].line
        assert client.control("DUMP 0").line == "ERR not-ready"  # nothing to dump while warming up
        assert client.control("LOAD").line == "OK loaded learned=300"
        learn_all(client, X[300:])
        assert client.dump() == straight


def test_state_file_survives_the_process(
    firmware: dict[int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYGMM_STATE_FILE", str(tmp_path / "state.bin"))
    X = stream(200, seed=4)
    with device(firmware[ADAPT]) as client:
        assert client.control("LOAD").line == "ERR bad-state"  # nothing stored yet
        learn_all(client, X)
        assert client.control("SAVE").line.startswith("OK saved 376 crc=")
        before = client.dump()
    with device(firmware[ADAPT]) as client:
        assert client.control("LOAD").line == "OK loaded learned=200"
        assert client.dump() == before
    state = (tmp_path / "state.bin").read_bytes()
    (tmp_path / "state.bin").write_bytes(state[:-1] + bytes([state[-1] ^ 1]))  # a flipped CRC bit
    with device(firmware[ADAPT]) as client:
        assert client.control("LOAD").line == "ERR bad-state"
        assert client.dump().learned == 0  # untouched: the header's model


HOSTILE = [
    "LEARN nan,40",
    "LEARN 30,inf",
    "LEARN -infinity,1",
    "LEARN 1e39,40",
    "LEARN 30,-1e39",
    "LEARN 1e20,40",
    "LEARN 30",
    "LEARN 30,40,50",
    "LEARN",
    "LEARN 30,,40",
    "LEARN abc,def",
    "LEARN 0x1e,40",
    "LEARN 30;40",
]


def test_hostile_learn_input_is_refused_and_changes_nothing(firmware: dict[int, Path]) -> None:
    X = stream(100, seed=5)
    with device(firmware[SCRATCH]) as client:
        learn_all(client, X)
        before = client.dump()
        replies = client.request_many(HOSTILE, well_formed=False, parse=parse_learn_reply)
        for line, r in zip(HOSTILE, replies, strict=True):
            assert r.line.startswith("ERR "), (line, r.line)
        assert [r.line for r in replies[:6]] == [
            "ERR not-finite 1",
            "ERR not-finite 2",
            "ERR not-finite 1",
            "ERR out-of-range 1",
            "ERR out-of-range 2",
            "ERR refused input",  # parses, but beyond the learner's x_limit (1e15)
        ]
        assert client.dump() == before
        assert client.info().model  # still answering
        # frozen: refused, unchanged; thawed: learns again
        assert client.control("FREEZE").line.startswith("OK frozen threshold=")
        assert learn_all(client, X[:3]) == ["ERR frozen"] * 3
        assert client.dump() == before
        assert client.control("THAW").line == "OK learning"
        assert learn_all(client, X[:1])[0].endswith("learned=101")


def test_dump_round_trips_float32_exactly() -> None:
    values = [1.0, -0.0, 1e-45, 3.4028235e38, float(np.float32(0.1))]
    row = "DUMP 0 " + " ".join(struct.pack(">f", v).hex() for v in values[: 1 + 2 + 3 - 1]) + " 3f800000"
    head = "DUMP components=1 features=2 cov=full learned=7 threshold=ff800000 reg_covar=358637bd"
    d = parse_dump([head, row])
    assert d.learned == 7 and d.threshold == float("-inf") and bits(d.reg_covar) == bits(1e-6)
    assert d.weights == [1.0] and d.means == [[-0.0, float(np.float32(1e-45))]]
    assert str(d.means[0][0]) == "-0.0"
    big, tenth = float(np.float32(3.4028235e38)), float(np.float32(0.1))
    assert d.covariances == [[[big, tenth], [tenth, 1.0]]]


def test_the_frozen_firmware_does_not_learn(firmware: dict[int, Path]) -> None:
    with device(firmware[0]) as client:
        for command in ("LEARN 30,40", "FREEZE", "THAW", "RESET", "SAVE", "LOAD", "DUMP"):
            word = command.split()[0]
            assert client.control(command).line == f"ERR unknown-command {word}"
        info = client.request_many(["INFO"], parse=lambda line, info: Reply(line))[0].line
        assert info.startswith("INFO protocol=2 ") and " mode=" not in info and " learned=" not in info


def test_a_learning_device_says_so_in_info(firmware: dict[int, Path]) -> None:
    with device(firmware[SCRATCH]) as client:
        info = client.request_many(["INFO"], parse=lambda line, info: Reply(line))[0].line
        assert " mode=warming start=scratch learned=0 warm=0/16 splits=0 learn_threshold=-inf learn_seq=none names=" in info
        learn_all(client, stream(20))
        info = client.request_many(["INFO"], parse=lambda line, info: Reply(line))[0].line
        assert " mode=scratch start=scratch learned=20 warm=16/16 " in info
        assert " learn_seq=20 " in info  # the client numbered the 20 requests from 0, the first since the boot
        client.control("FREEZE")
        assert " mode=frozen " in client.request_many(["INFO"], parse=lambda line, info: Reply(line))[0].line


def run_cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, PYTHONPATH=str(ROOT / "scripts"), **(env or {}))
    return subprocess.run([sys.executable, "-m", "tinygmm", *args], capture_output=True, text=True, cwd=cwd, env=e)


def test_learn_and_pull_cli_give_a_model_that_export_report_and_verify_take(
    firmware: dict[int, Path], tmp_path: Path
) -> None:
    data = tmp_path / "rows.csv"
    X = stream(300, seed=6)
    data.write_text("Age,Spending Score (1-100)\n" + "".join(f"{a:.9g},{b:.9g}\n" for a, b in X) + "nan,1\n")
    learned = tmp_path / "learned.json"
    r = run_cli("learn", "--port", f"native:{firmware[SCRATCH]}", str(data), "--json", str(learned))
    assert r.returncode == 0, r.stderr
    assert (
        "learn: 284 learned, 16 in the warm-up, 0 refused of 300 rows; the device has learned 300 samples" in r.stdout
    )
    assert "1 row(s) with empty or non-numeric cells skipped" in r.stderr
    model = ExportedModel.load(learned)
    ref = OnlineGMM(4, 2, "full", warm=16)
    ref.begin_scratch(OnlineConfig())
    for x in X:
        ref.learn(x)
    w, mu, cov = ref.params()
    assert bits(model.means) == bits(mu) and bits(model.covariances) == bits(cov)
    np.testing.assert_allclose(model.weights, w, rtol=1e-6)
    # a frozen firmware exported from the learned model answers as scikit-learn with it
    project = make_project(tmp_path / "proj", ["--model", str(learned)])
    exe = build_native(project, learn=0)
    r = run_cli("verify", "--port", f"native:{exe}", "--json", str(project / "include" / "GMM.json"), str(data))
    assert r.returncode == 0 and "verify: PASS" in r.stdout, r.stdout + r.stderr
    clean = tmp_path / "clean.csv"  # (report takes the rows as the model JSON's data record says: none dropped)
    clean.write_text(data.read_text().replace("nan,1\n", ""))
    r = run_cli("report", "--json", str(learned), "--data", str(clean), "--out", str(tmp_path / "report"))
    assert r.returncode == 0, r.stderr
    # pull from a device that does not learn: one line, exit 2
    r = run_cli("pull", "--port", f"native:{firmware[0]}", "--json", str(tmp_path / "x.json"))
    assert r.returncode == 2 and r.stderr.startswith("tinygmm: error: the device does not learn")
    assert not (tmp_path / "x.json").exists()


@pytest.fixture(scope="module")
def uno_learning(tmp_path_factory: pytest.TempPathFactory) -> Path:
    why = simavr_available()
    if why:
        pytest.skip(why)
    out = tmp_path_factory.mktemp("unolearn")
    return build_uno_firmware(ROOT, out / "firmware.elf", ["-DTINYGMM_LEARN=2"])


def test_uno_firmware_learns_over_the_simulated_uart(uno_learning: Path) -> None:
    # integer-valued rows (as the customers data): avr-libc's strtod is not correctly rounded for every
    # decimal, but parses these exactly, so the device learns the reference's very inputs
    X = np.round(stream(80, seed=7))
    ref = OnlineGMM(4, 2, "full", warm=16)
    ref.begin_scratch(OnlineConfig())
    for x in X:
        ref.learn(x)
    dev = SimulatedUno(uno_learning)
    try:
        ser = open_port(dev.port)
        try:
            client = DeviceClient(ser, timeout=5.0)
            client.sync()
            replies = client.learn_many(X)
            assert sum(r.ok for r in replies) == 64
            dump = client.dump()
            assert dump.learned == 80
            # the learner calls no libm function (its own exp / log tables): the AVR's float32 arithmetic
            # gives the reference's bits, threshold included
            assert_dump_is(dump, ref)
            assert client.control("SAVE").line.startswith("OK saved 496 crc=")
            learn_all(client, X[:10])
            after = client.dump()
            assert client.control("RESET").line == "OK reset start=scratch"
            assert client.control("LOAD").line == "OK loaded learned=80"
            learn_all(client, X[:10])
            assert client.dump() == after
            bad = client.request_many(
                ["LEARN nan,1", "LEARN 1e39,2", "LEARN 1,2,3"], well_formed=False, parse=parse_learn_reply
            )
            assert all(r.line.startswith("ERR ") for r in bad)
            assert client.dump() == after
        finally:
            ser.close()
    finally:
        dev.close()

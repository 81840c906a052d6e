"""The real Uno firmware (Arduino core, HardwareSerial's 64-byte buffers) on simavr, on a pty.

src/main.cpp + lib/tinygmm are built against Debian's arduino-core-avr and run
at 16 MHz by scripts/tinygmm/device/simavr_uart.c, whose UART0 is a pty: bytes reach
the ATmega328P one frame time apart in simulated time (117647 baud, as
Serial.begin(115200) gives on a 16 MHz Uno), simulated time keeps step with the
wall clock, and the firmware's receive ring overflows exactly as on a board.
The host CLI talks to the pty as to /dev/ttyACM0.

Skipped (with the reason) when avr-g++, arduino-core-avr or libsimavr are missing;
scripts/test.sh installs them.
"""

from __future__ import annotations

import contextlib
import csv
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fw import DEMO_ARGS, make_project
from synth import mixture_data
from tinygmm.device.client import RX_BUDGET, DeviceClient, DeviceError, format_vector, open_port
from tinygmm.device.uno_sim import SimulatedUno, build_bridge, build_uno_firmware, simavr_available
from tinygmm.export.vectors import is_near_tie, sklearn_outputs
from tinygmm.model.exported import ExportedModel

# A D = 8 request can be 8 x 15 characters + 7 commas + "*HH": above the default 128.
WIDE_FLAGS = ["-DTINYGMM_LINE_MAX=160"]


class BusyDevice:
    """A plain v1 device that answers one request each time the host reads, and records what a
    busy board would have to hold in its receive buffer: the bytes sent behind the oldest
    unanswered request (the one it is busy with, read up to its newline)."""

    def __init__(self) -> None:
        self.timeout: float | None = 0.05
        self.inbox = bytearray()
        self.out = bytearray()
        # after each write: (bytes behind the oldest request, lengths of the requests unanswered)
        self.held: list[tuple[int, list[int]]] = []

    @property
    def in_waiting(self) -> int:
        return len(self.out)

    def write(self, data: bytes) -> int:
        self.inbox += data
        while self.inbox.startswith(b"\n"):
            del self.inbox[:1]
        behind = self.inbox.partition(b"\n")[2]
        # (a plain v1 client also sends INFO markers: bytes on the wire, but not requests)
        requests = [len(x) for x in self.inbox.split(b"\n")[:-1] if x != b"INFO"]
        self.held.append((len(behind), requests))
        return len(data)

    def read(self, n: int = 1) -> bytes:
        while not self.out and b"\n" in self.inbox:
            line, _, rest = bytes(self.inbox).partition(b"\n")
            self.inbox = bytearray(rest)
            text = line.decode()
            if "*" in text:
                self.out += f"ERR unknown-command {text}\n".encode()
            elif text == "INFO":
                self.out += b"INFO components=2 features=2 names=a|b model=00000000000000aa\n"
            elif text:
                self.out += f"OK {len(text) % 2} 0.5 {-len(text)}\n".encode()
        chunk = bytes(self.out[:n])
        del self.out[:n]
        return chunk

    def flush(self) -> None:
        pass


def test_bytes_in_flight_never_exceed_the_receive_buffer() -> None:
    """Short requests still go 8 at a time; long ones only while the bytes behind the oldest fit
    in RX_BUDGET, and one longer than the budget alone. Without the budget they would pile up."""
    short = [f"{i},5" for i in range(40)]
    long = [",".join(f"{i}.{j}123456" for j in range(3)) for i in range(40)]  # ~30 bytes each
    huge = [",".join(f"{i}.{j}123456789" for j in range(8)) for i in range(5)]  # above the budget
    lines = short + long + short + huge + long
    dev = BusyDevice()
    client = DeviceClient(dev, timeout=0.2)
    client.sync()
    dev.held.clear()
    replies = client.request_many(lines)
    assert [r.log_likelihood for r in replies] == [-len(s) for s in lines]  # none lost, each its own
    assert max(b for b, _ in dev.held) <= RX_BUDGET
    assert max(len(n) for _, n in dev.held) == client.window  # the short ones still fill the window
    longs = [sum(25 <= k <= 40 for k in n) for _, n in dev.held]
    assert max(longs) == 2  # ~30-byte ones: the oldest and one behind it, never a third

    dev = BusyDevice()
    client = DeviceClient(dev, timeout=0.2, rx_budget=None)
    client.sync()
    dev.held.clear()
    client.request_many(lines)
    assert max(b for b, _ in dev.held) > 3 * RX_BUDGET  # the control: unbounded, it would overrun an Uno


@dataclass(frozen=True)
class Board:
    project: Path
    elf: Path
    json: Path
    data: Path


@pytest.fixture(scope="module")
def sim_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = simavr_available()
    if missing:
        pytest.skip(f"simulated Uno needs avr-g++, Debian's Arduino core and libsimavr: {missing}")
    out = tmp_path_factory.mktemp("uno-build")
    build_bridge(out / "simavr_uart")
    return out


def _board(project: Path, build: Path, data: Path, flags: list[str] | None = None) -> Board:
    # the Arduino core is compiled once into build/ and shared by both firmwares
    elf = build_uno_firmware(project, build / f"{project.name}.elf", flags)
    return Board(project, elf, project / "include" / "GMM.json", data)


@pytest.fixture(scope="module")
def demo_board(sim_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Board:
    project = make_project(tmp_path_factory.mktemp("demo") / "demo")
    rows = Path(DEMO_ARGS[1]).read_text().splitlines()
    data = project / "customers-150.csv"  # the model's own data, its first 150 rows (CI time)
    data.write_text("\n".join(rows[:151]) + "\n")
    return _board(project, sim_build, data)


@pytest.fixture(scope="module")
def wide_board(sim_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Board:
    """K = 10 components, D = 8 features, full covariances, fitted by the CLI from synthetic data."""
    project = tmp_path_factory.mktemp("wide") / "wide"
    project.mkdir()
    data = write_csv(project / "wide.csv", mixture_data(8, 10, n=160, seed=3))
    make_project(project, ["--data", str(data), "--n-components", "10", "--random-state", "0"])
    return _board(project, sim_build, data, WIDE_FLAGS)


def write_csv(path: Path, X: np.ndarray) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"f{i}" for i in range(X.shape[1])])
        w.writerows([[f"{v:.6g}" for v in row] for row in X])
    return path


@pytest.fixture()
def uno(request: pytest.FixtureRequest, sim_build: Path) -> Iterator[tuple[Board, SimulatedUno]]:
    board: Board = request.getfixturevalue(request.param)
    dev = SimulatedUno(board.elf, bridge=sim_build / "simavr_uart")
    try:
        yield board, dev
    finally:
        dev.close()


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinygmm", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def assert_clean_wire(dev: SimulatedUno, stderr: str) -> dict[str, float]:
    """No resync (the CLI prints a 'link:' line for any), no byte lost in the simulated UART."""
    assert "link:" not in stderr, f"the link was not clean:\n{stderr}"
    s = dev.stats()
    assert s["uart_overruns"] == 0 and s["out_dropped"] == 0, s
    assert s["frame_cycles"] == 1360, s  # 10 bits at 117647 baud (UBRR 16, U2X) at 16 MHz
    return s


@pytest.mark.parametrize("uno", ["demo_board", "wide_board"], indirect=True)
def test_verify_through_the_simulated_uno(uno: tuple[Board, SimulatedUno]) -> None:
    """Every row, grid and far point answered, each equal to scikit-learn's, no retry needed."""
    board, dev = uno
    before = dev.stats()
    r = run_cli(board.project, "verify", "--port", dev.port, str(board.data), "--json", str(board.json))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verify: PASS" in r.stdout
    assert "predict agreement: 100.00%" in r.stdout
    after = assert_clean_wire(dev, r.stderr)
    n = int(r.stdout.split("rows: ")[1].split()[0])
    assert after["turnaround_us_mean"] > 0 and after["rx"] - before["rx"] > 10 * n  # it really went through the UART


@pytest.mark.parametrize("uno", ["wide_board"], indirect=True)
def test_stream_a_csv_through_the_simulated_uno(uno: tuple[Board, SimulatedUno], tmp_path: Path) -> None:
    board, dev = uno
    X_train = np.loadtxt(board.data, delimiter=",", skiprows=1)
    rng = np.random.default_rng(7)  # 60 unseen rows near the training data
    data = write_csv(tmp_path / "new.csv", X_train[:60] + rng.normal(size=(60, 8)) * 0.05 * X_train.std(axis=0))
    out = tmp_path / "labelled.csv"
    r = run_cli(board.project, "stream", "--port", dev.port, str(data), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert_clean_wire(dev, r.stderr)
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    model = ExportedModel.load(board.json)
    X = np.array([[float(row[f"f{i}"]) for i in range(8)] for row in rows]).astype(np.float32).astype(np.float64)
    with data.open() as fh:
        assert len(rows) == sum(1 for _ in fh) - 1 == 60  # none lost
    ref = sklearn_outputs(model, X)
    decided = ~is_near_tie(ref["gap"], ref["top"])
    labels = np.array([int(row["label"]) for row in rows])
    lls = np.array([float(row["log_likelihood"]) for row in rows])
    bad = np.flatnonzero(decided & ((labels != ref["label"]) | (np.abs(lls - ref["log_likelihood"]) > 1e-3)))
    assert bad.size == 0, f"{bad.size} rows misattributed or wrong, first {rows[bad[0]]}"
    assert decided.mean() > 0.9


@pytest.mark.parametrize("uno", ["wide_board"], indirect=True)
def test_without_the_byte_budget_the_uno_drops_bytes(uno: tuple[Board, SimulatedUno]) -> None:
    """The control: 8 requests of ~100 bytes in flight overflow HardwareSerial's ring, so the
    simulation does model the 64-byte buffer, and RX_BUDGET is what keeps the runs above clean."""
    board, dev = uno
    with board.data.open() as fh:
        lines = [format_vector([float(v) for v in row]) for row in list(csv.reader(fh))[1:13]]
    assert min(len(s) for s in lines) > RX_BUDGET  # each goes out alone with the budget
    ser = open_port(dev.port)
    try:
        client = DeviceClient(ser, timeout=1.0, window=8, retries=2, rx_budget=None)
        client.sync()
        with contextlib.suppress(DeviceError):  # it may give up after its retries
            client.request_many(lines)
        # the device received mangled lines (merged, cut): it said so (v1) or their replies never came (v2)
        assert any("ERR" in e or "lost" in e for e in client.stats.events), client.stats.events
        assert dev.stats()["uart_overruns"] == 0  # lost in HardwareSerial's ring, not in the chip's UART
        client = DeviceClient(ser, timeout=2.0, window=8)
        client.sync()
        replies = client.request_many(lines)
        assert client.stats.resyncs == 0 and client.stats.retried_requests == 0
        assert all(r.ok for r in replies) and len(replies) == len(lines)
    finally:
        ser.close()


def test_a_file_that_is_not_firmware_is_one_line(sim_build: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.elf"
    bad.write_text("not an ELF\n")
    r = run_cli(tmp_path, "classify", "--port", f"simavr:{bad}", "19,39")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "cannot read firmware" in r.stderr, r.stderr
    r = run_cli(tmp_path, "classify", "--port", f"simavr:{tmp_path / 'missing.elf'}", "19,39")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not found" in r.stderr, r.stderr

"""The LearnNormal sketch (lib/tinygmm/examples/LearnNormal): an Uno that learns its own normal, from scratch,
and keeps it in the EEPROM across power cycles.

Built as the Arduino IDE builds a sketch (Debian's avr-gcc and arduino-core-avr, our strict warnings), it
must fit an Uno; on simavr (the real firmware, its UART on a pty, the EEPROM kept in a file between two
simulator runs: a power cycle) it warms up, seeds, learns, flags a reading far from everything it learned,
saves, and after the power cycle resumes with the same learned count and goes on learning as the float32
reference does (labels equal, scores to the printed digits); a corrupted EEPROM byte is caught by the CRC
and the sketch starts afresh.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from test_examples import CORE_FLAGS, LIBRARY, STRICT, UNO_FLASH, UNO_SRAM, arduino_core, link_for_uno  # noqa: F401
from tinygmm.device.uno_sim import SimulatedUno, simavr_available
from tinygmm.online import OnlineConfig, OnlineGMM

SKETCH = LIBRARY / "examples" / "LearnNormal"
CENTRES = np.array([[20, 20], [20, 80], [60, 20], [60, 80]], np.float64)


def readings(n: int, seed: int) -> np.ndarray:
    """Integer-valued readings (avr-libc's strtod reads them exactly) from four clusters."""
    rng = np.random.default_rng(seed)
    return np.round(CENTRES[rng.integers(0, 4, n)] + rng.normal(size=(n, 2)) * 4).astype(np.float32)


@pytest.fixture(scope="module")
def sketch_elf(arduino_core: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("learnnormal")
    obj = out / "sketch.o"
    cmd = ["avr-g++", *CORE_FLAGS, *STRICT, "-I", str(LIBRARY / "src"), "-x", "c++", "-include", "Arduino.h"]
    subprocess.run([*cmd, "-c", str(SKETCH / "LearnNormal.ino"), "-o", str(obj)], check=True)
    elf = out / "sketch.elf"
    flash, sram = link_for_uno([obj, *arduino_core], elf)
    print(f"\nLearnNormal on an Uno: flash {flash} B, static SRAM {sram} B")
    assert flash < UNO_FLASH and sram < UNO_SRAM // 2
    return elf


class Board:
    """The sketch on simavr, spoken to line by line."""

    def __init__(self, elf: Path, eeprom: Path) -> None:
        self.dev = SimulatedUno(elf, fast=True, eeprom=eeprom)
        deadline = time.monotonic() + 10  # the boot line sent whole (16 bytes at least) before the port opens
        while self.dev.stats().get("tx", 0) < 16 and time.monotonic() < deadline:
            time.sleep(0.01)
        # (opening the port may flush what the sketch said at boot: info() takes it or not)
        self.port = serial.Serial(self.dev.port, 115200, timeout=10)

    def line(self) -> str:
        text = self.port.readline().decode()
        assert text.endswith("\n"), f"no line from the sketch (got {text!r})"
        return text.strip()

    def ask(self, text: str) -> str:
        self.port.write((text + "\n").encode())
        return self.line()

    def info(self) -> str:
        """The answer to "info"; the boot line ("resumed learned=<t>" or "started afresh") comes first when the
        port was opened after the sketch said it (opening flushes what came before), and must agree."""
        self.port.write(b"info\n")
        boot, line = None, self.line()
        if line.startswith(("resumed learned=", "started afresh")):
            boot, line = line, self.line()
        assert line.startswith("learned="), line
        if boot is not None:
            learned = line.split()[0]
            assert boot == "started afresh" if learned == "learned=0" else boot == f"resumed {learned}", (boot, line)
        return line

    def close(self) -> None:
        self.port.close()
        self.dev.close()


def send_and_check(board: Board, ref: OnlineGMM, x: np.ndarray, since_save: int) -> int:
    """One reading learned by the sketch and by the reference: the label and the score before the step agree;
    the sketch saves on its own after every 100 readings learned. Returns the readings learned since a save."""
    before = ref.classify(x)
    ref.learn(x)
    reply = board.ask(f"{int(x[0])},{int(x[1])}")
    m = re.fullmatch(r"learned (\d+) label (\d) score (-?\d+\.\d{4})( ANOMALY)?", reply)
    assert m, reply
    assert int(m.group(1)) == ref.t and int(m.group(2)) == before[0]
    assert float(m.group(3)) == pytest.approx(float(before[2]), abs=1.5e-4)
    since_save += 1
    if since_save == 100:
        assert re.fullmatch(rf"saved learned={ref.t} crc=[0-9A-F]+", board.line())
        return 0
    return since_save


def test_learns_flags_and_resumes_after_a_power_cycle(sketch_elf: Path, tmp_path: Path) -> None:
    why = simavr_available()
    if why:
        pytest.skip(why)
    eeprom = tmp_path / "eeprom.bin"
    X = readings(700, seed=5)
    ref = OnlineGMM(4, 2, "full")
    ref.begin_scratch(OnlineConfig())

    board = Board(sketch_elf, eeprom)
    try:
        assert board.info() == "learned=0 warm=0/16 threshold=none frozen=0"  # a blank EEPROM: afresh
        for i, x in enumerate(X[:16]):
            ref.learn(x)
            assert board.ask(f"{int(x[0])},{int(x[1])}") == ("seeded" if i == 15 else f"warming {i + 1}/16")
        since = 0
        for x in X[16:600]:
            since = send_and_check(board, ref, x, since)
        reply = board.ask("40,50")  # amid the four clusters: far from everything learned
        assert reply.endswith(" ANOMALY"), reply
        ref.learn(np.array([40, 50], np.float32))
        assert re.fullmatch(rf"saved learned={ref.t} crc=[0-9A-F]+", board.ask("save"))
    finally:
        board.close()
    assert eeprom.stat().st_size == 1024

    board = Board(sketch_elf, eeprom)  # a power cycle: the file is the board's EEPROM
    try:
        assert board.info().startswith(f"learned={ref.t} warm=16/16 threshold=-")  # resumed
        since = 0
        for x in X[600:]:
            since = send_and_check(board, ref, x, since)
        assert board.ask("1,2,3") == "error: expected 2 numbers separated by commas"
        assert board.ask("nan,2").startswith("refused")
        assert board.ask("x" * 60) == "error: line too long"
        assert board.ask("freeze") == "frozen"
        assert board.ask("20,20").startswith("scored label ")
        assert board.info().startswith(f"learned={ref.t} ") and board.ask("thaw") == "learning"
    finally:
        board.close()

    data = bytearray(eeprom.read_bytes())
    data[40] ^= 0x01  # one bit of the saved state
    eeprom.write_bytes(bytes(data))
    board = Board(sketch_elf, eeprom)
    try:
        assert board.info().startswith("learned=0 warm=0/16 ")  # the CRC caught it: started afresh
    finally:
        board.close()

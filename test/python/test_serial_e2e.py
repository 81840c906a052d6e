"""Host CLI and client against the native firmware on a pty, with faults injected."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import serial

from tinygmm.device.client import DeviceClient, DeviceError, crc8, format_vector
from tinygmm.device.native import PtyDevice
from tinygmm.model.exported import ExportedModel


def reference(project: Path, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = ExportedModel.load(project / "include" / "GMM.json")
    g = m.to_sklearn()
    Z = m.transform(X)
    return g.predict(Z), g.score_samples(Z)


def points(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(18, 75, n), rng.uniform(1, 100, n)])
    return X.astype(np.float32).astype(np.float64)


def assert_attributed(project: Path, X: np.ndarray, replies: list[Any]) -> None:
    """Every reply is the answer for its own input (labels and log-likelihoods are distinct per input)."""
    labels, lls = reference(project, X)
    got_l = np.array([r.label for r in replies])
    got_ll = np.array([r.log_likelihood for r in replies])
    assert len(replies) == len(X)
    bad = np.flatnonzero((got_l != labels) | (np.abs(got_ll - lls) > 1e-3))
    assert bad.size == 0, f"{bad.size} answers lost or misattributed, first at row {bad[0]}"


# The native build reads a pty with a 4 KB buffer: rx_budget=None keeps a full window in flight.
@contextlib.contextmanager
def native_client(exe: Path, wrap: Any = None, **client_args: Any) -> Iterator[tuple[PtyDevice, Any, DeviceClient]]:
    """The native firmware on a pty, a pyserial port to it (optionally wrapped) and a synced client."""
    with PtyDevice(exe) as dev:
        port = serial.Serial(dev.port, 115200, timeout=0.05)
        if wrap is not None:
            port = wrap(port)
        try:
            client = DeviceClient(port, **client_args)
            client.sync()
            yield dev, port, client
        finally:
            port.close()


def run_cli(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinygmm", *args], cwd=project, capture_output=True, text=True, timeout=timeout
    )


def test_cli_classify_native(firmware: tuple[Path, Path]) -> None:
    project, exe = firmware
    r = run_cli(project, "classify", "--port", f"native:{exe}", "19,39", "60 10", "oops")
    assert r.returncode == 1  # one vector was rejected
    lines = r.stdout.splitlines()
    labels, lls = reference(project, np.array([[19.0, 39.0], [60.0, 10.0]]))
    assert lines[0].startswith(f"19,39 -> label={labels[0]} ")
    assert f"log_likelihood={lls[0]:.4f}"[:-2] in lines[0]
    assert lines[1].startswith(f"60 10 -> label={labels[1]} ")
    assert lines[2] == "oops -> ERR unknown-command oops"


def test_cli_stream_and_verify(firmware: tuple[Path, Path], tmp_path: Path) -> None:
    project, exe = firmware
    csv = Path(__file__).resolve().parents[2] / "data" / "customers.csv"
    out = tmp_path / "labelled.csv"
    r = run_cli(project, "stream", "--port", f"native:{exe}", str(csv), "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = out.read_text().splitlines()
    assert rows[0].endswith(",label,probability,log_likelihood") and len(rows) == 401
    r = run_cli(project, "verify", "--port", f"native:{exe}", "--json", "include/GMM.json", str(csv))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "predict agreement: 100.00%" in r.stdout and "verify: PASS" in r.stdout


def test_verify_refuses_a_different_model(firmware: tuple[Path, Path], tmp_path: Path) -> None:
    project, exe = firmware
    other = tmp_path / "other.json"
    r = run_cli(
        project,
        "export",
        "--data",
        "../../../../" * 0 + str(Path(__file__).resolve().parents[2] / "data" / "customers.csv"),
        "--features",
        "Age,Spending Score (1-100)",
        "--n-components",
        "3",
        "--header",
        str(tmp_path / "o.h"),
        "--json",
        str(other),
        "--vectors",
        "none",
    )
    assert r.returncode == 0, r.stderr
    r = run_cli(project, "verify", "--port", f"native:{exe}", "--json", str(other))
    assert r.returncode == 2
    assert "the device runs model" in r.stderr and "Traceback" not in r.stderr


def test_flood_of_10000_lines_none_lost(firmware: tuple[Path, Path]) -> None:
    project, exe = firmware
    X = points(10_000, seed=1)
    # a lost line would show as a timeout (then a resync): wait long enough that only a loss does
    with native_client(exe, timeout=10.0, window=32, rx_budget=None) as (_, _, client):
        t = time.monotonic()
        replies = client.request_many([format_vector(x) for x in X])
        elapsed = time.monotonic() - t
    assert_attributed(project, X, replies)
    assert client.stats.resyncs == 0
    print(f"\n10000 lines in {elapsed:.2f} s")


def test_partial_lines_byte_by_byte(firmware: tuple[Path, Path]) -> None:
    _, exe = firmware
    with PtyDevice(exe) as dev:
        ser = serial.Serial(dev.port, 115200, timeout=2)
        # opening the port may discard the READY line already sent: sync on INFO instead
        ser.write(b"INFO\n")
        while not (line := ser.readline()).startswith(b"INFO "):
            assert line.startswith(b"READY tinygmm"), line
        for ch in b"19,3":
            ser.write(bytes([ch]))
            time.sleep(0.01)
        time.sleep(0.2)
        assert ser.in_waiting == 0, "no reply before the line is complete"
        ser.write(b"9\r\n")
        assert ser.readline().startswith(b"OK ")
        ser.close()


def colliding_drop(data: bytes) -> bytes | None:
    """``data`` (a signed request ``body*HH\\n``) with one byte of its body dropped such that the
    CRC-8 still matches and the rest is still a valid vector, visibly different, if there is such a
    byte (about 1 line in 40): a corruption the device cannot detect, so it answers it."""
    text = data.decode("ascii", errors="replace")
    if not text.endswith("\n") or len(text) < 5 or text[-4] != "*":
        return None
    body, want = text[:-4].lstrip("\n"), int(text[-3:-1], 16)
    for i in range(len(body)):
        cut = body[:i] + body[i + 1 :]
        fields = cut.split(",")
        if crc8(cut) != want or len(fields) != 2 or not all(re.fullmatch(r"\d+(\.\d+)?", f) for f in fields):
            continue
        moved = max(abs(float(a) - float(b)) for a, b in zip(fields, body.split(","), strict=True))
        if moved > 0.1:  # an answer visibly different from the right one
            return f"{cut}*{want:02X}\n".encode()
    return None


class FaultySerial:
    """Wraps a pyserial port and injects faults into what the host reads and writes."""

    def __init__(self, inner: serial.Serial, seed: int = 0) -> None:
        self.inner = inner
        self.rng = np.random.default_rng(seed)
        self.faults: dict[str, int] = {
            "garbage": 0,
            "corrupt_reply": 0,
            "drop_newline": 0,
            "drop_request_byte": 0,
            "delay": 0,
            "fake_reset": 0,
            "crc_colliding_drop": 0,
        }
        self.rate = 0.01
        self.reads = self.writes = 0
        # every kind of fault at least once, at fixed points, besides the random ones
        self.forced_reads = {40: "garbage", 80: "corrupt_reply", 120: "delay", 160: "fake_reset"}
        self.forced_writes = {60: "drop_newline", 90: "drop_request_byte"}

    @property
    def timeout(self) -> float | None:
        return self.inner.timeout

    @timeout.setter
    def timeout(self, v: float | None) -> None:
        self.inner.timeout = v

    @property
    def in_waiting(self) -> int:
        return self.inner.in_waiting

    def write(self, data: bytes) -> int:
        self.writes += 1
        r = self.rng.random()
        forced = self.forced_writes.get(self.writes)
        if self.writes >= 100 * (1 + self.faults["crc_colliding_drop"]) and self.faults["crc_colliding_drop"] < 3:
            hit = colliding_drop(data)
            if hit is not None:
                self.faults["crc_colliding_drop"] += 1
                return self.inner.write(hit)
        if forced == "drop_newline" or forced is None and data.endswith(b"\n") and len(data) > 1 and r < self.rate:
            self.faults["drop_newline"] += 1
            data = data[:-1]  # two requests merge into one line
        elif forced == "drop_request_byte" or len(data) > 4 and self.rate <= r < 2 * self.rate:
            self.faults["drop_request_byte"] += 1  # e.g. "19,39" arrives as "19,3"
            i = int(self.rng.integers(0, len(data) - 1))
            data = data[:i] + data[i + 1 :]
        return self.inner.write(data)

    def flush(self) -> None:
        self.inner.flush()

    def read(self, n: int = 1) -> bytes:
        chunk = self.inner.read(n)
        if not chunk:
            return chunk
        self.reads += 1
        r = self.rng.random()
        forced = self.forced_reads.get(self.reads)
        if forced:
            r = {"garbage": 0.0, "corrupt_reply": self.rate, "delay": 2.0 * self.rate, "fake_reset": 2.2 * self.rate}[
                forced
            ]
        if r < self.rate:
            self.faults["garbage"] += 1
            chunk = b"\x00\xffgarbage line\n" + chunk
        elif r < 2 * self.rate and (b"\n" in chunk or forced):
            self.faults["corrupt_reply"] += 1  # a byte of a reply lost on the wire
            i = chunk.find(b"\n")
            chunk = chunk[: max(i - 3, 0)] + chunk[i:] if i >= 0 else chunk[1:]
        elif r < 2.2 * self.rate:
            self.faults["delay"] += 1
            time.sleep(0.35)  # longer than the client's timeout
        elif r < 2.4 * self.rate:
            self.faults["fake_reset"] += 1
            chunk = b"READY tinygmm 0000000000000000\n"  # the reply in this chunk is lost too
        return chunk

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize(("seed", "protocol"), [(3, 1), (4, 1), (5, 2)])
def test_faults_never_misattribute_answers(firmware: tuple[Path, Path], seed: int, protocol: int) -> None:
    """Byte faults on both directions, with the firmware spoken to in v1 (CRC-8, in-order pairing checked by
    INFO markers; a request that lost a byte but kept its CRC-8 included) and in v2."""
    project, exe = firmware
    X = points(2000, seed=seed)
    wrap = lambda ser: FaultySerial(ser, seed=seed)  # noqa: E731
    with native_client(exe, wrap, timeout=0.25, window=8, retries=8, max_protocol=protocol, rx_budget=None) as (_, port, client):
        replies = client.request_many([format_vector(x) for x in X])
    injected = sum(port.faults.values())
    print(
        f"\nfaults injected: {port.faults}; link stats: {client.stats.resyncs} resyncs, {client.stats.retried_requests} retried"
    )
    assert client.protocol == protocol, "the native firmware signs its replies"
    kinds = [k for k in port.faults if protocol == 1 or k != "crc_colliding_drop"]  # v2 has no CRC-8 to collide
    assert injected >= 30 and all(port.faults[k] > 0 for k in kinds)
    assert_attributed(project, X, replies)


class DropFromInfo:
    """Drops the last hex digit of chosen signed INFO requests (``INFO*H`` or ``INFO#IIII*CCCCCCC`` is an
    unknown command)."""

    def __init__(self, inner: serial.Serial, which: set[int]) -> None:
        self.inner, self.which, self.infos, self.dropped = inner, which, 0, 0
        self.read, self.flush, self.close = inner.read, inner.flush, inner.close

    timeout = FaultySerial.timeout
    in_waiting = FaultySerial.in_waiting

    def write(self, data: bytes) -> int:
        if b"INFO*" in data or b"INFO#" in data:
            self.infos += 1
            if self.infos in self.which:
                self.dropped += 1
                end = data.rindex(b"\n")
                data = data[: end - 1] + data[end:]
        return self.inner.write(data)


@pytest.mark.parametrize("protocol", [1, 2])
def test_a_corrupted_info_does_not_turn_checksums_off(firmware: tuple[Path, Path], protocol: int) -> None:
    """One rejected signed INFO is noise, not a device without checksums (or without v2): a link that fell
    back on it would let the next corrupted request through as a wrong answer."""
    project, exe = firmware
    X = points(50, seed=8)
    wrap = lambda ser: DropFromInfo(ser, {1, 3})  # noqa: E731
    with native_client(exe, wrap, timeout=0.5, max_protocol=protocol) as (_, port, client):
        assert client.protocol == protocol, "the first INFO was lost to noise, and asked again signed"
        client._resync("test")  # the second INFO is answered, the third is corrupted again
        client._resync("test")
        replies = client.request_many([format_vector(x) for x in X])
        assert port.dropped == 2 and port.infos >= 4
        assert client.protocol == protocol, "a link that has signed once stays signed"
    assert_attributed(project, X, replies)


class PlainV1Device:
    """A device without the checksum extension: ``*HH`` makes any line an unknown command."""

    def __init__(self, model: str = "00000000000000aa") -> None:
        self.timeout: float | None = 0.05
        self.pending = b""
        self.model = model
        self.out = bytearray(f"READY tinygmm {model}\n".encode())

    @property
    def in_waiting(self) -> int:
        return len(self.out)

    def write(self, data: bytes) -> int:
        self.pending += data
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            text = line.decode().strip()
            if not text:
                continue
            if "*" in text or not (text == "INFO" or text[0].isdigit()):
                self.out += f"ERR unknown-command {text}\n".encode()
            elif text == "INFO":
                self.out += f"INFO components=2 features=2 names=a|b model={self.model}\n".encode()
            else:
                self.out += f"OK {int(float(text.split(',')[0])) % 2} 0.5 -3.25\n".encode()
        return len(data)

    def read(self, n: int = 1) -> bytes:
        chunk = bytes(self.out[:n])
        del self.out[:n]
        return chunk

    def flush(self) -> None:
        pass


def test_a_plain_v1_device_is_spoken_to_without_checksums() -> None:
    client = DeviceClient(PlainV1Device(), timeout=0.2)
    info = client.sync()
    assert info.model == "00000000000000aa" and not client.checksums
    got = client.request_many(["1,5", "2,5", "oops"], well_formed=False)
    assert [(r.label, r.log_likelihood) for r in got[:2]] == [(1, -3.25), (0, -3.25)]
    assert got[2].error == "ERR unknown-command oops"
    client.sync()
    assert not client.checksums


def test_firmware_with_the_old_reply_seed_gets_a_clear_error() -> None:
    """Firmware from before the reply's seed held the request's length signs INFO from the bare CRC:
    the client says to re-flash, rather than that the device does not answer."""
    from tinygmm.device.client import crc8

    class OldSeedDevice(PlainV1Device):
        def write(self, data: bytes) -> int:
            if b"INFO*" in data:
                body = f"INFO components=2 features=2 names=a|b model={self.model}"
                self.out += f"{body}*{crc8(body, crc8('INFO')):02X}\n".encode()
                return len(data)
            return super().write(data)

    with pytest.raises(DeviceError, match="upload the current firmware"):
        DeviceClient(OldSeedDevice(), timeout=0.2).sync()


def test_a_device_that_comes_back_with_another_model_is_an_error() -> None:
    """Re-flashed while connected: after its READY the device answers for another model, which is no
    answer for the inputs' model, so the client stops instead of retrying on it."""
    dev = PlainV1Device()
    client = DeviceClient(dev, timeout=0.2)
    client.sync()
    assert client.request_many(["1,5"])[0].label == 1
    dev.model = "00000000000000bb"
    dev.out += b"READY tinygmm 00000000000000bb\n"
    with pytest.raises(DeviceError, match="now runs model 00000000000000bb, not 00000000000000aa"):
        client.request_many(["2,5"])


def test_device_vanishing_raises_within_timeout(firmware: tuple[Path, Path]) -> None:
    _, exe = firmware
    with native_client(exe, timeout=0.3, retries=2) as (dev, _, client):
        dev.proc.kill()
        dev.proc.wait()
        t = time.monotonic()
        with pytest.raises(DeviceError):
            client.request_many(["19,39"] * 5)
        assert time.monotonic() - t < 0.3 * 3 * 4, "must give up, not hang"


def test_device_reset_mid_stream_is_retried(firmware: tuple[Path, Path]) -> None:
    """A real restart: the firmware process is replaced while requests are in flight."""
    project, exe = firmware
    X = points(400, seed=4)
    with native_client(exe, timeout=1.0, window=16, rx_budget=None) as (dev, _, client):
        lines = [format_vector(x) for x in X]
        first = client.request_many(lines[:200])
        # restart the firmware on the same pty, as a board reset would
        dev.proc.kill()
        dev.proc.wait()
        dev.proc = subprocess.Popen([str(exe)], stdin=dev.master, stdout=dev.master, stderr=subprocess.DEVNULL)
        rest = client.request_many(lines[200:])
    assert_attributed(project, X, first + rest)
    assert client.stats.resets >= 1


def test_loop_url_port_is_accepted() -> None:
    """pyserial URL handlers work as ports: with loop:// the host's own request comes back, which is no answer."""
    from tinygmm.device.client import open_port

    ser = open_port("loop://")
    client = DeviceClient(ser, timeout=0.2, retries=1)
    with pytest.raises(DeviceError, match="no answer"):
        client.sync()
    ser.close()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty")
def test_native_port_builds_the_named_header_once_into_the_cache(
    firmware: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--port native --header H: the firmware for H is built into $XDG_CACHE_HOME/tinygmm, then reused;
    the project's folder gets nothing; without the header, one line says how to make one."""
    project, exe = firmware
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    first = run_cli(project, "classify", "--port", "native", "--header", "include/GMM.h", "19,39")
    assert first.returncode == 0, first.stderr
    direct = run_cli(project, "classify", "--port", f"native:{exe}", "19,39")
    assert first.stdout == direct.stdout  # the same model's answer as the firmware built from the checkout
    built = sorted((tmp_path / "cache" / "tinygmm").glob("native-*/tinygmm-firmware"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    again = run_cli(project, "classify", "--port", "native", "--header", "include/GMM.h", "60 10")
    assert again.returncode == 0, again.stderr
    assert built[0].stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert sorted((tmp_path / "cache" / "tinygmm").glob("native-*")) == [built[0].parent]
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
    missing = run_cli(project, "classify", "--port", "native", "19,39")  # default: GMM.h in this folder
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "tinygmm: error: model header GMM.h not found: export one first (tinygmm export --data FILE.csv writes "
        "GMM.h here) or name it with --header"
    ]

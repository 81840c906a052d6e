"""Protocol v2 against whole-line faults, hostile devices on a pty, per-vector errors, CLI checks.

The whole-line fault run sends requests to the native firmware through an injector that drops,
duplicates, reorders and corrupts whole lines in both directions. TINYGMM_LINE_FAULTS sets how many
faults it injects (default 20000, about 30 s; the closing note reports a 100,000-fault run).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import serial

from test_serial_e2e import assert_attributed, native_client, points, run_cli
from tinygmm.device.client import DeviceClient, crc32, format_vector

ROOT = Path(__file__).resolve().parents[2]


class LineFaults:
    """Wraps a pyserial port; each whole line, request or reply, is dropped, duplicated, swapped with
    the next one or has a byte changed, dropped or inserted, each with probability ``rate``."""

    KINDS = ("drop", "duplicate", "reorder", "corrupt")

    def __init__(self, inner: Any, seed: int, rate: float) -> None:
        self.inner, self.rng, self.rate = inner, np.random.default_rng(seed), rate
        self.faults = dict.fromkeys(self.KINDS, 0)
        self.out = bytearray()  # replies ready for the host
        self.held: dict[str, bytes | None] = {"w": None, "r": None}  # a line held back to swap with the next
        self.partial = b""
        self.enabled = False

    timeout = property(lambda self: self.inner.timeout, lambda self, v: setattr(self.inner, "timeout", v))

    @property
    def in_waiting(self) -> int:
        return len(self.out) or self.inner.in_waiting

    def _fault(self, line: bytes, way: str) -> list[bytes]:
        """The lines that go on in place of ``line`` (which ends with a newline)."""
        held, self.held[way] = self.held[way], None
        out: list[bytes] = []
        r = self.rng.random() if self.enabled else 1.0
        if r < self.rate:
            self.faults["drop"] += 1
        elif r < 2 * self.rate:
            self.faults["duplicate"] += 1
            out = [line, line]
        elif r < 3 * self.rate and held is None:
            self.faults["reorder"] += 1
            self.held[way] = line  # goes after the next line
            return []
        elif r < 4 * self.rate and len(line) > 2:
            self.faults["corrupt"] += 1
            body = bytearray(line[:-1])
            i = int(self.rng.integers(0, len(body)))
            how = self.rng.integers(0, 3)
            if how == 0:
                body[i] = int(self.rng.integers(0, 256))
            elif how == 1:
                del body[i]
            else:
                body.insert(i, int(self.rng.integers(0, 256)))
            out = [bytes(body) + b"\n"]
        else:
            out = [line]
        return out + ([held] if held is not None else [])

    def write(self, data: bytes) -> int:
        lines = data.split(b"\n")
        for part in lines[:-1]:
            for piece in self._fault(part + b"\n", "w"):
                self.inner.write(piece)
        if lines[-1]:
            self.inner.write(lines[-1])
        return len(data)

    def flush(self) -> None:
        self.inner.flush()

    def read(self, n: int = 1) -> bytes:
        if not self.out:
            self.partial += self.inner.read(max(n, self.inner.in_waiting or 1))
            *lines, self.partial = self.partial.split(b"\n")
            for line in lines:
                for piece in self._fault(line + b"\n", "r"):
                    self.out += piece
        chunk = bytes(self.out[:n])
        del self.out[:n]
        return chunk

    def close(self) -> None:
        self.inner.close()


def test_whole_line_faults_never_misattribute_answers_v2(firmware: tuple[Path, Path]) -> None:
    """Protocol v2 with lines dropped, duplicated, reordered and corrupted both ways: every answer is the
    one for its own input (labels and log-likelihoods are distinct per input), none lost."""
    project, exe = firmware
    target = int(os.environ.get("TINYGMM_LINE_FAULTS", "20000"))
    rate = 0.05  # per kind and line: about 1 line in 5 is faulty
    X = points(int(target / (8 * rate)) + 200, seed=11)
    holder: dict[str, LineFaults] = {}

    def wrap(ser: serial.Serial) -> LineFaults:
        holder["port"] = LineFaults(ser, seed=12, rate=rate)
        return holder["port"]

    t = time.monotonic()
    with native_client(exe, wrap, timeout=0.3, window=16, retries=30, rx_budget=None) as (_, port, client):
        port.enabled = True
        replies = client.request_many([format_vector(x) for x in X])
    elapsed = time.monotonic() - t
    faults = sum(port.faults.values())
    print(
        f"\n{len(X)} requests, {faults} faults injected {port.faults} in {elapsed:.1f} s; "
        f"{client.stats.retried_requests} re-sent, {client.stats.stale_replies} stale replies ignored, "
        f"{client.stats.garbage_lines} garbled lines, {client.stats.timeouts} timeouts"
    )
    assert client.protocol == 2
    assert faults >= target and all(v > target // 8 for v in port.faults.values())
    assert_attributed(project, X, replies)


# ---- Python devices, optionally on a pty so the CLI can talk to them -------------------------------------


class ScriptedDevice:
    """A device speaking plain v1 (``version`` 1) or v2, whose answer to a vector is ``answer(x)``; ``after``
    runs on each line it handles, for chatter. Signed v2 replies are computed as the firmware does."""

    def __init__(self, answer: Callable[[list[float]], str | None], version: int = 2, components: int = 2) -> None:
        self.answer, self.version, self.components = answer, version, components
        self.timeout: float | None = 0.05
        self.pending = b""
        self.model = "00000000000000aa"
        self.out = bytearray(f"READY tinygmm {self.model}\n".encode())
        self.after: Callable[[ScriptedDevice, str], None] = lambda dev, line: None
        self.handled = 0

    @property
    def in_waiting(self) -> int:
        return len(self.out)

    def info(self) -> str:
        if self.version == 1:
            return f"INFO components={self.components} features=2 names=a|b model={self.model}"
        return f"INFO protocol=2 components={self.components} features=2 line_max=45 model={self.model} names=a|b"

    def reply_to(self, text: str) -> str | None:
        if text.upper() == "INFO":
            return self.info()
        try:
            return self.answer([float(v) for v in text.split(",")])
        except ValueError:
            return f"ERR unknown-command {text[:16]}"

    def write(self, data: bytes) -> int:
        self.pending += data
        while b"\n" in self.pending:
            raw, self.pending = self.pending.split(b"\n", 1)
            text = raw.decode("latin-1").strip()
            if not text:
                continue
            self.handled += 1
            if self.version == 2 and len(text) >= 14 and text[-14] == "#" and text[-9] == "*":
                covered, rid = text[:-9], text[-13:-9]
                crc = crc32(covered)
                seed = crc32(chr(len(covered) & 0xFF), crc)
                body = "ERR checksum" if f"{crc:08X}" != text[-8:].upper() else self.reply_to(text[:-14])
                if body is not None:
                    tagged = f"{body} #{rid}"
                    self.out += f"{tagged}*{crc32(tagged, seed):08X}\n".encode()
            elif "*" in text or "#" in text:
                self.out += f"ERR unknown-command {text.split('*')[0].split('#')[0][:16]}\n".encode()
            elif (body := self.reply_to(text)) is not None:
                self.out += (body + "\n").encode()
            self.after(self, text)
        return len(data)

    def read(self, n: int = 1) -> bytes:
        chunk = bytes(self.out[:n])
        del self.out[:n]
        return chunk

    def flush(self) -> None:
        pass


class OnPty:
    """Runs a ScriptedDevice behind a pty, so ``tinygmm ... --port <pty>`` talks to it."""

    def __init__(self, dev: ScriptedDevice) -> None:
        import pty
        import termios
        import tty

        self.dev = dev
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave, termios.TCSANOW)
        self.port = os.ttyname(self.slave)
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        import select

        while not self.stop:
            r, _, _ = select.select([self.master], [], [], 0.01)
            if r:
                try:
                    self.dev.write(os.read(self.master, 4096))
                except OSError:
                    return
            self.dev.after(self.dev, "")  # chatter may also come unasked
            if self.dev.out:
                data = bytes(self.dev.out[:4096])
                del self.dev.out[: len(data)]
                try:
                    os.write(self.master, data)
                except OSError:
                    return

    def __enter__(self) -> OnPty:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop = True
        self.thread.join()
        for fd in (self.master, self.slave):
            os.close(fd)


def good_answer(x: list[float]) -> str:
    return f"OK {int(x[0]) % 2} 0.75 {-x[1]:.7g}"


def chatter_after_info(kind: str) -> Callable[[ScriptedDevice, str], None]:
    """After its first INFO answer the device only prints blank lines, or its INFO line, or READY."""
    state = {"infos": 0}

    def after(dev: ScriptedDevice, line: str) -> None:
        if line.upper().startswith("INFO"):
            state["infos"] += 1
        if state["infos"] and len(dev.out) < 256:
            dev.out += {"blank": b"\n\r\n", "info": (dev.info() + "\n").encode(), "ready": b"READY tinygmm 00\n"}[kind]
        if state["infos"]:
            dev.answer = lambda x: None  # requests are never answered

    return after


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("kind", ["blank", "info", "ready"])
def test_chatter_cannot_extend_the_deadline(kind: str, version: int) -> None:
    """`tinygmm classify --timeout 0.3` against a device that answers INFO and then only chatters (blank
    lines, its INFO line again and again, READY) ends within a bounded time with one clear line."""
    dev = ScriptedDevice(good_answer, version=version)
    dev.after = chatter_after_info(kind)
    with OnPty(dev) as p:
        t = time.monotonic()
        r = run_cli(ROOT, "classify", "--port", p.port, "--timeout", "0.3", "19,39", "27,64", timeout=60)
        elapsed = time.monotonic() - t
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("tinygmm: error: ")
    assert elapsed < 20, f"took {elapsed:.1f} s"


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("OK 99 0.75 -1", "label 99 is not one of the device's 2 components"),
        ("OK -3 0.75 -1", "label -3"),
        ("OK 1 nan nan", "probability nan"),
        ("OK 1 7.5 -1", "probability 7.5 is not in [0, 1]"),
        ("OK 1 0.25 -1", "below 1/2"),
        ("OK 1 0.75 nan", "log-likelihood nan"),
        ("OK 1 0.75 inf", "log-likelihood inf"),
    ],
)
def test_impossible_answers_are_refused(version: int, reply: str, why: str) -> None:
    """Correctly signed (v2) or plain (v1), an answer the device's INFO makes impossible is not printed as an
    answer: it is asked again, then that vector gets an error naming the reason, and the others go on."""
    dev = ScriptedDevice(lambda x: reply if x[0] == 5 else good_answer(x), version=version)
    client = DeviceClient(dev, timeout=0.2)
    got = client.request_many(["1,5", "5,5", "2,7"], well_formed=False)
    assert client.protocol == (2 if version == 2 else 0)
    assert [(r.label, r.log_likelihood) for r in (got[0], got[2])] == [(1, -5.0), (0, -7.0)]
    assert not got[1].ok and why in got[1].line and "impossible answer" in got[1].line
    assert client.stats.impossible_answers == client.retries + 1
    assert dev.handled >= 3 + client.retries  # the impossible one was asked again


def test_a_plain_v1_device_with_one_spurious_ok_is_detected() -> None:
    """Plain v1 pairs answers by order: one spurious OK would shift every later answer by one. The INFO
    marker after each batch finds the shift, and the batch is asked again: every answer is still right."""
    dev = ScriptedDevice(good_answer, version=1)
    seen = {"n": 0}

    def spurious(d: ScriptedDevice, line: str) -> None:
        if line and line[0].isdigit():
            seen["n"] += 1
            if seen["n"] == 3:
                d.out += b"OK 0 0.5 -1\n"

    dev.after = spurious
    client = DeviceClient(dev, timeout=0.2, window=8)
    lines = [f"{i},{i + 0.5}" for i in range(40)]
    got = client.request_many(lines)
    assert client.protocol == 0
    assert [(r.label, r.log_likelihood) for r in got] == [(i % 2, -(i + 0.5)) for i in range(40)]
    assert client.stats.resyncs >= 1


def test_v2_reply_lost_next_reply_not_taken_for_it() -> None:
    """The issue's case: the reply to the first request is lost. v2 takes the second reply for the second
    request only (its id), and asks the first again."""
    dev = ScriptedDevice(good_answer, version=2)
    state = {"n": 0}
    real_write = dev.write

    def lossy(data: bytes) -> int:
        before = len(dev.out)
        n = real_write(data)
        if b"19,39" in data and state["n"] == 0:
            state["n"] += 1
            del dev.out[before:]  # the reply to 19,39 never arrives
        return n

    dev.write = lossy  # type: ignore[method-assign]
    client = DeviceClient(dev, timeout=0.2)
    got = client.request_many(["19,39", "27,64"])
    assert [(r.label, r.log_likelihood) for r in got] == [(1, -39.0), (1, -64.0)]
    assert state["n"] == 1 and client.stats.retried_requests == 1


def test_classify_reports_each_vectors_own_error(firmware: tuple[Path, Path]) -> None:
    """A 200-character vector next to valid ones: that vector gets its error (too long for the device's
    line), the others their answers; exit status 1."""
    project, exe = firmware
    long = ",".join(["1.23456789"] * 18)
    assert len(long) >= 190
    r = run_cli(project, "classify", "--port", f"native:{exe}", "19,39", long, "1,2,3", "60,10")
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("19,39 -> label=") and lines[3].startswith("60,10 -> label=")
    assert "too long" in lines[1] and "at most 45" in lines[1]
    assert lines[2] == "1,2,3 -> ERR count expected 2 got 3"


def test_cli_checks_before_the_work(firmware: tuple[Path, Path], tmp_path: Path) -> None:
    """verify --json on JSON that is no model, stream --out into a missing folder, a CSV starting with a
    blank line: one clear line (exit 2) or the right output, never a traceback."""
    project, exe = firmware
    port = f"native:{exe}"
    for name, text in [("list.json", "[1, 2]"), ("keys.json", '{"format": "tinygmm-model/1"}'), ("n.json", "3")]:
        (tmp_path / name).write_text(text)
        r = run_cli(project, "verify", "--port", port, "--json", str(tmp_path / name))
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "not a" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    csv = tmp_path / "blank_first.csv"
    csv.write_text("\n\nAge,Spending Score (1-100)\n19,39\n\n60,10\n")
    r = run_cli(project, "stream", "--port", "/dev/does-not-exist", str(csv), "--out", str(tmp_path / "no" / "o.csv"))
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "folder" in r.stderr, "the folder is checked before the port is even opened"
    out = tmp_path / "o.csv"
    r = run_cli(project, "stream", "--port", port, str(csv), "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = out.read_text().splitlines()
    assert rows[0] == "Age,Spending Score (1-100),label,probability,log_likelihood"
    assert [row.split(",")[:2] for row in rows[1:]] == [["19", "39"], ["60", "10"]]


def test_v2_ids_bind_even_when_the_device_repeats_old_replies() -> None:
    """A v2 device that answers every request twice (duplicated lines): the second copies are stale and
    ignored, nothing is taken twice or for another request."""
    dev = ScriptedDevice(good_answer, version=2)
    real_write = dev.write

    def twice(data: bytes) -> int:
        before = len(dev.out)
        n = real_write(data)
        dev.out += dev.out[before:]
        return n

    dev.write = twice  # type: ignore[method-assign]
    client = DeviceClient(dev, timeout=0.2)
    lines = [f"{i},{i + 0.25}" for i in range(30)]
    got = client.request_many(lines)
    assert [(r.label, r.log_likelihood) for r in got] == [(i % 2, -(i + 0.25)) for i in range(30)]
    assert client.stats.stale_replies >= 29

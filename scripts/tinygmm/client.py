"""Host side of serial protocol v1: talk to a tinygmm device through pyserial.

Answers are paired with requests strictly in order (the device answers every
non-empty line exactly once). Whenever that pairing could be in doubt (a
garbled line, a reset announced by READY, an ERR for a request the host
built itself, a timeout) every unanswered request is thrown back, a barrier
(a newline, then INFO, read up to its answer) drains whatever the device
still had in flight, and those requests are sent again. So an answer is
never attributed to the wrong input; at worst a request is retried.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import TinyGMMError

BAUD = 115200
# (anomaly extension: OK's trailing <flags>, INFO's trailing " threshold=<T> alarm=<k>/<n>")
_OK = re.compile(r"^OK (-?\d+) (\S+) (\S+)(?: ([0-3]))?$")
_INFO = re.compile(
    r"^INFO components=(\d+) features=(\d+) names=(.*) model=([0-9a-f]+)(?: threshold=(\S+) alarm=(\d+)/(\d+))?$"
)
_READY = re.compile(r"^READY tinygmm ([0-9a-f]+)$")
# ERR replies the device may legitimately give to a well-formed request
_LEGIT_ERRORS = ("ERR overflow",)


class DeviceError(TinyGMMError):
    """The device did not answer, or the port failed."""


@dataclass(frozen=True)
class Reply:
    line: str
    label: int | None = None
    probability: float | None = None
    log_likelihood: float | None = None
    latency: float = 0.0
    anomaly: int | None = None  # with a threshold: bit 0 this input is anomalous, bit 1 the k-of-n alarm

    @property
    def is_anomaly(self) -> bool | None:
        return None if self.anomaly is None else bool(self.anomaly & 1)

    @property
    def alarm(self) -> bool | None:
        return None if self.anomaly is None else bool(self.anomaly & 2)

    @property
    def ok(self) -> bool:
        return self.label is not None

    @property
    def error(self) -> str | None:
        return None if self.ok else self.line


@dataclass(frozen=True)
class DeviceInfo:
    components: int
    features: int
    names: list[str]
    model: str
    threshold: float | None = None  # the model's anomaly threshold (None: it has none)
    alarm: tuple[int, int] | None = None  # (k, n) of the device's k-of-n alarm filter


@dataclass
class LinkStats:
    resyncs: int = 0
    resets: int = 0
    garbage_lines: int = 0
    timeouts: int = 0
    retried_requests: int = 0
    events: list[str] = field(default_factory=list)


def crc8(text: str, crc: int = 0) -> int:
    """CRC-8 (polynomial 0x07), as the firmware computes it."""
    for b in text.encode("ascii", errors="replace"):
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def reply_seed(request: str) -> int:
    """Where the CRC of the reply to a signed ``request`` starts: the request's
    CRC continued over one byte, the request's length. A request that lost or
    gained a byte on the wire but kept its CRC (8 bits do collide) therefore
    gets a reply that does not check here."""
    return crc8(chr(len(request.encode("ascii", errors="replace")) & 0xFF), crc8(request))


def sign(request: str) -> tuple[str, int]:
    """``request*HH`` and the seed its reply's CRC must start from."""
    return f"{request}*{crc8(request):02X}", reply_seed(request)


def check_signed(line: str, seed: int) -> str | None:
    """The reply without its ``*HH``, or None when the CRC does not bind it to the request."""
    if len(line) < 3 or line[-3] != "*":
        return None
    try:
        want = int(line[-2:], 16)
    except ValueError:
        return None
    body = line[:-3]
    return body if crc8(body, seed) == want else None


def format_vector(x: Sequence[float]) -> str:
    """A request line for a feature vector: float32-exact, at most 15 characters a value."""
    return ",".join(f"{float(v):.9g}" for v in x)


def parse_reply(line: str) -> Reply | None:
    m = _OK.match(line)
    if m:
        try:
            flags = None if m.group(4) is None else int(m.group(4))
            return Reply(line, int(m.group(1)), float(m.group(2)), float(m.group(3)), anomaly=flags)
        except ValueError:
            return None
    if line.startswith("ERR ") and line[4:].strip() and line.isprintable():
        return Reply(line)
    return None


class DeviceClient:
    """Request/reply over any pyserial port object (``serial_for_url``)."""

    def __init__(self, ser: Any, timeout: float = 2.0, window: int = 8, retries: int = 3) -> None:
        self.ser = ser
        self.timeout = timeout
        self.window = max(1, window)
        self.retries = retries
        self.stats = LinkStats()
        self.ready_hash: str | None = None
        self.checksums = False  # the device signs replies (CRC-8); detected by sync()
        self._plain = False  # the device rejected signed requests: it speaks plain v1
        self._buf = bytearray()
        self._info: DeviceInfo | None = None

    # ---- raw line I/O ---------------------------------------------------
    def _write(self, text: str) -> None:
        try:
            self.ser.write(text.encode("ascii"))
            self.ser.flush()
        except Exception as exc:  # pyserial raises SerialException / OSError
            raise DeviceError(f"cannot write to the device: {exc}") from None

    def read_line(self, timeout: float) -> str | None:
        """The next line (without terminator), or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                raw = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                return raw.rstrip(b"\r").decode("ascii", errors="replace")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                self.ser.timeout = min(left, 0.05)
                chunk = self.ser.read(max(1, getattr(self.ser, "in_waiting", 0) or 1))
            except Exception as exc:
                raise DeviceError(f"the device went away: {exc}") from None
            if chunk:
                self._buf += chunk
                if len(self._buf) > 4096 and b"\n" not in self._buf:
                    self._buf.clear()  # runaway garbage without newlines
                    self.stats.garbage_lines += 1

    # ---- barrier / info -------------------------------------------------
    def sync(self) -> DeviceInfo:
        """Drain everything in flight and return the device's INFO.

        Asks with a signed ``INFO*HH``; a device that signs its answer gets
        signed requests from then on, for good. One that rejects the suffix
        twice in a row before ever signing (a plain v1 implementation) is asked
        with a bare ``INFO`` and spoken to without checksums. A single
        rejection is not enough: ``INFO*H`` that lost a digit on the wire is
        rejected the same way, and mistaking that for a plain device would
        leave every later request unprotected.
        """
        signed_req, seed = sign("INFO")
        request = "INFO" if self._plain else signed_req
        rejected = 0
        for _ in range(self.retries + 1):
            self._write(f"\n{request}\n")
            deadline = time.monotonic() + self.timeout
            extended = False
            while (left := deadline - time.monotonic()) > 0:
                line = self.read_line(left)
                if line is None:
                    break
                body = check_signed(line, seed) if request is signed_req else line
                if body is None and line.startswith("INFO ") and check_signed(line, crc8("INFO")) is not None:
                    raise DeviceError(
                        "the device signs its replies as firmware built before the reply seed included the "
                        "request's length; upload the current firmware (pio run -t upload)"
                    )
                if body is not None:
                    m = _INFO.match(body)
                    if m:
                        self.checksums = request is signed_req
                        info = DeviceInfo(
                            int(m.group(1)),
                            int(m.group(2)),
                            m.group(3).split("|"),
                            m.group(4),
                            None if m.group(5) is None else float(m.group(5)),
                            None if m.group(6) is None else (int(m.group(6)), int(m.group(7))),
                        )
                        if self._info is not None and info.model != self._info.model:
                            raise DeviceError(
                                f"the device now runs model {info.model}, not {self._info.model} "
                                "(re-flashed while connected?): its answers would be another model's"
                            )
                        self._info = info
                        return info
                if request is signed_req and line.startswith("ERR unknown-command INFO"):
                    rejected += 1
                    if self.checksums or rejected < 2:
                        self._write(f"\n{request}\n")  # a request corrupted on the way: ask again
                    else:
                        request = "INFO"  # no checksum support: plain v1
                        self._plain = True
                        self._write("INFO\n")
                    continue
                r = _READY.match(line)
                if r:
                    # (re)booted: a request sent while it was starting may be lost, so ask again
                    self.ready_hash = r.group(1)
                    self._write(f"{request}\n")
                    if not extended:
                        extended = True
                        deadline = time.monotonic() + self.timeout
            self.stats.timeouts += 1
        raise DeviceError(f"no answer from the device within {self.timeout:g} s (is it running and at {BAUD} baud?)")

    def info(self) -> DeviceInfo:
        return self._info or self.sync()

    def _resync(self, why: str) -> None:
        self.stats.resyncs += 1
        if len(self.stats.events) < 50:
            self.stats.events.append(why)
        self.sync()

    # ---- requests ---------------------------------------------------------
    def request_many(
        self,
        lines: Sequence[str],
        well_formed: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Reply]:
        """Send request lines (pipelined) and return their replies in order.

        ``well_formed``: the host built these lines itself, so an ERR other than
        overflow means the link corrupted the request: it is retried.
        """
        n = len(lines)
        results: list[Reply | None] = [None] * n
        attempts = [0] * n
        sent_at = [0.0] * n
        seeds = [0] * n
        pending: deque[int] = deque(range(n))
        inflight: deque[int] = deque()
        done = 0

        def throw_back() -> None:
            while inflight:
                pending.appendleft(inflight.pop())

        while pending or inflight:
            while pending and len(inflight) < self.window:
                i = pending.popleft()
                attempts[i] += 1
                if attempts[i] > self.retries + 1:
                    raise DeviceError(f"request {i + 1} ({lines[i]!r}) failed {self.retries + 1} times; giving up")
                if attempts[i] > 1:
                    self.stats.retried_requests += 1
                sent_at[i] = time.monotonic()
                wire = lines[i]
                if self.checksums:
                    wire, seeds[i] = sign(wire)
                self._write(wire + "\n")
                inflight.append(i)
            line = self.read_line(self.timeout)
            if line is None:
                self.stats.timeouts += 1
                throw_back()
                self._resync("timeout")
                continue
            if line == "":
                continue
            if line.startswith("INFO "):
                continue  # a late answer to an earlier barrier: it precedes everything in flight
            reply = None
            if inflight and not _READY.match(line):
                body = check_signed(line, seeds[inflight[0]]) if self.checksums else line
                reply = parse_reply(body) if body is not None else None
            if reply is not None:
                i = inflight[0]
                if reply.error and well_formed and not line.startswith(_LEGIT_ERRORS):
                    throw_back()
                    self._resync(f"unexpected {line!r} for a well-formed request")
                    continue
                inflight.popleft()
                results[i] = Reply(
                    reply.line,
                    reply.label,
                    reply.probability,
                    reply.log_likelihood,
                    time.monotonic() - sent_at[i],
                    reply.anomaly,
                )
                done += 1
                if progress:
                    progress(done, n)
                continue
            m = _READY.match(line)
            if m:
                self.ready_hash = m.group(1)
                self.stats.resets += 1
                throw_back()
                self._resync("device reset (READY)")
                continue
            self.stats.garbage_lines += 1
            throw_back()
            self._resync(f"garbled line {line[:40]!r}")
        return [r for r in results if r is not None]

    def classify(self, x: Sequence[float]) -> Reply:
        return self.request_many([format_vector(x)])[0]


def open_port(port: str, timeout: float = 2.0) -> Any:
    """A pyserial port for a device name or URL (socket://, rfc2217://, loop://, ...)."""
    import serial

    try:
        return serial.serial_for_url(port, baudrate=BAUD, timeout=0.05, write_timeout=timeout)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise DeviceError(f"cannot open {port}: {exc}") from None

"""Host side of the serial protocol (docs/protocol.md is its specification): talk to a tinygmm device
through pyserial.

What is particular to this client: one request engine (``DeviceClient._request``) with two framings,
``_TaggedV2`` (a reply is taken only for the request in flight whose id and CRC-32 it carries) and
``_MarkedV1`` (replies paired in order, checked by an INFO marker after each batch, and a barrier word
of random letters to drain the link after a fault); every wait ends at a deadline fixed when the request
was sent and every request is sent at most ``retries + 1`` times, so every command ends. The extension
rules are followed as written: unknown INFO keys and unknown trailing ``OK`` fields are ignored, the
``OK`` flags field is read only when INFO has ``threshold=``, and a device announcing a protocol newer
than ``PROTOCOL`` is refused. ``names=`` is UTF-8, decoded here and kept in NFC (tinygmm.names).
"""

from __future__ import annotations

import math
import random
import re
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import serial

from ..errors import TinyGMMError
from ..names import SEPARATOR, nfc
from ..version import __version__

BAUD = 115200
PROTOCOL = 2  # the newest protocol this client speaks; a device announcing a newer one is refused
WINDOW = 8  # requests in flight (the pipelining window): the default of every command
V1_LINE_MAX = 128  # the line limit of protocol-v1 firmware (v2 announces its own in INFO)
_NUM = r"-?(?:inf|nan|\d+(?:\.\d+)?(?:e[+-]\d+)?)"
# OK <label> <probability> <log-likelihood>, then any fields a later protocol appends; the first
# of them, only when INFO has threshold=, is <flags> 0..3 (bit 0 anomalous, bit 1 alarm)
_OK = re.compile(rf"^OK (-?\d+) ({_NUM}) ({_NUM})((?: \S+)*)$")
_INFO_V1 = re.compile(r"^INFO components=(\d+) features=(\d+) names=(.*) model=([0-9a-f]+)$")
_READY = re.compile(r"^READY tinygmm ([0-9a-f]+)$")
# Bytes the device may have to hold in its UART receive buffer at most. A device
# busy with a request (it has read all of that one, up to its newline) stores
# what arrives meanwhile and drops what does not fit: an Arduino Uno's
# HardwareSerial holds 63 bytes (a 64-byte ring); 8 are kept spare. So the
# lines in flight behind the oldest unanswered one never exceed RX_BUDGET
# bytes on the wire; a longer request goes out alone (the idle device reads it
# as it arrives). None: no limit (deep buffers, e.g. the native build on a pty).
RX_BUDGET: int | None = 56
_TAG = re.compile(r"^(.*) #([0-9A-Fa-f]{4})\*([0-9A-Fa-f]{8})$")  # v2: "<reply> #IIII*CCCCCCCC"
# ERR replies the device may legitimately give to a well-formed request
_LEGIT_ERRORS = ("ERR overflow",)
# a learning device (docs/online.md): LEARN's other answers, and the ERRs that answer a well-formed LEARN
_WARMING = re.compile(r"^WARMING (\d+)/(\d+)$")
_DUPLICATE = re.compile(r"^OK duplicate learned=(\d+)$")  # a sequenced LEARN answered before (its reply was lost)
_SEQUENCE = re.compile(r"^ERR sequence next=(\d+)$")
_SEQ_FIELD = re.compile(r" seq=(\d+)$")
SEQ_MOD = 1 << 31  # sequence numbers of LEARN requests count modulo 2^31
LEARN_ANSWERS = (
    "ERR refused",
    "ERR frozen",
    "ERR not-started",
    "ERR not-finite",
    "ERR out-of-range",
    "ERR duplicate refused",
    "ERR sequence",
)
_DUMP_HEAD = re.compile(
    r"^DUMP components=(\d+) features=(\d+) cov=(full|diag) learned=(\d+) threshold=([0-9a-f]{8}) "
    r"reg_covar=([0-9a-f]{8})(?: \S+)*$"
)
_DUMP_ROW = re.compile(r"^DUMP (\d+)((?: [0-9a-f]{8})+)$")


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
    protocol: int = 1
    line_max: int | None = None  # announced from protocol v2 on
    threshold: float | None = None  # the model's anomaly threshold (None: it has none)
    alarm: tuple[int, int] | None = None  # (k, n) of the device's k-of-n alarm filter
    sequenced: bool = False  # a learning device that takes LEARN's seq=<n> (INFO has learn_seq=)
    learn_seq: int | None = None  # the number it expects next (None: any, nothing sequenced since its boot)


@dataclass
class LinkStats:
    resyncs: int = 0
    resets: int = 0
    garbage_lines: int = 0
    timeouts: int = 0
    retried_requests: int = 0
    stale_replies: int = 0  # v2: replies to no request in flight (duplicated, late, or not checking)
    impossible_answers: int = 0
    events: list[str] = field(default_factory=list)


def _bytes(text: str) -> bytes:
    return text.encode("latin-1", errors="replace")


def crc8(text: str, crc: int = 0) -> int:
    """CRC-8 (polynomial 0x07), as the firmware computes it."""
    for b in _bytes(text):
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def crc32(text: str, crc: int = 0) -> int:
    """CRC-32 (IEEE 802.3, zlib's), as the firmware computes it; continues from ``crc``."""
    return zlib.crc32(_bytes(text), crc)


def reply_seed(request: str) -> int:
    """Where the CRC-8 of the reply to a v1-signed ``request`` starts: the request's CRC continued
    over one byte, the request's length. A request that lost or gained a byte on the wire but kept
    its CRC (8 bits do collide) therefore gets a reply that does not check here."""
    return crc8(chr(len(_bytes(request)) & 0xFF), crc8(request))


def sign(request: str) -> tuple[str, int]:
    """v1: ``request*HH`` and the seed its reply's CRC-8 must start from."""
    return f"{request}*{crc8(request):02X}", reply_seed(request)


def sign2(request: str, rid: int) -> tuple[str, int]:
    """v2: ``request#IIII*CCCCCCCC`` and the seed its reply's CRC-32 starts from (the request's
    CRC-32 continued over one byte, the length of what it covers)."""
    covered = f"{request}#{rid:04X}"
    crc = crc32(covered)
    return f"{covered}*{crc:08X}", zlib.crc32(bytes([len(_bytes(covered)) & 0xFF]), crc)


def check_signed(line: str, seed: int) -> str | None:
    """v1: the reply without its ``*HH``, or None when the CRC does not bind it to the request."""
    if len(line) < 3 or line[-3] != "*":
        return None
    try:
        want = int(line[-2:], 16)
    except ValueError:
        return None
    body = line[:-3]
    return body if crc8(body, seed) == want else None


def check_tagged(line: str, rid: int, seed: int) -> str | None:
    """v2: the reply without its `` #IIII*CCCCCCCC``, or None unless it answers request ``rid``
    whose seed is ``seed``."""
    m = _TAG.match(line)
    if not m or int(m.group(2), 16) != rid or crc32(line[:-9], seed) != int(m.group(3), 16):
        return None
    return m.group(1)


def format_vector(x: Sequence[float]) -> str:
    """A request line for a feature vector: float32-exact, at most 15 characters a value."""
    return ",".join(f"{float(v):.9g}" for v in x)


def parse_reply(line: str, info: DeviceInfo | None = None) -> Reply | None:
    """An ``OK`` or ``ERR`` reply (without its signature), or None. Fields after the log-likelihood
    are ignored, except the first one when ``info`` has a threshold: then it is the anomaly flags."""
    m = _OK.match(line)
    if m:
        extra = m.group(4).split()
        flags = None
        if info is not None and info.threshold is not None and extra and extra[0] in ("0", "1", "2", "3"):
            flags = int(extra[0])
        return Reply(line, int(m.group(1)), float(m.group(2)), float(m.group(3)), anomaly=flags)
    if line.startswith("ERR ") and line[4:].strip() and line.isprintable():
        return Reply(line)
    return None


def parse_learn_reply(line: str, info: DeviceInfo | None = None) -> Reply | None:
    """LEARN's answer: ``OK <label> <probability> <log-likelihood> <flags> learned=<t>`` (the sample scored
    before it was learned), ``WARMING <n>/<W>`` (a Reply without label) or ``ERR ...``."""
    if _WARMING.match(line) or _DUPLICATE.match(line):
        return Reply(line)
    return parse_reply(line, info)


def parse_control_reply(line: str, info: DeviceInfo | None = None) -> Reply | None:
    """The answer of FREEZE, THAW, RESET, SAVE, LOAD or DUMP: any printable ``OK ...``, ``DUMP ...`` or
    ``ERR ...`` line (a Reply without label: its text is the answer)."""
    if line.isprintable() and line.startswith(("OK ", "DUMP ", "ERR ")):
        return Reply(line)
    return None


def learned_field(reply: Reply) -> int | None:
    """The ``learned=<t>`` of a LEARN reply (the samples the device has learned), or None."""
    for token in reply.line.split()[1:]:  # (after OK's four fields, or in "OK duplicate learned=<t>")
        key, eq, value = token.partition("=")
        if eq and key == "learned":
            return _uint(value)
    return None


def float_of_hex(text: str) -> float:
    """A float32 sent as the 8 hex digits of its bits (DUMP), exactly."""
    return struct.unpack(">f", bytes.fromhex(text))[0]


@dataclass(frozen=True)
class Dump:
    """A learning device's parameters (DUMP), float32 values as Python floats, scikit-learn's layout:
    covariances are K lists of D x D (full) or of D (diag), reg_covar included."""

    covariance_type: str
    learned: int
    threshold: float
    reg_covar: float
    weights: list[float]
    means: list[list[float]]
    covariances: list[list[list[float]]] | list[list[float]]


def parse_dump(lines: Sequence[str]) -> Dump:
    """DUMP's head line, then the lines of DUMP 0 .. DUMP K-1."""
    head = _DUMP_HEAD.match(lines[0]) if lines else None
    if head is None:
        raise DeviceError(f"not a DUMP answer: {lines[0] if lines else ''!r}")
    k, d, cov = int(head.group(1)), int(head.group(2)), head.group(3)
    if len(lines) != k + 1:
        raise DeviceError(f"DUMP: expected {k} component lines, got {len(lines) - 1}")
    t = (d * (d + 1)) // 2 if cov == "full" else d
    weights: list[float] = []
    means: list[list[float]] = []
    covs: list = []
    for i, line in enumerate(lines[1:]):
        m = _DUMP_ROW.match(line)
        values = [float_of_hex(v) for v in m.group(2).split()] if m else []
        if m is None or int(m.group(1)) != i or len(values) != 1 + d + t:
            raise DeviceError(f"DUMP {i}: unreadable answer {line[:60]!r}")
        weights.append(values[0])
        means.append(values[1 : 1 + d])
        packed = values[1 + d :]
        if cov == "diag":
            covs.append(packed)
            continue
        full = [[0.0] * d for _ in range(d)]
        e = 0
        for r in range(d):
            for c in range(r + 1):
                full[r][c] = full[c][r] = packed[e]
                e += 1
        covs.append(full)
    return Dump(cov, int(head.group(4)), float_of_hex(head.group(5)), float_of_hex(head.group(6)), weights, means, covs)


def _uint(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def decode_names(text: str) -> list[str]:
    """INFO's ``names=`` value (UTF-8 bytes, read as latin-1 characters) as NFC names."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:  # already decoded text (a caller's own string)
        decoded = text
    else:
        decoded = raw.decode("utf-8", errors="replace")  # a hand-made sketch's latin-1 name will not match
    return [nfc(n) for n in decoded.split(SEPARATOR)]


def _info_fields(head: str) -> dict[str, str]:
    """The ``key=value`` fields before ``names=`` (tokens that are not key=value are ignored)."""
    fields: dict[str, str] = {}
    for token in head.split(" ") if head else []:
        key, eq, value = token.partition("=")
        if eq and key:
            fields.setdefault(key, value)
    return fields


def parse_info(body: str) -> DeviceInfo | None:
    """An INFO reply of either layout: v1 ``components= features= names=... model=`` or v2
    ``key=value`` fields (unknown keys ignored) with ``names=`` last, running to the end of the line."""
    m = _INFO_V1.match(body)
    if m:
        return DeviceInfo(int(m.group(1)), int(m.group(2)), decode_names(m.group(3)), m.group(4))
    if not body.startswith("INFO "):
        return None
    rest = body[5:]
    head, sep, names = ("", "names=", rest[6:]) if rest.startswith("names=") else rest.partition(" names=")
    if not sep:
        return None
    fields = _info_fields(head)
    k, d, proto = (
        _uint(fields.get("components", "")),
        _uint(fields.get("features", "")),
        _uint(fields.get("protocol", "")),
    )
    line_max = _uint(fields.get("line_max", "")) if "line_max" in fields else None
    model = fields.get("model", "")
    if k is None or d is None or proto is None or not re.fullmatch(r"[0-9a-f]+", model):
        return None
    threshold, alarm = _anomaly_fields(fields)
    if "threshold" in fields and threshold is None:
        return None  # a threshold the device's INFO garbled: not an INFO to trust
    sequenced = "learn_seq" in fields
    learn_seq = _uint(fields["learn_seq"]) if sequenced and fields["learn_seq"] != "none" else None
    return DeviceInfo(k, d, decode_names(names), model, proto, line_max, threshold, alarm, sequenced, learn_seq)


def _shown(line: str) -> str:
    """A line read from the device (bytes as latin-1 characters) for a message: UTF-8 decoded, shortened."""
    return line.encode("latin-1", "replace").decode("utf-8", "replace")[:80]


def announced_protocol(line: str) -> int | None:
    """The ``protocol=`` an INFO line announces (even an INFO this client cannot read), or None."""
    if not line.startswith("INFO "):
        return None
    rest = line[5:]
    head = "" if rest.startswith("names=") else rest.partition(" names=")[0]
    return _uint(_info_fields(head).get("protocol", ""))


def newer_protocol_error(protocol: int) -> DeviceError:
    return DeviceError(
        f"the device speaks serial protocol {protocol}, newer than this tinygmm {__version__} "
        f"(protocol {PROTOCOL} at most); upgrade tinygmm (pip install --upgrade tinygmm) to talk to it"
    )


def _anomaly_fields(fields: dict[str, str]) -> tuple[float | None, tuple[int, int] | None]:
    """INFO's anomaly keys: threshold=<T> (a finite log-likelihood) and alarm=<k>/<n> (1 <= k <= n)."""
    if "threshold" not in fields:
        return None, None
    try:
        t = float(fields["threshold"])
    except ValueError:
        return None, None
    k_text, slash, n_text = fields.get("alarm", "").partition("/")
    k, n = _uint(k_text), _uint(n_text)
    if not math.isfinite(t) or not slash or k is None or n is None or not 1 <= k <= n:
        return None, None
    return t, (k, n)


def impossible(reply: Reply, info: DeviceInfo | None) -> str | None:
    """Why an OK reply cannot be an answer of this device (its INFO), or None."""
    assert reply.label is not None and reply.probability is not None and reply.log_likelihood is not None
    p, ll = reply.probability, reply.log_likelihood
    if info is not None and not 0 <= reply.label < info.components:
        return f"label {reply.label} is not one of the device's {info.components} components"
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):
        return f"probability {p:g} is not in [0, 1]"
    if info is not None and p < 1.0 / info.components - 1e-5:
        return f"probability {p:g} is below 1/{info.components}: it cannot be the largest of {info.components}"
    if math.isnan(ll) or ll == math.inf:
        return f"log-likelihood {ll:g} is not a number or -inf"
    if info is not None and info.threshold is not None:
        t = info.threshold
        if reply.anomaly is None:
            return "no anomaly flags, though the device's INFO has a threshold"
        # the device decides on the float32 score; the reply prints it to 7 digits
        if abs(ll - t) > 1e-5 * max(1.0, abs(t)) and reply.is_anomaly != (ll < t):
            return f"anomaly flag {int(bool(reply.is_anomaly))} contradicts log-likelihood {ll:g} vs threshold {t:g}"
        if reply.is_anomaly and info.alarm is not None and info.alarm[0] == 1 and not reply.alarm:
            return "an anomalous input without the alarm of a 1-of-n filter"
    return None


@dataclass
class _Sent:
    index: int  # the request's position, or -1 for a v1 INFO marker
    seed: int
    sent_at: float
    wire: int = 0  # bytes on the wire, newline included (for RX_BUDGET)


_MARK = -1
_REJECTED = "rejected"


class DeviceClient:
    """Request/reply over any pyserial port object (``serial_for_url``).

    ``max_protocol`` caps the protocol the client asks for (2; 1 forces v1, as an older firmware).
    """

    def __init__(
        self,
        ser: serial.SerialBase,
        timeout: float = 2.0,
        window: int = WINDOW,
        retries: int = 3,
        max_protocol: int = 2,
        rx_budget: int | None = RX_BUDGET,
    ) -> None:
        self.ser = ser
        self.timeout = timeout
        self.window = max(1, window)
        self.rx_budget = rx_budget  # see RX_BUDGET
        self._overhead = 1  # what a request gains on the wire (suffix, newline): the last one sent tells
        self.retries = retries
        self.max_protocol = max_protocol
        self.stats = LinkStats()
        self.ready_hash: str | None = None
        self.protocol: int | None = None  # 2, 1 (v1 with *HH) or 0 (plain v1); detected by sync()
        self._floor = 0  # the protocol the device has shown it speaks: never fall below it
        self._id = random.SystemRandom().randrange(0x10000)  # v2 request ids, from a random start
        self._buf = bytearray()
        self._info: DeviceInfo | None = None
        self._unreadable: str | None = None  # the last answer to INFO that was none (for sync's error)
        self._learn_next: int | None = None  # the LEARN sequence number the device expects (None: ask INFO)

    @property
    def checksums(self) -> bool:
        """The device signs its replies (v2, or v1 with CRC-8)."""
        return bool(self.protocol)

    # ---- raw line I/O ---------------------------------------------------
    def _write(self, text: str) -> None:
        try:
            self.ser.write(_bytes(text))
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
                return raw.rstrip(b"\r").decode("latin-1")
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

    def _next_id(self) -> int:
        self._id = (self._id + 1) & 0xFFFF
        return self._id

    # ---- barrier / info -------------------------------------------------
    def sync(self) -> DeviceInfo:
        """Drain everything in flight and return the device's INFO.

        Asks in the highest protocol the device may speak: a v2 ``INFO#IIII*CCCCCCCC``, then v1's
        ``INFO*HH``, then a bare ``INFO``. v2 is given up at its first refusal (any answer that is not
        a v2 INFO: a v2 device asked in v1 announces ``protocol=2`` and is spoken to in v2 again); v1's
        ``INFO*HH`` only after it was refused twice in a row (``INFO*H`` that lost a digit on the wire
        is refused the same way as by a device without checksums). No protocol is given up once the
        device has answered in it, or announced a higher one: mistaking noise for an older device
        would leave every later request less protected. A device announcing a protocol newer than
        ``PROTOCOL`` is refused (DeviceError): its replies may mean what this client cannot know.
        """
        mode = self.protocol if self.protocol is not None else self.max_protocol
        mode = max(min(mode, self.max_protocol), self._floor)
        rejected = timeouts = 0
        self._unreadable = None
        for _ in range(self.retries + 6):  # timeouts, rejections and upgrades are all bounded
            got = self._ask_info(mode)
            if isinstance(got, DeviceInfo):
                if got.protocol > PROTOCOL:
                    raise newer_protocol_error(got.protocol)
                announced = 2 if got.protocol >= 2 and self.max_protocol >= 2 else 0
                self._floor = max(self._floor, mode, announced)
                if mode < self._floor:
                    mode = self._floor  # it speaks a newer protocol than it was asked in
                    continue
                if self._info is not None and got.model != self._info.model:
                    raise DeviceError(
                        f"the device now runs model {got.model}, not {self._info.model} "
                        "(re-flashed while connected?): its answers would be another model's"
                    )
                self.protocol = mode
                self._info = got
                return got
            if got == _REJECTED:
                rejected += 1
                if mode > self._floor and (mode == 2 or rejected >= 2):
                    mode, rejected = mode - 1, 0
                continue
            timeouts += 1
            self.stats.timeouts += 1
            if timeouts > self.retries:
                break
        if self._unreadable is not None:
            raise DeviceError(
                f"the device answers INFO with {_shown(self._unreadable)!r}, which this tinygmm {__version__} cannot "
                f"read (serial protocol {PROTOCOL} at most): is it tinygmm firmware?"
            )
        raise DeviceError(f"no answer from the device within {self.timeout:g} s (is it running and at {BAUD} baud?)")

    def _ask_info(self, mode: int) -> DeviceInfo | str | None:
        """Ask INFO once in protocol ``mode``: its INFO, _REJECTED, or None after the timeout."""
        rid = seed = 0
        if mode == 2:
            rid = self._next_id()
            wire, seed = sign2("INFO", rid)
        elif mode == 1:
            wire, seed = sign("INFO")
        else:
            wire = "INFO"
        self._write(f"\n{wire}\n")
        deadline = time.monotonic() + self.timeout
        extended = False
        while (left := deadline - time.monotonic()) > 0:
            line = self.read_line(left)
            if line is None:
                break
            body = check_tagged(line, rid, seed) if mode == 2 else check_signed(line, seed) if mode == 1 else line
            # a newer protocol is refused whatever its framing, but not on a signed line that fails its check
            signed = _TAG.match(line) if mode == 2 else mode == 1 and len(line) > 3 and line[-3] == "*"
            newer = announced_protocol(body if body is not None else "" if signed else line)
            if newer is not None and newer > PROTOCOL:
                raise newer_protocol_error(newer)  # not spoken to
            if body is not None:
                info = parse_info(body)
                if info is not None:
                    return info
                if mode == 2 and body == "ERR checksum":  # this very probe, corrupted on the way: v2 it is
                    self._floor = 2
                    self._write(f"{wire}\n")
                    continue
                if mode == 2 or body.startswith("INFO "):  # an answer, but no INFO this client reads
                    self._unreadable = body
                    return _REJECTED
            if mode == 2 and line.strip() and not _TAG.match(line) and not _READY.match(line):
                if line.startswith("INFO "):
                    self._unreadable = line
                return _REJECTED  # any other answer (ERR ..., v1's INFO, noise): v2 is refused
            if mode == 1 and line.startswith("INFO ") and check_signed(line, crc8("INFO")) is not None:
                raise DeviceError(
                    "the device signs its replies as firmware built before the reply seed included the "
                    "request's length; upload the current firmware (pio run -t upload)"
                )
            if mode > 0 and line.startswith("ERR unknown-command INFO"):
                return _REJECTED
            r = _READY.match(line)
            if r:
                # (re)booted: a request sent while it was starting may be lost, so ask again (once more time)
                self.ready_hash = r.group(1)
                self._write(f"{wire}\n")
                if not extended:
                    extended = True
                    deadline = time.monotonic() + self.timeout
        return None

    def info(self) -> DeviceInfo:
        return self._info or self.sync()

    def _resync(self, why: str) -> None:
        self.stats.resyncs += 1
        if len(self.stats.events) < 50:
            self.stats.events.append(why)
        self.sync()

    def _drain_v1(self, why: str) -> None:
        """v1 barrier: a word of random letters is no command, so the device echoes it in
        ``ERR unknown-command <word>``; every line before that echo is stale (markers' INFO included)."""
        self.stats.resyncs += 1
        self._event(why)
        rng = random.SystemRandom()
        reset = False
        for _ in range(self.retries + 1):
            word = "sync" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))
            self._write(f"\n{word}\n")
            deadline = time.monotonic() + self.timeout
            while (left := deadline - time.monotonic()) > 0:
                line = self.read_line(left)
                if line is None:
                    break
                if line == f"ERR unknown-command {word}":
                    if reset:
                        self.sync()  # the model may have changed with the reset
                    return
                r = _READY.match(line)
                if r:
                    self.ready_hash = r.group(1)
                    reset = True
                    self._write(f"{word}\n")  # sent while it was starting: may be lost
            self.stats.timeouts += 1
        raise DeviceError(f"no answer from the device within {self.timeout:g} s (is it running and at {BAUD} baud?)")

    def _event(self, why: str) -> None:
        if len(self.stats.events) < 50:
            self.stats.events.append(why)

    # ---- requests ---------------------------------------------------------
    def request_many(
        self,
        lines: Sequence[str],
        well_formed: bool = True,
        progress: Callable[[int, int], None] | None = None,
        parse: Callable[[str, DeviceInfo | None], Reply | None] = parse_reply,
        answers: tuple[str, ...] = _LEGIT_ERRORS,
    ) -> list[Reply]:
        """Send request lines (pipelined) and return one reply per line, in order.

        ``well_formed``: the host built these lines itself, so an ERR other than overflow means the
        link corrupted the request: it is sent again. Otherwise the device's ERR is that line's
        answer. A line too long for the device, or one whose answers are impossible (a label the
        model does not have, a probability outside [0, 1], a NaN) every time it is sent, gets an
        error reply of its own and the others go on. A device that stops answering raises
        DeviceError. ``parse`` reads a reply (None: unreadable, sent again); ``answers``: the ERR replies
        that answer a well-formed request (the rest mean it was corrupted on the way).
        """
        if self._info is None:
            self.sync()
        run = _Run(lines, well_formed, progress, parse, answers)
        framing: _Framing = _TaggedV2(self) if self.protocol == 2 else _MarkedV1(self)
        return self._request(framing, run)

    def _give_up(self, i: int, line: str, why: str | None) -> Reply:
        """The reply of a request sent retries + 1 times without an answer that could be taken."""
        if why is None or why.startswith("timeout"):
            raise DeviceError(
                f"the device did not answer request {i + 1} ({line!r}) within {self.timeout:g} s, "
                f"{self.retries + 1} times (it answers INFO, so it is running: is it busy or printing other output?)"
            )
        if not why.startswith(("impossible", "ERR")):
            raise DeviceError(f"request {i + 1} ({line!r}) failed {self.retries + 1} times ({why}); giving up")
        return Reply(why if why.startswith("ERR") else f"{why} (sent {self.retries + 1} times)")

    def _too_long(self, wire: str, limit: int) -> Reply:
        return Reply(f"too long: {len(wire)} characters as sent, the device takes at most {limit}")

    def _accept(self, reply: Reply, run: _Run, index: int | None = None) -> str | None:
        """Why a reply that is bound to its request cannot be its answer, or None."""
        seq = _SEQUENCE.match(reply.line)
        if seq and index is not None:
            mine = _SEQ_FIELD.search(run.lines[index])
            ahead = (int(mine.group(1)) - int(seq.group(1))) % SEQ_MOD if mine else 0
            if 0 < ahead < SEQ_MOD // 2:  # an earlier request was lost: this one was not learned, send it again
                return reply.line
            return None  # answered so long ago that the device no longer knows: that is the answer
        if reply.ok:
            why = impossible(reply, self._info)
            if why is not None:
                self.stats.impossible_answers += 1
                return f"impossible answer {reply.line!r}: {why}"
            return None
        if run.well_formed and reply.line.startswith("ERR") and not reply.line.startswith(run.answers):
            return reply.line  # "ERR ...": the request was corrupted on the way
        return None

    def _fits(self, line: str, inflight: Sequence[_Sent]) -> bool:
        """Room in the device's receive buffer for ``line`` behind the oldest line in flight (RX_BUDGET)."""
        if not inflight or self.rx_budget is None:
            return True
        behind = sum(s.wire for s in inflight) - inflight[0].wire
        return behind + len(line) + self._overhead <= self.rx_budget

    def _sent(self, index: int, line: str, wire: str, seed: int) -> _Sent:
        """The record of a line just written (and what it taught about the wire overhead)."""
        if index != _MARK:
            self._overhead = len(wire) + 1 - len(line)
        return _Sent(index, seed, time.monotonic(), len(wire) + 1)

    def _request(self, framing: _Framing, run: _Run) -> list[Reply]:
        """The one request engine: send while the framing has room, then read one line (or time out) and
        let the framing decide what it answers; every request ends answered, refused or given up."""
        while run.pending or framing.busy():
            while run.pending and framing.has_room(run.lines[run.pending[0]]):
                i = run.pending.popleft()
                wire, seed = framing.encode(run.lines[i])
                if len(wire) > framing.limit:
                    run.finish(i, self._too_long(wire, framing.limit))
                elif run.attempts[i] > self.retries:
                    run.finish(i, self._give_up(i, run.lines[i], run.why[i]))
                else:
                    run.attempts[i] += 1
                    self.stats.retried_requests += i in run.sent_before
                    run.sent_before.add(i)
                    self._write(wire + "\n")
                    framing.sent(i, run.lines[i], wire, seed)
                framing.after_send(run)
            if not framing.busy():
                framing.idle(run)
                continue
            line = self.read_line(framing.deadline() - time.monotonic())
            if line is None:
                framing.on_timeout(run)
            else:
                framing.on_line(run, line)
        return [r for r in run.results if r is not None]

    def classify(self, x: Sequence[float]) -> Reply:
        return self.request_many([format_vector(x)])[0]

    # ---- a learning device (docs/online.md) ------------------------------------------------------------
    def learn_many(
        self, rows: Sequence[Sequence[float]], progress: Callable[[int, int], None] | None = None
    ) -> list[Reply]:
        """One LEARN per row, in order: OK (learned; ``learned_field`` gives the device's count), WARMING or
        the device's ERR (refused: the model unchanged). A device whose INFO has ``learn_seq=`` gets each
        request with a sequence number (``seq=<n>``, from the number it expects), so a request sent again
        after its reply was lost is learned once: the device answers it ``OK duplicate learned=<t>`` (or
        ``ERR duplicate refused``); a request that arrives before an earlier lost one (``ERR sequence
        next=<n>``) is sent again after it. An older learning firmware gets plain LEARN lines, which a
        resent request may make it learn twice."""
        info = self.info()
        if not info.sequenced:
            lines = ["LEARN " + format_vector(x) for x in rows]
            return self.request_many(lines, progress=progress, parse=parse_learn_reply, answers=LEARN_ANSWERS)
        if self._learn_next is None:
            info = self.sync()  # the number the device expects now
            self._learn_next = info.learn_seq if info.learn_seq is not None else 0
        base = self._learn_next
        lines = [f"LEARN {format_vector(x)} seq={(base + i) % SEQ_MOD}" for i, x in enumerate(rows)]
        self._learn_next = None  # until every row has its answer
        replies = self.request_many(lines, progress=progress, parse=parse_learn_reply, answers=LEARN_ANSWERS)
        if not any(_SEQUENCE.match(r.line) for r in replies):
            self._learn_next = (base + len(rows)) % SEQ_MOD
        return replies

    def control(self, command: str) -> Reply:
        """FREEZE, THAW, RESET, SAVE, LOAD (or DUMP [k]): the device's one-line answer (OK/DUMP or ERR)."""
        return self.request_many([command], parse=parse_control_reply, answers=("ERR",))[0]

    def dump(self) -> Dump:
        """The learned parameters (DUMP, then DUMP k for every component), float32-exact."""
        k = self.info().components
        replies = self.request_many(
            ["DUMP", *(f"DUMP {i}" for i in range(k))], parse=parse_control_reply, answers=("ERR",)
        )
        for r in replies:
            if r.line.startswith("ERR"):
                raise DeviceError(f"the device refused DUMP: {r.line}")
        return parse_dump([r.line for r in replies])


class _Run:
    """The bookkeeping of one request_many, whatever the framing: replies, attempts, what went wrong last."""

    def __init__(
        self,
        lines: Sequence[str],
        well_formed: bool,
        progress: Callable[[int, int], None] | None,
        parse: Callable[[str, DeviceInfo | None], Reply | None] = parse_reply,
        answers: tuple[str, ...] = _LEGIT_ERRORS,
    ) -> None:
        n = len(lines)
        self.lines = lines
        self.well_formed = well_formed
        self.parse = parse
        self.answers = answers
        self.progress = progress
        self.results: list[Reply | None] = [None] * n
        self.attempts = [0] * n
        self.why: list[str | None] = [None] * n  # what went wrong with the last attempt
        self.pending: deque[int] = deque(range(n))
        self.sent_before: set[int] = set()
        self.done = 0

    def finish(self, i: int, reply: Reply) -> None:
        self.results[i] = reply
        self.done += 1
        if self.progress:
            self.progress(self.done, len(self.lines))

    def again(self, indices: list[int], reason: str) -> None:
        """Send these requests again, first (each attempt is charged)."""
        for i in indices:
            self.why[i] = reason
        self.pending.extendleft(reversed(indices))


class _Framing:
    """How requests are put on the wire and replies matched to them (protocol v1 or v2)."""

    limit: int  # the longest line the device takes

    def __init__(self, client: DeviceClient) -> None:
        self.client = client

    def busy(self) -> bool:
        """Something is in flight."""
        raise NotImplementedError

    def has_room(self, line: str) -> bool:
        """The window and the device's receive buffer take one more request."""
        raise NotImplementedError

    def encode(self, line: str) -> tuple[str, int]:
        """(the request as sent, the seed its reply is signed with)."""
        raise NotImplementedError

    def sent(self, index: int, line: str, wire: str, seed: int) -> None:
        raise NotImplementedError

    def after_send(self, run: _Run) -> None:
        """After each request taken from the queue (sent or not)."""

    def idle(self, run: _Run) -> None:
        """Nothing in flight."""

    def deadline(self) -> float:
        """When the oldest line in flight is presumed lost."""
        raise NotImplementedError

    def on_timeout(self, run: _Run) -> None:
        raise NotImplementedError

    def on_line(self, run: _Run, line: str) -> None:
        raise NotImplementedError


class _TaggedV2(_Framing):
    """v2: each request has an id and a CRC-32; a reply is taken only for the request it names."""

    def __init__(self, client: DeviceClient) -> None:
        super().__init__(client)
        self.inflight: dict[int, _Sent] = {}  # by request id, in the order sent
        self.rid = 0  # the id of the request just encoded
        self.limit = (client._info.line_max if client._info else None) or V1_LINE_MAX

    def busy(self) -> bool:
        return bool(self.inflight)

    def has_room(self, line: str) -> bool:
        return len(self.inflight) < self.client.window and self.client._fits(line, list(self.inflight.values()))

    def encode(self, line: str) -> tuple[str, int]:
        self.rid = self.client._next_id()
        return sign2(line, self.rid)

    def sent(self, index: int, line: str, wire: str, seed: int) -> None:
        self.inflight[self.rid] = self.client._sent(index, line, wire, seed)

    def deadline(self) -> float:
        return next(iter(self.inflight.values())).sent_at + self.client.timeout

    def again(self, run: _Run, ids: list[int], reason: str) -> None:
        run.again([self.inflight.pop(rid).index for rid in ids], reason)

    def on_timeout(self, run: _Run) -> None:
        """Past its deadline: presumed lost (the request or its reply)."""
        now = time.monotonic()
        late = [rid for rid, s in self.inflight.items() if s.sent_at + self.client.timeout <= now]
        self.client.stats.timeouts += len(late)
        self.again(run, late, "timeout")

    def on_line(self, run: _Run, line: str) -> None:
        client, stats = self.client, self.client.stats
        m = _TAG.match(line)
        sent = self.inflight.get(int(m.group(2), 16)) if m else None
        if m is None or sent is None or crc32(line[:-9], sent.seed) != int(m.group(3), 16):
            r = _READY.match(line)
            if r:
                client.ready_hash = r.group(1)
                stats.resets += 1
                self.again(run, list(self.inflight), "device reset (READY)")
                client._resync("device reset (READY)")
            elif m is not None:
                stats.stale_replies += 1  # duplicated, answered already, or not checking
            elif line.strip():
                stats.garbage_lines += 1
            return
        rid = int(m.group(2), 16)
        # the device answers in order: requests sent before this one and still unanswered were lost
        earlier = []
        for other in self.inflight:
            if other == rid:
                break
            earlier.append(other)
        if earlier:
            client._event(f"{len(earlier)} reply(ies) lost before #{rid:04X}")
            self.again(run, earlier, "lost")
        del self.inflight[rid]
        reply = run.parse(m.group(1), client._info)
        problem = "unreadable reply " + repr(m.group(1)[:40]) if reply is None else client._accept(reply, run, sent.index)
        if reply is None or problem is not None:
            run.why[sent.index] = problem
            run.pending.appendleft(sent.index)
            if problem is not None and problem.startswith("ERR sequence"):
                run.pending = deque(sorted(run.pending))  # a sequenced stream goes out in its order
            return
        run.finish(sent.index, replace(reply, latency=time.monotonic() - sent.sent_at))


class _MarkedV1(_Framing):
    """v1: replies pair with requests in order; an INFO marker after each batch confirms the pairing."""

    limit = V1_LINE_MAX

    def __init__(self, client: DeviceClient) -> None:
        super().__init__(client)
        self.inflight: deque[_Sent] = deque()  # requests and markers, in the order sent
        self.batch: dict[int, Reply] = {}  # answers taken since the last confirmed marker
        self.since_mark = 0

    def busy(self) -> bool:
        return bool(self.inflight)

    def has_room(self, line: str) -> bool:
        requests = sum(1 for s in self.inflight if s.index != _MARK)
        return requests < self.client.window and self.client._fits(line, self.inflight)

    def encode(self, line: str) -> tuple[str, int]:
        return sign(line) if self.client.protocol == 1 else (line, 0)

    def sent(self, index: int, line: str, wire: str, seed: int) -> None:
        self.inflight.append(self.client._sent(index, line, wire, seed))
        self.since_mark += 1

    def after_send(self, run: _Run) -> None:
        if self.since_mark and (self.since_mark >= self.client.window or not run.pending):
            wire, seed = self.encode("INFO")
            self.client._write(wire + "\n")
            self.inflight.append(self.client._sent(_MARK, "INFO", wire, seed))
            self.since_mark = 0

    def take_batch(self, run: _Run) -> None:
        for i, rep in self.batch.items():
            run.finish(i, rep)
        self.batch.clear()

    def idle(self, run: _Run) -> None:
        self.take_batch(run)

    def deadline(self) -> float:
        return self.inflight[0].sent_at + self.client.timeout

    def throw_back(self, run: _Run, reason: str) -> None:
        """Everything unconfirmed goes back. Only one request is charged the attempt: the one whose
        answer was due (or the batch's last, when its marker's was), so a fault costs the others nothing
        and the loop still ends."""
        head = self.inflight[0].index if self.inflight else _MARK
        culprit = head if head != _MARK else max(self.batch, default=_MARK)
        back = sorted({s.index for s in self.inflight if s.index != _MARK} | set(self.batch))
        for i in back:
            if i != culprit:
                run.attempts[i] -= 1
        if culprit != _MARK:
            run.why[culprit] = reason
        self.inflight.clear()
        self.batch.clear()
        self.since_mark = 0
        run.pending.extendleft(reversed(back))

    def fault(self, run: _Run, reason: str, event: str | None = None) -> None:
        """Throw the batch back and drain the link (v1's barrier)."""
        self.throw_back(run, reason)
        self.client._drain_v1(event or reason)

    def on_timeout(self, run: _Run) -> None:
        self.client.stats.timeouts += 1
        self.fault(run, "timeout")

    def on_line(self, run: _Run, line: str) -> None:
        client, stats = self.client, self.client.stats
        if line == "":
            return
        r = _READY.match(line)
        if r:
            client.ready_hash = r.group(1)
            stats.resets += 1
            self.fault(run, "device reset (READY)")
            client.sync()  # the model may have changed with the reset
            return
        head = self.inflight[0]
        body = check_signed(line, head.seed) if client.protocol == 1 else line
        if head.index == _MARK:
            if body is not None and parse_info(body) is not None:
                self.inflight.popleft()  # the batch's answers came exactly one per request: take them
                self.take_batch(run)
                return
            # where the marker's answer belongs: one line too many (spurious or duplicated) or garbled
            stats.garbage_lines += 1
            self.fault(run, f"{line[:40]!r} where the INFO marker's answer belongs")
            return
        if line.startswith("INFO "):  # the marker answered before this request: a reply was lost
            self.fault(run, "a reply lost (the INFO marker answered early)")
            return
        reply = run.parse(body, client._info) if body is not None else None
        if reply is None:
            stats.garbage_lines += 1
            self.fault(run, f"garbled line {line[:40]!r}")
            return
        problem = client._accept(reply, run, head.index)
        if problem is not None:
            self.fault(run, problem, f"{problem} for request {head.index + 1}")
            return
        self.inflight.popleft()
        self.batch[head.index] = replace(reply, latency=time.monotonic() - head.sent_at)


def open_port(port: str, timeout: float = 2.0) -> serial.SerialBase:
    """A pyserial port for a device name or URL (socket://, rfc2217://, loop://, ...)."""

    try:
        return serial.serial_for_url(port, baudrate=BAUD, timeout=0.05, write_timeout=timeout)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise DeviceError(f"cannot open {port}: {exc}") from None

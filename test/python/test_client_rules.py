"""Issue 22, item 6: the client follows the protocol's own extension rules (docs/protocol.md).

A device announcing a newer protocol is refused, not spoken to; unknown INFO keys and unknown trailing
OK fields are ignored (the flags field is read only with threshold= in INFO); a device that refuses the
v2 INFO probe in any way is spoken to in v1 at once. Python devices (test_link_faults.ScriptedDevice),
on a pty where the CLI is run.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import ROOT
from test_link_faults import OnPty, ScriptedDevice, good_answer
from test_serial_e2e import run_cli
from tinygmm.device.client import DeviceClient, DeviceError, parse_info

MODEL = "00000000000000aa"
V2_INFO = f"INFO protocol=2 components=2 features=2 line_max=45 model={MODEL} names=a|b"


class InfoDevice(ScriptedDevice):
    """A ScriptedDevice whose INFO line is ``info_line`` (its v2 framing as the firmware's)."""

    def __init__(self, info_line: str, answer: Callable[[list[float]], str | None] = good_answer, version: int = 2):
        super().__init__(answer, version=version)
        self.info_line = info_line
        self.vectors = 0
        base = self.answer

        def counted(x: list[float]) -> str | None:
            self.vectors += 1
            return base(x)

        self.answer = counted

    def info(self) -> str:
        return self.info_line


class RefusesV2(ScriptedDevice):
    """A v1 device (no checksums) that answers a v2-signed request with ``refusal`` instead of
    ``ERR unknown-command INFO`` (an older firmware's checksum error, a sketch's own message, ...)."""

    def __init__(self, refusal: str) -> None:
        super().__init__(good_answer, version=1)
        self.refusal = refusal

    def write(self, data: bytes) -> int:
        if b"#" in data and b"*" in data:
            self.out += (self.refusal + "\n").encode()
            return len(data)
        return super().write(data)


@pytest.mark.parametrize("protocol", [3, 4, 17])
@pytest.mark.parametrize("version", [1, 2])
def test_a_newer_protocol_is_refused_not_spoken_to(protocol: int, version: int) -> None:
    line = f"INFO protocol={protocol} components=2 features=2 line_max=45 model={MODEL} names=a|b"
    dev = InfoDevice(line, version=version)
    client = DeviceClient(dev, timeout=0.3)
    with pytest.raises(DeviceError) as err:
        client.request_many(["1,2"])
    message = str(err.value)
    assert f"serial protocol {protocol}," in message and "upgrade tinygmm" in message
    assert "\n" not in message
    assert dev.vectors == 0  # not one request was sent


def test_a_newer_protocol_is_refused_even_in_an_info_this_client_cannot_read() -> None:
    """protocol=3 may change any field: an INFO without the fields v2 requires is still 'upgrade'."""
    dev = InfoDevice("INFO protocol=3 shape=2x2 names=a|b")
    with pytest.raises(DeviceError, match=r"serial protocol 3, newer than this tinygmm"):
        DeviceClient(dev, timeout=0.3).sync()


def test_cli_refuses_a_newer_device_in_one_line_exit_2() -> None:
    dev = InfoDevice(V2_INFO.replace("protocol=2", "protocol=3"))
    with OnPty(dev) as p:
        r = run_cli(ROOT, "classify", "--port", p.port, "--timeout", "0.5", "1,2", timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinygmm: error: the device speaks serial protocol 3"), r.stderr
    assert "upgrade tinygmm" in lines[0] and r.stdout == ""
    assert dev.vectors == 0


@pytest.mark.parametrize(
    "line",
    [
        V2_INFO,
        # unknown keys (before names=), a token that is no key=value, a key repeated later: all ignored
        f"INFO protocol=2 components=2 future=yes features=2 line_max=45 x=1=2 model={MODEL} flag names=a|b",
        f"INFO components=2 protocol=2 model={MODEL} features=2 names=a|b",  # any order; no line_max (v1's limit)
    ],
)
def test_protocol_2_with_extra_keys_is_spoken_to(line: str) -> None:
    client = DeviceClient(InfoDevice(line), timeout=0.3)
    got = client.request_many(["3,5"])
    assert client.protocol == 2 and client.info().protocol == 2
    assert got[0].ok and (got[0].label, got[0].log_likelihood) == (1, -5.0)


def test_protocol_1_in_the_key_value_layout_is_spoken_to_in_v1() -> None:
    line = f"INFO protocol=1 components=2 features=2 model={MODEL} names=a|b"
    client = DeviceClient(InfoDevice(line, version=1), timeout=0.3)
    got = client.request_many(["3,5", "4,6"])
    assert client.protocol == 0 and client.info().protocol == 1
    assert [(r.label, r.log_likelihood) for r in got] == [(1, -5.0), (0, -6.0)]


@pytest.mark.parametrize(
    "line",
    [
        f"INFO components=2 features=2 line_max=45 model={MODEL} names=a|b",  # no protocol=
        f"INFO protocol=two components=2 features=2 model={MODEL} names=a|b",
        "INFO hello world",  # garbage
        f"INFO protocol=2 components=2 features=2 model={MODEL}",  # no names=
    ],
)
@pytest.mark.parametrize("version", [1, 2])
def test_an_info_that_cannot_be_read_is_refused_in_one_line(line: str, version: int) -> None:
    dev = InfoDevice(line, version=version)
    client = DeviceClient(dev, timeout=0.2, retries=1)
    with pytest.raises(DeviceError) as err:
        client.request_many(["1,2"])
    message = str(err.value)
    assert message.startswith(f"the device answers INFO with {line[:80]!r}, which this tinygmm"), message
    assert dev.vectors == 0


@pytest.mark.parametrize("version", [1, 2])
def test_unknown_trailing_ok_fields_are_not_flags_without_a_threshold(version: int) -> None:
    """No threshold= in INFO: '1' after the log-likelihood is a later version's field, ignored."""
    dev = InfoDevice(
        V2_INFO if version == 2 else f"INFO components=2 features=2 names=a|b model={MODEL}",
        answer=lambda x: f"OK 1 0.75 {-x[1]:.7g} 1 extra=3",
        version=version,
    )
    client = DeviceClient(dev, timeout=0.3)
    got = client.request_many(["3,5"])[0]
    assert got.ok and got.label == 1 and got.log_likelihood == -5.0
    assert got.anomaly is None and got.is_anomaly is None and got.alarm is None
    assert client.stats.impossible_answers == 0


def test_with_a_threshold_the_first_trailing_field_is_the_flags_and_later_ones_are_ignored() -> None:
    line = f"INFO protocol=2 components=2 features=2 line_max=45 model={MODEL} threshold=-6 alarm=1/1 later=x names=a|b"
    dev = InfoDevice(line, answer=lambda x: f"OK 1 0.75 {-x[1]:.7g} {3 if x[1] > 6 else 0} later-field")
    got = DeviceClient(dev, timeout=0.3).request_many(["3,5", "3,9"])
    assert [(r.is_anomaly, r.alarm) for r in got] == [(False, False), (True, True)]


@pytest.mark.parametrize(
    "refusal",
    ["ERR checksum", "ERR bad-number 1", "ERR too-long", "ERR count expected 2 got 1", "ERR", "what?", "OK 0 1 -3"],
)
def test_any_refusal_of_the_v2_probe_falls_back_to_v1_at_once(refusal: str) -> None:
    dev = RefusesV2(refusal)
    client = DeviceClient(dev, timeout=0.5)
    got = client.request_many(["3,5"])
    assert client.protocol == 0 and got[0].ok and got[0].log_likelihood == -5.0
    assert client.stats.timeouts == 0  # no probe waited for its deadline


def test_a_v2_device_asked_again_after_a_corrupted_probe_stays_v2() -> None:
    """Its signed 'ERR checksum' to the probe itself: a v2 device whose probe was corrupted, not a refusal."""
    dev = InfoDevice(V2_INFO)
    real_write = dev.write
    state = {"first": True}

    def corrupt_first(data: bytes) -> int:
        if state["first"] and b"#" in data:
            state["first"] = False
            data = data.replace(b"INFO#", b"INFQ#")
        return real_write(data)

    dev.write = corrupt_first  # type: ignore[method-assign]
    client = DeviceClient(dev, timeout=0.5)
    assert client.sync().protocol == 2 and client.protocol == 2


def test_names_are_decoded_and_garbled_bytes_do_not_break_info() -> None:
    raw = "INFO protocol=2 components=2 features=2 model=aa names=" + "나이|Temp\u00e9rature".encode().decode("latin-1")
    got = parse_info(raw)
    assert got is not None and got.names == ["나이", "Temp\u00e9rature"]
    # a hand-made sketch with latin-1 bytes: the INFO is still read; the name just will not match a column
    got = parse_info("INFO protocol=2 components=2 features=2 model=aa names=Temp\xe9rature|b")
    assert got is not None and got.names == ["Temp\ufffdrature", "b"]


def test_a_corrupted_signed_info_announcing_protocol_3_is_not_believed() -> None:
    """'protocol=2' corrupted into 'protocol=3' on the wire: the CRC fails, the line is ignored, the
    probe is answered again correctly."""
    dev = InfoDevice(V2_INFO)
    real_read = dev.read
    state = {"done": False}

    def corrupt(n: int = 1) -> bytes:
        chunk = real_read(n)
        if not state["done"] and b"protocol=2" in chunk:
            state["done"] = True
            chunk = chunk.replace(b"protocol=2", b"protocol=3")
        return chunk

    dev.read = corrupt  # type: ignore[method-assign]
    client = DeviceClient(dev, timeout=0.3)
    assert client.sync().protocol == 2 and state["done"]

"""Serial protocol v1, exercised through the native firmware build (g++)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fw import run_firmware
from tinygmm.model import ExportedModel

OK = re.compile(r"^OK (\d+) (\S+) (\S+)$")


def replies(exe: Path, text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    lines = run_firmware(exe, data)
    assert lines[0].startswith("READY tinygmm "), lines[:1]
    return lines[1:]


def model(project: Path) -> ExportedModel:
    return ExportedModel.load(project / "include" / "GMM.json")


def test_ready_and_info(firmware: tuple[Path, Path]) -> None:
    project, exe = firmware
    m = model(project)
    lines = run_firmware(exe, b"INFO\ninfo\n")
    assert lines[0] == f"READY tinygmm {m.model_hash}"
    expected = f"INFO components=4 features=2 names=Age|Spending Score (1-100) model={m.model_hash}"
    assert lines[1:] == [expected, expected]


@pytest.mark.parametrize("line", ["19,39", "19 39", "19, 39", " 19 ,39 ", "19\t39", "1.9e1,39.0", "+19,39"])
def test_separators_all_give_the_same_answer(firmware: tuple[Path, Path], line: str) -> None:
    _, exe = firmware
    (reply,) = replies(exe, line + "\n")
    assert reply == replies(exe, "19,39\n")[0]


def test_ok_reply_matches_sklearn(firmware: tuple[Path, Path]) -> None:
    project, exe = firmware
    m = model(project)
    X = np.array([[19, 39], [60, 10], [35, 90], [25.5, 50.25], [1e4, -1e4]])
    got = replies(exe, "".join(f"{a},{b}\n" for a, b in X))
    g = m.to_sklearn()
    Z = m.transform(X)
    for line, label, proba, ll in zip(got, g.predict(Z), g.predict_proba(Z), g.score_samples(Z), strict=True):
        k, p, score = OK.match(line).groups()
        assert int(k) == label
        assert float(p) == pytest.approx(proba.max(), abs=2e-6)
        assert float(score) == pytest.approx(ll, rel=1e-6, abs=1e-5)


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("1,2,3", "ERR count expected 2 got 3"),
        ("1", "ERR count expected 2 got 1"),
        ("1 2 3 4 5 6", "ERR count expected 2 got 6"),
        ("1,,2", "ERR empty-field 2"),
        (",1,2", "ERR empty-field 1"),
        ("1,2,", "ERR empty-field 3"),
        ("1,abc", "ERR bad-number 2"),
        ("1,2x", "ERR bad-number 2"),
        ("1,0x10", "ERR bad-number 2"),
        ("1.2.3,4", "ERR bad-number 1"),
        ("1,-", "ERR bad-number 2"),
        ("1,e5", "ERR bad-number 2"),
        ("nan,1", "ERR not-finite 1"),
        ("1,-inf", "ERR not-finite 2"),
        ("1,Infinity", "ERR not-finite 2"),
        ("1e39,1", "ERR out-of-range 1"),
        ("1,-1e39", "ERR out-of-range 2"),
        ("hello", "ERR unknown-command hello"),
        ("INFOX", "ERR unknown-command INFOX"),
        ("\x01\x02,3", "ERR bad-number 1"),
    ],
)
def test_malformed_lines_get_exactly_one_err(firmware: tuple[Path, Path], line: str, reply: str) -> None:
    _, exe = firmware
    got = replies(exe, line + "\n19,39\n")
    assert got[0] == reply
    assert got[1].startswith("OK "), "the next line must be answered normally"
    assert len(got) == 2


def test_empty_lines_are_ignored_and_line_ends_are_flexible(firmware: tuple[Path, Path]) -> None:
    _, exe = firmware
    got = replies(exe, "\n\n   \n\t\n19,39\r\n60,10\r35,90\n\r\n")
    assert len(got) == 3 and all(r.startswith("OK ") for r in got)


def test_tiny_values_underflow_quietly(firmware: tuple[Path, Path]) -> None:
    _, exe = firmware
    assert replies(exe, "1e-50,-0.0\n")[0].startswith("OK ")


def test_too_long_line_is_discarded_to_the_newline(firmware: tuple[Path, Path]) -> None:
    _, exe = firmware
    long = "1," * 200 + "2"
    got = replies(exe, long + "\n19,39\n" + "9" * 129 + "\n" + "9" * 128 + "\n")
    assert got[0] == "ERR too-long"
    assert got[1].startswith("OK ")
    assert got[2] == "ERR too-long"
    assert got[3] == "ERR count expected 2 got 1", "128 characters still fit the buffer"


def test_garbage_bytes_then_recovery(firmware: tuple[Path, Path]) -> None:
    _, exe = firmware
    rng = np.random.default_rng(0)
    garbage = bytes(rng.integers(0, 256, 5000, dtype=np.uint8))
    n_lines = sum(1 for part in re.split(rb"[\r\n]", garbage) if part.strip(b" \t"))
    got = replies(exe, garbage + b"\n19,39\n")
    assert got[-1].startswith("OK ")
    assert len(got) == n_lines + 1
    assert all(r.startswith(("ERR ", "OK ")) for r in got)


def test_checksummed_requests_get_signed_replies(firmware: tuple[Path, Path]) -> None:
    from tinygmm.client import check_signed, reply_seed, sign

    _, exe = firmware
    wire, seed = sign("19,39")
    bad = "19,38*" + wire[-2:]
    got = replies(exe, f"{wire}\n{bad}\n19,39\n" + sign("INFO")[0] + "\n" + sign("1,2,3")[0] + "\n")
    plain = replies(exe, "19,39\n")[0]
    assert check_signed(got[0], seed) == plain, "same answer, bound to the request by its CRC"
    assert check_signed(got[0], seed ^ 1) is None, "a reply checked against another request fails"
    assert got[1].startswith("ERR checksum*")
    assert got[2] == plain, "a request without a checksum gets a plain reply"
    assert got[3].startswith("INFO components=4 ") and check_signed(got[3], reply_seed("INFO")) is not None
    assert check_signed(got[4], reply_seed("1,2,3")) == "ERR count expected 2 got 3"


def test_a_request_that_lost_a_byte_but_kept_its_crc_gets_no_checkable_reply(firmware: tuple[Path, Path]) -> None:
    """CRC-8 collides for about 1 in 256 corrupted requests: "62.6833572,71.6142883" that lost its '6' has
    the same CRC. The device answers what it received (a valid vector), so the reply's seed also holds the
    request's length: the host, checking against what it sent, rejects the answer instead of taking it."""
    from tinygmm.client import check_signed, crc8, reply_seed, sign

    _, exe = firmware
    sent, received = "62.6833572,71.6142883", "62.6833572,71.142883"
    assert crc8(sent) == crc8(received), "the collision this test is about"
    wire = sign(sent)[0]
    lost = wire.replace(sent, received)
    got = replies(exe, lost + "\n")
    assert got[0].startswith("OK "), "the device cannot tell: the CRC matches"
    assert check_signed(got[0], reply_seed(received)) is not None, "signed for what it received"
    assert check_signed(got[0], sign(sent)[1]) is None, "so it does not check for what was sent"


def test_far_out_input_gives_minus_inf_and_sklearns_label(firmware: tuple[Path, Path]) -> None:
    """The log-likelihood is below -FLT_MAX: sent as -inf, with scikit-learn's label and probability 1."""
    project, exe = firmware
    m = model(project)
    X = np.array([[1e30, -1e30], [3.4e38, 3.4e38], [-3.4e38, 1.0], [1.0, 1e25]])
    g = m.to_sklearn()
    labels = g.predict(m.transform(X))
    got = replies(exe, "".join(f"{a:g},{b:g}\n" for a, b in X))
    assert got == [f"OK {k} 1 -inf" for k in labels]


def test_readme_examples_are_what_the_firmware_says(firmware: tuple[Path, Path]) -> None:
    """The README's ``pio device monitor`` line and its ``request*HH`` → ``reply*HH`` example, sent to the
    firmware built from the project (the AVR build prints the same digits: test_avr_sim)."""
    from tinygmm.client import check_signed, reply_seed, sign

    _, exe = firmware
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    typed = re.search(r"# type (\S+) <Enter>\s+->\s+(OK .*)$", readme, re.M)
    assert typed, "the README shows a line typed in the monitor and its reply"
    assert replies(exe, typed.group(1) + "\n") == [typed.group(2).strip()]
    m = re.search(r"`([^`*]+)\*([0-9A-F]{2})` → `([^`*]+\*[0-9A-F]{2})`", readme)
    assert m, "the README shows a signed request and its reply"
    request, hh, reply = m.groups()
    assert sign(request)[0] == f"{request}*{hh}"
    assert replies(exe, f"{request}*{hh}\n") == [reply]
    assert check_signed(reply, reply_seed(request)) is not None


def test_twenty_features_with_raised_limits_and_long_signed_lines(tmp_path: Path) -> None:
    """D = 20 needs TINYGMM_MAX_FEATURES and TINYGMM_LINE_MAX raised in build_flags (the defaults stop
    the build with a message saying so); requests are then over 256 characters, and the length in the
    reply's seed is taken modulo 256 on both sides."""
    from fw import build_firmware, make_project
    from tinygmm.client import check_signed, format_vector, sign
    from tinygmm.errors import TinyGMMError

    rng = np.random.default_rng(20)
    X = np.vstack([rng.normal(size=(150, 20)) - 1.2345, rng.normal(size=(150, 20)) + 1.2345]) * 1e-5
    csv = tmp_path / "d20.csv"
    np.savetxt(csv, X, delimiter=",", header=",".join(f"f{i}" for i in range(20)), comments="")
    project = make_project(tmp_path / "project", ["--data", str(csv), "--n-components", "2"])
    with pytest.raises(TinyGMMError, match="more features than TINYGMM_MAX_FEATURES: raise it in build_flags"):
        build_firmware(project)
    exe = build_firmware(project, ["-DTINYGMM_MAX_FEATURES=20", "-DTINYGMM_LINE_MAX=400"])
    m = model(project)
    x = X[:3].astype(np.float32).astype(np.float64)  # "-1.23456789e-05,...": 16 characters a value
    requests = [format_vector(v) for v in x]
    assert all(len(r) > 256 for r in requests)
    got = replies(exe, "".join(sign(r)[0] + "\n" for r in requests))
    labels = m.to_sklearn().predict(m.transform(x))
    for r, line, label in zip(requests, got, labels, strict=True):
        body = check_signed(line, sign(r)[1])
        assert body is not None and body.startswith(f"OK {label} "), line

"""Serial protocol (v2, and v1 as older clients speak it), exercised through the native firmware build (g++)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fw import run_firmware
from tinygmm.model.exported import ExportedModel

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
    expected = (
        f"INFO protocol=2 components=4 features=2 line_max=45 model={m.model_hash} names=Age|Spending Score (1-100)"
    )
    assert lines[1:] == [expected, expected]
    from tinygmm.device.client import parse_info

    info = parse_info(expected)
    assert info is not None and (info.protocol, info.line_max, info.names) == (2, 45, ["Age", "Spending Score (1-100)"])


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
    """The line limit is sized from D: 16 * D + 13 = 45 characters for this model (INFO's line_max)."""
    _, exe = firmware
    long = "1," * 200 + "2"
    got = replies(exe, long + "\n19,39\n" + "9" * 46 + "\n" + "9" * 45 + "\n")
    assert got[0] == "ERR too-long"
    assert got[1].startswith("OK ")
    assert got[2] == "ERR too-long"
    assert got[3] == "ERR count expected 2 got 1", "45 characters still fit the buffer"


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
    from tinygmm.device.client import check_signed, reply_seed, sign

    _, exe = firmware
    wire, seed = sign("19,39")
    bad = "19,38*" + wire[-2:]
    got = replies(exe, f"{wire}\n{bad}\n19,39\n" + sign("INFO")[0] + "\n" + sign("1,2,3")[0] + "\n")
    plain = replies(exe, "19,39\n")[0]
    assert check_signed(got[0], seed) == plain, "same answer, bound to the request by its CRC"
    assert check_signed(got[0], seed ^ 1) is None, "a reply checked against another request fails"
    assert got[1].startswith("ERR checksum*")
    assert got[2] == plain, "a request without a checksum gets a plain reply"
    assert got[3].startswith("INFO protocol=2 components=4 ") and check_signed(got[3], reply_seed("INFO")) is not None
    assert check_signed(got[4], reply_seed("1,2,3")) == "ERR count expected 2 got 3"


def test_a_request_that_lost_a_byte_but_kept_its_crc_gets_no_checkable_reply(firmware: tuple[Path, Path]) -> None:
    """CRC-8 collides for about 1 in 256 corrupted requests: "62.6833572,71.6142883" that lost its '6' has
    the same CRC. The device answers what it received (a valid vector), so the reply's seed also holds the
    request's length: the host, checking against what it sent, rejects the answer instead of taking it."""
    from tinygmm.device.client import check_signed, crc8, reply_seed, sign

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
    """The docs' ``pio device monitor`` line (docs/getting-started.md) and the spec's ``request*HH`` →
    ``reply*HH`` and v2 examples (docs/protocol.md), sent to the firmware built from the project (the AVR
    build prints the same digits: test_avr_sim)."""
    from tinygmm.device.client import check_signed, reply_seed, sign

    _, exe = firmware
    docs = Path(__file__).resolve().parents[2] / "docs"
    typed = re.search(r"answers `([^`]+)` with\s+`(OK [^`]*)`", (docs / "getting-started.md").read_text())
    assert typed, "docs/getting-started.md shows a line typed in the monitor and its reply"
    assert replies(exe, typed.group(1) + "\n") == [typed.group(2).strip()]
    spec = (docs / "protocol.md").read_text()
    m = re.search(r"`([^`*]+)\*([0-9A-F]{2})` → `([^`*]+\*[0-9A-F]{2})`", spec)
    assert m, "docs/protocol.md shows a signed request and its reply"
    request, hh, reply = m.groups()
    assert sign(request)[0] == f"{request}*{hh}"
    assert replies(exe, f"{request}*{hh}\n") == [reply]
    assert check_signed(reply, reply_seed(request)) is not None
    from tinygmm.device.client import check_tagged, sign2

    m2 = re.search(r"`([^`*#]+)#([0-9A-F]{4})\*([0-9A-F]{8})` → `([^`]+ #[0-9A-F]{4}\*[0-9A-F]{8})`", spec)
    assert m2, "docs/protocol.md shows a v2 request and its reply"
    request, rid, crc, reply = m2.groups()
    wire, seed = sign2(request, int(rid, 16))
    assert wire == f"{request}#{rid}*{crc}"
    assert replies(exe, wire + "\n") == [reply]
    assert check_tagged(reply, int(rid, 16), seed) is not None


def test_twenty_features_with_long_signed_lines(tmp_path: Path) -> None:
    """D = 20 builds with no flag (every buffer is sized from the model's N_FEATURES); the line buffer
    sizes itself (333 characters), a TINYGMM_LINE_MAX below that stops the build. Requests are then
    over 256 characters, and the length in the reply's seed is taken modulo 256 on both sides, for
    v1's CRC-8 and v2's CRC-32."""
    from fw import build_firmware, make_project
    from tinygmm.device.client import check_signed, check_tagged, format_vector, sign, sign2
    from tinygmm.errors import TinyGMMError

    rng = np.random.default_rng(20)
    X = np.vstack([rng.normal(size=(150, 20)) - 1.2345, rng.normal(size=(150, 20)) + 1.2345]) * 1e-5
    csv = tmp_path / "d20.csv"
    np.savetxt(csv, X, delimiter=",", header=",".join(f"f{i}" for i in range(20)), comments="")
    project = make_project(tmp_path / "project", ["--data", str(csv), "--n-components", "2"])
    with pytest.raises(TinyGMMError, match="TINYGMM_LINE_MAX is below the longest request"):
        build_firmware(project, ["-DTINYGMM_LINE_MAX=300"])
    exe = build_firmware(project)
    m = model(project)
    x = X[:3].astype(np.float32).astype(np.float64)  # "-1.23456789e-05,...": 16 characters a value
    requests = [format_vector(v) for v in x]
    assert all(len(r) > 256 for r in requests)
    v2 = [sign2(r, i) for i, r in enumerate(requests)]
    got = replies(exe, "".join(sign(r)[0] + "\n" for r in requests) + "".join(w + "\n" for w, _ in v2))
    labels = m.to_sklearn().predict(m.transform(x))
    for r, line, label in zip(requests, got[:3], labels, strict=True):
        body = check_signed(line, sign(r)[1])
        assert body is not None and body.startswith(f"OK {label} "), line
    for i, ((_, seed), line, label) in enumerate(zip(v2, got[3:], labels, strict=True)):
        body = check_tagged(line, i, seed)
        assert body is not None and body.startswith(f"OK {label} "), line


def test_v2_replies_echo_the_id_and_check_only_against_their_own_request(firmware: tuple[Path, Path]) -> None:
    """Protocol v2: ``request#IIII*CCCCCCCC`` -> ``reply #IIII*CCCCCCCC``, the CRC-32 started from the request's
    seed; a reply checked against any other request (another id, or the same id with other content) fails."""
    from tinygmm.device.client import check_tagged, sign2

    _, exe = firmware
    plain = replies(exe, "19,39\n60,10\n")
    reqs = [("19,39", 0x0001), ("60,10", 0xBEEF), ("INFO", 0x7FFF), ("1,2,3", 0x0002), ("", 0x0003)]
    signed = [sign2(r, i) for r, i in reqs]
    bad = signed[0][0][:-8] + f"{int(signed[0][0][-8:], 16) ^ 1:08X}"  # one bit off
    lower = sign2("19,39", 0x0ABC)[0].lower().replace("#0abc", "#0ABC").replace("19,39", "19,39")
    got = replies(exe, "".join(w + "\n" for w, _ in signed) + bad + "\n" + lower + "\n")
    assert check_tagged(got[0], 0x0001, signed[0][1]) == plain[0]
    assert check_tagged(got[1], 0xBEEF, signed[1][1]) == plain[1]
    assert got[2].startswith("INFO protocol=2 ") and check_tagged(got[2], 0x7FFF, signed[2][1]) is not None
    assert check_tagged(got[3], 0x0002, signed[3][1]) == "ERR count expected 2 got 3"
    assert check_tagged(got[4], 0x0003, signed[4][1]) == "ERR empty-field 1"
    assert got[5].startswith("ERR checksum #0001*")
    assert check_tagged(got[6], 0x0ABC, sign2("19,39", 0x0ABC)[1]) == plain[0], "lowercase hex is accepted"
    # the same reply never checks against another request
    assert check_tagged(got[0], 0xBEEF, signed[1][1]) is None
    assert check_tagged(got[0], 0x0001, signed[1][1]) is None
    assert check_tagged(got[0], 0x0001, sign2("19,39", 0x0002)[1]) is None, "the seed covers the id"


@pytest.mark.parametrize("version", [1, 2])
def test_the_crc_covers_every_character_before_the_star(firmware: tuple[Path, Path], version: int) -> None:
    """Leading blanks are part of what the CRC covers, as docs/protocol.md says: a request signed over them is
    answered, the same request signed without them is a checksum error."""
    from tinygmm.device.client import check_signed, check_tagged, sign, sign2

    _, exe = firmware
    plain = replies(exe, "19,39\n")[0]
    if version == 2:
        (good, seed), (wrong, _) = sign2("  19,39", 5), sign2("19,39", 5)
        got = replies(exe, f"{good}\n  {wrong}\n{good}   \n")
        assert check_tagged(got[0], 5, seed) == plain
        assert check_tagged(got[2], 5, seed) == plain, "blanks after the signature are ignored"
    else:
        (good, seed), (wrong, _) = sign("  19,39"), sign("19,39")
        got = replies(exe, f"{good}\n  {wrong}\n{good}   \n")
        assert check_signed(got[0], seed) == plain
        assert check_signed(got[2], seed) == plain
    assert got[1].startswith("ERR checksum")


def test_longest_request_for_the_features_fits_any_float32() -> None:
    """The firmware sizes its line buffer as 16 * D + 13 (tinygmm::request_max): every value the client
    formats is at most 15 characters, and the v2 signature adds 14."""
    from tinygmm.device.client import format_vector, sign2

    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    values = bits[np.isfinite(bits)].astype(np.float64)
    worst = max(len(format_vector([v])) for v in values)
    assert worst == 15
    for d in (1, 2, 8, 16):
        x = [-1.23456789e-05] * d
        assert len(sign2(format_vector(x), 0xFFFF)[0]) == 16 * d + 13


def test_eight_features_longest_requests_are_answered(tmp_path: Path) -> None:
    """D = 8: a signed request can be 141 characters; the line buffer is sized from D (no build flag), so
    the client's longest requests are answered, not refused as too long."""
    from fw import build_firmware, make_project
    from tinygmm.device.client import check_tagged, format_vector, sign2

    rng = np.random.default_rng(8)
    X = np.vstack([rng.normal(size=(100, 8)) - 1.2345, rng.normal(size=(100, 8)) + 1.2345]) * 1e-5
    csv = tmp_path / "d8.csv"
    np.savetxt(csv, X, delimiter=",", header=",".join(f"f{i}" for i in range(8)), comments="")
    project = make_project(tmp_path / "project", ["--data", str(csv), "--n-components", "2"])
    exe = build_firmware(project)
    m = model(project)
    x = X[:20].astype(np.float32).astype(np.float64)
    requests = [sign2(format_vector(v), i) for i, v in enumerate(x)]
    assert max(len(w) for w, _ in requests) == 141
    got = replies(exe, "INFO\n" + "".join(w + "\n" for w, _ in requests))
    assert " line_max=141 " in got[0]
    labels = m.to_sklearn().predict(m.transform(x))
    for i, ((_, seed), line, label) in enumerate(zip(requests, got[1:], labels, strict=True)):
        body = check_tagged(line, i, seed)
        assert body is not None and body.startswith(f"OK {label} "), line

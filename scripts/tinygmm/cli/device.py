"""``tinygmm classify|stream|verify``: talk to a board (or the native build) over serial."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..anomaly import load_threshold
from ..codegen.identity import load_model
from ..data.reader import load_records
from ..data.rules import lines_list
from ..device.client import RX_BUDGET, WINDOW, DeviceClient, DeviceInfo, Reply, format_vector, open_port
from ..device.native import PtyDevice, find_native_firmware
from ..device.uno_sim import SimulatedUno, find_uno_firmware
from ..errors import TinyGMMError
from ..export.atomic import write_all
from ..export.vectors import is_near_tie, make_inputs, sklearn_outputs
from ..model.exported import ExportedModel
from ..names import nfc

PORT_HELP = (
    "serial device or pyserial URL (/dev/ttyUSB0, COM3, socket://host:port, rfc2217://..., loop://), "
    "or 'native' to build the native firmware for --header and run it as the device on a pty ('native:PATH': "
    "a program already built), or 'simavr' to do the same with the Uno firmware on simavr (16 MHz, real baud "
    "timing; 'simavr:FIRMWARE.elf': an ELF already built)"
)


@contextlib.contextmanager
def connect(port: str, timeout: float, window: int = WINDOW, header: str | Path = "GMM.h") -> Iterator[DeviceClient]:
    """Open the port (spawning the native or simavr firmware built for ``header``) and sync with the device."""
    dev: PtyDevice | None = None
    budget: int | None = RX_BUDGET  # a board's UART buffer, unless we know the device is the native build
    if port == "native" or port.startswith("native:"):
        dev = PtyDevice(find_native_firmware(port, header))
        port = dev.port
        budget = None  # the native firmware reads a pty with a 4 KB buffer
    elif port == "simavr" or port.startswith("simavr:"):
        dev = SimulatedUno(find_uno_firmware(port, header))
        port = dev.port
    ser = open_port(port, timeout)
    try:
        client = DeviceClient(ser, timeout=timeout, window=window, rx_budget=budget)
        client.sync()
        yield client
    finally:
        with contextlib.suppress(Exception):
            ser.close()
        if dev is not None:
            dev.close()


def _progress(label: str) -> Callable[[int, int], None]:
    tty = sys.stderr.isatty()
    start = time.monotonic()

    def show(done: int, total: int) -> None:
        if not tty and done != total:
            return
        rate = done / max(time.monotonic() - start, 1e-9)
        width = 30
        bar = "#" * (width * done // max(total, 1))
        print(
            f"\r{label} [{bar:<{width}}] {done}/{total} ({rate:.0f}/s)",
            end="" if done < total else "\n",
            file=sys.stderr,
            flush=True,
        )

    return show


def _reply_text(r: Reply) -> str:
    if r.ok:
        text = f"label={r.label} probability={r.probability:.6g} log_likelihood={r.log_likelihood:.7g}"
        if r.anomaly is not None:
            text += f" anomaly={int(bool(r.is_anomaly))} alarm={int(bool(r.alarm))}"
        return text
    return r.line


# classify's options that take a value: the word after one is that value, never a vector
VALUE_OPTIONS = ("--port", "--timeout", "--header")
# what a vector's characters may be as the device reads one (tinygmm_protocol.cpp parse_number): decimal
# numbers with signs and exponents, commas and spaces; inf / nan it reads too (and answers not-finite)
_VECTOR_CHARS = frozenset("0123456789.eE+-, \t")
_NON_FINITE = ("inf", "infinity", "nan")


def looks_like_vector(word: str) -> bool:
    """A command-line word the device would read as a vector (even one it then refuses, like -inf)."""
    if not word.startswith("-") or word.startswith("--"):  # (no option starts with a digit, '.' or ',')
        return False
    fields = [f for f in word.replace(",", " ").split() if f]
    return bool(fields) and all(set(f) <= _VECTOR_CHARS or f.lstrip("+-").lower() in _NON_FINITE for f in fields)


def vector_arguments(argv: list[str]) -> list[str]:
    """``classify``'s words with its options first, then ``--`` and the vectors in their order.

    argparse would take a vector starting with '-' (``-0.5,0.2``, ``-inf``) for an option
    (``unrecognized arguments``), and vectors on both sides of an option for extra arguments; after
    ``--`` every word is a vector. Words after a ``--`` the user gave are vectors too."""
    if not argv or argv[0] != "classify":
        return argv
    options: list[str] = []
    vectors: list[str] = []
    rest = iter(argv[1:])
    for word in rest:
        if word == "--":
            vectors.extend(rest)
            break
        if word in VALUE_OPTIONS:
            options.append(word)
            value = next(rest, None)
            if value is not None:
                options.append(value)
        elif word.startswith("-") and len(word) > 1 and not looks_like_vector(word):
            options.append(word)  # -h, --port=P, or an unknown option argparse then names
        else:
            vectors.append(word)
    return [argv[0], *options, "--", *vectors]


def cmd_classify(a: argparse.Namespace) -> int:
    """Each vector gets its own answer or its own error; exit status 1 if any vector had an error."""
    vectors = [v.strip() for v in a.vectors]
    with connect(a.port, a.timeout, header=a.header) as client:
        replies = client.request_many(vectors, well_formed=False)
    status = 0
    for vec, r in zip(vectors, replies, strict=True):
        print(f"{vec} -> {_reply_text(r)}")
        status |= 0 if r.ok else 1
    return status


def read_feature_rows(path: str, names: list[str]) -> tuple[list[str], list[list[str]], np.ndarray, list[int]]:
    """The CSV's header, its records with values (as written) and their feature vectors, as export reads
    them (one reader: data.reader), and the CSV line each record starts on."""
    records = load_records(path, names)
    return records.header, records.rows, records.data.X, records.lines


def check_output(path: str) -> Path:
    """--out, checked before any work: its folder exists and is writable, and it is not a folder."""
    out = Path(path)
    folder = out.parent
    if out.is_dir():
        raise TinyGMMError(f"--out {out} is a folder: name a file")
    if not folder.is_dir():
        raise TinyGMMError(f"--out {out}: folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TinyGMMError(f"--out {out}: folder {folder} is not writable")
    return out


def cmd_stream(a: argparse.Namespace) -> int:
    out = check_output(a.out) if a.out else None
    with connect(a.port, a.timeout, a.window, a.header) as client:
        info = client.info()
        header, body, X, lines = read_feature_rows(a.data, info.names)
        replies = client.request_many([format_vector(x) for x in X], progress=_progress("stream"))
        _print_link_stats(client)
    failed = sum(1 for r in replies if not r.ok)
    if out is not None:
        text = io.StringIO()
        w = csv.writer(text, lineterminator="\n")
        anomaly = info.threshold is not None
        w.writerow([*header, "label", "probability", "log_likelihood", *(["anomaly", "alarm"] if anomaly else [])])
        for row, r in zip(body, replies, strict=True):
            w.writerow([*row, *(_cols(r)), *(_anomaly_cols(r) if anomaly else [])])
        try:
            write_all({out: text.getvalue()})
        except OSError as exc:
            raise TinyGMMError(f"cannot write {out}: {exc.strerror or exc}") from None
        print(f"wrote {len(replies)} labelled rows to {out}")
    else:
        for x, r in zip(X, replies, strict=True):
            print(f"{format_vector(x)} -> {_reply_text(r)}")
    if failed:
        where = lines_list([line for line, r in zip(lines, replies, strict=True) if not r.ok])
        print(f"stream: {failed} row(s) got an error instead of an answer (CSV line(s) {where})", file=sys.stderr)
    return 1 if failed else 0


def _cols(r: Reply) -> list[str]:
    if r.ok:
        return [str(r.label), f"{r.probability:.6g}", f"{r.log_likelihood:.7g}"]
    return ["", "", r.line]


def _anomaly_cols(r: Reply) -> list[str]:
    if r.anomaly is None:
        return ["", ""]
    return [str(int(bool(r.is_anomaly))), str(int(bool(r.alarm)))]


def check_anomaly(info: DeviceInfo, threshold: float | None, json_path: str) -> None:
    """The device's threshold (INFO) must be the model JSON's, as the header holds it (float32)."""
    if threshold is None and info.threshold is None:
        return
    if threshold is None:
        raise TinyGMMError(
            f"the device has an anomaly threshold ({info.threshold:g}) but {json_path} has none: "
            "pass the JSON exported with it"
        )
    if info.threshold is None:
        raise TinyGMMError(
            f"{json_path} has an anomaly threshold ({threshold:.9g}) but the device reports none: "
            "flash the firmware built from this export"
        )
    want = float(np.float32(threshold))
    if abs(info.threshold - want) > 1e-6 * max(1.0, abs(want)):
        raise TinyGMMError(
            f"the device's anomaly threshold {info.threshold:.9g} differs from {json_path}'s {want:.9g}: "
            "flash the firmware built from this export"
        )


def anomaly_agreement(
    replies: list[Reply], scores: np.ndarray, threshold: float, far: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(clear, mismatch): rows whose scikit-learn score is further from the threshold than
    the device's score_samples tolerance (1e-3, or 1e-5 relative far out), and those of them
    where the device's decision is not scikit-learn's score_samples < threshold."""
    has = np.array([r.ok and r.anomaly is not None for r in replies], dtype=bool)
    got = np.array([bool(r.is_anomaly) for r in replies], dtype=bool)
    tol = np.where(far, 1e-5 * np.abs(scores), 1e-3)
    clear = np.abs(scores - threshold) > tol
    return clear, clear & (~has | (got != (scores < threshold)))


def _print_link_stats(client: DeviceClient) -> None:
    s = client.stats
    if s.resyncs or s.resets or s.garbage_lines:
        print(
            f"link: {s.resyncs} resync(s), {s.resets} reset(s), {s.garbage_lines} garbled line(s), "
            f"{s.timeouts} timeout(s), {s.retried_requests} request(s) retried",
            file=sys.stderr,
        )


def check_model(info: DeviceInfo, model: ExportedModel, json_path: str) -> None:
    if info.model != model.model_hash:
        raise TinyGMMError(
            f"the device runs model {info.model} but {json_path} is model {model.model_hash}: "
            "flash the firmware built from this model (pio run -t upload) or pass the matching --json"
        )
    if info.names != [nfc(n) for n in model.feature_names]:  # names are compared in NFC
        raise TinyGMMError(f"device features {info.names} differ from the model's {model.feature_names}")


def cmd_verify(a: argparse.Namespace) -> int:
    model = load_model(a.json)
    threshold = load_threshold(a.json)
    data_path = a.data or model.data.get("path")
    if not data_path or not Path(data_path).is_file():
        raise TinyGMMError(f"no data to verify with: pass a CSV (the model's data file {data_path!r} is not here)")
    records = load_records(data_path, model.feature_names, dropna=True)
    X_data, lines = records.data.X, records.lines
    X_grid, far = make_inputs(model, X_data, n_in=64, n_far=30, seed=1)
    X = np.vstack([X_data.astype(np.float32).astype(np.float64), X_grid])
    is_far = np.concatenate([np.zeros(len(X_data), bool), far])
    with connect(a.port, a.timeout, a.window, a.header or Path(a.json).with_name("GMM.h")) as client:
        info = client.info()
        check_model(info, model, a.json)
        check_anomaly(info, None if threshold is None else threshold.threshold, a.json)
        replies = client.request_many([format_vector(x) for x in X], progress=_progress("verify"))
        _print_link_stats(client)
    ref = sklearn_outputs(model, X)
    decided = ~is_near_tie(ref["gap"], ref["top"])
    labels = np.array([r.label if r.ok else -1 for r in replies])
    probs = np.array([r.probability if r.ok else np.nan for r in replies])
    lls = np.array([r.log_likelihood if r.ok else np.nan for r in replies])
    ref_p = ref["proba"][np.arange(len(X)), np.clip(labels, 0, None)]
    agree = labels == ref["label"]
    ll_ok = np.where(
        is_far,
        np.abs(lls - ref["log_likelihood"]) <= 1e-5 * np.abs(ref["log_likelihood"]),
        np.abs(lls - ref["log_likelihood"]) <= 1e-3,
    )
    p_ok = np.abs(probs - ref_p) <= 1e-4
    bad = np.flatnonzero(decided & ~(agree & ll_ok & p_ok))
    lat = np.array([r.latency for r in replies]) * 1e3
    n_dec = int(decided.sum())
    print(
        f"device model {info.model} ({info.components} components, features {', '.join(info.names)}): matches {a.json}"
    )
    print(f"rows: {len(X)} ({len(X_data)} from {data_path}, {int((~far).sum())} grid, {int(far.sum())} far outside)")
    print(
        f"predict agreement: {100.0 * agree[decided].mean():.2f}% of {n_dec} decided rows; {len(X) - n_dec} near-tie(s) reported separately"
    )
    print(f"probability/log-likelihood within tolerance: {100.0 * (p_ok & ll_ok)[decided].mean():.2f}%")
    print(f"round-trip latency: mean {lat.mean():.2f} ms, p95 {np.percentile(lat, 95):.2f} ms, max {lat.max():.2f} ms")

    def row(i: int) -> str:
        return f"CSV line {lines[i]}" if i < len(lines) else f"row {i + 1}"

    for i in bad[:10]:
        print(
            f"  mismatch {row(i)}: x={format_vector(X[i])} device={replies[i].line!r} "
            f"sklearn=label {ref['label'][i]} p {ref_p[i]:.6g} ll {ref['log_likelihood'][i]:.7g}"
        )
    ties = np.flatnonzero(~decided)
    for i in ties[:5]:
        print(f"  near-tie {row(i)}: x={format_vector(X[i])} device label {labels[i]}, sklearn {ref['label'][i]}")
    n_bad = len(bad)
    if threshold is not None:
        clear, wrong = anomaly_agreement(replies, ref["log_likelihood"], threshold.threshold, is_far)
        flagged = np.array([bool(r.is_anomaly) for r in replies])
        print(
            f"anomaly decisions (threshold {threshold.threshold:.9g}): {100.0 * (~wrong[clear]).mean():.2f}% of "
            f"{int(clear.sum())} rows agree with scikit-learn's score_samples < threshold; "
            f"{int((~clear).sum())} within float32 resolution of it; device flags {int(flagged.sum())} of {len(X)}"
        )
        for i in np.flatnonzero(wrong)[:10]:
            print(
                f"  anomaly mismatch {row(i)}: x={format_vector(X[i])} device={replies[i].line!r} "
                f"sklearn score {ref['log_likelihood'][i]:.7g}"
            )
        n_bad += int(wrong.sum())
    ok = n_bad == 0
    print("verify: PASS" if ok else f"verify: FAIL ({n_bad} mismatches)")
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    def common(p: argparse.ArgumentParser, header_default: str = "GMM.h") -> None:
        p.add_argument("--port", required=True, help=PORT_HELP)
        p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for an answer (default: 2)")
        p.add_argument(
            "--header",
            default="GMM.h" if header_default == "GMM.h" else None,
            metavar="GMM.h",
            help="with --port native or simavr: the model header the firmware is built for, once, into "
            f"$XDG_CACHE_HOME/tinygmm (default: {header_default})",
        )

    p = sub.add_parser("classify", help="send feature vectors to a device and print its answers")
    common(p)
    p.add_argument("vectors", nargs="+", help='feature vectors such as "19,39" (commas and/or spaces)')
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("stream", help="send every row of a CSV to a device and collect the labels")
    common(p)
    p.add_argument("data", help="CSV with the model's feature columns (by name)")
    p.add_argument("--out", help="write the CSV with label, probability and log_likelihood columns added")
    p.add_argument("--window", type=int, default=WINDOW, help=f"requests in flight (default: {WINDOW})")
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("verify", help="check a device against scikit-learn using the model JSON")
    common(p, "the GMM.h beside --json")
    p.add_argument("data", nargs="?", help="CSV to verify with (default: the model's training data)")
    p.add_argument("--json", default="GMM.json", help="model JSON written by export (default: GMM.json)")
    p.add_argument("--window", type=int, default=WINDOW, help=f"requests in flight (default: {WINDOW})")
    p.set_defaults(func=cmd_verify)

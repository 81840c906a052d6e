"""Lines per second through a simulated Arduino Uno against the 115200-baud link's limit.

    PYTHONPATH=scripts python3 scripts/bench/uno_link.py [--lines N]

Builds the Uno firmware (Arduino core from Debian's arduino-core-avr) for the demo
model (K = 4, D = 2) and a synthetic K = 10, D = 8 full-covariance model, runs each
on simavr at 16 MHz with UART0 on a pty (scripts/tinygmm/device/simavr_uart.c: real
frame timing, simulated time in step with the wall clock), and streams N random
in-range vectors through the host client at its default window and RX_BUDGET.
Prints, per model: bytes per request and reply on the wire, lines/s measured (in
wall time and in simulated time), the device's turnaround (newline in -> first
reply byte out, simulated, requests sent one at a time), and the link's limits at 115200 baud:
half duplex, 11520 B/s / (request + reply bytes), and full duplex (the UART
sends and receives at once), 11520 B/s / max(request, reply bytes).
Needs gcc-avr avr-libc arduino-core-avr libsimavr-dev libelf-dev.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "test" / "python"))

from tinygmm.device.client import DeviceClient, format_vector, open_port  # noqa: E402
from tinygmm.device.uno_sim import SimulatedUno, build_bridge, build_uno_firmware, simavr_available  # noqa: E402

LINK_BYTES_PER_S = 115200 / 10


def measure(elf: Path, bridge: Path, X: np.ndarray) -> dict[str, float]:
    dev = SimulatedUno(elf, bridge=bridge)
    try:
        ser = open_port(dev.port)
        lines = [format_vector(x) for x in X]
        # the device's own time per request: one at a time, so no reply waits behind another
        alone = DeviceClient(ser, timeout=5.0, window=1)
        alone.sync()
        s0 = dev.stats()
        alone.request_many(lines[:50])
        s1 = dev.stats()
        turn_ms = (s1["turnaround_us_mean"] * s1["turnarounds"] - s0["turnaround_us_mean"] * s0["turnarounds"]) / (
            1e3 * (s1["turnarounds"] - s0["turnarounds"])
        )
        client = DeviceClient(ser, timeout=5.0)
        client.sync()
        s0, t0 = dev.stats(), time.monotonic()
        replies = client.request_many(lines)
        t1, s1 = time.monotonic(), dev.stats()
        ser.close()
    finally:
        dev.close()
    n = len(lines)
    assert len(replies) == n and all(r.ok for r in replies)
    req = (s1["rx"] - s0["rx"]) / n
    rep = (s1["tx"] - s0["tx"]) / n
    return {
        "n": n,
        "req": req,
        "rep": rep,
        "wall": n / (t1 - t0),
        "sim": n / (s1["sim_s"] - s0["sim_s"]),
        "turn_ms": turn_ms,
        "half": LINK_BYTES_PER_S / (req + rep),
        "full": LINK_BYTES_PER_S / max(req, rep),
        "resyncs": client.stats.resyncs,
        "behind_ms": s1["behind_ms_max"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=400)
    a = ap.parse_args()
    missing = simavr_available()
    if missing:
        print(f"uno_link: {missing}", file=sys.stderr)
        return 2
    from fw import make_project
    from synth import mixture_data

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        bridge = build_bridge(t / "simavr_uart")
        demo = t / "demo"
        make_project(demo)  # the demo model (K=4), as the tests' firmware fixture
        wide = t / "wide"
        wide.mkdir()
        Xw = mixture_data(8, 10, n=160, seed=3)
        with (wide / "wide.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([f"f{i}" for i in range(8)])
            w.writerows([[f"{v:.6g}" for v in row] for row in Xw])
        make_project(wide, ["--data", str(wide / "wide.csv"), "--n-components", "10", "--random-state", "0"])
        rng = np.random.default_rng(0)
        cases = [
            (
                "demo K=4 D=2 full",
                build_uno_firmware(demo, t / "demo.elf"),
                np.column_stack([rng.uniform(18, 75, a.lines), rng.uniform(1, 100, a.lines)]),
            ),
            (
                "synthetic K=10 D=8 full",
                build_uno_firmware(wide, t / "wide.elf", ["-DTINYGMM_LINE_MAX=160"]),
                Xw[rng.integers(0, len(Xw), a.lines)],
            ),
        ]
        print(
            "| model | request B | reply B | lines/s (wall) | lines/s (simulated) | turnaround ms | limit half duplex | limit full duplex | resyncs |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name, elf, X in cases:
            m = measure(elf, bridge, X.astype(np.float32).astype(np.float64))
            print(
                f"| {name} | {m['req']:.1f} | {m['rep']:.1f} | {m['wall']:.0f} | {m['sim']:.0f} | {m['turn_ms']:.2f} | "
                f"{m['half']:.0f} | {m['full']:.0f} | {m['resyncs']} |"
            )
            if m["behind_ms"] > 50:
                print(f"  (simulated time fell up to {m['behind_ms']:.0f} ms behind the wall clock: a busy machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

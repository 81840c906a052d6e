"""Generate this example's training data, ``machine.csv``: readings of a machine's sensors.

Synthetic and seeded (reproducible byte for byte): three operating states drawn from
Gaussians, the same states src/main.cpp simulates. Run from this folder::

    python data/make_sensor_data.py
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

SEED = 20261201
N_ROWS = 300
# (state, share, temperature mean degC, sd, vibration mean mm/s, sd): keep in step with src/main.cpp
STATES = [
    ("idle", 0.40, 24.0, 1.5, 0.3, 0.1),
    ("running", 0.45, 48.0, 3.0, 2.5, 0.4),
    ("fault", 0.15, 66.0, 4.0, 7.0, 1.2),
]


def generate() -> str:
    rng = np.random.default_rng(SEED)
    shares = np.array([s[1] for s in STATES])
    states = rng.choice(len(STATES), size=N_ROWS, p=shares / shares.sum())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["temperature", "vibration"])
    for k in states:
        _, _, tm, tsd, vm, vsd = STATES[k]
        writer.writerow([f"{rng.normal(tm, tsd):.1f}", f"{max(rng.normal(vm, vsd), 0.0):.2f}"])
    return out.getvalue()


if __name__ == "__main__":
    (Path(__file__).resolve().parent / "machine.csv").write_text(generate())

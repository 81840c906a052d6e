"""Generate the demo customer-segmentation data set in ``data/customers.csv``.

The data are synthetic: seven customer segments drawn from Gaussians with a
fixed seed, so the file is reproducible byte for byte and no third-party data
set is redistributed. Run from the project root::

    python scripts/make_demo_data.py            # writes data/customers.csv
    python scripts/make_demo_data.py --check    # exits 1 if the file differs
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

SEED = 20261127
N_ROWS = 400

# (share, age mean, age sd, income mean k$, income sd, score mean, score sd)
SEGMENTS: list[tuple[float, float, float, float, float, float, float]] = [
    (0.18, 24.0, 3.5, 28.0, 7.0, 78.0, 9.0),  # young, low income, big spenders
    (0.16, 46.0, 7.0, 27.0, 7.0, 20.0, 8.0),  # older, low income, careful
    (0.20, 42.0, 9.0, 57.0, 8.0, 50.0, 6.0),  # middle of the road
    (0.14, 32.0, 3.5, 86.0, 10.0, 82.0, 7.0),  # affluent enthusiasts
    (0.14, 41.0, 9.0, 88.0, 12.0, 17.0, 8.0),  # affluent, frugal
    (0.10, 62.0, 5.0, 50.0, 9.0, 45.0, 8.0),  # seniors
    (0.08, 21.0, 2.0, 60.0, 10.0, 40.0, 9.0),  # students with jobs
]


def generate(seed: int = SEED, n_rows: int = N_ROWS) -> str:
    """Return the CSV text of the demo data set."""
    rng = np.random.default_rng(seed)
    shares = np.array([s[0] for s in SEGMENTS])
    labels = rng.choice(len(SEGMENTS), size=n_rows, p=shares / shares.sum())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["CustomerID", "Gender", "Age", "Annual Income (k$)", "Spending Score (1-100)"])
    for i, k in enumerate(labels, start=1):
        _, am, asd, im, isd, sm, ssd = SEGMENTS[k]
        age = int(np.clip(round(rng.normal(am, asd)), 18, 75))
        income = int(np.clip(round(rng.normal(im, isd)), 12, 150))
        score = int(np.clip(round(rng.normal(sm, ssd)), 1, 100))
        gender = "Female" if rng.random() < 0.55 else "Male"
        writer.writerow([i, gender, age, income, score])
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/customers.csv"))
    parser.add_argument("--check", action="store_true", help="only compare with the existing file")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        same = args.out.exists() and args.out.read_text() == text
        print(f"{args.out}: {'up to date' if same else 'DIFFERS from the generator'}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out} ({N_ROWS} rows, seed {SEED})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

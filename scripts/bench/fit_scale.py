#!/usr/bin/env python3
"""Fitting at sensor-log scale: ``tinygmm export`` against pandas + scikit-learn, side by side.

    python3 scripts/bench/fit_scale.py [--rows 1000000] [--features 8] [--k 6] [--max-components 10]
                                       [--repeat 1] [--skip-auto] [--out DIR]

Generates a seeded CSV (``--rows`` x ``--features``, ``--k`` Gaussian clusters, 5 decimals), then
runs, each as its own process and interleaved in one run, so that load from other users of the
machine hits both sides alike:

* ``baseline fixed``: ``pandas.read_csv`` + ``GaussianMixture(n_components=k).fit`` (tinygmm's
  defaults: full, kmeans, max_iter 100, tol 1e-3, reg_covar 1e-6, random_state 0);
* ``tinygmm fixed``: ``tinygmm export --n-components k`` (header, JSON and golden vectors);
* ``baseline auto``: pandas + ``GaussianMixture`` for K = 1..max, one after the other, BIC of each;
* ``tinygmm auto``: ``tinygmm export --n-components auto`` (default ``--n-jobs``: one per core).

Wall time is measured around each process; peak memory two ways: the largest single process
(``ru_maxrss`` from ``os.wait4``) and the largest sum of PSS over the process and its children
(worker processes of the parallel sweep; PSS counts the pages they share once, in shares),
sampled every 50 ms from /proc. Writes
``fit_scale_results.md`` and ``.json`` to ``--out`` (default: this folder). This is a benchmark,
not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")

BASELINE_FIXED = """
import sys, pandas as pd, numpy as np
from sklearn.mixture import GaussianMixture
X = pd.read_csv(sys.argv[1]).to_numpy(dtype=np.float64)
g = GaussianMixture(n_components=int(sys.argv[2]), random_state=0, max_iter=int(sys.argv[3])).fit(X)
print(g.n_iter_, g.converged_)
"""

BASELINE_AUTO = """
import sys, pandas as pd, numpy as np
from sklearn.mixture import GaussianMixture
X = pd.read_csv(sys.argv[1]).to_numpy(dtype=np.float64)
it = int(sys.argv[3])
bic = [GaussianMixture(n_components=k, random_state=0, max_iter=it).fit(X).bic(X) for k in range(1, int(sys.argv[2]) + 1)]
print(int(np.argmin(bic)) + 1)
"""


def make_csv(path: Path, rows: int, d: int, k: int, seed: int = 14) -> None:
    """Seeded clusters, written in blocks (the generator itself stays small)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, (k, d))
    scales = rng.uniform(0.5, 2.0, (k, d))
    with path.open("w") as f:
        f.write(",".join(f"axis{i}" for i in range(d)) + "\n")
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            lab = rng.integers(0, k, n)
            X = centres[lab] + rng.normal(0.0, 1.0, (n, d)) * scales[lab]
            np.savetxt(f, X, fmt="%.5f", delimiter=",")


def _pss(pid: int) -> int:
    """Proportional set size (bytes): pages shared with other processes count as a share."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def _tree_pss(root: int) -> int:
    """Sum of PSS of ``root`` and all its descendants (worker processes included)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):  # the process ended meanwhile
            total += _pss(pid)
        todo += children.get(pid, [])
    return total


@dataclass
class Run:
    name: str
    seconds: float
    max_rss_mb: float  # largest single process
    tree_pss_mb: float  # largest sampled sum of PSS over the process tree
    load_average: float  # 1-minute load average of the machine when the run ended (shared machine)
    stdout_tail: str


def measure(name: str, cmd: list[str], cwd: Path) -> Run:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_pss(p.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert p.stdout is not None
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{name} failed ({p.returncode}):\n{out}")
    tail = "\n".join(out.strip().splitlines()[-3:])
    run = Run(name, seconds, usage.ru_maxrss / 1024, peak / 2**20, os.getloadavg()[0], tail)
    print(
        f"  {name:<16} {seconds:8.1f} s  max RSS {run.max_rss_mb:8.0f} MB  tree PSS {run.tree_pss_mb:8.0f} MB",
        flush=True,
    )
    return run


def export_cmd(csv: Path, out: Path, k: str, max_iter: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tinygmm",
        "export",
        "--data",
        str(csv),
        "--n-components",
        k,
        "--header",
        str(out / "GMM.h"),
        "--json",
        str(out / "GMM.json"),
        "--vectors",
        str(out / "golden.h"),
        "--max-iter",
        str(max_iter),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--max-components", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1, help="runs of the fixed-K pair (the auto pair runs once)")
    ap.add_argument("--skip-auto", action="store_true", help="only the fixed-K pair")
    ap.add_argument(
        "--max-iter",
        type=int,
        default=100,
        help="EM iterations, both sides (default 100, the default of both); a few suffice to see peak memory",
    )
    ap.add_argument("--only", choices=("baseline", "tinygmm"), help="run one side only (e.g. 10^7 rows for memory)")
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="tinygmm-scale-") as tmp:
        work = Path(tmp)
        csv = work / "sensor.csv"
        t = time.perf_counter()
        make_csv(csv, a.rows, a.features, a.k)
        size = csv.stat().st_size
        print(f"{csv.name}: {a.rows:,} rows x {a.features}, {size / 2**20:.0f} MB ({time.perf_counter() - t:.0f} s)")
        (work / "out").mkdir()
        runs: list[Run] = []
        base, tiny = a.only in (None, "baseline"), a.only in (None, "tinygmm")
        it = str(a.max_iter)
        for _ in range(a.repeat):
            if base:
                cmd = [sys.executable, "-c", BASELINE_FIXED, str(csv), str(a.k), it]
                runs.append(measure("baseline fixed", cmd, work))
            if tiny:
                runs.append(measure("tinygmm fixed", export_cmd(csv, work / "out", str(a.k), a.max_iter), work))
        if not a.skip_auto:
            if base:
                cmd = [sys.executable, "-c", BASELINE_AUTO, str(csv), str(a.max_components), it]
                runs.append(measure("baseline auto", cmd, work))
            if tiny:
                cmd = [*export_cmd(csv, work / "out", "auto", a.max_iter), "--max-components", str(a.max_components)]
                runs.append(measure("tinygmm auto", cmd, work))

    def best(name: str) -> Run | None:
        rs = [r for r in runs if r.name == name]
        return min(rs, key=lambda r: r.seconds) if rs else None

    ratios = {}
    for kind in ("fixed", "auto"):
        b, t = best(f"baseline {kind}"), best(f"tinygmm {kind}")
        if b and t:
            ratios[kind] = {
                "time": t.seconds / b.seconds,
                "max_rss": t.max_rss_mb / b.max_rss_mb,
                "tree_pss": t.tree_pss_mb / b.tree_pss_mb,
            }
    doc = {
        "rows": a.rows,
        "features": a.features,
        "k": a.k,
        "max_components": a.max_components,
        "max_iter": a.max_iter,
        "csv_mb": size / 2**20,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "runs": [asdict(r) for r in runs],
        "ratios": ratios,
    }
    a.out.mkdir(parents=True, exist_ok=True)
    stem = "fit_scale_results" if a.rows == 1_000_000 else f"fit_scale_results_{a.rows:.0e}".replace("+", "")
    (a.out / f"{stem}.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = [
        f"# Fitting {a.rows:,} rows x {a.features} ({size / 2**20:.0f} MB CSV), K={a.k} / auto 1..{a.max_components}",
        "",
        f"`python3 scripts/bench/fit_scale.py {' '.join(sys.argv[1:])}` (max_iter {a.max_iter}) on {os.cpu_count()} cores ({platform.platform()}), "
        "each command its own process, baseline and tinygmm interleaved in one run.",
        "",
        "| run | wall s | peak RSS MB (largest process) | peak PSS MB (process + workers, sampled) | load avg |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.name} | {r.seconds:.1f} | {r.max_rss_mb:.0f} | {r.tree_pss_mb:.0f} | {r.load_average:.1f} |"
        for r in runs
    ]
    lines.append("")
    for kind, r in ratios.items():
        lines.append(
            f"- {kind}: tinygmm / baseline = {r['time']:.2f}x time, {r['max_rss']:.2f}x peak RSS "
            f"(largest process), {r['tree_pss']:.2f}x PSS (with workers)"
        )
    (a.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-len(ratios) :]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of on-device learning (tinygmm_online.h / tinygmm.online): quality and cost.

Not a test. Writes scripts/bench/online_results.md (and .json).

Quality, with the float32 reference tinygmm.online (the device's algorithm, operation for operation):
* streams from known mixtures (K <= 4, D <= 4, 10^4 samples, one pass, from scratch): mean held-out
  log-likelihood against scikit-learn's batch EM (GaussianMixture, full, k-means init) fitted on the
  same samples, and the anomaly ROC AUC of both (held-out samples against uniform outliers);
* real data shipped with scikit-learn (iris, wine; standardised, wine reduced to 4 principal
  components on the training part), train/test split, one pass and 20 passes;
* drift: 10^4 samples of mixture A, then mixture B (A's means shifted): samples of B until the held-out
  log-likelihood on B comes within 0.1 nats of a batch fit on 10^4 samples of B, for a forgetting
  learner (gamma_floor), a decreasing-step learner and the model frozen after A.
Cost (--cost, needs avr-g++, simavr and libsimavr-dev): cycles per call on simavr's ATmega328P
(scripts/bench/simharness.c) for learn (adapting include/GMM.h, K = 4, D = 2, full), the scratch
start's seeding, predict / score_samples / is_anomaly on the learned parameters and the frozen
header's predict / score_samples; static RAM of the learner; sizeof(OnlineGMM<K, D>) for other shapes.

    PYTHONPATH=scripts python3 scripts/bench/online.py [--quick] [--cost-only]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris, load_wine
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture

from tinygmm.online import OnlineConfig, OnlineGMM

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT_MD, OUT_JSON = HERE / "online_results.md", HERE / "online_results.json"

CONFIGS = {  # name: (OnlineConfig, WARM)
    "default (a=0.7, t0=50, WARM=4K)": (OnlineConfig(), None),
    "the previous defaults (a=0.6, t0=10, WARM=4K)": (OnlineConfig(alpha=0.6, t0=10.0), None),
    "a=0.9, WARM=64": (OnlineConfig(alpha=0.9), 64),
}


def mixture(k: int, d: int, rng: np.random.Generator, sep: float = 4.0):
    w = rng.dirichlet(np.full(k, 5.0))
    mu = rng.normal(size=(k, d)) * sep
    a = rng.normal(size=(k, d, d)) * 0.6
    cov = a @ a.transpose(0, 2, 1) + np.eye(d) * 0.3
    return w, mu, cov


def sample(m, n: int, rng: np.random.Generator) -> np.ndarray:
    w, mu, cov = m
    z = rng.choice(len(w), n, p=w)
    chol = np.linalg.cholesky(cov)
    return mu[z] + np.einsum("nij,nj->ni", chol[z], rng.normal(size=(n, mu.shape[1])))


def as_sklearn(weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> GaussianMixture:
    """A GaussianMixture holding given parameters (float64 evaluation, for scoring many points fast)."""
    g = GaussianMixture(len(weights), covariance_type="full")
    g.weights_, g.means_ = np.asarray(weights, float), np.asarray(means, float)
    g.covariances_ = np.asarray(covs, float)
    g.precisions_cholesky_ = np.array([np.linalg.cholesky(np.linalg.inv(c)) for c in g.covariances_])
    return g


def learned(g: OnlineGMM) -> GaussianMixture:
    return as_sklearn(*g.params())


def online_fit(X: np.ndarray, k: int, cfg: OnlineConfig, warm: int | None, passes: int = 1, seed: int = 0):
    g = OnlineGMM(k, X.shape[1], "full", warm)
    g.begin_scratch(cfg)
    rng = np.random.default_rng(seed)
    for p in range(passes):
        g.learn_many(X if p == 0 else X[rng.permutation(len(X))])
    return g


def outliers(X: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    lo, hi = X.min(0), X.max(0)
    span = hi - lo
    return rng.uniform(lo - 0.5 * span, hi + 0.5 * span, size=(n, X.shape[1]))


def auc(model: GaussianMixture, normal: np.ndarray, out: np.ndarray) -> float:
    s = np.concatenate([model.score_samples(normal), model.score_samples(out)])
    y = np.concatenate([np.ones(len(normal)), np.zeros(len(out))])
    return float(roc_auc_score(y, s))


def synthetic(quick: bool, log, sep: float = 4.0, configs: dict | None = None) -> list[dict]:
    """Known mixtures (means drawn with scale ``sep``; 4: mostly apart, 1.5: overlapping), one pass each."""
    configs = configs or CONFIGS
    rows = []
    shapes = [(2, 2), (4, 2), (3, 3), (4, 4)]
    for k, d in shapes:
        for seed in range(2 if quick else 5):
            rng = np.random.default_rng(seed)
            m = mixture(k, d, rng, sep)
            X, Xt = sample(m, 10_000, rng), sample(m, 10_000, rng)
            out = outliers(Xt, 2000, rng)
            batch = GaussianMixture(k, random_state=0).fit(X)
            row = {"K": k, "D": d, "seed": seed, "batch_ll": batch.score(Xt), "batch_auc": auc(batch, Xt, out)}
            for name, (cfg, warm) in configs.items():
                g = learned(online_fit(X, k, cfg, warm))
                row[name] = {"ll": g.score(Xt), "auc": auc(g, Xt, out)}
            rows.append(row)
            log(
                f"sep={sep} K={k} D={d} seed={seed}: batch {row['batch_ll']:.3f}, "
                + ", ".join(f"{n}: {row[n]['ll'] - row['batch_ll']:+.3f}" for n in configs)
            )
    return rows


def real(log) -> list[dict]:
    rows = []
    for name, loader, k in (("iris", load_iris, 3), ("wine (4 PCs)", load_wine, 3)):
        X = loader().data.astype(float)
        rng = np.random.default_rng(0)
        idx = rng.permutation(len(X))
        tr, te = X[idx[: 2 * len(X) // 3]], X[idx[2 * len(X) // 3 :]]
        mu, sd = tr.mean(0), tr.std(0)
        tr, te = (tr - mu) / sd, (te - mu) / sd
        if tr.shape[1] > 4:
            p = PCA(4, random_state=0).fit(tr)
            tr, te = p.transform(tr), p.transform(te)
        batch = GaussianMixture(k, random_state=0, reg_covar=1e-3).fit(tr)
        row = {"data": name, "n_train": len(tr), "n_test": len(te), "batch_ll": batch.score(te)}
        for passes in (1, 20):
            cfg = OnlineConfig(alpha=0.9, reg_covar=1e-3)
            g = learned(online_fit(tr, k, cfg, 32, passes))
            row[f"{passes} pass"] = g.score(te)
        rows.append(row)
        log(f"{name}: batch {row['batch_ll']:.3f} online 1 pass {row['1 pass']:.3f} 20 passes {row['20 pass']:.3f}")
    return rows


def drift(quick: bool, log) -> list[dict]:
    rows = []
    for k, d in [(2, 2), (4, 2), (3, 3)][: 2 if quick else 3]:
        rng = np.random.default_rng(100 + k * 10 + d)
        a = mixture(k, d, rng)
        b = (a[0], a[1] + 3.0, a[2])  # every mean moves 3 units along each axis
        XA, XB, XBt = sample(a, 10_000, rng), sample(b, 10_000, rng), sample(b, 5000, rng)
        target = GaussianMixture(k, random_state=0).fit(XB).score(XBt)
        row = {"K": k, "D": d, "batch_B": target}
        learners = {
            "forgetting (gamma_floor=0.01)": OnlineConfig(alpha=0.9, gamma_floor=0.01),
            "forgetting (gamma_floor=0.003)": OnlineConfig(alpha=0.9, gamma_floor=0.003),
            "decreasing (gamma_floor=0)": OnlineConfig(alpha=0.9),
        }
        for name, cfg in learners.items():
            g = OnlineGMM(k, d, "full", 64)
            g.begin_scratch(cfg)
            g.learn_many(XA)
            if name.startswith("decreasing"):
                row["frozen after A"] = learned(g).score(XBt)
            needed = None
            for i in range(0, len(XB), 100):
                g.learn_many(XB[i : i + 100])
                if learned(g).score(XBt) >= target - 0.1:
                    needed = i + 100
                    break
            row[name] = needed
        rows.append(row)
        log(
            f"drift K={k} D={d}: " + ", ".join(f"{n}: {row[n]}" for n in learners) + f", frozen gap "
            f"{target - row['frozen after A']:.2f} nats"
        )
    return rows


# ---- cost on the ATmega328P ----------------------------------------------------------------------------

AVR_FLAGS = ["-mmcu=atmega328p", "-Os", "-std=gnu++11", "-Wall", "-Wextra", "-Werror", "-DF_CPU=16000000UL"]


def run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])}...: {r.stderr[:1500]}")
    return r.stdout


def cost_streams() -> list[tuple[str, np.ndarray]]:
    """The cost part's two streams: the customers rows (overlapping clusters) and four separated clusters."""
    import csv

    rows = list(csv.DictReader((ROOT / "data" / "customers.csv").open()))
    customers = np.array([[float(r["Age"]), float(r["Spending Score (1-100)"])] for r in rows], np.float32)
    rng = np.random.default_rng(0)
    centres = np.array([[20, 20], [20, 80], [60, 20], [60, 80]], np.float32)
    separated = (centres[rng.integers(0, 4, 400)] + rng.normal(size=(400, 2)) * 3).astype(np.float32)
    return [("customers", customers), ("separated", separated)]


def cost(log) -> dict:
    res: dict = {}
    for data, X in cost_streams():
        res.update(cost_on(X, data, log))
    res.update(sizes())
    return res


def cost_on(X: np.ndarray, data: str, log) -> dict:
    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        harness = work / "simharness"
        run(["cc", "-O2", "-o", str(harness), str(HERE / "simharness.c"), "-lsimavr"])
        for label, floor, warm in (("decreasing steps", 0.0, 16), ("fixed step (gamma_floor=0.05)", 0.05, 16)):
            (work / "cost_inputs.h").write_text(
                "#pragma once\n#include <avr/pgmspace.h>\n"
                f"#define N_IN {len(X)}\n#define COST_WARM {warm}\n#define COST_T0 100.0f\n"
                f"#define COST_GAMMA_FLOOR {float(floor)!r}f\n"
                "static const float INPUTS[N_IN * 2] PROGMEM = {"
                + ", ".join(f"{float(v)!r}f" for v in X.ravel())
                + "};\n"
            )
            elf = work / "cost.elf"
            run(
                [
                    "avr-g++",
                    *AVR_FLAGS,
                    f"-I{work}",
                    f"-I{ROOT / 'include'}",
                    f"-I{ROOT / 'lib/tinygmm/src'}",
                    str(HERE / "online_fw" / "cost.cpp"),
                    "-o",
                    str(elf),
                ]
            )
            out = run([str(harness), str(elf)])
            r = np.array(
                [t for t in (ln.split() for ln in out.splitlines()) if len(t) == 3 and all(x.isdigit() for x in t)],
                np.int64,
            )
            n = len(X)
            phases = ["learn", "predict", "score_samples", "is_anomaly", "header predict", "header score_samples"]
            part = {}
            for i, ph in enumerate(phases):
                seg = r[i * n : (i + 1) * n]
                part[ph] = {"mean": float(seg[:, 0].mean()), "max": int(seg[:, 0].max()), "stack": int(seg[:, 2].max())}
            scratch = r[len(phases) * n :]
            part["scratch: seeding step"] = {
                "mean": float(scratch[warm - 1, 0]),
                "max": int(scratch[warm - 1, 0]),
                "stack": int(scratch[warm - 1, 2]),
            }
            rest = scratch[warm:]
            part["scratch: learn after seeding"] = {
                "mean": float(rest[:, 0].mean()),
                "max": int(rest[:, 0].max()),
                "stack": int(rest[:, 2].max()),
            }
            syms = run(["avr-nm", "-S", "-C", str(elf)])
            size = next(int(ln.split()[1], 16) for ln in syms.splitlines() if ln.endswith(" learner"))
            part["sizeof"] = size
            res[f"{data}, {label}"] = part
            log(
                f"{data}, {label}: learn {part['learn']['mean']:.0f} cycles (max {part['learn']['max']}), predict "
                f"{part['predict']['mean']:.0f}, header predict {part['header predict']['mean']:.0f}, state {size} B"
            )
    return res


def qemu_cost(log) -> dict:
    """Instructions per learn and per predict on QEMU's cores (test/online/online_runner.cpp, -DONLINE_QEMU)."""
    sys.path.insert(0, str(ROOT / "test" / "python"))
    from online_runner import Case, build_qemu, run_qemu
    from qemu_targets import BY_NAME

    rng = np.random.default_rng(0)
    centres = np.array([[20, 20], [20, 80], [60, 20], [60, 80]], np.float32)
    X = (centres[rng.integers(0, 4, 1000)] + rng.normal(size=(1000, 2)) * 3).astype(np.float32)
    start = (np.full(4, 0.25, np.float32), centres, np.tile(np.eye(2, dtype=np.float32) * 9, (4, 1, 1)))
    case = Case(4, 2, "full", X, OnlineConfig(t0=100.0), start=start)
    res: dict = {}
    for name in ("cortex-m0", "cortex-m4f", "rv32imc"):
        t = BY_NAME[name]
        if t.missing():
            log(f"{name}: {t.missing()}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            r = run_qemu(t, build_qemu(case, Path(tmp), t))
        per = t.ticks_per_instruction()
        res[name] = {"learn": r.ticks[0] / per / len(X), "predict": r.ticks[1] / per / len(X), "board": t.board}
        log(f"{name}: learn {res[name]['learn']:.0f} instructions, predict {res[name]['predict']:.0f}")
    return res


def sizes() -> dict:
    """sizeof for other shapes (every field is 4 bytes: the same on the AVR)."""
    res: dict = {}
    src = '#include <stdio.h>\n#include "tinygmm_online.h"\nint main() {\n'
    shapes = [(k, d) for k in (1, 2, 3, 4, 6, 8) for d in (1, 2, 3, 4, 6, 8)]
    for k, d in shapes:
        src += (
            f'  printf("%d %d %d %d\\n", {k}, {d}, (int)sizeof(tinygmm::OnlineGMM<{k}, {d}>), '
            f"(int)sizeof(tinygmm::OnlineGMM<{k}, {d}, 2>));\n"
        )
    src += "  return 0;\n}\n"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "s.cpp").write_text(src)
        run(
            ["g++", "-std=c++11", f"-I{ROOT / 'lib/tinygmm/src'}", str(Path(tmp) / "s.cpp"), "-o", str(Path(tmp) / "s")]
        )
        res["sizes"] = [list(map(int, ln.split())) for ln in run([str(Path(tmp) / "s")]).splitlines()]
    return res


def markdown(res: dict) -> str:
    L = [
        "# On-device learning: quality and cost",
        "",
        "Generated by `PYTHONPATH=scripts python3 scripts/bench/online.py` (see docs/online.md). Quality uses the "
        "float32 reference `tinygmm.online`, which the device build matches bit for bit on the host, the AVR "
        "(simavr), the Cortex-M0 and the RV32IMC, and to 1e-4 on the Cortex-M4F (fused multiply-adds): "
        "test/python/test_online.py.",
        "",
    ]
    if "synthetic" in res:
        L += [
            "## Known mixtures: one pass of 10^4 samples, from scratch",
            "",
            "Mean held-out log-likelihood (10^4 samples) minus scikit-learn's batch EM on the same samples "
            "(negative: the online model is better), and anomaly ROC AUC (held-out samples against 2000 uniform "
            "outliers in the data's box widened by half its span).",
            "",
        ]
        names = list(CONFIGS)
        L.append("| K | D | seed | batch ll | batch AUC | " + " | ".join(f"{n}: ll diff / AUC" for n in names) + " |")
        L.append("|---" * (5 + len(names)) + "|")
        for r in res["synthetic"]:
            cells = [f"{r['batch_ll'] - r[n]['ll']:+.3f} / {r[n]['auc']:.4f}" for n in names]
            L.append(
                f"| {r['K']} | {r['D']} | {r['seed']} | {r['batch_ll']:.3f} | {r['batch_auc']:.4f} | "
                + " | ".join(cells)
                + " |"
            )
        for n in names:
            diffs = [r["batch_ll"] - r[n]["ll"] for r in res["synthetic"]]
            within = sum(x <= 0.05 for x in diffs)
            L.append(
                f"\n{n}: within 0.05 nats of batch EM in {within} of {len(diffs)} streams, mean gap "
                f"{np.mean(diffs):.3f}, worst {np.max(diffs):.3f} nats."
            )
        if "overlapping" in res:
            n = next(iter(CONFIGS))
            diffs = [r["batch_ll"] - r[n]["ll"] for r in res["overlapping"]]
            gaps = ", ".join(f"{x:+.3f}" for x in diffs)
            L.append(
                f"\nOverlapping mixtures (the same shapes and seeds, means drawn with scale 1.5 instead of 4), {n}: "
                f"within 0.05 nats in {sum(x <= 0.05 for x in diffs)} of {len(diffs)} streams, mean gap "
                f"{np.mean(diffs):.3f}, worst {np.max(diffs):.3f} nats ({gaps})."
            )
        L.append("")
    if "real" in res:
        L += [
            "## Real data (scikit-learn's bundled data sets, standardised, reg_covar = 1e-3)",
            "",
            "| data | train / test | batch ll | online, 1 pass | online, 20 passes |",
            "|---|---|---|---|---|",
        ]
        for r in res["real"]:
            L.append(
                f"| {r['data']} | {r['n_train']} / {r['n_test']} | {r['batch_ll']:.3f} | {r['1 pass']:.3f} | "
                f"{r['20 pass']:.3f} |"
            )
        L.append("")
    if "drift" in res:
        L += [
            "## Drift",
            "",
            "10^4 samples of mixture A, then mixture B (every mean moved by +3 along each axis). Samples of B "
            "until the held-out log-likelihood on B is within 0.1 nats of a batch fit on 10^4 samples of B "
            "(checked every 100; none: not within 10^4). WARM = 64, alpha = 0.9.",
            "",
        ]
        keys = [k for k in res["drift"][0] if k not in ("K", "D", "batch_B", "frozen after A")]
        L.append("| K | D | " + " | ".join(keys) + " | frozen after A: gap (nats) |")
        L.append("|---" * (3 + len(keys)) + "|")
        for r in res["drift"]:
            L.append(
                f"| {r['K']} | {r['D']} | "
                + " | ".join(str(r[k]) if r[k] else "none" for k in keys)
                + f" | {r['batch_B'] - r['frozen after A']:.2f} |"
            )
        L.append("")
    if "cost" in res:
        c = res["cost"]
        L += [
            "## Cost on the ATmega328P (simavr, 16 MHz), K = 4, D = 2, full",
            "",
            "400 samples, learned once each, adapting include/GMM.h (begin_from_header, t0 = 100); then the "
            "evaluation calls on the learned parameters and the frozen header's on the same inputs; then a scratch "
            "learner (WARM = 16) on the same samples. Two streams: customers = the rows of data/customers.csv (Age, "
            "Spending Score), whose clusters overlap (about 1.33 components within the update's 5 nats of the best "
            "per sample), and separated = four clusters 20 standard deviations apart (one component per sample). "
            "Cycles per call (avr-g++ 5.4 -Os); stack: the call's peak. Where a step's cycles go: "
            "scripts/bench/online_profile.py.",
            "",
            "Mean learn cycles (customers decreasing / fixed, separated decreasing / fixed): the first version "
            "53100 / 48183 / 41992 / 35486; with the step held for 16 samples and no expf for the best component "
            "42830 / 42471 / 30950 / 30473; this version (the tables below): the library's own exp and log, the "
            "P^2 bookkeeping in integers, an LDL^T factor, the truncated E-step.",
            "",
        ]
        for label, part in c.items():
            if label == "sizes":
                continue
            L += [f"### {label}", "", "| call | mean cycles | max cycles | stack B |", "|---|---|---|---|"]
            for ph, v in part.items():
                if ph == "sizeof":
                    continue
                L.append(f"| {ph} | {v['mean']:.0f} | {v['max']} | {v['stack']} |")
            L += [
                "",
                f"State (sizeof OnlineGMM<4, 2, full, WARM = 16>, the whole learned state): {part['sizeof']} B.",
                "",
            ]
        L += [
            "### sizeof(OnlineGMM<K, D>) in bytes (WARM = 4K; full / diag)",
            "",
            "| K \\ D | " + " | ".join(str(d) for d in (1, 2, 3, 4, 6, 8)) + " |",
            "|---" * 7 + "|",
        ]
        sizes = {(k, d): (f, g) for k, d, f, g in c["sizes"]}
        for k in (1, 2, 3, 4, 6, 8):
            L.append(
                f"| {k} | " + " | ".join(f"{sizes[k, d][0]} / {sizes[k, d][1]}" for d in (1, 2, 3, 4, 6, 8)) + " |"
            )
        L.append("")
    if res.get("qemu"):
        L += [
            "## Instructions on QEMU's 32-bit cores, K = 4, D = 2, full",
            "",
            "test/online/online_runner.cpp built with -DONLINE_QEMU (test/python/qemu_targets.py's toolchains, "
            "-Os): 1000 samples of four separated clusters, adapting a start at the true centres (t0 = 100); "
            "instructions per call from qemu_io.h's counter under -icount, averaged over the stream.",
            "",
            "| core | stands for | learn | predict |",
            "|---|---|---|---|",
        ]
        for name, v in res["qemu"].items():
            L.append(f"| {name} | {v['board']} | {v['learn']:.0f} | {v['predict']:.0f} |")
        L.append("")
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer streams")
    ap.add_argument("--cost-only", action="store_true")
    ap.add_argument("--no-cost", action="store_true")
    args = ap.parse_args()

    def log(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    res: dict = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() and args.cost_only else {}
    if not args.cost_only:
        res["synthetic"] = synthetic(args.quick, log)
        default = next(iter(CONFIGS))
        res["overlapping"] = synthetic(args.quick, log, 1.5, {default: CONFIGS[default]})
        res["real"] = real(log)
        res["drift"] = drift(args.quick, log)
    if not args.no_cost:
        res["cost"] = cost(log)
        res["qemu"] = qemu_cost(log)
    OUT_JSON.write_text(json.dumps(res, indent=1, default=float) + "\n")
    OUT_MD.write_text(markdown(res))
    print(OUT_MD)


if __name__ == "__main__":
    main()

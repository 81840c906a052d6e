#!/usr/bin/env python3
"""Anomaly detection: the exported GMM against scikit-learn's outlier detectors.

    python3 scripts/bench/anomaly.py [--out DIR] [--seeds N]

Data sets that ship with scikit-learn (no download): breast cancer (benign is
normal, malignant anomalous) and wine (cultivar 1 normal, the other two
anomalous). Per seeded split: normal rows 60 % train / 20 % validation / 20 %
test; the validation and test splits get one anomalous row per two normal
ones. Every detector is trained on the normal training rows only (features
standardised on them) and scored with its ``score_samples`` (higher = more
normal); the threshold is calibrated the same way for all, with
tinygmm.anomaly: the 0.05-quantile of the training scores (tinygmm's
``--anomaly-quantile 0.05``), or the best F1 on the validation split
(``--anomaly-validation``). Reported on the test split: ROC AUC and F1 at both
thresholds, mean over the seeds.

For the GMMs (tinygmm's fit: K by BIC up to 4, standard scaler; full and diag
covariance) of the first split, the decision is also built for an ATmega328P
and run in simavr on the test rows (scripts/bench/simharness.c, as run.py):
cycles of ``gmm::is_anomaly`` against ``gmm::predict`` and against
``score_samples(x) < ANOMALY_THRESHOLD``, flash of each (avr-size delta
against an empty function), and whether the AVR's decisions equal
scikit-learn's. Writes anomaly.md and anomaly.json. Not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "scripts"))

import run as bench  # noqa: E402

from tinygmm.anomaly import best_threshold, calibrate_quantile, detection_metrics  # noqa: E402
from tinygmm.codegen.header import render_header  # noqa: E402
from tinygmm.data.reader import Dataset  # noqa: E402
from tinygmm.errors import TinyGMMError  # noqa: E402
from tinygmm.fit.estimator import model_of_fit  # noqa: E402
from tinygmm.fit.sweep import FitOptions, fit  # noqa: E402
from tinygmm.model.exported import ExportedModel  # noqa: E402

QUANTILE = 0.05


def datasets() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, X, y with 1 = anomalous)."""
    from sklearn.datasets import load_breast_cancer, load_wine

    X, y = load_breast_cancer(return_X_y=True)
    out = [("breast cancer (D=30; malignant = anomaly)", X, (y == 0).astype(int))]
    X, y = load_wine(return_X_y=True)
    out.append(("wine (D=13; cultivars 0, 2 = anomaly)", X, (y != 1).astype(int)))
    return out


def split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    normal, anomalous = rng.permutation(np.flatnonzero(y == 0)), rng.permutation(np.flatnonzero(y == 1))
    n = len(normal)
    tr, va, te = normal[: int(0.6 * n)], normal[int(0.6 * n) : int(0.8 * n)], normal[int(0.8 * n) :]
    na = max(2, len(va) // 2)
    return tr, np.r_[va, anomalous[:na]], np.r_[te, anomalous[na : 2 * na]]


def gmm(X: np.ndarray, cov: str, seed: int) -> ExportedModel:
    data = Dataset(X=X, feature_names=[f"f{i}" for i in range(X.shape[1])], path="<bench>", sha256="0" * 64)
    o = FitOptions(n_components=None, max_components=4, covariance_type=cov, scaler="standard", random_state=seed)
    return model_of_fit(fit(data, o), data, o.as_dict())


def detectors(seed: int) -> dict[str, object]:
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.svm import OneClassSVM

    return {
        "IsolationForest": IsolationForest(random_state=seed),
        "OneClassSVM": OneClassSVM(gamma="scale", nu=QUANTILE),
        "LocalOutlierFactor": LocalOutlierFactor(novelty=True),
    }


def quality(name: str, X: np.ndarray, y: np.ndarray, seeds: int) -> tuple[dict, dict]:
    rows: dict[str, list[dict]] = {}
    models = {}
    for seed in range(seeds):
        tr, va, te = split(y, seed)
        mu, sd = X[tr].mean(axis=0), X[tr].std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        scores = {}
        for cov in ("full", "diag"):
            m = gmm(X[tr], cov, seed)
            g = m.to_sklearn()
            scores[f"tinygmm GMM ({cov})"] = lambda Z, g=g, m=m: g.score_samples(m.transform(Z))
            if seed == 0:
                models[cov] = (m, tr, te)
        for dname, det in detectors(seed).items():
            det.fit((X[tr] - mu) / sd)  # type: ignore[attr-defined]
            scores[dname] = lambda Z, det=det, mu=mu, sd=sd: det.score_samples((Z - mu) / sd)  # type: ignore[attr-defined]
        for label, fn in scores.items():
            t_q = calibrate_quantile(fn, X[tr], QUANTILE).threshold
            s_va, s_te = fn(X[va]), fn(X[te])
            t_v = best_threshold(s_va, y[va])
            mq, mv = detection_metrics(s_te, y[te], t_q), detection_metrics(s_te, y[te], t_v)
            rows.setdefault(label, []).append(
                {
                    "roc_auc": mq["roc_auc"],
                    "f1_quantile": mq["f1"],
                    "f1_validation": mv["f1"],
                    "fpr_quantile": mq["fpr"],
                }
            )
        if seed == 0:
            k = {cov: models[cov][0].n_components for cov in models}
            print(f"  {name}: GMM K = {k}")
    summary = {
        label: {key: float(np.mean([r[key] for r in rs])) for key in rs[0]} | {"n_splits": len(rs)}
        for label, rs in rows.items()
    }
    return summary, models


def avr_costs(
    m: ExportedModel,
    X_train: np.ndarray,
    X_test: np.ndarray,
    harness: Path,
    work: Path,
    groups: dict[str, np.ndarray] | None = None,
) -> dict:
    """AVR cycles and flash of predict, score_samples < threshold and is_anomaly on the test rows
    (and the mean cycles over each of ``groups``, boolean masks of the rows)."""
    g = m.to_sklearn()
    t = calibrate_quantile(lambda Z: g.score_samples(m.transform(Z)), X_train, QUANTILE)
    try:
        header = render_header(m, ["anomaly benchmark model"], anomaly=t, fixed_point=True)
        fixed = True
    except TinyGMMError:  # no 16-bit fixed-point format for this model
        header, fixed = render_header(m, ["anomaly benchmark model"], anomaly=t), False
    Xf = X_test.astype(np.float32).astype(np.float64)
    want = g.score_samples(m.transform(Xf)) < t.threshold
    calls = {
        "predict": "gmm::predict(x)",
        "score_samples < T": "gmm::score_samples(x) < gmm::ANOMALY_THRESHOLD",
        "is_anomaly": "gmm::is_anomaly(x)",
        **({"is_anomaly_q": "gmm::is_anomaly_q(x)"} if fixed else {}),
    }
    base = bench.impl_baseline(None)  # type: ignore[arg-type]
    out = {}
    mcu = bench.MCU
    for name, call in calls.items():
        impl = bench.Impl(
            name,
            "c++",
            {"GMM.h": header},
            f'#include "GMM.h"\nstatic uint8_t bench_predict(const float* x) {{ return (uint8_t)({call}); }}\n',
        )
        d = work / name.replace(" ", "_").replace("<", "lt")
        try:
            elf = bench.build_avr(impl, Xf, d, mcu)
        except RuntimeError as exc:
            if "not within region" not in str(exc) and "will not fit" not in str(exc):
                raise
            mcu = bench.BIG_MCU
            elf = bench.build_avr(impl, Xf, d, mcu)
        base_elf = bench.build_avr(base, Xf, work / f"baseline-{mcu}", mcu)
        base_sim = bench.simulate(harness, base_elf, mcu)
        sim = bench.simulate(harness, elf, mcu)
        cycles = sim[:, 0] - int(base_sim[:, 0].max())
        res = {
            "cycles_mean": float(cycles.mean()),
            "cycles_max": int(cycles.max()),
            "flash_bytes": bench.avr_size(elf)[0] - bench.avr_size(base_elf)[0],
            "mcu": mcu,
        }
        if name != "predict":
            res["equals_sklearn"] = float((sim[:, 1].astype(bool) == want).mean())
        for gname, mask in (groups or {}).items():
            res[f"cycles_mean_{gname}"] = float(cycles[mask].mean())
        out[name] = res
        print(f"    {name:18s} {res['cycles_mean']:10.0f} cycles  {res['flash_bytes']:6d} B  {mcu}")
    out["threshold"] = t.threshold
    out["n_inputs"] = len(Xf)
    out["flagged"] = float(want.mean())
    return out


def render(doc: dict) -> str:
    lines = [
        "# Anomaly detection benchmark",
        "",
        f"Command: `{doc['command']}`  ",
        f"scikit-learn {doc['sklearn']}; {doc['seeds']} seeded splits per data set (mean shown).",
        "",
        "| data set | detector | ROC AUC | F1 (0.05-quantile threshold) | F1 (validation threshold) | FPR (quantile) |",
        "|---|---|---|---|---|---|",
    ]
    for ds in doc["datasets"]:
        for label, r in ds["quality"].items():
            lines.append(
                f"| {ds['name']} | {label} | {r['roc_auc']:.3f} | {r['f1_quantile']:.3f} | "
                f"{r['f1_validation']:.3f} | {r['fpr_quantile']:.3f} |"
            )
    lines += [
        "",
        "Cost of the GMM's decision on an ATmega328P (simavr, 16 MHz, avr-gcc -Os; test rows of the first split; "
        "flash is predict/decision + model, delta against an empty function):",
        "",
        "| data set | GMM | function | AVR cycles mean | max | flash B | = scikit-learn |",
        "|---|---|---|---|---|---|---|",
    ]
    for ds in doc["datasets"]:
        for cov, c in ds["avr"].items():
            for fn in ("predict", "score_samples < T", "is_anomaly", "is_anomaly_q"):
                if fn not in c:
                    continue
                r = c[fn]
                eq = "-" if "equals_sklearn" not in r else f"{100 * r['equals_sklearn']:.1f} %"
                star = "" if r["mcu"] == bench.MCU else " (\\*)"
                lines.append(
                    f"| {ds['name']} | {cov}, K={c['k']} | `{fn}`{star} | {r['cycles_mean']:,.0f} | "
                    f"{r['cycles_max']:,} | {r['flash_bytes']:,} | {eq} |"
                )
    c = doc.get("customers")
    if c:
        for fn in ("predict", "score_samples < T", "is_anomaly", "is_anomaly_q"):
            if fn not in c:
                continue
            r = c[fn]
            eq = "-" if "equals_sklearn" not in r else f"{100 * r['equals_sklearn']:.1f} %"
            lines.append(
                f"| {c['name']} ({c['n_inputs']} inputs: rows, grid, far points) | full, K={c['k']} | `{fn}` | "
                f"{r['cycles_mean']:,.0f} | {r['cycles_max']:,} | {r['flash_bytes']:,} | {eq} |"
            )
        lines += [
            "",
            "Customer model, mean cycles by kind of input (data rows; far points; grid points within log K "
            "below the threshold):",
            "",
            "| function | data rows | far | near the threshold |",
            "|---|---|---|---|",
        ]
        for fn in ("predict", "score_samples < T", "is_anomaly", "is_anomaly_q"):
            if fn not in c:
                continue
            r = c[fn]
            lines.append(
                f"| `{fn}` | {r['cycles_mean_data_rows']:,.0f} | {r['cycles_mean_far']:,.0f} | "
                f"{r['cycles_mean_near_threshold']:,.0f} |"
            )
    lines += ["", "(\\*) does not fit an ATmega328P: built for an ATmega2560 (same core)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import sklearn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", default=str(HERE), help="directory for anomaly.md / anomaly.json (default scripts/bench)")
    ap.add_argument("--seeds", type=int, default=5, help="seeded splits per data set (default 5)")
    ap.add_argument("--no-avr", action="store_true", help="detection quality only")
    ap.add_argument("--quick", action="store_true", help="smoke test: wine, one split; AVR: the customer model only")
    a = ap.parse_args(argv)
    out_sets = []
    with tempfile.TemporaryDirectory(prefix="tinygmm-anomaly-") as tmp:
        work = Path(tmp)
        harness = None if a.no_avr else bench.build_harness(work)
        sets = datasets()[1:] if a.quick else datasets()
        for i, (name, X, y) in enumerate(sets):
            print(name)
            summary, models = quality(name, X, y, 1 if a.quick else a.seeds)
            avr = {}
            if harness is not None and not a.quick:
                for cov, (m, tr, te) in models.items():
                    avr[cov] = avr_costs(m, X[tr], X[te], harness, work / f"{i}-{cov}") | {"k": m.n_components}
            out_sets.append({"name": name, "quality": summary, "avr": avr})
        customers = None
        if harness is not None:
            # run.py's classic model (K=7, D=2, full: predict is the hand-written AVR kernel), on
            # data rows, a grid and far points
            case = bench.build_cases(quick=True)[0]
            bench.make_inputs(case, n_grid=400, n_far=60, n_avr_in=100 if not a.quick else 20, n_avr_far=30)
            print(case.name)
            Xc = case.X[case.avr_idx]
            g = case.model.to_sklearn()
            tc = calibrate_quantile(lambda Z: g.score_samples(case.model.transform(Z)), case.X_data, QUANTILE)
            sc = g.score_samples(case.model.transform(Xc))
            far = case.far[case.avr_idx]
            groups = {
                "data_rows": case.avr_idx < len(case.X_data),
                "far": far,
                "near_threshold": ~far & (sc < tc.threshold) & (sc >= tc.threshold - np.log(case.model.n_components)),
            }
            customers = avr_costs(case.model, case.X_data, Xc, harness, work / "customers", groups)
            customers |= {"name": case.name, "k": case.model.n_components}
    doc = {
        "command": "python3 scripts/bench/anomaly.py"
        + (f" --seeds {a.seeds}" if a.seeds != 5 else "")
        + (" --quick" if a.quick else ""),
        "sklearn": sklearn.__version__,
        "seeds": a.seeds,
        "datasets": out_sets,
        "customers": customers,
    }
    out = Path(a.out)
    (out / "anomaly.json").write_text(json.dumps(doc, indent=1) + "\n")
    md = render(doc)
    (out / "anomaly.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

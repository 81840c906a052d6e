"""The models and inputs that test/qemu/runner.cpp runs, and the parsing of its output.

One runner per target holds several models (the demo model, the four
covariance types, an EXACT model, a StandardScaler + PCA + GaussianMixture
pipeline, all exported with the fixed-point path and an anomaly threshold) and
the protocol script, so each target is compiled and run once per session.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipelines import data as cancer_data
from pipelines import fitted as fitted_pipeline
from synth import fitted_model, floor_ring, mixture_data, tiny_variance_data
from tinygmm.anomaly import AnomalyThreshold, calibrate_quantile
from tinygmm.codegen.fixedpoint import fixed_point
from tinygmm.codegen.header import render_header
from tinygmm.export.vectors import GoldenVectors, golden, is_near_tie, make_inputs, sklearn_outputs
from tinygmm.fit.estimator import from_estimator
from tinygmm.model.exported import ExportedModel

SYNTHETIC = [
    # (name, D, K, covariance_type, scaler)
    ("sph2", 2, 2, "spherical", "none"),
    ("tied3", 3, 3, "tied", "standard"),
    ("diag4", 4, 5, "diag", "minmax"),
    ("full8", 8, 10, "full", "standard"),
]


@dataclass
class RunnerModel:
    name: str
    model: ExportedModel
    golden: GoldenVectors
    xp: np.ndarray  # predict inputs (float32 values)
    zq: np.ndarray  # fixed-point inputs for predict_fixed (n_dims columns: after the projection)
    threshold: AnomalyThreshold  # 5 % of the training rows below it
    estimator: Any = None  # the fitted scikit-learn pipeline the model was exported from, if any

    @property
    def n_dims(self) -> int:
        return self.model.n_dims

    def sklearn_scores(self, X: np.ndarray) -> np.ndarray:
        return sklearn_scores(self.model, self.estimator, X)


def sklearn_scores(m: ExportedModel, estimator: Any, X: np.ndarray) -> np.ndarray:
    """score_samples of the fitted estimator itself (the pipeline), else of the exported model."""
    if estimator is not None:
        return estimator.score_samples(np.asarray(X, dtype=np.float64))
    return m.to_sklearn().score_samples(m.transform(X))


def predict_inputs(X: np.ndarray, seed: int) -> np.ndarray:
    """Data rows, a box around the data, far points out to 1e30 x the span, inf and NaN."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    rows = X[rng.choice(len(X), 40, replace=False)]
    box = lo - 0.25 * span + rng.random((80, d)) * 1.5 * span
    dirs = rng.normal(size=(20, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    far = X.mean(axis=0) + np.repeat(10.0 ** np.arange(2, 32, 3), 2)[:, None] * span * dirs
    odd = np.tile(X.mean(axis=0), (3, 1))
    odd[0, 0], odd[1, -1], odd[2, 0] = np.inf, -np.inf, np.nan
    return np.vstack([rows, box, far, odd]).astype(np.float32)


def runner_model(
    name: str, m: ExportedModel, X: np.ndarray, seed: int, gv: GoldenVectors | None = None, estimator: Any = None
) -> RunnerModel:
    xp = predict_inputs(X, seed)
    q = fixed_point(m.mixture_view())
    rng = np.random.default_rng(seed)
    n_data = len(xp) - 20
    zq = np.vstack(
        [
            np.clip(np.round(q.z(m.project(xp[:n_data].astype(np.float64))) * 2.0**q.F), -32767, 32767),
            rng.integers(-32767, 32768, (len(xp) - n_data, m.n_dims)),
        ]
    ).astype(np.int64)
    threshold = calibrate_quantile(lambda Z: sklearn_scores(m, estimator, Z), X, 0.05)
    return RunnerModel(name, m, gv if gv is not None else golden(m, X), xp, zq, threshold, estimator)


def pipeline_model() -> RunnerModel:
    """StandardScaler + PCA(4) + GaussianMixture(4, full) on load_breast_cancer (30 features):
    golden vectors are the pipeline's own predict / predict_proba / score_samples."""
    est = fitted_pipeline("gmm-full", "standard+pca4")
    m = from_estimator(est)
    X = cancer_data()
    x, far = make_inputs(m, X, n_in=40, n_far=20, seed=5)
    ref = sklearn_outputs(m, x)  # the near-tie rule needs the top-two gap
    gv = GoldenVectors(
        x, est.predict(x), est.predict_proba(x), est.score_samples(x), far, is_near_tie(ref["gap"], ref["top"])
    )
    return runner_model("cancer_pca", m, X, 16, gv, est)


def exact_model() -> RunnerModel:
    """A cluster floored to reg_covar far from the mixture's centre: exported EXACT."""
    X, centre = tiny_variance_data()
    m = fitted_model(X, 2, "full", "none")
    ring = floor_ring(centre)
    rest, far = make_inputs(m, X)
    x = np.vstack([ring, [centre], rest]).astype(np.float32).astype(np.float64)
    out = sklearn_outputs(m, x)
    gv = GoldenVectors(
        x,
        out["label"],
        out["proba"],
        out["log_likelihood"],
        np.concatenate([np.zeros(len(ring) + 1, bool), far]),
        is_near_tie(out["gap"], out["top"]),
    )
    return runner_model("exact3", m, X, 99, gv)


def runner_models(customers: ExportedModel, customers_X: np.ndarray) -> list[RunnerModel]:
    models = [runner_model("customers", customers, customers_X, 1)]
    for name, d, k, cov, scaler in SYNTHETIC:
        X = mixture_data(d, k, n=300, seed=d * 10 + k)
        models.append(runner_model(name, fitted_model(X, k, cov, scaler, seed=k), X, d + k))
    models.append(exact_model())
    models.append(pipeline_model())
    return models


def _floats(a: np.ndarray) -> str:
    def one(v: float) -> str:
        if np.isnan(v):
            return "NAN"
        if np.isinf(v):
            return "INFINITY" if v > 0 else "-INFINITY"
        return f"{float(np.float32(v))!r}f"

    return ", ".join(one(v) for v in np.asarray(a).ravel())


def write_sources(models: list[RunnerModel], out: Path) -> None:
    """<name>.h, <name>_in.h for every model and runner_models.h, into out."""
    for r in models:
        header = render_header(
            r.model, [f"test/qemu runner model {r.name}"], namespace=r.name, fixed_point=True, anomaly=r.threshold
        )
        (out / f"{r.name}.h").write_text(header)
        far = ", ".join(str(int(f)) for f in r.golden.far)
        zq = ", ".join(str(int(v)) for v in r.zq.ravel())
        (out / f"{r.name}_in.h").write_text(
            f"// Generated by test/python/qemu_runner.py - inputs of model {r.name}.\n"
            "#include <math.h>\n#include <stdint.h>\n"
            f"namespace {r.name}_in {{\n"
            f"static const int NG = {len(r.golden.X)};\n"
            f"static const float XG[] = {{{_floats(r.golden.X)}}};\n"
            f"static const uint8_t FAR[] = {{{far}}};\n"
            f"static const int NP = {len(r.xp)};\n"
            f"static const float XP[] = {{{_floats(r.xp)}}};\n"
            f"static const int ZD = {r.n_dims};  // zq's length: the mixture's dimension\n"
            f"static const int16_t ZQ[] = {{{zq}}};\n"
            "}\n"
        )
    lines = [f'#include "{r.name}.h"\n#include "{r.name}_in.h"' for r in models]
    listing = " ".join(f"X({r.name})" for r in models)
    (out / "runner_models.h").write_text(
        "// Generated by test/python/qemu_runner.py.\n" + "\n".join(lines) + f"\n#define RUNNER_MODELS(X) {listing}\n"
    )


# ---- output -------------------------------------------------------------------------


def hex_float(token: str) -> float:
    return struct.unpack(">f", bytes.fromhex(token))[0]


@dataclass
class ModelOutput:
    name: str
    header: list[str]
    v_lines: list[str] = field(default_factory=list)
    p_lines: list[str] = field(default_factory=list)
    a_lines: list[str] = field(default_factory=list)
    cost: list[int] = field(default_factory=list)  # ticks: predict over all NP, predict_fixed, loop


@dataclass
class RunnerOutput:
    models: dict[str, ModelOutput]
    protocol: list[str]  # READY ... END replies=n
    calibration: tuple[int, int]  # (instructions, ticks) of the calibration loop
    other: list[str]  # anything else (QEMU's own messages)


REPLY_RE = re.compile(r"^(READY|OK|INFO|ERR|END)\b")


def parse(lines: list[str]) -> RunnerOutput:
    models: dict[str, ModelOutput] = {}
    protocol: list[str] = []
    other: list[str] = []
    cal = (0, 0)
    cur: ModelOutput | None = None
    for ln in lines:
        if ln.startswith("MODEL "):
            cur = ModelOutput(ln.split()[1], ln.split()[1:])
            models[cur.name] = cur
        elif ln.startswith("V ") and cur:
            cur.v_lines.append(ln)
        elif ln.startswith("P ") and cur:
            cur.p_lines.append(ln)
        elif ln.startswith("A ") and cur:
            cur.a_lines.append(ln)
        elif ln.startswith("C "):
            models[ln.split()[1]].cost = [int(t) for t in ln.split()[2:]]
        elif ln.startswith("CAL "):
            cal = (int(ln.split()[1]), int(ln.split()[2]))
        elif REPLY_RE.match(ln):
            protocol.append(ln)
        else:
            other.append(ln)
    return RunnerOutput(models, protocol, cal, other)

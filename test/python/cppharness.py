"""Compile generated GMM headers with the host g++ and evaluate them on inputs.

Many models go into one translation unit (each in its own namespace), so a
grid of hundreds of models costs a handful of compiler runs.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinygmm.codegen.header import render_header
from tinygmm.model.exported import ExportedModel

CXXFLAGS = ["-std=c++11", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic"]

MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
%(includes)s
struct Entry {
  int d, k;
  int (*predict)(const float*);
  int (*classify)(const float*, float*, float*);
  float (*score)(const float*);
};
static const Entry ENTRIES[] = {
%(entries)s
};
int main() {
  int idx;
  float x[64], p[64];
  while (scanf("%%d", &idx) == 1) {
    const Entry& e = ENTRIES[idx];
    for (int i = 0; i < e.d; ++i) if (scanf("%%f", &x[i]) != 1) return 2;
    float ll;
    const int label = e.classify(x, p, &ll);
    printf("%%d %%d %%.9g %%.9g", e.predict(x), label, ll, e.score(x));
    for (int k = 0; k < e.k; ++k) printf(" %%.9g", p[k]);
    printf("\n");
  }
  return 0;
}
"""


@dataclass
class Outputs:
    predict: np.ndarray
    label: np.ndarray
    log_likelihood: np.ndarray
    score: np.ndarray
    proba: np.ndarray  # (n, K)


def compile_models(models: list[ExportedModel], workdir: Path, name: str = "harness") -> Path:
    """Write one header per model and a driver; return the executable."""
    workdir.mkdir(parents=True, exist_ok=True)
    includes, entries = [], []
    for i, m in enumerate(models):
        ns = f"m{i}"
        (workdir / f"{ns}.h").write_text(render_header(m, [f"test model {i}"], namespace=ns))
        includes.append(f'#include "{ns}.h"')
        entries.append(
            f"  {{{ns}::N_FEATURES, {ns}::N_COMPONENTS, {ns}::predict, {ns}::classify, {ns}::score_samples}},"
        )
    src = workdir / f"{name}.cpp"
    src.write_text(MAIN % {"includes": "\n".join(includes), "entries": "\n".join(entries)})
    exe = workdir / name
    cxx = shutil.which("g++") or "c++"
    subprocess.run([cxx, *CXXFLAGS, "-I", str(workdir), str(src), "-o", str(exe)], check=True)
    return exe


def evaluate(exe: Path, jobs: list[tuple[int, np.ndarray]]) -> list[Outputs]:
    """Run (model index, inputs) jobs through the harness in one process."""
    lines = []
    for idx, X in jobs:
        for row in np.asarray(X, dtype=np.float32):
            lines.append(f"{idx} " + " ".join(repr(float(v)) for v in row))
    out = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    rows = out.stdout.splitlines()
    results, pos = [], 0
    for _, X in jobs:
        chunk = [r.split() for r in rows[pos : pos + len(X)]]
        pos += len(X)
        results.append(
            Outputs(
                predict=np.array([int(r[0]) for r in chunk]),
                label=np.array([int(r[1]) for r in chunk]),
                log_likelihood=np.array([float(r[2]) for r in chunk]),
                score=np.array([float(r[3]) for r in chunk]),
                proba=np.array([[float(v) for v in r[4:]] for r in chunk]),
            )
        )
    return results


ANOMALY_MAIN = r"""
#include <stdint.h>
#include <stdio.h>
%(includes)s
struct Entry {
  int d;
  float (*score)(const float*);
  float (*decision)(const float*);
  bool (*is_anomaly)(const float*);
  bool (*is_anomaly_q)(const float*);
  float threshold;
  bool (*quantize)(const float*, int16_t*);
  int (*is_anomaly_fixed)(const int16_t*);
};
static const Entry ENTRIES[] = {
%(entries)s
};
int main() {
  int idx;
  float x[64];
  while (scanf("%%d", &idx) == 1) {
    const Entry& e = ENTRIES[idx];
    for (int i = 0; i < e.d; ++i) if (scanf("%%f", &x[i]) != 1) return 2;
    printf("%%.9g %%.9g %%d %%d %%.9g", e.score(x), e.decision(x), e.is_anomaly(x) ? 1 : 0,
           e.is_anomaly_q(x) ? 1 : 0, e.threshold);
    int16_t zq[64];
    const bool in = e.quantize(x, zq);
    printf(" %%d %%d", in ? 1 : 0, in ? e.is_anomaly_fixed(zq) : 9);
    for (int i = 0; i < e.d; ++i) printf(" %%d", in ? zq[i] : 0);
    printf("\n");
  }
  return 0;
}
"""


@dataclass
class AnomalyOutputs:
    score: np.ndarray
    decision: np.ndarray
    is_anomaly: np.ndarray  # bool
    is_anomaly_q: np.ndarray  # bool (fixed-point path)
    threshold: float  # ANOMALY_THRESHOLD as the device holds it
    quantized: np.ndarray  # bool: x inside the fixed-point domain
    fixed: np.ndarray  # is_anomaly_fixed(quantize(x)): 0, 1, -1 (9 outside the domain)
    zq: np.ndarray  # (n, D) quantize(x) (0 outside the domain)


def compile_anomaly_models(models: list[ExportedModel], thresholds: list[object], workdir: Path) -> Path:
    """Headers with an anomaly threshold (and --fixed-point), and a driver printing the decisions."""
    workdir.mkdir(parents=True, exist_ok=True)
    includes, entries = [], []
    for i, (m, t) in enumerate(zip(models, thresholds, strict=True)):
        ns = f"a{i}"
        text = render_header(m, [f"anomaly test model {i}"], namespace=ns, fixed_point=True, anomaly=t)
        (workdir / f"{ns}.h").write_text(text)
        includes.append(f'#include "{ns}.h"')
        entries.append(
            f"  {{{ns}::N_FEATURES, {ns}::score_samples, {ns}::decision_function, {ns}::is_anomaly, "
            f"{ns}::is_anomaly_q, {ns}::ANOMALY_THRESHOLD, {ns}::quantize, {ns}::is_anomaly_fixed}},"
        )
    src = workdir / "anomaly.cpp"
    src.write_text(ANOMALY_MAIN % {"includes": "\n".join(includes), "entries": "\n".join(entries)})
    exe = workdir / "anomaly"
    cxx = shutil.which("g++") or "c++"
    subprocess.run([cxx, *CXXFLAGS, "-I", str(workdir), str(src), "-o", str(exe)], check=True)
    return exe


def evaluate_anomaly(exe: Path, jobs: list[tuple[int, np.ndarray]]) -> list[AnomalyOutputs]:
    lines = []
    for idx, X in jobs:
        for row in np.asarray(X, dtype=np.float32):
            lines.append(f"{idx} " + " ".join(repr(float(v)) for v in row))
    out = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    rows = [r.split() for r in out.stdout.splitlines()]
    results, pos = [], 0
    for _, X in jobs:
        chunk = rows[pos : pos + len(X)]
        pos += len(X)
        results.append(
            AnomalyOutputs(
                score=np.array([float(r[0]) for r in chunk], dtype=np.float32).astype(np.float64),
                decision=np.array([float(r[1]) for r in chunk], dtype=np.float32).astype(np.float64),
                is_anomaly=np.array([r[2] == "1" for r in chunk]),
                is_anomaly_q=np.array([r[3] == "1" for r in chunk]),
                threshold=float(np.float32(chunk[0][4])) if chunk else float("nan"),
                quantized=np.array([r[5] == "1" for r in chunk]),
                fixed=np.array([int(r[6]) for r in chunk]),
                zq=np.array([[int(v) for v in r[7:]] for r in chunk]),
            )
        )
    return results

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

from tinygmm.codegen import render_header
from tinygmm.model import ExportedModel

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

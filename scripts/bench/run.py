#!/usr/bin/env python3
"""Benchmark tinygmm's generated header against emlearn and a naive baseline.

    python3 scripts/bench/run.py [--out DIR] [--quick]

Fits the benchmark models with scikit-learn (customer segmentation K=7 D=2
full, synthetic K=10 D=8 for every covariance type, and a pipeline:
load_breast_cancer's 30 features -> StandardScaler -> PCA(5) -> K=5 full,
exported with tinygmm.fit.estimator as export_model does), then, for each
implementation, on the same inputs:

* agreement with scikit-learn's predict: host build (g++/gcc -O2) on an
  in-range grid and on far points; the AVR build's labels on a subset;
* AVR cycles per predict: avr-gcc -Os for an ATmega328P at 16 MHz, run in
  simavr by ``simharness.c`` (cycle counter read at marker writes to GPIOR0 /
  GPIOR1, so numbers are exact and repeatable), minus the cost of calling an
  empty predict;
* flash and SRAM of predict + model: ``avr-size`` against the same firmware
  with an empty predict; peak stack of predict from the simulator's SP trace;
* host instructions per predict: ``valgrind --tool=callgrind`` on N predicts
  minus 0 predicts, divided by N, minus the same for an empty predict.

Then the same implementations (but naive) on 32-bit MCU cores under QEMU
(``targets.py``: Cortex-M0/M4F/M33, RV32IMC, Xtensa lx106 size only):
instructions and code + model bytes per predict, with ``--targets``
(default: all that can be built here; ``--quick``: Cortex-M0 only).

emlearn's C code is used from the installed Python package at run time (never
copied into this repository). Writes results.md and results.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "test" / "python"))
sys.path.insert(0, str(HERE))  # targets.py, also when this file is imported

import targets  # noqa: E402  (scripts/bench/targets.py)

from tinygmm.codegen.header import render_header  # noqa: E402
from tinygmm.data.reader import Dataset, load_csv  # noqa: E402
from tinygmm.export.vectors import is_near_tie, sklearn_outputs  # noqa: E402
from tinygmm.fit.estimator import from_estimator, model_of_fit  # noqa: E402
from tinygmm.fit.sweep import FitOptions, fit  # noqa: E402
from tinygmm.model.exported import ExportedModel  # noqa: E402

MCU = "atmega328p"
BIG_MCU = "atmega2560"  # same core, 8 KB SRAM: for builds that do not fit the ATmega328P
# the Arduino core's size flags: unused functions are dropped for every implementation
GC = ["-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections"]
AVR_FLAGS = ["-Os", "-DF_CPU=16000000UL", "-Wall", "-Wextra", *GC]
HOST_FLAGS = ["-O2", "-Wall", "-Wextra", *GC]
FAR_FACTORS = (1e2, 1e4, 1e6)


# ---------------------------------------------------------------- models
@dataclass
class Case:
    name: str
    model: ExportedModel
    X_data: np.ndarray
    X: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # benchmark inputs (float32 values)
    far: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    ref: dict = field(default_factory=dict)
    decided: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    avr_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, int))


def _fit(X: np.ndarray, names: list[str], k: int, cov: str, path: str, seed: int = 0) -> ExportedModel:
    data = Dataset(X=X, feature_names=names, path=path, sha256="0" * 64)
    opts = FitOptions(n_components=k, covariance_type=cov, scaler="none", random_state=seed)
    return model_of_fit(fit(data, opts), data, opts.as_dict())


def build_cases(quick: bool) -> list[Case]:
    from synth import mixture_data

    cases = []
    cols = ["Annual Income (k$)", "Spending Score (1-100)"]
    data = load_csv(str(ROOT / "data" / "customers.csv"), cols)
    opts = FitOptions(n_components=7, covariance_type="full", scaler="none", random_state=0)
    m = model_of_fit(fit(data, opts), data, opts.as_dict())
    cases.append(Case("customers K=7 D=2 full", m, data.X))
    if quick:
        return cases
    X8 = mixture_data(8, 10, n=2000, seed=8)
    for cov in ("full", "tied", "diag", "spherical"):
        cases.append(Case(f"synthetic K=10 D=8 {cov}", _fit(X8, [f"f{i}" for i in range(8)], 10, cov, "<synth>"), X8))
    cases.append(pipeline_case())
    return cases


def pipeline_case() -> Case:
    """30 raw features -> StandardScaler -> PCA(5) -> GaussianMixture(5, full): one 5 x 30 projection per input."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = load_breast_cancer().data
    est = make_pipeline(StandardScaler(), PCA(5, random_state=0), GaussianMixture(5, random_state=0)).fit(X)
    return Case("breast cancer D=30 -> PCA 5, K=5 full", from_estimator(est), X)


def make_inputs(case: Case, n_grid: int, n_far: int, n_avr_in: int, n_avr_far: int, seed: int = 1) -> None:
    X, d = case.X_data, case.X_data.shape[1]
    rng = np.random.default_rng(seed)
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    if d == 2:
        side = int(round(np.sqrt(n_grid)))
        g = np.stack(np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side)), -1).reshape(-1, 2)
        inside = np.vstack([X, lo + g * span])
    else:
        rows = X[rng.choice(len(X), size=min(len(X), n_grid // 2), replace=False)]
        inside = np.vstack([rows, lo + rng.random((n_grid - len(rows), d)) * span])
    dirs = rng.normal(size=(n_far, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    f = np.array(FAR_FACTORS)[np.arange(n_far) % len(FAR_FACTORS)]
    far = X.mean(axis=0) + f[:, None] * span * dirs
    case.X = np.vstack([inside, far]).astype(np.float32).astype(np.float64)
    case.far = np.zeros(len(case.X), bool)
    case.far[len(inside) :] = True
    case.ref = sklearn_outputs(case.model, case.X)
    case.decided = ~is_near_tie(case.ref["gap"], case.ref["top"])
    n_in = len(inside)
    pick_in = rng.choice(n_in, size=min(n_avr_in, n_in), replace=False)
    pick_far = n_in + rng.choice(n_far, size=min(n_avr_far, n_far), replace=False)
    case.avr_idx = np.concatenate([np.sort(pick_in), np.sort(pick_far)])


# ---------------------------------------------------------------- implementations
def c_floats(a: np.ndarray) -> str:
    vals = [repr(float(np.float32(v))) + "f" for v in np.asarray(a, dtype=np.float64).ravel()]
    return ",\n".join(", ".join(vals[i : i + 8]) for i in range(0, len(vals), 8))


@dataclass
class Impl:
    name: str
    lang: str  # "c" or "c++"
    files: dict[str, str]  # file name -> text, written next to the firmware
    glue: str  # defines: uint8_t bench_predict(const float* x)
    include_dirs: list[str] = field(default_factory=list)


def impl_baseline(case: Case) -> Impl:
    glue = "static uint8_t bench_predict(const float* x) { (void)x; return 0; }\n"
    return Impl("baseline", "c", {}, glue)


def impl_tinygmm(case: Case, fixed: bool = False) -> Impl:
    kwargs = {"fixed_point": True} if fixed else {}
    header = render_header(case.model, ["benchmark model"], namespace="gmm", **kwargs)
    call = "gmm::predict_q(x)" if fixed else "gmm::predict(x)"
    glue = f'#include "GMM.h"\nstatic uint8_t bench_predict(const float* x) {{ return (uint8_t){call}; }}\n'
    return Impl("tinygmm-fixed" if fixed else "tinygmm", "c++", {"GMM.h": header}, glue)


def impl_tinygmm_int(case: Case) -> Impl:
    """predict_fixed alone: the AVR timer restarts after quantize (host counts include it)."""
    header = render_header(case.model, ["benchmark model"], namespace="gmm", fixed_point=True)
    glue = (
        '#include "GMM.h"\n'
        "static uint8_t bench_predict(const float* x) {\n"
        "  int16_t zq[gmm::N_FEATURES];\n"
        "  if (!gmm::quantize(x, zq)) return 255;\n"
        "#if defined(__AVR__)\n"
        "  GPIOR0 = 1;  /* restart the cycle count: only predict_fixed is timed */\n"
        "#endif\n"
        "  return (uint8_t)gmm::predict_fixed(zq);\n"
        "}\n"
    )
    return Impl("tinygmm-fixed-int", "c++", {"GMM.h": header}, glue)


def import_emlearn():
    """emlearn, imported without its side effect: emlearn.bayes sets numpy.seterr(all="raise")."""
    saved = np.geterr()
    import emlearn

    np.seterr(**saved)
    return emlearn


def impl_emlearn(case: Case) -> Impl:
    emlearn = import_emlearn()

    m = case.model
    if m.scaler != "none":
        raise SystemExit("benchmark models are fitted without a scaler (emlearn has none)")
    code = emlearn.convert(m.to_sklearn(), method="inline").save(name="eml_gmm")
    k, d = m.n_components, m.n_dims
    # emlearn converts the mixture, not the pipeline: the same one projection is done here first,
    # u = M (x - c) - offset (what tinygmm folds the StandardScaler and PCA into)
    project, arg = "", "x"
    if m.projection is not None:
        p = m.projection
        project = (
            f"static const float EML_C[{m.n_features}] = {{\n{c_floats(p.centre)}}};\n"
            f"static const float EML_M[{d * m.n_features}] = {{\n{c_floats(p.matrix)}}};\n"
            f"static const float EML_OFF[{d}] = {{\n{c_floats(m.offset)}}};\n"
        )
        arg = "u"
    glue = (
        '#include "eml_gmm.h"\n'
        + project
        + "static uint8_t bench_predict(const float* x) {\n"
        + (
            f"  float u[{d}];\n"
            f"  for (uint8_t i = 0; i < {d}; i++) {{\n"
            "    float s = -EML_OFF[i];\n"
            f"    for (uint8_t j = 0; j < {m.n_features}; j++) s += EML_M[i * {m.n_features} + j] * (x[j] - EML_C[j]);\n"
            "    u[i] = s;\n"
            "  }\n"
            if m.projection is not None
            else ""
        )
        + f"  float lp[{k}];\n"
        f"  eml_gmm_predict_log_proba({arg}, {d}, lp);\n"
        "  uint8_t best = 0;\n"
        f"  for (uint8_t i = 1; i < {k}; i++) if (lp[i] > lp[best]) best = i;\n"
        "  return best;\n"
        "}\n"
    )
    return Impl("emlearn", "c", {"eml_gmm.h": code}, glue, [emlearn.includedir])


def impl_naive(case: Case) -> Impl:
    m = case.model
    k, d = m.n_components, m.n_features
    means = m.offset + m.scale * m.means
    s = np.diag(m.scale)
    t = m.covariance_type
    if t == "full":
        covs = np.array([s @ c @ s for c in m.covariances])
    elif t == "tied":
        covs = np.array([s @ m.covariances @ s] * k)
    elif t == "diag":
        covs = np.array([np.diag(c * m.scale**2) for c in m.covariances])
    else:
        covs = np.array([c * s @ s for c in m.covariances])
    model = (
        f"#define NAIVE_D {d}\n#define NAIVE_K {k}\n"
        f"static const float naive_weights[{k}] = {{\n{c_floats(m.weights)}}};\n"
        f"static const float naive_means[{k * d}] = {{\n{c_floats(means)}}};\n"
        f"static const float naive_covs[{k * d * d}] = {{\n{c_floats(covs)}}};\n"
        '#include "naive_gmm.h"\n'
    )
    glue = (
        '#include "naive_model.h"\nstatic uint8_t bench_predict(const float* x) { return (uint8_t)naive_predict(x); }\n'
    )
    return Impl("naive", "c", {"naive_model.h": model}, glue, [str(HERE / "naive")])


# ---------------------------------------------------------------- firmware / host programs
FIRMWARE = r"""
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/interrupt.h>
#include <avr/sleep.h>
#include <stdint.h>
#include <string.h>
%(glue)s
#define N_IN %(n)d
#define DIM %(d)d
static const float INPUTS[N_IN * DIM] PROGMEM = {
%(inputs)s
};
static float x[DIM];
typedef uint8_t (*predict_fn)(const float*);
static volatile predict_fn fn = bench_predict;  /* opaque call: nothing folds into main */
int main(void) {
  for (uint16_t n = 0; n < N_IN; ++n) {
    memcpy_P(x, &INPUTS[n * DIM], sizeof x);
    predict_fn f = fn;
    GPIOR0 = 1;
    const uint8_t r = f(x);
    GPIOR1 = r;
  }
  GPIOR2 = 1;
  cli();
  sleep_cpu();
  for (;;) {}
}
"""

HOST = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
%(glue)s
#define N_IN %(n)d
#define DIM %(d)d
static const float INPUTS[N_IN * DIM] = {
%(inputs)s
};
typedef uint8_t (*predict_fn)(const float*);
static volatile predict_fn fn = bench_predict;
int main(int argc, char** argv) {
  const long n = argc > 1 ? atol(argv[1]) : -1;
  if (n < 0) {  /* print every label */
    for (int i = 0; i < N_IN; ++i) printf("%%d\n", fn(INPUTS + i * DIM));
    return 0;
  }
  unsigned sink = 0;
  long j = 0;
  for (long i = 0; i < n; ++i) {
    sink += fn(INPUTS + j * DIM);
    if (++j == N_IN) j = 0;
  }
  printf("%%u\n", sink);
  return 0;
}
"""


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def write_impl(impl: Impl, d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in impl.files.items():
        (d / name).write_text(text)


def compile_cmd(compiler_c: str, compiler_cxx: str, impl: Impl, src: Path, out: Path, flags: list[str]) -> list[str]:
    inc = [f"-I{src.parent}"] + [f"-I{p}" for p in impl.include_dirs]
    if impl.lang == "c++":
        return [compiler_cxx, "-std=c++11", *flags, *inc, str(src), "-o", str(out), "-lm"]
    return [compiler_c, "-std=gnu11", *flags, *inc, str(src), "-o", str(out), "-lm"]


def build_avr(impl: Impl, X: np.ndarray, d: Path, mcu: str = MCU) -> Path:
    write_impl(impl, d)
    ext = "cpp" if impl.lang == "c++" else "c"
    src = d / f"firmware.{ext}"
    src.write_text(FIRMWARE % {"glue": impl.glue, "n": len(X), "d": X.shape[1], "inputs": c_floats(X)})
    elf = d / "firmware.elf"
    run(compile_cmd("avr-gcc", "avr-g++", impl, src, elf, ["-mmcu=" + mcu, *AVR_FLAGS]))
    return elf


def avr_size(elf: Path) -> tuple[int, int]:
    """(flash, sram) = (text + data, data + bss) from avr-size's Berkeley output."""
    out = run(["avr-size", str(elf)]).stdout.splitlines()[1].split()
    text, data, bss = int(out[0]), int(out[1]), int(out[2])
    return text + data, data + bss


def simulate(harness: Path, elf: Path, mcu: str = MCU) -> np.ndarray:
    """(n, 3): cycles, label, stack bytes per predict."""
    out = run([str(harness), str(elf), mcu]).stdout
    rows = [line.split() for line in out.splitlines()]
    rows = [r for r in rows if len(r) == 3 and all(t.isdigit() for t in r)]
    return np.array(rows, dtype=np.int64)


def build_host(impl: Impl, X: np.ndarray, d: Path) -> Path:
    write_impl(impl, d)
    ext = "cpp" if impl.lang == "c++" else "c"
    src = d / f"host.{ext}"
    src.write_text(HOST % {"glue": impl.glue, "n": len(X), "d": X.shape[1], "inputs": c_floats(X)})
    exe = d / "host"
    run(compile_cmd("gcc", "g++", impl, src, exe, HOST_FLAGS))
    return exe


def host_labels(exe: Path) -> np.ndarray:
    return np.array(run([str(exe)]).stdout.split(), dtype=np.int64)


def callgrind_ir(exe: Path, n: int, d: Path) -> int:
    out = d / f"callgrind.{n}.out"
    run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(exe), str(n)])
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no instruction total in {out}")


def host_instructions(exe: Path, n: int, d: Path) -> float:
    return (callgrind_ir(exe, n, d) - callgrind_ir(exe, 0, d)) / n


# ---------------------------------------------------------------- driver
def build_harness(work: Path) -> Path:
    exe = work / "simharness"
    # libsimavr.so pulls in libelf itself (its -dev symlink may be absent)
    run(["cc", "-O2", "-o", str(exe), str(HERE / "simharness.c"), "-lsimavr"])
    return exe


def measure_case(case: Case, impls: list[Impl], harness: Path, work: Path, n_host: int, log=print) -> dict:
    Xa = case.X[case.avr_idx]
    base = impl_baseline(case)
    baselines: dict[str, tuple] = {}

    def baseline(mcu: str) -> tuple:
        if mcu not in baselines:
            base_dir = work / f"baseline-{mcu}"
            base_elf = build_avr(base, Xa, base_dir, mcu)
            base_sim = simulate(harness, base_elf, mcu)
            baselines[mcu] = (*avr_size(base_elf), int(base_sim[:, 0].max()), int(base_sim[:, 2].max()))
        return baselines[mcu]

    base_dir = work / "baseline-host"
    base_host = build_host(base, case.X, base_dir)
    base_ir = host_instructions(base_host, n_host, base_dir)
    results = {}
    ref = case.ref["label"]
    for impl in impls:
        t0 = time.time()
        d = work / impl.name
        mcu = MCU
        try:
            elf = build_avr(impl, Xa, d, mcu)
        except RuntimeError as exc:
            if "not within region" not in str(exc) and "will not fit" not in str(exc):
                raise
            mcu = BIG_MCU  # does not fit an ATmega328P: measure it on the same core with more memory
            elf = build_avr(impl, Xa, d, mcu)
        base_flash, base_sram, base_cycles, base_stack = baseline(mcu)
        flash, sram = avr_size(elf)
        sim = simulate(harness, elf, mcu)
        if len(sim) != len(Xa):
            raise RuntimeError(f"{impl.name}: simulator reported {len(sim)} of {len(Xa)} predicts")
        cycles = sim[:, 0] - base_cycles
        far_a = case.far[case.avr_idx]
        exe = build_host(impl, case.X, d)
        labels = host_labels(exe)
        n = n_host if impl.name != "naive" or case.model.n_features <= 2 else max(200, n_host // 50)
        ir = host_instructions(exe, n, d) - base_ir
        inr, far, dec = ~case.far, case.far, case.decided
        res = {
            "avr_cycles_mean_in_range": float(cycles[~far_a].mean()),
            "avr_cycles_mean_far": float(cycles[far_a].mean()) if far_a.any() else None,
            "avr_cycles_min": int(cycles.min()),
            "avr_cycles_max": int(cycles.max()),
            "flash_bytes": flash - base_flash,
            "sram_bytes": sram - base_sram,
            "stack_bytes": int(sim[:, 2].max()) - base_stack,
            "host_instructions": round(ir, 1),
            "agree_in_range": float((labels[inr] == ref[inr]).mean()),
            "agree_in_range_decided": float((labels[inr & dec] == ref[inr & dec]).mean()),
            "agree_far": float((labels[far] == ref[far]).mean()),
            "avr_agree": float((sim[:, 1] == ref[case.avr_idx]).mean()),
            "avr_equals_host": bool(np.array_equal(sim[:, 1], labels[case.avr_idx])),
            "n_in_range": int(inr.sum()),
            "n_far": int(far.sum()),
            "n_avr": len(Xa),
            "mcu": mcu,
        }
        results[impl.name] = res
        log(f"  {impl.name:14s} {res['avr_cycles_mean_in_range']:10.0f} cycles  {time.time() - t0:5.1f}s")
    return {
        "model": case.name,
        "k": case.model.n_components,
        "d": case.model.n_features,
        "p": case.model.n_dims,
        "covariance_type": case.model.covariance_type,
        "model_hash": case.model.model_hash,
        "baseline": {
            mcu: {"flash": v[0], "sram": v[1], "call_cycles": v[2], "stack": v[3]} for mcu, v in baselines.items()
        }
        | {"host_ir": base_ir},
        "results": results,
    }


def fmt_pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %" if v < 0.9995 or v == 1 else f"{100 * v:.2f} %"


def render_markdown(doc: dict) -> str:
    lines = [
        "# tinygmm benchmark",
        "",
        f"Command: `{doc['command']}`  ",
        f"Toolchain: {doc['toolchain']}  ",
        "AVR: ATmega328P @ 16 MHz in simavr, avr-gcc -Os; cycles exclude the call of an empty predict; "
        "flash/SRAM are `avr-size` deltas (text+data / data+bss) against the same firmware with an empty "
        "predict; stack is the predict's peak depth from the simulator's SP trace. Host: instructions per "
        "predict by callgrind (gcc/g++ -O2, x86-64). Agreement: label equal to scikit-learn's predict "
        "(host build; the AVR build's labels on a subset are checked equal to the host's).",
        "",
    ]
    head = (
        "| model | implementation | AVR cycles (in range, mean) | AVR cycles (far, mean) | AVR cycles max | "
        "flash B | SRAM B | stack B | host instr | agree in range | agree far | AVR = host |"
    )
    lines += [head, "|" + "---|" * 12]
    for case in doc["cases"]:
        for name, r in case["results"].items():
            far = "-" if r["avr_cycles_mean_far"] is None else f"{r['avr_cycles_mean_far']:,.0f}"
            if r.get("mcu", MCU) != MCU:
                name = f"{name} (\\*)"
            lines.append(
                f"| {case['model']} | {name} | {r['avr_cycles_mean_in_range']:,.0f} | {far} | "
                f"{r['avr_cycles_max']:,} | {r['flash_bytes']:,} | {r['sram_bytes']:,} | {r['stack_bytes']} | "
                f"{r['host_instructions']:,.0f} | {fmt_pct(r['agree_in_range'])} | {fmt_pct(r['agree_far'])} | "
                f"{'yes' if r['avr_equals_host'] else 'NO'} |"
            )
    lines.append("")
    c0 = doc["cases"][0]
    lines.append(
        f"Inputs per model: {c0['results'][next(iter(c0['results']))]['n_in_range']} in range "
        "(data rows + grid/uniform box), far points at 1e2, 1e4, 1e6 x the data span; "
        "AVR runs a subset of both."
    )
    lines.append(
        "tinygmm-fixed is `gmm::predict_q` (quantise + integer predict; out-of-domain inputs and clamped "
        "winners go to the float predict); tinygmm-fixed-int is `gmm::predict_fixed` alone on quantised "
        "inputs (the AVR timer restarts after quantize; host counts include it), which has no answer (255) "
        "outside the quantisation domain, hence 0 % on far points.  "
    )
    if any(c.get("p", c["d"]) != c["d"] for c in doc["cases"]):
        lines.append(
            "The pipeline model (StandardScaler -> PCA -> mixture) is one projection of the raw inputs "
            "(P x D multiply-adds) and a P-dimensional mixture: tinygmm's header does both (projection "
            "constants in flash); emlearn converts the mixture only, so its glue here does the same "
            "projection first (a plain C loop over arrays in SRAM); the naive baseline takes per-feature "
            "models only and is not run on it.  "
        )
    lines.append(
        "(\\*) does not fit an ATmega328P (2 KB SRAM / 32 KB flash): built and simulated for an ATmega2560 "
        "(same AVR core; calls cost one more cycle), deltas against the same firmware for that MCU."
    )
    if any(c.get("targets") for c in doc["cases"]):
        lines += ["", *targets.render(doc["cases"])]
    return "\n".join(lines) + "\n"


def toolchain() -> str:
    import sklearn

    emlearn = import_emlearn()
    avr = run(["avr-gcc", "--version"]).stdout.splitlines()[0]
    gcc = run(["gcc", "--version"]).stdout.splitlines()[0]
    ver = getattr(emlearn, "__version__", None) or (Path(emlearn.__file__).parent / "VERSION.txt").read_text().strip()
    return f"{avr}; {gcc}; scikit-learn {sklearn.__version__}; emlearn {ver}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", default=str(HERE), help="directory for results.md / results.json (default scripts/bench)")
    ap.add_argument("--work", help="keep build files here (default: a temporary directory)")
    ap.add_argument("--quick", action="store_true", help="customer model only, fewer inputs (smoke test)")
    ap.add_argument(
        "--impls", default="tinygmm,tinygmm-fixed,tinygmm-fixed-int,emlearn,naive", help="comma-separated list"
    )
    ap.add_argument(
        "--targets", help="QEMU targets, comma-separated, 'all' or 'none' (default: all; with --quick cortex-m0)"
    )
    a = ap.parse_args(argv)
    for tool in ("avr-gcc", "avr-size", "valgrind", "gcc", "g++"):
        if shutil.which(tool) is None:
            raise SystemExit(f"run.py: {tool} not found")
    makers = {
        "tinygmm": impl_tinygmm,
        "tinygmm-fixed": lambda c: impl_tinygmm(c, fixed=True),
        "tinygmm-fixed-int": impl_tinygmm_int,
        "emlearn": impl_emlearn,
        "naive": impl_naive,
    }
    names = [n for n in a.impls.split(",") if n]
    tmp = None
    if a.work:
        work = Path(a.work)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="tinygmm-bench-")
        work = Path(tmp.name)
    try:
        harness = build_harness(work)
        qemu_targets = targets.target_list(a.targets, a.quick)
        cases = build_cases(a.quick)
        out_cases = []
        for i, case in enumerate(cases):
            big = case.model.n_features > 2
            if a.quick:
                make_inputs(case, n_grid=400, n_far=60, n_avr_in=12, n_avr_far=6)
            else:
                make_inputs(
                    case,
                    n_grid=2500 if not big else 2000,
                    n_far=300,
                    n_avr_in=60 if big else 100,
                    n_avr_far=30 if big else 50,
                )
            print(f"{case.name}: {len(case.X)} inputs, {len(case.avr_idx)} on the AVR")
            # the naive baseline takes per-feature models only (no projection)
            impls = [makers[n](case) for n in names if not (n == "naive" and case.model.projection is not None)]
            out_cases.append(measure_case(case, impls, harness, work / f"case{i}", 200 if a.quick else 2000))
            if qemu_targets:
                on_targets = [
                    dataclasses.replace(im, glue=targets.INT_GLUE) if im.name == "tinygmm-fixed-int" else im
                    for im in impls
                    if im.name != "naive"
                ]
                out_cases[-1]["targets"] = targets.measure_case(
                    case, on_targets, impl_baseline(case), work / f"case{i}" / "targets", c_floats, qemu_targets
                )
        doc = {
            "command": "python3 scripts/bench/run.py" + (" --quick" if a.quick else ""),
            "toolchain": toolchain(),
            "cases": out_cases,
        }
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
        md = render_markdown(doc)
        (out / "results.md").write_text(md)
        print(md)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

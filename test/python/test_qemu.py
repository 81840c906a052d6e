"""The exported models and the serial protocol on 32-bit MCU cores under QEMU, without PlatformIO.

test/qemu/runner.cpp holds seven models (the demo model, the four covariance
types, an EXACT model, a StandardScaler + PCA(4) + GaussianMixture pipeline on
load_breast_cancer's 30 features, all with the fixed-point path and an anomaly
threshold at the 5 % quantile of their training scores) and the protocol
script; it is built once per target (qemu_targets.py) and once for the host,
and run once per session:

* Cortex-M0 (microbit), RV32IMC (virt): soft float, like the RP2040, SAMD21 and
  ESP32-C3. The predict paths (predict, predict_q, quantize, predict_fixed) and
  the anomaly decisions (is_anomaly, is_anomaly_q, is_anomaly_fixed) and
  every protocol reply are identical, line for line, to the host's build of the
  same source with -DTINYGMM_SOFT_FLOAT=1; probabilities and log-likelihoods go
  through the target's libm (newlib, picolibc), so they are compared with
  scikit-learn within the parity tolerances.
* Cortex-M4F (mps2-an386), Cortex-M33 (mps2-an505): hard float with GCC's
  default FMA contraction, as on the Uno R4 or Nano 33 BLE. Everything within
  the parity tolerances of scikit-learn; predict_fixed (integers) exact.
* Xtensa lx106 (-M sim -cpu lx106), the ESP8266's core: soft float, as the
  first group; the float and division routines its libgcc lacks (on the
  ESP8266 they are in ROM) come from test/qemu/xtensa_rt.c, itself checked
  bit for bit against the host's IEEE arithmetic.

Skipped with the reason when a toolchain or QEMU is missing; scripts/test.sh
installs them.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, require_tool
from qemu_runner import ModelOutput, RunnerModel, RunnerOutput, hex_float, parse, runner_models, write_sources
from qemu_targets import BY_NAME, QEMU_DIR, TARGETS, Target, build, code_size, run
from test_anomaly_device import fixed_reference
from test_avr_sim import (
    GoldenRun,
    compare_replies,
    export_customers,
    model_features,
    parity_failures,
    protocol_script,
    write_script_header,
)
from test_pipeline_parity import parity_failures as pipeline_failures
from tinygmm.codegen.fixedpoint import fixed_point
from tinygmm.data.reader import load_csv
from tinygmm.export.vectors import is_near_tie, sklearn_outputs

LIB_DIR = ROOT / "lib" / "tinygmm" / "src"
HOST_FLAGS = ["-std=gnu++11", "-O1", "-Wall", "-Wextra", "-Werror"]
MODEL_NAMES = ["customers", "sph2", "tied3", "diag4", "full8", "exact3", "cancer_pca"]
RUN_TARGETS = [t.name for t in TARGETS]


class Sources:
    def __init__(self, out: Path, models: list[RunnerModel]) -> None:
        self.out = out
        self.models = {r.name: r for r in models}

    def files(self) -> tuple[list[Path], list[Path]]:
        # the protocol serves the demo model as exported now (customers/GMM.h), not include/GMM.h
        includes = [self.out / "customers", self.out, ROOT / "include", LIB_DIR]
        return [QEMU_DIR / "runner.cpp", LIB_DIR / "tinygmm_protocol.cpp"], includes


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    out = tmp_path_factory.mktemp("qemu-runner")
    (out / "customers").mkdir()
    customers = export_customers(out / "customers")
    data = load_csv(ROOT / "data" / "customers.csv", customers.feature_names)
    models = runner_models(customers, data.X)
    write_sources(models, out)
    write_script_header(out / "protocol_script.h", protocol_script(model_features(out / "customers" / "GMM.h")))
    return Sources(out, models)


def host_run(sources: Sources, name: str, flags: list[str]) -> RunnerOutput:
    gxx = require_tool("g++")
    src, inc = sources.files()
    exe = sources.out / name
    cmd = [gxx, *flags, *[f"-I{p}" for p in [*inc, QEMU_DIR]], *map(str, src), "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"host build failed: {' '.join(cmd)}\n{r.stderr}"
    out = subprocess.run([str(exe)], capture_output=True, timeout=60, check=True).stdout.decode("latin-1")
    return parse(out.splitlines())


@pytest.fixture(scope="session")
def host(sources: Sources) -> RunnerOutput:
    """The runner built for the host with the soft-float code path (as on the AVR tests)."""
    return host_run(sources, "runner_host", [*HOST_FLAGS, "-DTINYGMM_SOFT_FLOAT=1"])


class Runs:
    """Each target's runner, built and run on first use."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.cache: dict[str, tuple[RunnerOutput, int]] = {}

    def get(self, name: str) -> tuple[Target, RunnerOutput, int]:
        t = BY_NAME[name]
        why = t.missing()
        if why:
            pytest.skip(why)
        if name not in self.cache:
            src, inc = self.sources.files()
            elf = build(t, src, inc, self.sources.out / f"runner-{name}.elf")
            self.cache[name] = (parse(run(t, elf)), code_size(t, elf))
        out, size = self.cache[name]
        return t, out, size


@pytest.fixture(scope="session")
def runs(sources: Sources) -> Runs:
    return Runs(sources)


def golden_run(r: RunnerModel, out: ModelOutput, flash: int) -> GoldenRun:
    m = r.model
    d, k = m.n_features, m.n_components
    n, dd, kk, model_hash = out.header[1:5]
    assert (int(n), int(dd), int(kk), model_hash) == (len(r.golden.X), d, k, m.model_hash)
    rows = [ln.split()[1:] for ln in out.v_lines]
    assert [int(row[0]) for row in rows] == list(range(len(r.golden.X))), "missing or extra V lines"
    return GoldenRun(
        model=m,
        far=np.array([row[1] == "1" for row in rows]),
        predict=np.array([int(row[2]) for row in rows]),
        label=np.array([int(row[3]) for row in rows]),
        argmax=np.array([int(row[4]) for row in rows]),
        cycles=np.array([int(row[5]) for row in rows]),
        ll=np.array([hex_float(t) for t in (row[6] for row in rows)]),
        score=np.array([hex_float(row[7]) for row in rows]),
        X=np.array([[hex_float(t) for t in row[8 : 8 + d]] for row in rows]),
        proba=np.array([[hex_float(t) for t in row[8 + d : 8 + d + k]] for row in rows]),
        flash=flash,
        ram=-1,
    )


def check_golden(r: RunnerModel, out: RunnerOutput, flash: int, where: str) -> None:
    assert r.name in out.models, f"{where}: no output for model {r.name}"
    run_ = golden_run(r, out.models[r.name], flash)
    assert np.array_equal(run_.X, r.golden.X.astype(np.float32)), f"{where}: inputs changed on the way"
    if r.estimator is None:
        failures = parity_failures(run_)
    else:
        # the pipeline's own outputs (score_samples tolerance as in test_pipeline_parity: its box points
        # are far from the data in 30 dimensions), and the device's entry points agreeing with each other
        x = run_.X.astype(np.float64)
        failures = pipeline_failures(where, r.estimator, r.model, x, run_.far, run_.predict, run_.proba, run_.ll)
        same = (run_.label == run_.predict) & (run_.argmax == run_.predict) & (run_.ll == run_.score)
        failures += [
            f"{where}: classify / predict_proba / score_samples disagree on vector {i}" for i in np.flatnonzero(~same)
        ]
    assert not failures, f"{where} differs from scikit-learn:\n" + "\n".join(failures[:20])


def check_predict(r: RunnerModel, out: RunnerOutput, where: str) -> None:
    """predict equal to scikit-learn away from near ties, predict_q too wherever quantize
    accepts the input and the integer model is decided, predict_fixed the integer argmax."""
    m = r.model
    d = m.n_dims
    rows = [ln.split()[1:] for ln in out.models[r.name].p_lines]
    assert [int(row[0]) for row in rows] == list(range(len(r.xp))), f"{where}: missing or extra P lines"
    pred = np.array([int(row[1]) for row in rows])
    ok = np.all(np.isfinite(r.xp), axis=1)
    ref = sklearn_outputs(m, r.xp[ok].astype(np.float64))
    decided = ~is_near_tie(ref["gap"], ref["top"])
    bad = np.flatnonzero(pred[ok][decided] != ref["label"][decided])
    assert bad.size == 0, f"{where}: predict differs from scikit-learn on inputs {np.flatnonzero(ok)[decided][bad]}"
    if r.estimator is not None:
        bad = np.flatnonzero(pred[ok][decided] != r.estimator.predict(r.xp[ok].astype(np.float64))[decided])
        assert bad.size == 0, f"{where}: predict differs from the pipeline on inputs {np.flatnonzero(ok)[decided][bad]}"
    lpq, _ = fixed_point(m.mixture_view()).log_prob_q(r.zq)
    got = np.array([int(row[4 + d]) for row in rows])
    assert np.array_equal(got, np.argmax(lpq, axis=1)), f"{where}: predict_fixed is not the integer argmax"


def check_anomaly(r: RunnerModel, out: RunnerOutput, where: str) -> float:
    """is_anomaly equal to scikit-learn's score_samples < threshold away from the threshold's float32
    resolution (the score tolerance: 1e-3 in range, 1e-5 relative far out), decision_function the
    device's score minus ANOMALY_THRESHOLD, is_anomaly_fixed exactly the integer model's decision,
    is_anomaly_q right wherever the score is further from the threshold than the fixed-point bound.
    Returns the fraction of the finite inputs that last check applies to (small for the EXACT
    model, whose bound is wide)."""
    mo = out.models[r.name]
    thr32 = float(np.float32(r.threshold.threshold))
    assert hex_float(mo.header[5]) == thr32, f"{where}: ANOMALY_THRESHOLD {mo.header[5]}"
    rows = [ln.split()[1:] for ln in mo.a_lines]
    assert [int(row[0]) for row in rows] == list(range(len(r.xp))), f"{where}: missing or extra A lines"
    flag = np.array([row[1] == "1" for row in rows])
    flag_q = np.array([row[2] == "1" for row in rows])
    fixed = np.array([int(row[3]) for row in rows])
    score = np.array([hex_float(row[4]) for row in rows], dtype=np.float32)
    decision = np.array([hex_float(row[5]) for row in rows], dtype=np.float32)

    fin = np.isfinite(score)
    assert np.array_equal(decision[fin], score[fin] - np.float32(thr32)), f"{where}: decision_function"
    assert np.all(np.isneginf(decision[~fin]) | np.isnan(decision[~fin])), f"{where}: decision_function off the scores"

    ok = np.all(np.isfinite(r.xp), axis=1)
    x = r.xp[ok].astype(np.float64)
    ref = r.sklearn_scores(x)
    n_far = 20  # predict_inputs: data rows, box, 20 far points, 3 non-finite
    far = np.arange(len(r.xp))[ok] >= len(r.xp) - 3 - n_far
    tol = np.where(far, 1e-5 * np.abs(ref), np.maximum(1e-3, 1e-5 * np.abs(ref)))
    clear = np.abs(ref - r.threshold.threshold) > tol
    want = ref < r.threshold.threshold
    bad = np.flatnonzero(clear & (flag[ok] != want))
    assert bad.size == 0, f"{where}: is_anomaly differs from scikit-learn on inputs {np.flatnonzero(ok)[bad]}"
    assert want[~far].any() and (~want[~far]).any() and want[far].all(), f"{where}: trivial decisions"
    assert clear.mean() > 0.95, f"{where}: too many inputs near the threshold"

    view = r.model.mixture_view()
    assert np.array_equal(fixed, fixed_reference(view, r.threshold, r.zq)), f"{where}: is_anomaly_fixed"
    assert (fixed >= 0).mean() > 0.5, f"{where}: the integer decision rarely decides"
    quantized = np.array([ln.split()[4] == "1" for ln in mo.p_lines])[ok]
    eps, _ = fixed_point(view).log_prob_error(r.model.project(x))
    clear_q = clear & (~quantized | (np.abs(ref - r.threshold.threshold) > eps.max(axis=1) + 1e-3))
    bad = np.flatnonzero(clear_q & (flag_q[ok] != want))
    assert bad.size == 0, f"{where}: is_anomaly_q differs from scikit-learn on inputs {np.flatnonzero(ok)[bad]}"
    return float(clear_q.mean())


def test_runner_models_cover_the_cases(sources: Sources) -> None:
    """Four covariance types, an EXACT model, a pipeline whose PCA reduces 30 features to 4, and
    every model exported with the fixed-point path and an anomaly threshold."""
    ms = [r.model for r in sources.models.values()]
    assert {m.covariance_type for m in ms} == {"full", "tied", "diag", "spherical"}
    assert list(sources.models) == MODEL_NAMES
    for name in MODEL_NAMES:
        header = (sources.out / f"{name}.h").read_text()
        assert "predict_fixed" in header and "is_anomaly_q" in header and "ANOMALY_THRESHOLD" in header
        assert ("EXACT = true" in header) == (name == "exact3"), name
        assert ("N_DIMS" in header) == (name == "cancer_pca"), name
    pca = sources.models["cancer_pca"].model
    assert pca.projection is not None and (pca.n_features, pca.n_dims) == (30, 4)


@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("target", RUN_TARGETS)
def test_golden_vectors_on_target(runs: Runs, sources: Sources, target: str, model: str) -> None:
    t, out, flash = runs.get(target)
    check_golden(sources.models[model], out, flash, f"{target} ({t.board})")


@pytest.mark.parametrize("target", RUN_TARGETS)
def test_predict_paths_on_target(runs: Runs, sources: Sources, host: RunnerOutput, target: str) -> None:
    """Soft float: line for line the host's output. Hard float with FMA: predict and predict_q
    as scikit-learn away from near ties, quantize within one step of the host's, predict_fixed exact."""
    t, out, _ = runs.get(target)
    for name, r in sources.models.items():
        check_predict(r, out, f"{target} model {name}")
        got, want = out.models[name].p_lines, host.models[name].p_lines
        if t.soft_float:
            diff = [(a, h) for a, h in zip(got, want, strict=True) if a != h]
            assert not diff, f"{target} model {name} differs from the host: {diff[:5]}"
        else:
            d = r.model.n_dims
            g = np.array([[int(v) for v in ln.split()[1:]] for ln in got])
            h = np.array([[int(v) for v in ln.split()[1:]] for ln in want])
            assert np.array_equal(g[:, 4 + d], h[:, 4 + d]), f"{target} {name}: predict_fixed differs from the host"
            both = (g[:, 3] == 1) & (h[:, 3] == 1)
            assert np.abs(g[both, 4 : 4 + d] - h[both, 4 : 4 + d]).max(initial=0) <= 1, f"{target} {name}: quantize"


@pytest.mark.parametrize("target", RUN_TARGETS)
def test_anomaly_on_target(runs: Runs, sources: Sources, host: RunnerOutput, target: str) -> None:
    """The anomaly decisions as scikit-learn's (check_anomaly); on soft float, is_anomaly, is_anomaly_q
    and is_anomaly_fixed line for line the host's (the scores go through the target's libm)."""
    t, out, _ = runs.get(target)
    checked = []
    for name, r in sources.models.items():
        checked.append(check_anomaly(r, out, f"{target} model {name}"))
        if t.soft_float:
            got = [ln.split()[:5] for ln in out.models[name].a_lines]
            want = [ln.split()[:5] for ln in host.models[name].a_lines]
            diff = [(a, h) for a, h in zip(got, want, strict=True) if a != h]
            assert not diff, f"{target} model {name}: anomaly decisions differ from the host: {diff[:5]}"
    assert np.mean(checked) > 0.5, f"{target}: is_anomaly_q checked on {checked} of the inputs"


@pytest.mark.parametrize("target", RUN_TARGETS)
def test_protocol_on_target(runs: Runs, host: RunnerOutput, target: str) -> None:
    """Every reply of the protocol script: identical to the host's on soft float, within the
    parity tolerances (same kind, same label unless a tie) with FMA."""
    t, out, _ = runs.get(target)
    assert host.protocol[0].startswith("READY tinygmm ") and host.protocol[-1].startswith("END replies=")
    assert len(host.protocol) > 50
    if t.soft_float:
        assert out.protocol == host.protocol
    else:
        problems = compare_replies(out.protocol, host.protocol)
        assert not problems, f"the protocol behaves differently on {target}:\n" + "\n".join(problems[:20])


@pytest.mark.parametrize("target", RUN_TARGETS)
def test_instructions_are_counted(runs: Runs, target: str) -> None:
    """The runner's counter advances by the board's clock times QEMU's 2^shift ns per executed
    instruction (SysTick), or by one (minstret): a loop of exactly 20000 instructions reads that
    within its few instructions of overhead. Every model's predict costs more than an empty call."""
    t, out, _ = runs.get(target)
    n, ticks = out.calibration
    measured = ticks / t.ticks_per_instruction()
    assert n == 20000 and n <= measured <= n + 40, f"{target}: {ticks} ticks for {n} instructions"
    for name, mo in out.models.items():
        t_float, t_fixed, t_empty = mo.cost
        assert t_float > t_empty and t_fixed > t_empty, f"{target} {name}: {mo.cost}"


# ---- the soft-float branch, and what is only compiled ----------------------------


SOFT_FLOAT_PROBE = (
    '#include "customers.h"\nstatic_assert(TINYGMM_SOFT_FLOAT == {v}, "TINYGMM_SOFT_FLOAT");\nint probe;\n'
)


@pytest.mark.parametrize("target", [t.name for t in TARGETS])
def test_soft_float_is_detected(sources: Sources, tmp_path: Path, target: str) -> None:
    """GMM.h picks its soft-float code path (integer comparisons, pruning) exactly on the
    targets without an FPU: Cortex-M0, RV32IMC and Xtensa lx106."""
    t = BY_NAME[target]
    if shutil.which(t.cc) is None:
        pytest.skip(f"{t.cc} not installed (Debian: apt-get install {t.packages}; scripts/test.sh does)")
    probe = tmp_path / "probe.cpp"
    probe.write_text(SOFT_FLOAT_PROBE.format(v=1 if t.soft_float else 0))
    cmd = [t.cc, "-x", "c++", "-std=gnu++11", "-Os", "-Wall", "-Wextra", "-Werror", *t.flags, f"-I{sources.out}"]
    r = subprocess.run([*cmd, "-c", str(probe), "-o", str(tmp_path / "probe.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_xtensa_runtime_is_ieee(tmp_path: Path) -> None:
    """test/qemu/xtensa_rt.c (the float and division routines the lx106 runner links, which the
    ESP8266 has in ROM) gives the host's IEEE-754 results, bit for bit, on a million random
    operands per operation (subnormals, infinities, near-cancelling pairs included)."""
    gcc = require_tool("gcc")
    exe = tmp_path / "rt_test"
    cmd = [gcc, "-O1", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-DRT_HOST_TEST", "-ffp-contract=off"]
    cmd += [str(QEMU_DIR / "xtensa_rt_test.c"), str(QEMU_DIR / "xtensa_rt.c"), "-o", str(exe), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe), "1000000"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith(" 0 mismatches"), r.stdout


# ---- fused multiply-adds on the host ----------------------------------------------


def host_has_fma() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"^flags\s*:.*\bfma\b", flags, re.M))


def test_fused_multiply_adds_keep_the_tolerances(sources: Sources, host: RunnerOutput) -> None:
    """The runtime built with every a * b + c fused (-ffp-contract=fast -mfma, as GCC does by
    default on the Cortex-M4F and the ESP32's FPU): golden vectors within the parity tolerances,
    predict as scikit-learn away from near ties, predict_fixed exact, protocol replies within
    tolerance of the unfused build."""
    if not host_has_fma():
        pytest.skip("this CPU has no FMA instructions (no 'fma' in /proc/cpuinfo): cannot run an -mfma build")
    flags = ["-std=gnu++11", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=fast", "-mfma"]
    fused = host_run(sources, "runner_fma", flags)
    dis = subprocess.run(["objdump", "-d", str(sources.out / "runner_fma")], capture_output=True, text=True)
    assert "vfmadd" in dis.stdout or "vfmsub" in dis.stdout or "vfnmadd" in dis.stdout, "no FMA instruction emitted"
    for name, r in sources.models.items():
        check_golden(r, fused, 0, f"host with FMA, model {name}")
        check_predict(r, fused, f"host with FMA, model {name}")
        check_anomaly(r, fused, f"host with FMA, model {name}")
    problems = compare_replies(fused.protocol, host.protocol)
    assert not problems, "the protocol differs with FMA:\n" + "\n".join(problems[:20])


# ---- the PlatformIO environments of these boards ------------------------------------

# env -> (PlatformIO platform, how its core is tested without PlatformIO)
BOARD_ENVS = {
    "pico": ("raspberrypi", "its core runs in test_qemu.py on QEMU's Cortex-M0 (microbit), soft float"),
    "uno_r4_minima": ("renesas-ra", "its core runs in test_qemu.py on QEMU's Cortex-M4F (mps2-an386)"),
    "nano33ble": ("nordicnrf52", "its core runs in test_qemu.py on QEMU's Cortex-M4F (mps2-an386)"),
    "esp32-c3-devkitm-1": ("espressif32", "its core runs in test_qemu.py on QEMU's RV32IMC (virt), soft float"),
    "esp32dev": (
        "espressif32",
        "its core (Xtensa LX6) is not tested: no toolchain here; the host -mfma test covers FMA",
    ),
    "nodemcuv2": ("espressif8266", "its core runs in test_qemu.py on QEMU's Xtensa lx106 (sim), soft float"),
}


def read_platformio_ini() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    cp.read(ROOT / "platformio.ini")
    return cp


@pytest.mark.parametrize("env", list(BOARD_ENVS))
def test_board_env_is_configured(env: str) -> None:
    """Each board has its env: the right platform, the Arduino framework, 115200 baud (the
    protocol's), warnings as errors on the project's own sources (not the Arduino core)."""
    cp = read_platformio_ini()
    sec = f"env:{env}"
    assert cp.has_section(sec), f"platformio.ini has no [{sec}]"
    assert cp.get(sec, "platform") == BOARD_ENVS[env][0]
    assert cp.get(sec, "board") == env
    assert cp.get(sec, "framework") == "arduino"
    assert cp.get(sec, "monitor_speed", fallback=cp.get("env", "monitor_speed")) == "115200"
    assert cp.get(sec, "build_src_flags").split() == ["-Wall", "-Wextra", "-Werror"]


@pytest.mark.parametrize("env", list(BOARD_ENVS))
def test_board_env_builds(tmp_path: Path, env: str) -> None:
    """pio run -e <env> in a copy of the project, where PlatformIO has the board's platform."""
    from test_pio import COPY_IGNORE, core_dir, pio_command

    platform, verified = BOARD_ENVS[env]
    cmd = pio_command()
    if cmd is None:
        pytest.skip(f"PlatformIO is not installed (pip install platformio); {verified}")
    if not (core_dir() / "platforms" / platform).is_dir():
        pytest.skip(
            f"PlatformIO platform {platform!r} is not installed in {core_dir()}/platforms (no registry access "
            f"here); {verified}"
        )
    project = tmp_path / "project"
    shutil.copytree(ROOT, project, ignore=lambda _d, names: [n for n in names if n in COPY_IGNORE])
    r = subprocess.run([*cmd, "run", "-e", env, "-d", str(project)], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


# ---- the benchmark's per-target cost -----------------------------------------------


def test_bench_counts_predict_on_cortex_m0(tmp_path: Path) -> None:
    """scripts/bench/targets.py on a small case: instructions and bytes per predict are measured,
    the labels agree with scikit-learn, and on a soft-float core predict_fixed costs far fewer
    instructions than the float predict (what the fixed-point path is for)."""
    import dataclasses
    import importlib.util

    t = BY_NAME["cortex-m0"]
    why = t.missing()
    if why:
        pytest.skip(why)
    spec = importlib.util.spec_from_file_location("tinygmm_bench_run", ROOT / "scripts" / "bench" / "run.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    (case,) = bench.build_cases(quick=True)
    bench.make_inputs(case, n_grid=100, n_far=12, n_avr_in=1, n_avr_far=1)
    impls = [bench.impl_tinygmm(case), dataclasses.replace(bench.impl_tinygmm_int(case), glue=bench.targets.INT_GLUE)]
    out = bench.targets.measure_case(case, impls, bench.impl_baseline(case), tmp_path, bench.c_floats, [t], log=print)
    res = out["cortex-m0"]
    f, q = res["tinygmm"], res["tinygmm-fixed-int"]
    assert f["agree_in_range_decided"] == 1.0 and f["agree_far"] == 1.0
    assert q["agree_in_range_decided"] == 1.0
    assert 500 < f["code_bytes"] < 20000 and 500 < q["code_bytes"] < 20000
    assert 100 < q["instructions_mean_in_range"] < f["instructions_mean_in_range"] / 4

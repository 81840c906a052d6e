"""Build and run test/online/online_runner.cpp (host g++ or simavr) and the float32 reference on one stream."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinygmm.online import OK, OnlineConfig, OnlineGMM

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "test" / "online" / "online_runner.cpp"
INCLUDES = [ROOT / "lib" / "tinygmm" / "src", ROOT / "test" / "online"]
HOST_FLAGS = ["-std=c++11", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffp-contract=off"]
MCU, F_CPU = "atmega328p", 16000000
AVR_FLAGS = [f"-mmcu={MCU}", "-Os", "-std=gnu++11", "-Wall", "-Wextra", "-Werror", f"-DF_CPU={F_CPU}UL"]
STATUS = {"o": 0, "w": 1, "b": -1, "f": -2}
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Case:
    K: int
    D: int
    cov: str
    X: np.ndarray
    cfg: OnlineConfig = field(default_factory=OnlineConfig)
    warm: int | None = None
    start: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # adapt: weights, means, covariances
    every: int = 0

    @property
    def warm_n(self) -> int:
        return max(4 * self.K if self.warm is None else self.warm, 1)


@dataclass
class Run:
    status: list[int]
    dumps: list[tuple[int, np.ndarray]]  # (t, weights + means + covariances + threshold as float32)
    reload_same: bool | None = None
    ticks: tuple[int, int] | None = None  # QEMU: counter ticks in learn, in predict (whole stream)


def c_float(v: float) -> str:
    v = float(np.float32(v))
    if np.isnan(v):
        return '__builtin_nanf("")'
    if np.isinf(v):
        return "__builtin_inff()" if v > 0 else "-__builtin_inff()"
    t = f"{v:.9g}"
    return t + ("f" if any(ch in t for ch in ".e") else ".0f")


def c_array(name: str, a: np.ndarray) -> str:
    vals = ", ".join(c_float(v) for v in np.asarray(a, np.float32).ravel()) or "0.0f"
    return f"static const float {name}[] RUNNER_FLASH = {{{vals}}};\n"


def write_inputs(case: Case, d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    c = case.cfg
    cfg = [c.alpha, c.t0, c.gamma_floor, c.reg_covar, c.min_weight, c.x_limit, c.quantile, c.max_tail]
    text = (
        "#pragma once\n"
        f"#define ONLINE_K {case.K}\n#define ONLINE_D {case.D}\n#define ONLINE_COV {0 if case.cov == 'full' else 2}\n"
        f"#define ONLINE_WARM {case.warm_n}\n#define ONLINE_ADAPT {1 if case.start else 0}\n"
        "namespace inputs {\n"
        f"static const unsigned long N = {len(case.X)}UL;\nstatic const long EVERY = {case.every}L;\n"
        f"static const uint32_t SEED = {c.seed}UL;\n" + c_array("CFG", np.array(cfg)) + c_array("X", case.X)
    )
    if case.start:
        text += c_array("W0", case.start[0]) + c_array("M0", case.start[1]) + c_array("C0", case.start[2])
    (d / "online_inputs.h").write_text(text + "}  // namespace inputs\n")


def build_host(case: Case, d: Path) -> Path:
    write_inputs(case, d)
    exe = d / "online_runner"
    cxx = shutil.which("g++") or "c++"
    cmd = [cxx, *HOST_FLAGS, f"-I{d}", *[f"-I{p}" for p in INCLUDES], str(RUNNER), "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


def build_avr(case: Case, d: Path) -> Path:
    write_inputs(case, d)
    elf = d / "online_runner.elf"
    cmd = ["avr-g++", *AVR_FLAGS, f"-I{d}", *[f"-I{p}" for p in INCLUDES], str(RUNNER), "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return elf


def build_qemu(case: Case, d: Path, target) -> Path:
    """The runner for one of test/python/qemu_targets.py's targets."""
    from qemu_targets import build

    write_inputs(case, d)
    return build(target, [RUNNER], [d, *INCLUDES], d / f"online_runner-{target.name}.elf", ["-DONLINE_QEMU"])


def run_qemu(target, elf: Path) -> Run:
    from qemu_targets import run

    lines = run(target, elf)
    assert any(ln == "END" for ln in lines), "\n".join(lines[-20:])
    return parse(lines)


def parse(lines: list[str]) -> Run:
    run = Run([], [])
    for ln in lines:
        if ln.startswith("S "):
            run.status += [STATUS.get(ch, 99) for ch in ln[2:].strip()]
        elif ln.startswith("P "):
            tok = ln.split()
            vals = np.array([struct.unpack(">f", bytes.fromhex(t))[0] for t in tok[2:]], np.float32)
            run.dumps.append((int(tok[1]), vals))
        elif ln.startswith("C "):
            tok = ln.split()
            run.ticks = (int(tok[1]), int(tok[2]))
        elif ln.startswith("R "):
            run.reload_same = ln.split()[1] == "1"
    return run


def run_host(exe: Path) -> Run:
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=600).stdout
    assert out.rstrip().endswith("END"), out[-500:]
    return parse(out.splitlines())


def run_simavr(elf: Path, timeout: float = 600) -> Run:
    r = subprocess.run(["simavr", "-m", MCU, "-f", str(F_CPU), str(elf)], capture_output=True, timeout=timeout)
    text = ANSI_RE.sub("", (r.stderr + r.stdout).decode("latin-1"))
    lines, pending = [], ""
    for raw in text.splitlines():  # simavr shows '\n' as '.', and flushes 256-byte pieces without one
        if raw.endswith("."):
            lines.append(pending + raw[:-1])
            pending = ""
        elif len(raw) >= 256:
            pending += raw
        else:
            lines.append(pending + raw)
            pending = ""
    assert any(ln == "END" for ln in lines), text[-1000:]
    return parse(lines)


def dump_of(g: OnlineGMM) -> np.ndarray:
    w, m, c = g.params()
    return np.concatenate([w, m.ravel(), c.ravel(), [g.threshold]]).astype(np.float32)


def run_reference(case: Case, cls: type[OnlineGMM] = OnlineGMM) -> Run:
    g = cls(case.K, case.D, case.cov, case.warm_n)
    if case.start:
        assert g.begin(case.cfg, *case.start) == OK
    else:
        g.begin_scratch(case.cfg)
    run = Run([], [])
    for i, x in enumerate(np.asarray(case.X, np.float32)):
        run.status.append(g.learn(x))
        if case.every > 0 and (i + 1) % case.every == 0 and g.ready:
            run.dumps.append((g.t, dump_of(g)))
    if g.ready:
        run.dumps.append((g.t, dump_of(g)))
    return run


"""Cost of predict on 32-bit MCU cores under QEMU, for scripts/bench/run.py.

For each target of test/python/qemu_targets.py that can run here (Cortex-M0,
Cortex-M4F, Cortex-M33, RV32IMC, Xtensa lx106) and each implementation (tinygmm's predict,
predict_q and predict_fixed, emlearn), a bare-metal firmware runs predict on
the benchmark inputs under QEMU with -icount:

* instructions per predict: the runner's counter (qemu_io.h: SysTick on
  Cortex-M, minstret on RISC-V, both driven by QEMU's instruction count) read
  around each call, converted with a calibration loop of known length, minus
  the same for an empty predict;
* code + model bytes: text + data of the linked firmware (arm-none-eabi-size,
  riscv64-unknown-elf-size) minus the same firmware with an empty predict, so
  library routines that predict pulls in (soft-float arithmetic, expf) count;
* Xtensa lx106 (the ESP8266, CCOUNT): Debian's libgcc for it has no float
  routines (the ESP8266 has them in ROM), the firmware links
  test/qemu/xtensa_rt.c's C ones instead; its bytes are the predict object
  alone (xtensa-lx106-elf-size, ROM routines excluded), its instruction counts
  include those C routines, not the ROM's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "test" / "python"))

from qemu_targets import BY_NAME, CXX_FLAGS, QEMU_DIR, TARGETS, Target, build, code_size, run  # noqa: E402

DRIVER = r"""
#include "qemu_io.h"
extern "C" uint8_t bench_entry(const float* x);
static const float INPUTS[%(n)d * %(d)d] = {
%(inputs)s
};
typedef uint8_t (*predict_fn)(const float*);
static volatile predict_fn fn = bench_entry;  // opaque call: nothing folds into main
static volatile uint32_t t0;
extern "C" void bench_restart() { t0 = counter(); }  // predict_fixed alone: restart after quantize
int main() {
  uart_init();
  uint32_t n = 10000;
  const uint32_t c0 = counter();
#if defined(__arm__) && defined(__ARM_ARCH_6M__)
  __asm__ volatile("1: sub %%0, #1\n\tbne 1b" : "+l"(n) : : "cc");
#elif defined(__arm__)
  __asm__ volatile("1: subs %%0, %%0, #1\n\tbne 1b" : "+l"(n) : : "cc");
#else  // RISC-V and Xtensa spell it the same
  __asm__ volatile("1: addi %%0, %%0, -1\n\tbnez %%0, 1b" : "+r"(n));
#endif
  const uint32_t cal = (counter() - c0) & COUNTER_MASK;
  uart_puts("CAL");
  uart_put_int(static_cast<long>(cal));
  uart_putc('\n');
  for (int i = 0; i < %(n)d; ++i) {
    t0 = counter();
    const uint8_t r = fn(INPUTS + i * %(d)d);
    const uint32_t ticks = (counter() - t0) & COUNTER_MASK;
    uart_putc('R');
    uart_put_int(r);
    uart_put_int(static_cast<long>(ticks));
    uart_putc('\n');
  }
  uart_puts("END\n");
  halt();
  return 0;
}
"""

INT_GLUE = (
    '#include "GMM.h"\n'
    'extern "C" void bench_restart(void);\n'
    "static uint8_t bench_predict(const float* x) {\n"
    "  int16_t zq[gmm::N_FEATURES];\n"
    "  if (!gmm::quantize(x, zq)) return 255;\n"
    "  bench_restart();\n"
    "  return (uint8_t)gmm::predict_fixed(zq);\n"
    "}\n"
)


def _entry(lang: str) -> str:
    ext = 'extern "C" ' if lang == "c++" else ""
    return f"{ext}uint8_t bench_entry(const float* x) {{ return bench_predict(x); }}\n"


def _write(impl, X: np.ndarray, d: Path, c_floats) -> tuple[Path, Path]:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in impl.files.items():
        (d / name).write_text(text)
    ext = "cpp" if impl.lang == "c++" else "c"
    src = d / f"predict.{ext}"
    src.write_text(f"#include <stdint.h>\n{impl.glue}{_entry(impl.lang)}")
    drv = d / "driver.cpp"
    drv.write_text(DRIVER % {"n": len(X), "d": X.shape[1], "inputs": c_floats(X)})
    return src, drv


def _compile_predict(t: Target, impl, src: Path, out: Path) -> Path:
    """predict.c(pp) to an object file for t (its language, the target's flags)."""
    lang = ["-x", "c++", *CXX_FLAGS] if impl.lang == "c++" else ["-x", "c", "-std=gnu11", "-Os", "-Wall", "-Wextra"]
    lang += ["-ffunction-sections", "-fdata-sections"]
    inc = [f"-I{src.parent}", *[f"-I{p}" for p in impl.include_dirs]]
    cmd = [t.cc, *lang, *t.flags, *inc, "-c", str(src), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{r.stderr}")
    return out


def _object_size(t: Target, obj: Path) -> int:
    """text + data of an object file (size's Berkeley format; literals and rodata count as text)."""
    out = subprocess.run([t.size, str(obj)], capture_output=True, text=True, check=True).stdout.splitlines()[1].split()
    return int(out[0]) + int(out[1])


def measure_target(t: Target, impl, X: np.ndarray, d: Path, c_floats) -> dict:
    """{"bytes", "labels", "ticks", "per_instruction"} for one implementation on one target."""
    src, drv = _write(impl, X, d, c_floats)
    obj = _compile_predict(t, impl, src, d / "predict.o")
    elf = build(t, [drv, obj], [QEMU_DIR], d / "bench.elf")
    lines = run(t, elf)
    cal = next(int(ln.split()[1]) for ln in lines if ln.startswith("CAL "))
    rows = [ln.split()[1:] for ln in lines if ln.startswith("R ")]
    if len(rows) != len(X) or "END" not in lines:
        raise RuntimeError(f"{t.name} {impl.name}: {len(rows)} of {len(X)} results:\n" + "\n".join(lines[-10:]))
    return {
        # lx106: the predict object alone, as its float routines are in the ESP8266's ROM
        "bytes": _object_size(t, obj) if t.runtime else code_size(t, elf),
        "labels": np.array([int(r[0]) for r in rows]),
        "ticks": np.array([int(r[1]) for r in rows], dtype=np.int64),
        "per_instruction": cal / 20000,
    }


def measure_case(case, impls: list, baseline, work: Path, c_floats, targets: list[Target], log=print) -> dict:
    """results[target][impl] for one benchmark case: instructions per predict (in range, far, max),
    code + model bytes (deltas against an empty predict), agreement with scikit-learn's predict
    on the inputs it decides (no near tie)."""
    out: dict[str, dict] = {}
    ref, dec, far = case.ref["label"], case.decided, case.far
    for t in targets:
        base = measure_target(t, baseline, case.X, work / t.name / "baseline", c_floats)
        res: dict[str, dict] = {}
        for impl in impls:
            m = measure_target(t, impl, case.X, work / t.name / impl.name, c_floats)
            r: dict = {"code_bytes": m["bytes"] - base["bytes"]}
            if m["ticks"] is not None:
                ins = (m["ticks"] - base["ticks"].mean()) / m["per_instruction"]
                ok = m["labels"] == ref
                r |= {
                    "instructions_mean_in_range": float(ins[~far].mean()),
                    "instructions_mean_far": float(ins[far].mean()) if far.any() else None,
                    "instructions_max": float(ins.max()),
                    "agree_in_range_decided": float(ok[~far & dec].mean()),
                    "agree_far": float(ok[far].mean()) if far.any() else None,
                }
            res[impl.name] = r
            log(
                f"  {t.name:12s} {impl.name:18s} {r.get('instructions_mean_in_range', 0):10.0f} instr  {r['code_bytes']:6d} B"
            )
        out[t.name] = res
    return out


def render(cases: list[dict]) -> list[str]:
    """Markdown lines: one table per benchmark case, a row per target and implementation."""
    lines = [
        "## 32-bit MCU cores under QEMU",
        "",
        "Bare-metal firmwares (test/qemu, `-Os`), run by QEMU 7.2 with `-icount`; instructions per predict are "
        "executed instructions (not cycles), counted by SysTick (Cortex-M), minstret (RISC-V) or CCOUNT (Xtensa) around each "
        "call and calibrated with a loop of known length, minus an empty predict. Code + model bytes: "
        "text + data of the firmware minus the same firmware with an empty predict (soft-float and libm "
        "routines predict needs are included); Xtensa lx106: bytes of the predict object alone (its float "
        "routines are in the ESP8266's ROM), instructions counted with test/qemu/xtensa_rt.c's C float routines "
        "(Debian's libgcc for it has none), not the ROM's. Agreement: predict equal to "
        "scikit-learn's on in-range inputs that are not near ties, and on far inputs. tinygmm-fixed-int is "
        "predict_fixed alone (counted from after quantize).",
        "",
        "| model | target | implementation | instr (in range, mean) | instr (far, mean) | instr max | "
        "code + model B | agree in range | agree far |",
        "|" + "---|" * 9,
    ]

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:,.0f}"

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f} %"

    for case in cases:
        for target, res in case["targets"].items():
            for name, r in res.items():
                lines.append(
                    f"| {case['model']} | {target} | {name} | {num(r.get('instructions_mean_in_range'))} | "
                    f"{num(r.get('instructions_mean_far'))} | {num(r.get('instructions_max'))} | "
                    f"{r['code_bytes']:,} | {pct(r.get('agree_in_range_decided'))} | {pct(r.get('agree_far'))} |"
                )
    return lines


def target_list(spec: str | None, quick: bool) -> list[Target]:
    """Targets named in spec (comma-separated, 'all', or 'none'), those that can be built here."""
    if spec == "none":
        return []
    if spec in (None, "all"):
        names = ["cortex-m0"] if quick and spec is None else [t.name for t in TARGETS]
    else:
        names = [n for n in spec.split(",") if n]
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            raise SystemExit(f"run.py: unknown target {unknown[0]!r} (known: {', '.join(BY_NAME)})")
    return [BY_NAME[n] for n in names if _buildable(BY_NAME[n])]


def _buildable(t: Target) -> bool:
    return t.missing() is None and shutil.which(t.size) is not None

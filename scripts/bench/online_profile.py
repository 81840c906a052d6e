"""Where the cycles of one learn step go, on simavr's ATmega328P (K = 4, D = 2, full, adapting include/GMM.h).

Not a test. Copies lib/tinygmm/src/tinygmm_online.h into a temporary folder, puts a probe (GPIOR1 <- section,
GPIOR0 <- 1: the end of one section and the start of the next, as scripts/bench/simharness.c times them) at
each section boundary of OnlineGMM::learn, builds scripts/bench/online_fw/profile.cpp with avr-g++ -Os and
prints the mean cycles per step of every section, for the two streams of scripts/bench/online.py's cost part.
A probe costs 2 cycles. Stops with a message when the code no longer has a boundary it looks for.

    PYTHONPATH=scripts python3 scripts/bench/online_profile.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from online import AVR_FLAGS, cost_streams  # noqa: E402

PROBE = "#define TINYGMM_PROBE(l) do { GPIOR1 = (l); GPIOR0 = 1; } while (0)\n"
# (section name, its end in learn(): a text found exactly once, "|" where the probe goes)
SECTIONS = [
    ("input checks", "|    const int best = log_probs(x, 1.0f, r, &top);\n"),
    ("K log-probabilities", "    if (best < 0) return ONLINE_FAR;\n|"),
    ("responsibilities (exp)", "|    if (score) {  // (reads the state before the step; changes nothing)\n"),
    ("score and P^2", "|    if (kept != 1.0f) {"),
    ("normalisation", "|    ++s_.t;\n"),
    ("step size", "    const float keep = 1.0f - g;\n|"),
    ("statistics: weights, means, covariances (one division per updated component)", "|    s_.total = total;\n    split(x, best, tail);"),
    ("split test", "    split(x, best, tail);\n|"),
    ("scoring parameters' refresh, 1 step in 16 (K LDL^T factors and log constants)", "== 0u) refresh();\n|    return ONLINE_OK;"),
]


def instrumented(src: str) -> str:
    s = src.replace("#include <avr/pgmspace.h>", "#include <avr/pgmspace.h>\n#include <avr/io.h>\n" + PROBE, 1)
    entry = "  int learn(const float* x, OnlineScore* score = 0) {\n"
    if s.count(entry) != 1:
        raise SystemExit("online_profile: learn() not found in tinygmm_online.h")
    s = s.replace(entry, entry + "    GPIOR0 = 1;\n", 1)
    for i, (name, where) in enumerate(SECTIONS, start=1):
        anchor = where.replace("|", "")
        if s.count(anchor) != 1:
            raise SystemExit(f"online_profile: the end of '{name}' is not found once in learn(): update SECTIONS")
        s = s.replace(anchor, where.replace("|", f"    TINYGMM_PROBE({i});\n"), 1)
    return s


FIRMWARE = r"""
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <string.h>
#include "GMM.h"
#include "cost_inputs.h"
#include "tinygmm_online.h"
typedef tinygmm::OnlineGMM<gmm::N_COMPONENTS, gmm::N_FEATURES, tinygmm::ONLINE_COV_FULL, 16> Learner;
Learner learner;
static float x[gmm::N_FEATURES];
int main(void) {
  tinygmm::OnlineConfig cfg = tinygmm::online_defaults();
  cfg.t0 = 100.0f;
  if (learner.begin_from_header<gmm::detail::Model>(cfg, gmm::COVARIANCE_TYPE) != 0) GPIOR2 = 2;
  for (uint16_t n = 0; n < N_IN; ++n) {
    memcpy_P(x, &INPUTS[n * gmm::N_FEATURES], sizeof x);
    learner.learn(x);
  }
  GPIOR2 = 1;
  cli();
  sleep_cpu();
  for (;;) {
  }
}
"""


def run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])}...: {r.stderr[:1500]}")
    return r.stdout


def profile(X: np.ndarray, work: Path, harness: Path) -> dict[int, tuple[float, int]]:
    (work / "cost_inputs.h").write_text(
        "#pragma once\n#include <avr/pgmspace.h>\n"
        f"#define N_IN {len(X)}\n"
        "static const float INPUTS[N_IN * 2] PROGMEM = {" + ", ".join(f"{float(v)!r}f" for v in X.ravel()) + "};\n"
    )
    (work / "profile.cpp").write_text(FIRMWARE)
    elf = work / "profile.elf"
    run(["avr-g++", *AVR_FLAGS, f"-I{work}", f"-I{ROOT / 'include'}", str(work / "profile.cpp"), "-o", str(elf)])
    per: dict[int, list[int]] = {}
    for ln in run([str(harness), str(elf)]).splitlines():
        t = ln.split()
        if len(t) == 3 and all(v.isdigit() for v in t):
            per.setdefault(int(t[1]), []).append(int(t[0]))
    return {k: (sum(v) / len(X), len(v)) for k, v in per.items() if k > 0}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = (ROOT / "lib" / "tinygmm" / "src" / "tinygmm_online.h").read_text()
        (work / "tinygmm_online.h").write_text(instrumented(src))
        harness = work / "simharness"
        run(["cc", "-O2", "-o", str(harness), str(HERE / "simharness.c"), "-lsimavr"])
        for data, X in cost_streams():
            res = profile(X, work, harness)
            print(f"\n{data} ({len(X)} samples), mean cycles per learn step:")
            for i, (name, _) in enumerate(SECTIONS, start=1):
                cyc, calls = res.get(i, (0.0, 0))
                print(f"  {cyc:8.0f}  {name}" + (f" ({calls / len(X):.2f} per step)" if calls != len(X) else ""))
            print(f"  {sum(c for c, _ in res.values()):8.0f}  total")


if __name__ == "__main__":
    main()

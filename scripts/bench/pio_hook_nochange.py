"""What the tinygmm library's build hook costs a build when nothing changed (target: <= 0.3 s).

Exports once into a temporary consuming project, then runs the library's extra script again as
PlatformIO would (in-process, with the SCons stand-in of the tests) and reports the times; also
the cost of the `tinygmm export --if-changed` subprocess that the stamp saves.

    python3 scripts/bench/pio_hook_nochange.py [--runs 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "test" / "python")]

import piofake  # noqa: E402
from tinygmm.platformio import hook as pio_hook  # noqa: E402

INI = """[env:native]
platform = native
custom_gmm_data = data/customers.csv
custom_gmm_features = Age, Spending Score (1-100)
custom_gmm_n_components = 4
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    pio_hook._targets = lambda: []  # a plain `pio run`
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "data").mkdir()
        shutil.copy(ROOT / "data" / "customers.csv", project / "data")
        (project / "platformio.ini").write_text(INI)
        piofake.run_script(piofake.FakeEnv(project, "native"))  # the first build exports
        times = []
        for _ in range(a.runs):
            t = time.perf_counter()
            piofake.run_script(piofake.FakeEnv(project, "native"))
            times.append(time.perf_counter() - t)
        header = project / ".pio" / "build" / "native" / "tinygmm" / "GMM.h"
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tinygmm", "export", "--if-changed", "--platformio", "platformio.ini", "--env", "native", "--header",
             str(header), "--json", str(header.with_suffix(".json")), "--vectors", "none"],
            cwd=project, check=True, capture_output=True, env={"PYTHONPATH": str(ROOT / "scripts")},
        )  # fmt: skip
        sub = time.perf_counter() - t
    ms = sorted(1000 * x for x in times)
    print(f"hook, nothing changed ({a.runs} runs): median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms")
    print(f"(the 'export --if-changed' subprocess the stamp avoids: {1000 * sub:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

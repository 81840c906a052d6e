"""PlatformIO: the Unity suites (test/test_*) on the host and on a simulated Uno, the
firmware builds, and proof that the parity suite fails when it should.

Everything runs in a copy of the project in a temporary directory, so the
working tree (and its .pio) is left alone. These tests need PlatformIO with its
packages already installed, since they never fetch or build third-party code:

* ``pio`` (the platformio Python package, or ``pio`` on PATH),
* in the PlatformIO core dir ($PLATFORMIO_CORE_DIR, default ~/.platformio): the
  platforms native and atmelavr, the packages tool-scons, toolchain-atmelavr,
  framework-arduino-avr and tool-simavr,
* the Unity library, in this project's .pio/libdeps/<env>/Unity, in PlatformIO's global
  library folder <core>/lib/Unity (where an offline install puts it),
  or in the directory $TINYGMM_UNITY_DIR (a Unity package with its .piopm); it
  is copied into the temporary project's .pio/libdeps/<env>/.

Otherwise each test is skipped with the reason (as in CI, which has no
PlatformIO registry access). test_avr_sim.py covers the AVR side without
PlatformIO.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PIO_TIMEOUT = 900  # seconds per pio command (a cold uno_sim build compiles the Arduino core)

PLATFORMS = {"native": ["native"], "uno": ["atmelavr"], "uno_sim": ["atmelavr"]}
PACKAGES = {
    "native": ["tool-scons"],
    "uno": ["tool-scons", "toolchain-atmelavr", "framework-arduino-avr"],
    "uno_sim": ["tool-scons", "toolchain-atmelavr", "framework-arduino-avr", "tool-simavr"],
}
COPY_IGNORE = {".git", ".pio", "build", "dist", "out", "report", ".venv", ".benchmarks", ".pytest_cache", ".ruff_cache"}


def core_dir() -> Path:
    return Path(os.environ.get("PLATFORMIO_CORE_DIR") or Path.home() / ".platformio").expanduser()


def pio_command() -> list[str] | None:
    # Prefer this Python: the pre-build hook needs tinygmm and scikit-learn in the Python that runs pio.
    if importlib.util.find_spec("platformio") is not None:
        return [sys.executable, "-m", "platformio"]
    exe = shutil.which("pio") or shutil.which("platformio")
    return [exe] if exe else None


def unity_source(env: str) -> Path | None:
    given = os.environ.get("TINYGMM_UNITY_DIR")
    if given:
        p = Path(given).expanduser()
        return p if (p / "library.json").is_file() and (p / "src" / "unity.h").is_file() else None
    # this project's own copy, else PlatformIO's global library folder (where an offline install puts it)
    for p in (ROOT / ".pio" / "libdeps" / env / "Unity", core_dir() / "lib" / "Unity"):
        if (p / "src" / "unity.h").is_file():
            return p
    return None


def missing_for(envs: list[str], needs_unity: bool = True) -> str | None:
    """Why PlatformIO cannot build these envs offline here (and, for pio test, find Unity), or None."""
    if pio_command() is None:
        return "PlatformIO is not installed (pip install platformio)"
    core = core_dir()
    for env in envs:
        for name in PLATFORMS[env]:
            if not (core / "platforms" / name).is_dir():
                return f"PlatformIO platform {name!r} is not installed in {core}/platforms (no registry access here)"
        for pkg in PACKAGES[env]:
            if not any((core / "packages").glob(pkg + "*")):
                return f"PlatformIO package {pkg!r} is not installed in {core}/packages (no registry access here)"
        if env == "uno_sim" and shutil.which("timeout") is None:
            return "coreutils 'timeout' (used by uno_sim's test_testing_command) is missing"
        if needs_unity and unity_source(env) is None:
            where = os.environ.get("TINYGMM_UNITY_DIR") or f"{ROOT}/.pio/libdeps/{env}/Unity or {core}/lib/Unity"
            return f"the Unity library is not available at {where} (set TINYGMM_UNITY_DIR to a Unity package dir)"
    return None


def require_pio(*envs: str) -> list[str]:
    reason = missing_for(list(envs))
    if reason:
        pytest.skip(reason)
    cmd = pio_command()
    assert cmd is not None
    return cmd


def copy_project(dest: Path, envs: list[str]) -> Path:
    """The project without VCS and build state, with Unity seeded for envs."""
    shutil.copytree(
        ROOT,
        dest,
        ignore=lambda d, names: [n for n in names if (Path(d) == ROOT and n in COPY_IGNORE) or n == "__pycache__"],
    )
    for env in envs:
        src = unity_source(env)
        assert src is not None
        shutil.copytree(src, dest / ".pio" / "libdeps" / env / "Unity")
    return dest


def run_pio(cmd: list[str], project: Path, *args: str, skip_export: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.setdefault("PLATFORMIO_SETTING_ENABLE_TELEMETRY", "no")
    env.setdefault("PLATFORMIO_DISABLE_UPGRADE_CHECK", "true")
    env.setdefault("PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL", "9999")
    env["PYTHONUNBUFFERED"] = "1"
    if skip_export:
        env["TINYGMM_SKIP_EXPORT"] = "1"  # build GMM.h and the vectors exactly as they are
    try:
        return subprocess.run(
            [*cmd, *args], cwd=project, env=env, capture_output=True, text=True, timeout=PIO_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"pio {' '.join(args)} did not finish in {PIO_TIMEOUT} s:\n{exc.stdout or ''}")


def output(r: subprocess.CompletedProcess[str]) -> str:
    return r.stdout + r.stderr


SUMMARY_RE = re.compile(r"(\d+) test cases: (?:(\d+) failed, )?(?:\d+ ignored, )?(\d+) succeeded")


def assert_suites_pass(r: subprocess.CompletedProcess[str], env: str) -> str:
    out = output(r)
    assert r.returncode == 0, f"pio test -e {env} failed:\n{out[-6000:]}"
    for suite in ("test_parity", "test_protocol"):
        assert re.search(rf"{env}\s+{suite}\s+PASSED", out), f"{suite} did not pass on {env}:\n{out[-4000:]}"
    m = SUMMARY_RE.search(out)
    assert m and m.group(2) is None and int(m.group(1)) == int(m.group(3)) > 0, out[-3000:]
    return m.group(0)


# ---- the suites and the builds ------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the project for the passing runs (build caches shared between them)."""
    reason = missing_for(["native"])
    if reason:
        pytest.skip(reason)
    envs = [e for e in PLATFORMS if missing_for([e]) is None]
    return copy_project(tmp_path_factory.mktemp("pio") / "project", envs)


def test_unity_suites_native(project: Path) -> None:
    cmd = require_pio("native")
    r = run_pio(cmd, project, "test", "-e", "native")
    print("\nnative:", assert_suites_pass(r, "native"))


def test_unity_suites_uno_sim(project: Path) -> None:
    cmd = require_pio("uno_sim")
    r = run_pio(cmd, project, "test", "-e", "uno_sim", "--without-uploading")
    print("\nuno_sim:", assert_suites_pass(r, "uno_sim"))


def test_firmware_builds_native(project: Path) -> None:
    cmd = require_pio("native")
    r = run_pio(cmd, project, "run", "-e", "native")
    assert r.returncode == 0, output(r)[-6000:]


def test_firmware_builds_uno(project: Path) -> None:
    cmd = require_pio("uno")
    r = run_pio(cmd, project, "run", "-e", "uno")
    out = output(r)
    assert r.returncode == 0, out[-6000:]
    usage = re.findall(r"^(?:RAM|Flash):.*$", out, re.M)
    print("\nuno firmware:", "; ".join(usage))
    assert len(usage) == 2


# ---- proof that the parity suite can fail -----------------------------------------


def c_array(text: str, name: str) -> tuple[re.Match[str], list[str]]:
    m = re.search(rf"static const \w+ {name}\[\d+\] TINYGMM_FLASH = \{{(.*?)\}};", text, re.S)
    assert m, f"no {name} array in the golden vectors"
    return m, [t.strip() for t in m.group(1).split(",")]


def broken_project(tmp_path: Path) -> Path:
    require_pio("native")
    return copy_project(tmp_path / "project", ["native"])


def run_parity(project: Path) -> str:
    cmd = require_pio("native")
    r = run_pio(cmd, project, "test", "-e", "native", "-f", "test_parity", skip_export=True)
    out = output(r)
    assert r.returncode != 0, "the parity suite passed on a broken model/vectors:\n" + out[-4000:]
    assert re.search(r"native\s+test_parity\s+(FAILED|ERRORED)", out), out[-4000:]
    print("\n" + "\n".join(ln for ln in out.splitlines() if "FAIL" in ln and "vector" in ln or "different" in ln))
    return out


def test_parity_fails_on_a_corrupted_golden_vector(tmp_path: Path) -> None:
    project = broken_project(tmp_path)
    path = project / "test" / "test_parity" / "golden_vectors.h"
    text = path.read_text()
    _, far = c_array(text, "FAR")
    i = [n for n, f in enumerate(far) if f == "0"][3]  # an in-range vector: 1e-3 absolute tolerance
    m, lls = c_array(text, "LOG_LIKELIHOOD")
    lls[i] = repr(float(lls[i].rstrip("f")) + 0.01) + "f"
    body = "\n    " + ",\n    ".join(lls) + "\n"
    path.write_text(text[: m.start(1)] + body + text[m.end(1) :])

    out = run_parity(project)
    assert f"vector {i} score_samples" in out, f"the failure does not name vector {i}:\n{out[-4000:]}"


def test_parity_fails_on_a_perturbed_model_constant(tmp_path: Path) -> None:
    project = broken_project(tmp_path)
    path = project / "include" / "GMM.h"
    text = path.read_text()
    start = text.index("namespace gmm {")
    # the first float constant of the model (after the runtime): change it by 5%
    m = re.compile(r"-?\d+\.\d*(?:e[+-]?\d+)?f").search(text, text.index("TINYGMM_FLASH = {", start))
    assert m, "no float constant found in GMM.h"
    value = float(m.group(0).rstrip("f"))
    path.write_text(text[: m.start()] + repr(value * 1.05 + 0.5) + "f" + text[m.end() :])

    out = run_parity(project)
    assert re.search(r"vector \d+ (predict|score_samples)", out), f"the failure names no vector:\n{out[-4000:]}"


def test_parity_fails_on_stale_vectors(tmp_path: Path) -> None:
    project = broken_project(tmp_path)
    path = project / "test" / "test_parity" / "golden_vectors.h"
    text = path.read_text()
    text, n = re.subn(r'(static const char MODEL_HASH\[\] = ")[0-9a-f]+(";)', r"\g<1>0000000000000000\2", text)
    assert n == 1
    path.write_text(text)

    out = run_parity(project)
    assert "different models" in out, out[-4000:]

"""A non-editable install works end to end, and building needs no plotting libraries.

The wheel is built from a copy of the sources and installed into a fresh venv (which sees this
Python's numpy, scipy and scikit-learn, so nothing is downloaded); every command then runs
without PYTHONPATH, from a folder outside the repository.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import require_tool
from tinygmm.device.uno_sim import simavr_available

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FEATURES = "Age,Spending Score (1-100)"


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TINYGMM_SKIP_EXPORT")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the tinygmm wheel installed; returns its python."""
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling is not installed (pip install -e '.[dev]' installs it)")
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "scripts" / "tinygmm", src / "scripts" / "tinygmm", ignore=ignore)
    shutil.copytree(ROOT / "lib" / "tinygmm", src / "lib" / "tinygmm", ignore=ignore)
    dist = tmp / "dist"
    pip = [sys.executable, "-m", "pip"]
    r = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(src)],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = dist.glob("tinygmm-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp / "venv")], check=True)
    python = tmp / "venv" / "bin" / "python"
    r = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return python


def run(python: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), *args], cwd=cwd, capture_output=True, text=True, env={**clean_env(), **env}, timeout=600
    )


def test_outside_a_checkout_export_classify_verify(venv: Path, tmp_path: Path) -> None:
    """In an empty folder, with the wheel: export writes GMM.h and GMM.json there and nothing else; --port
    native builds the firmware the package carries for that GMM.h, once, into $XDG_CACHE_HOME/tinygmm."""
    require_tool("g++")
    work = tmp_path / "anywhere"
    work.mkdir()
    shutil.copy(ROOT / "data" / "customers.csv", work / "readings.csv")
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    r = run(
        venv,
        "-m",
        "tinygmm",
        "export",
        "--data",
        "readings.csv",
        "--features",
        FEATURES,
        "--n-components",
        "3",
        cwd=work,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("-> GMM.h, GMM.json")
    assert sorted(p.name for p in work.rglob("*")) == ["GMM.h", "GMM.json", "readings.csv"]
    r = run(venv, "-m", "tinygmm", "classify", "--port", "native", "19,39", "60 10", cwd=work, **cache)
    assert r.returncode == 0, r.stderr
    assert [line.split(" -> ")[0] for line in r.stdout.splitlines()] == ["19,39", "60 10"]
    assert all(" -> label=" in line for line in r.stdout.splitlines())
    (exe,) = (tmp_path / "cache" / "tinygmm").glob("native-*/tinygmm-firmware")
    built = exe.stat().st_mtime_ns
    r = run(venv, "-m", "tinygmm", "verify", "--port", "native", cwd=work, **cache)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "matches GMM.json" in r.stdout and r.stdout.strip().endswith("verify: PASS")
    assert exe.stat().st_mtime_ns == built  # the same header: the firmware built by classify
    assert sorted(p.name for p in work.rglob("*")) == ["GMM.h", "GMM.json", "readings.csv"]
    if simavr_available() is None:  # the Uno firmware on simavr, from the same package
        r = run(venv, "-m", "tinygmm", "classify", "--port", "simavr", "19,39", cwd=work, **cache)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("19,39 -> label=")
        assert list((tmp_path / "cache" / "tinygmm").glob("uno-*/firmware.elf"))


def test_the_installed_package_is_the_wheel_with_its_library(venv: Path, tmp_path: Path) -> None:
    r = run(venv, "-c", "import tinygmm; print(tinygmm.__file__)", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    site = venv.parents[1]
    assert Path(r.stdout.strip()).is_relative_to(site)  # not the checkout, not an editable install
    r = run(venv, "-m", "tinygmm", "library", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lib = Path(r.stdout.strip())
    assert lib.is_relative_to(site)
    for name in (
        "library.json",
        "library.properties",
        "tinygmm_build.py",
        "src/tinygmm_eval.h",
        "src/tinygmm_protocol.h",
        "src/tinygmm_protocol.cpp",
        "src/tinygmm_device.h",  # the firmware's glue and the firmware itself: --port native builds them
        "src/tinygmm_firmware.h",
    ):
        assert (lib / name).read_bytes() == (ROOT / "lib" / "tinygmm" / name).read_bytes(), name


def test_export_from_the_wheel_compiles(venv: Path, tmp_path: Path) -> None:
    shutil.copy(ROOT / "data" / "customers.csv", tmp_path)
    r = run(
        venv,
        "-m",
        "tinygmm",
        "export",
        "--data",
        "customers.csv",
        "--features",
        FEATURES,
        "--n-components",
        "3",
        "--header",
        "GMM.h",
        "--json",
        "GMM.json",
        "--vectors",
        "none",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    gxx = require_tool("g++")
    (tmp_path / "main.cpp").write_text(
        '#include "GMM.h"\nint main() { float x[2] = {30, 50}; return gmm::predict(x) < 3 ? 0 : 1; }\n'
    )
    subprocess.run(
        [gxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", "main.cpp", "-o", "main"], cwd=tmp_path, check=True
    )
    assert subprocess.run([str(tmp_path / "main")]).returncode == 0


def test_the_hook_runs_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    """The installed library's extra script, as PlatformIO would run it for a consuming project."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    shutil.copy(ROOT / "data" / "customers.csv", project / "data")
    (project / "platformio.ini").write_text(
        "[env:native]\nplatform = native\ncustom_gmm_data = data/customers.csv\n"
        f"custom_gmm_features = {FEATURES}\ncustom_gmm_n_components = 2\n"
    )
    driver = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(HERE)!r})  # the SCons stand-in only; tinygmm comes from the venv
        import piofake, tinygmm.platformio.hook, tinygmm.codegen.runtime
        tinygmm.platformio.hook._targets = lambda: []
        env = piofake.FakeEnv(Path({str(project)!r}), "native")
        piofake.run_script(env, library=tinygmm.codegen.runtime.library_path())
        print("CPPPATH", env.cpppath[0])
        print("MODULE", tinygmm.platformio.hook.__file__)
    """)
    r = run(venv, "-c", driver, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    header = project / ".pio" / "build" / "native" / "tinygmm" / "GMM.h"
    assert "static const int N_COMPONENTS = 2;" in header.read_text()
    assert f"CPPPATH {header.parent}" in r.stdout
    assert Path(r.stdout.split("MODULE ")[1].strip()).is_relative_to(venv.parents[1])


BLOCK_PLOTTING = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("matplotlib", "plotly"):
            raise ImportError("blocked: " + name)
        return None
sys.meta_path.insert(0, Block())
import importlib.util
_find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in ("matplotlib", "plotly") else _find(name, *a)
from tinygmm.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_export_needs_no_plotting_and_report_names_the_extra(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    common = ["--data", str(ROOT / "data" / "customers.csv"), "--features", FEATURES, "--n-components", "2"]
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCK_PLOTTING,
            "export",
            *common,
            "--header",
            "GMM.h",
            "--json",
            "GMM.json",
            "--vectors",
            "none",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [sys.executable, "-c", BLOCK_PLOTTING, "report", *common, "--out", "rep"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (
        "tinygmm: error: tinygmm report needs matplotlib and plotly, which are not installed; "
        f'install them with: "{sys.executable}" -m pip install "tinygmm[report]"'
    )
    assert not (tmp_path / "rep").exists()

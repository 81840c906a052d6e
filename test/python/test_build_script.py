"""The library's extra script (lib/tinygmm/tinygmm_build.py) in a Python that has no tinygmm.

The script runs under piofake (PlatformIO's SCons environment stand-in) in a Python started with
-I -S: no site-packages, no PYTHONPATH, so neither tinygmm nor numpy can be imported, as in a
PlatformIO install that has never seen tinygmm. The library is a copy outside any checkout (as
in .pio/libdeps/). The full install from PyPI is test_lib_deps_venv.py's job; here, the paths that
need no network: nothing to do without custom_gmm_* options, a copy without a wheel, and a pip
that fails.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

HERE = Path(__file__).resolve().parent
DRIVER = """
import sys
from pathlib import Path
sys.path.insert(0, {here!r})
import piofake
env = piofake.FakeEnv(Path({project!r}), "native", config=piofake.PlainConfig(Path({project!r}) / "platformio.ini"))
try:
    piofake.run_script(env, library=Path({library!r}))
except piofake.Exited as exc:
    print("EXIT", exc.args[0])
print("IMPORTED", "tinygmm" in sys.modules)
"""


def bare_python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-S", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """The library as PlatformIO installs it for a project (outside any checkout)."""
    library = tmp_path / "libdeps" / "native" / "tinygmm"
    shutil.copytree(ROOT / "lib" / "tinygmm", library)
    assert bare_python("-c", "import tinygmm", cwd=tmp_path).returncode != 0, "tinygmm must not be importable"
    return library


def run_hook(tmp_path: Path, library: Path, ini: str) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "app"
    project.mkdir()
    (project / "platformio.ini").write_text(ini)
    code = DRIVER.format(here=str(HERE), project=str(project), library=str(library))
    return bare_python("-c", code, cwd=project)


WITH_OPTIONS = "[env:native]\nplatform = native\ncustom_gmm_data = data.csv\ncustom_gmm_n_components = 2\n"


def test_without_custom_gmm_options_nothing_is_imported_or_installed(installed: Path, tmp_path: Path) -> None:
    r = run_hook(tmp_path, installed, "[env:native]\nplatform = native\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["IMPORTED False"] and r.stderr == ""


def test_a_copy_without_the_wheel_stops_with_the_command(installed: Path, tmp_path: Path) -> None:
    r = run_hook(tmp_path, installed, WITH_OPTIONS)
    assert r.stdout.splitlines() == ["EXIT 1", "IMPORTED False"], r.stdout + r.stderr
    said = r.stderr.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("*** tinygmm: the tinygmm Python package is not installed"), said
    assert f'run "{sys.executable}" -m pip install' in said[0]


def test_a_failing_pip_stops_the_build_in_one_line(installed: Path, tmp_path: Path) -> None:
    """pip's exit code is checked: a wheel pip cannot install stops the build with the command."""
    wheel = installed / "python" / "tinygmm-0.1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"not a zip file")  # pip refuses it before installing anything
    r = run_hook(tmp_path, installed, WITH_OPTIONS)
    lines = r.stdout.splitlines()
    assert lines[0].startswith("tinygmm: installing tinygmm 0.1.0 and what it needs from PyPI"), r.stdout
    assert lines[1:] == ["EXIT 1", "IMPORTED False"], r.stdout + r.stderr
    said = r.stderr.strip().splitlines()
    assert len(said) == 1, r.stderr
    assert said[0].startswith("*** tinygmm: could not install tinygmm into PlatformIO's Python (")
    assert said[0].endswith(f'to install it by hand (online), run: "{sys.executable}" -m pip install "{wheel}"')

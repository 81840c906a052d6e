"""`lib_deps` is the only step: a Python that has never seen tinygmm builds a project that uses it.

A fresh venv holds only `platformio` (from PyPI). A fresh project outside this repository names the
packed library (`tinygmm library --pack`) in one `lib_deps` line and sets custom_gmm_* options.
The library's build hook must install the wheel it carries into PlatformIO's Python (pip takes
numpy, scipy, scikit-learn, ... from PyPI), say so in one line, and the build must then succeed;
the next build installs nothing. Offline (pip pointed at an index that refuses connections) the
build stops with one line that gives the exact command, and nothing is installed.

PlatformIO's core folder ($PLATFORMIO_CORE_DIR) is the shared one with the offline platforms. This
needs PyPI (CI has it) and takes a minute or two the first time (downloads); it is skipped where
the native platform is missing or PyPI cannot be reached to install platformio itself.
"""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

from test_pio import missing_for, output
from test_pio_library import build_and_talk, fresh_project, packer
from tinygmm.platformio.pack import pack

HERE = Path(__file__).resolve().parent
PIP_TIMEOUT = 900

pytestmark = pytest.mark.slow


def clean_env(venv_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH to this checkout, the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PLATFORMIO_SETTING_ENABLE_TELEMETRY", "no")
    env.setdefault("PLATFORMIO_DISABLE_UPGRADE_CHECK", "true")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def platformio_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = missing_for(["native"], needs_unity=False)
    if reason:
        pytest.skip(reason)
    where = tmp_path_factory.mktemp("venv") / "pio"
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    python = where / "bin" / "python"
    r = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "platformio"],
        capture_output=True, text=True, timeout=PIP_TIMEOUT, env=clean_env(where),
    )  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot install platformio from PyPI into a venv: {r.stderr.strip().splitlines()[-1:]}")
    have = subprocess.run([str(python), "-c", "import tinygmm"], capture_output=True, env=clean_env(where))
    assert have.returncode != 0, "the fresh venv must not see tinygmm"
    return where


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory, platformio_venv: Path) -> Path:
    return pack(tmp_path_factory.mktemp("packed"), pio=packer())


def pio_run(venv_dir: Path, project: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(venv_dir / "bin" / "python"), "-m", "platformio", "run", "-e", "native"]
    env = clean_env(venv_dir, **extra)
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=PIP_TIMEOUT)


def test_offline_the_build_stops_with_the_command_to_run(platformio_venv: Path, tarball: Path, tmp_path: Path) -> None:
    project = fresh_project(tmp_path / "app", {"native": f"file://{tarball}"})
    r = pio_run(platformio_venv, project, PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_NO_CACHE_DIR="1")
    out = output(r)
    assert r.returncode != 0, out[-4000:]
    said = [ln for ln in out.splitlines() if "tinygmm:" in ln]
    python = platformio_venv / "bin" / "python"
    assert len(said) == 2, out[-4000:]  # what it installs, then why it stopped and what to run
    assert said[0].startswith("tinygmm: installing tinygmm 0.1.0 ")
    wheel = project / ".pio" / "libdeps" / "native" / "tinygmm" / "python" / "tinygmm-0.1.0-py3-none-any.whl"
    assert said[1].startswith("*** tinygmm: could not install tinygmm into PlatformIO's Python (")
    assert said[1].endswith(f'to install it by hand (online), run: "{python}" -m pip install "{wheel}"'), said[1]
    assert "Traceback" not in out and "Retrying" not in out
    have = subprocess.run([str(python), "-c", "import tinygmm"], capture_output=True, env=clean_env(platformio_venv))
    assert have.returncode != 0, "nothing may be installed offline"


def test_lib_deps_alone_installs_and_builds(platformio_venv: Path, tarball: Path, tmp_path: Path) -> None:
    project = fresh_project(tmp_path / "app", {"native": f"file://{tarball}"})
    out = build_and_talk(project, lambda p: pio_run(platformio_venv, p))
    said = [ln for ln in out.splitlines() if ln.startswith("tinygmm: installing")]
    assert len(said) == 1 and said[0].startswith("tinygmm: installing tinygmm 0.1.0 and what it needs"), out[-3000:]
    python = platformio_venv / "bin" / "python"
    env = clean_env(platformio_venv)
    version = subprocess.run([str(python), "-m", "tinygmm", "--version"], capture_output=True, text=True, env=env)
    assert version.stdout.strip() == "tinygmm 0.1.0", version.stderr
    again = pio_run(platformio_venv, project)
    assert again.returncode == 0 and "tinygmm: installing" not in output(again), output(again)[-3000:]
    assert "is up to date" in output(again)

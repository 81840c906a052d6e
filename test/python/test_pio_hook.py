"""The PlatformIO pre-build hook, run with a stand-in for PlatformIO's SCons env."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "scripts" / "pio_tinygmm.py"


class Exited(Exception):
    pass


class FakeEnv:
    """The parts of PlatformIO's construction environment the hook uses."""

    def __init__(self, project: Path, options: dict[str, str]) -> None:
        self.project = project
        self.options = options

    def subst(self, text: str) -> str:
        return {"$PROJECT_DIR": str(self.project), "$PYTHONEXE": sys.executable}[text]

    def GetProjectOption(self, name: str, default: object = None) -> object:  # noqa: N802 - PlatformIO's name
        return self.options.get(name, default)

    def Exit(self, code: int) -> None:  # noqa: N802
        raise Exited(code)


def run_hook(project: Path, options: dict[str, str]) -> None:
    code = compile(HOOK.read_text(), str(HOOK), "exec")
    env = FakeEnv(project, options)
    exec(code, {"Import": lambda name: None, "env": env, "__name__": "hook"})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data" / "customers.csv", tmp_path / "data")
    return tmp_path


OPTIONS = {
    "custom_gmm_data": "data/customers.csv",
    "custom_gmm_features": "Age, Spending Score (1-100)",
    "custom_gmm_n_components": "3",
    "custom_gmm_covariance_type": "diag",
    "custom_gmm_vectors": "none",
}


def test_hook_exports_then_skips_when_unchanged(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    run_hook(project, OPTIONS)
    header = project / "include" / "GMM.h"
    text = header.read_text()
    assert "static const int N_COMPONENTS = 3;" in text and "covariance_type=diag" in text
    capfd.readouterr()
    run_hook(project, OPTIONS)
    assert "up to date" in capfd.readouterr().out
    assert header.read_text() == text
    run_hook(project, {**OPTIONS, "custom_gmm_n_components": "2"})
    assert "static const int N_COMPONENTS = 2;" in header.read_text()


def test_failed_export_stops_the_build_and_keeps_the_header(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    run_hook(project, OPTIONS)
    before = (project / "include" / "GMM.h").read_bytes()
    with pytest.raises(Exited):
        run_hook(project, {**OPTIONS, "custom_gmm_features": "Age, Salary"})
    err = capfd.readouterr().err
    assert "no column 'Salary'" in err and "build is stopped" in err and "Traceback" not in err
    assert (project / "include" / "GMM.h").read_bytes() == before


def test_missing_python_deps_give_the_install_command(
    project: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a))
    with pytest.raises(Exited):
        run_hook(project, OPTIONS)
    err = capfd.readouterr().err
    assert f'"{sys.executable}" -m pip install -e "{project}"' in err
    assert not (project / "include" / "GMM.h").exists()


def test_skip_env_var_leaves_header_alone(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGMM_SKIP_EXPORT", "1")
    run_hook(project, OPTIONS)
    assert not (project / "include").exists()


def test_export_platformio_reads_env_overrides(project: Path) -> None:
    import subprocess

    (project / "platformio.ini").write_text(
        "[platformio]\ndefault_envs = native\n\n[env]\n"
        + "".join(f"{k} = {v}\n" for k, v in OPTIONS.items())
        + "\n[env:native]\nplatform = native\n\n[env:uno]\ncustom_gmm_n_components = 2  ; smaller for the Uno\n"
    )
    run = [sys.executable, "-m", "tinygmm", "export", "--platformio"]
    r = subprocess.run(run, cwd=project, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "K=3" in r.stdout
    r = subprocess.run([*run, "platformio.ini", "--env", "uno"], cwd=project, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "K=2" in r.stdout
    r = subprocess.run([*run, "--env", "nope"], cwd=project, capture_output=True, text=True)
    assert r.returncode == 2 and "no [env:nope] section" in r.stderr

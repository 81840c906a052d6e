"""Build the firmware (src/ + lib/) for the host in a temporary project."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_ARGS = [
    "--data",
    str(ROOT / "data" / "customers.csv"),
    "--features",
    "Age,Spending Score (1-100)",
    "--n-components",
    "4",
    "--random-state",
    "42",
]


def make_project(dest: Path, export_args: list[str] | None = None) -> Path:
    """A copy of the firmware sources with a freshly exported model in include/."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "src", dest / "src")
    shutil.copytree(ROOT / "lib", dest / "lib")
    (dest / "include").mkdir()
    args = export_args or DEMO_ARGS
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tinygmm",
            "export",
            *args,
            "--header",
            "include/GMM.h",
            "--json",
            "include/GMM.json",
            "--vectors",
            "none",
        ],
        cwd=dest,
        check=True,
        capture_output=True,
    )
    return dest


def build_firmware(project: Path, extra_flags: list[str] | None = None) -> Path:
    from tinygmm.device.native import build_native

    return build_native(project, Path("build/firmware"), extra_flags)


def run_firmware(exe: Path, data: bytes, timeout: float = 20) -> list[str]:
    """Pipe bytes into the firmware; its output lines."""
    out = subprocess.run([str(exe)], input=data, capture_output=True, timeout=timeout, check=True)
    return out.stdout.decode("ascii").splitlines()

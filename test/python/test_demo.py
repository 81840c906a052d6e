"""scripts/demo.sh on a fresh clone: it fits into out/demo/, says what K and the labels are, where the header
is and how to see the report, builds the native firmware without waiting on a registry (here PlatformIO's
core folder is empty, so it falls back to g++ with one line saying why), classifies and verifies, and leaves
every tracked file as it was."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT = 600  # seconds: a fit of K = 1..10, a g++ build and a verify, on a loaded machine


def git(cwd: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=demo", "-c", "user.email=demo@example.invalid", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout


def fresh_clone(dest: Path) -> Path:
    """The repository's files as a clone has them (tracked, and new files not ignored), committed."""
    files = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "clone")
    return dest


@pytest.mark.skipif(shutil.which("g++") is None or shutil.which("git") is None, reason="needs g++ and git")
def test_demo_shows_the_job_and_leaves_the_clone_clean(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path / "clone")
    env = {
        **os.environ,
        "PLATFORMIO_CORE_DIR": str(tmp_path / "empty-core"),  # no platform installed: no registry to wait on
        "PYTHONPATH": "",  # the demo uses the clone's own package
    }
    r = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=clone, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    # the K table, the chosen K, what the labels are
    assert re.search(r"^\s+K\s+logL\s+BIC", out, re.M)
    assert re.search(r"^\s+4 .*<- chosen$", out, re.M)
    assert "K = 4 (chosen by BIC), features: Age, Spending Score (1-100)" in out
    labels = re.findall(
        r"^label (\d): Age ([\d.]+), Spending Score \(1-100\) ([\d.]+)  \((\d+) % of the customers\)$", out, re.M
    )
    assert [int(k) for k, *_ in labels] == [0, 1, 2, 3]
    assert all(18 <= float(age) <= 70 and 1 <= float(score) <= 100 for _, age, score, _ in labels)
    assert 98 <= sum(int(share) for *_, share in labels) <= 102
    # where the header is, how to see the report
    assert "header: out/demo/GMM.h" in out
    assert "report: tinygmm report --json out/demo/GMM.json --out out/demo/report" in out
    # the build: no PlatformIO platform here, so g++, with one line saying why
    note = [line for line in out.splitlines() if "building with g++ instead" in line]
    assert len(note) == 1 and re.search("(PlatformIO|native platform) is not installed", note[0]), out
    # the device answers and agrees with scikit-learn
    assert "19,39 -> label=3 probability=0.993385 log_likelihood=-7.755573" in out
    assert "verify: PASS" in out
    assert (clone / "out" / "demo" / "GMM.h").is_file() and (clone / "out" / "demo" / "GMM.json").is_file()
    assert git(clone, "status", "--porcelain") == ""  # tracked files unchanged, nothing untracked outside out/

"""libFuzzer target for the serial protocol (ASan + UBSan): corpus replay and a bounded campaign.

TINYGMM_FUZZ_SECONDS sets the campaign length (default 60 s); TINYGMM_FUZZ_RUNS, if set, runs a fixed
number of executions instead (for the long campaign reported in the closing note).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "test" / "fuzz" / "fuzz_protocol.cpp"
CORPUS = ROOT / "test" / "fuzz" / "corpus"
FLAGS = [
    "-std=c++11",
    "-g",
    "-O1",
    "-fsanitize=fuzzer,address,undefined",
    "-fno-sanitize-recover=all",
    "-Wall",
    "-Wextra",
    "-Werror",
]


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clang = shutil.which("clang++")
    if clang is None:
        pytest.skip("clang++ not installed (apt-get install clang libclang-rt-14-dev)")
    out = tmp_path_factory.mktemp("fuzz") / "fuzz_protocol"
    cmd = [
        clang,
        *FLAGS,
        "-I",
        str(ROOT / "include"),
        "-I",
        str(ROOT / "lib" / "tinygmm" / "src"),
        str(TARGET),
        str(ROOT / "lib" / "tinygmm" / "src" / "tinygmm_protocol.cpp"),
        "-o",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 and "fuzzer" in r.stderr and "cannot find" in r.stderr:
        pytest.skip(f"libFuzzer runtime missing: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr
    return out


def run(fuzzer: Path, *args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a libFuzzer binary with its artifacts (crash-*, leak-*, timeout-*) in cwd/artifacts/, never the tree."""
    artifacts = cwd / "artifacts"
    artifacts.mkdir(exist_ok=True)
    cmd = [str(fuzzer), f"-artifact_prefix={artifacts}/", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_seed_corpus_replays_clean(fuzzer: Path, tmp_path: Path) -> None:
    seeds = sorted(CORPUS.iterdir())
    assert len(seeds) >= 8
    r = run(fuzzer, "-runs=0", str(CORPUS), cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "INITED" in r.stderr or "Done" in r.stderr


def test_bounded_campaign_finds_nothing(fuzzer: Path, tmp_path: Path) -> None:
    work = tmp_path / "corpus"
    shutil.copytree(CORPUS, work)
    runs = os.environ.get("TINYGMM_FUZZ_RUNS")
    limit = [f"-runs={runs}"] if runs else [f"-max_total_time={os.environ.get('TINYGMM_FUZZ_SECONDS', '60')}"]
    r = run(
        fuzzer, *limit, "-max_len=600", "-print_final_stats=1", str(work), str(CORPUS), cwd=tmp_path, timeout=3600 * 3
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert not list((tmp_path / "artifacts").iterdir())
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", r.stderr)
    assert m and int(m.group(1)) > 1000
    print(f"\nfuzz: {int(m.group(1))} executions, no invariant violated")


def test_target_catches_a_real_bug(fuzzer: Path, tmp_path: Path) -> None:
    """Mutation check: with the fix for a bug the fuzzer found (a NUL byte ended a line early, so the
    line got no reply) reverted, the target must report the invariant violation on that input."""
    src = (ROOT / "lib" / "tinygmm" / "src" / "tinygmm_protocol.cpp").read_text()
    fixed = "line_[len_++] = c == 0 ? '\\x1a' : c;"
    assert fixed in src
    mutant = tmp_path / "tinygmm_protocol.cpp"
    mutant.write_text(src.replace(fixed, "line_[len_++] = c;"))
    shutil.copy(ROOT / "lib" / "tinygmm" / "src" / "tinygmm_protocol.h", tmp_path)
    shutil.copy(ROOT / "lib" / "tinygmm" / "src" / "tinygmm_device.h", tmp_path)  # the glue, beside the protocol
    exe = tmp_path / "mutant"
    cmd = [
        shutil.which("clang++") or "clang++",
        *FLAGS,
        "-I",
        str(tmp_path),
        "-I",
        str(ROOT / "include"),
        str(TARGET),
        str(mutant),
        "-o",
        str(exe),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    case = tmp_path / "nul_line"
    case.write_bytes(b"\x00\xffgarbage\n19,39\n")
    assert run(fuzzer, str(case), cwd=tmp_path, timeout=60).returncode == 0
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(case, seeds)
    r = run(exe, "-runs=10", str(seeds), cwd=tmp_path, timeout=60)
    assert r.returncode != 0
    assert "invariant violated: exactly one reply per non-empty line" in r.stderr
    # the crash input is saved where run() puts artifacts, outside the source tree
    assert [p.read_bytes() for p in (tmp_path / "artifacts").glob("crash-*")] == [case.read_bytes()]

"""The library as PlatformIO users get it: `lib_deps` in a fresh project, and the packed tarball.

A fresh project outside this repository (its own platformio.ini, data and src/main.cpp, no
include/ or GMM.h) names the library in one `lib_deps` line and sets custom_gmm_* options; `pio
run` must fit the model, build the firmware and link the protocol. Once with `file://` to this
repository's lib/tinygmm, once with `file://` to the tarball `tinygmm library --pack` makes (what
PlatformIO's registry would serve). The Python that runs pio here already has tinygmm (this
checkout's, through PYTHONPATH or the editable install), so nothing is installed: the install path
of the build hook is tested in a fresh venv by test_lib_deps_venv.py.

`pio pkg pack` checks library.json's license against SPDX's list, which it downloads; where that
is out of reach the packing runs through pio_pack_offline.py, which is `pio pkg pack` itself with
only that download answered locally (see there). Skipped only where PlatformIO's native platform
is missing.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ROOT
from test_pio import missing_for, output, pio_command, run_pio
from tinygmm.platformio.pack import pack

HERE = Path(__file__).resolve().parent
LIBRARY = ROOT / "lib" / "tinygmm"

MAIN_CPP = """\
#include <stdio.h>
#include "GMM.h"
#include <tinygmm_protocol.h>

static void write_out(void*, const char* data, size_t len) { fwrite(data, 1, len, stdout); }

static const tinygmm::DeviceModel MODEL = {
    static_cast<uint8_t>(gmm::N_FEATURES), static_cast<uint8_t>(gmm::N_COMPONENTS), gmm::FEATURE_NAMES,
    gmm::MODEL_HASH, tinygmm::classify_with<gmm::N_COMPONENTS, gmm::classify>};
static tinygmm::LineProtocolWith<tinygmm::request_max(gmm::N_FEATURES)> protocol(MODEL, write_out, 0);

int main() {
  protocol.begin();
  int c;
  while ((c = getchar()) != EOF) protocol.feed(static_cast<char>(c));
  return 0;
}
"""


def fresh_project(dest: Path, deps: dict[str, str]) -> Path:
    """A project of a user's: two sensor clusters in data.csv, custom_gmm_* options, and one
    environment per lib_deps line ({env name: lib_deps value})."""
    (dest / "src").mkdir(parents=True)
    (dest / "src" / "main.cpp").write_text(MAIN_CPP)
    rng = random.Random(3)
    rows = [f"{20 + rng.gauss(0, 1):.3f},{1 + rng.gauss(0, 0.2):.3f}" for _ in range(60)]
    rows += [f"{80 + rng.gauss(0, 2):.3f},{9 + rng.gauss(0, 0.5):.3f}" for _ in range(60)]
    (dest / "data.csv").write_text("temperature,vibration\n" + "\n".join(rows) + "\n")
    ini = (
        "[env]\nplatform = native\nbuild_flags = -std=c++11\nbuild_src_flags = -Wall -Wextra -Werror\n"
        "custom_gmm_data = data.csv\ncustom_gmm_features = temperature, vibration\ncustom_gmm_n_components = 2\n"
    )
    ini += "".join(f"\n[env:{env}]\nlib_deps = {dep}\n" for env, dep in deps.items())
    (dest / "platformio.ini").write_text(ini)
    return dest


def pio_run_all(project: Path) -> subprocess.CompletedProcess[str]:
    cmd = pio_command()
    assert cmd is not None
    return run_pio(cmd, project, "run")


def build_and_talk(project: Path, pio_run: Callable[[Path], subprocess.CompletedProcess[str]] = pio_run_all) -> str:
    """pio run (every environment), then each firmware classifies a reading of each cluster; pio's output."""
    r = pio_run(project)
    out = output(r)
    assert r.returncode == 0, out[-6000:]
    assert not (project / "include").exists()
    builds = sorted(p for p in (project / ".pio" / "build").iterdir() if p.is_dir())
    assert builds
    for build in builds:
        model_hash = re.search(
            r'MODEL_HASH\[\] TINYGMM_FLASH = "([0-9a-f]+)"', (build / "tinygmm" / "GMM.h").read_text()
        )
        assert model_hash, build
        run = subprocess.run([str(build / "program")], input="20,1\n80,9\n", capture_output=True, text=True, timeout=30)
        lines = run.stdout.splitlines()
        assert lines[0] == f"READY tinygmm {model_hash.group(1)}", run.stdout
        labels = [re.match(r"OK (\d) ", ln) for ln in lines[1:3]]
        assert all(labels) and labels[0].group(1) != labels[1].group(1), run.stdout  # type: ignore[union-attr]
    return out


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = missing_for(["native"], needs_unity=False)
    if reason:
        pytest.skip(reason)
    return pack(tmp_path_factory.mktemp("packed"), pio=packer())


def packer() -> list[str]:
    """`pio` for `pio pkg pack`: through pio_pack_offline.py where this Python has PlatformIO, else pio itself."""
    if importlib.util.find_spec("platformio") is not None:
        return [sys.executable, str(HERE / "pio_pack_offline.py")]
    cmd = pio_command()
    assert cmd is not None
    return cmd


def test_packed_tarball_follows_the_export_rules_and_carries_the_package(tarball: Path) -> None:
    manifest = json.loads((LIBRARY / "library.json").read_text())
    assert tarball.name == f"tinygmm-{manifest['version']}.tar.gz"
    with tarfile.open(tarball) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
        packed = json.load(tar.extractfile("library.json"))  # type: ignore[arg-type]
        wheel_name = next(n for n in names if n.startswith("python/"))
        wheel_bytes = tar.extractfile(wheel_name).read()  # type: ignore[union-attr]
    repo = sorted(
        p.relative_to(LIBRARY).as_posix()
        for entry in manifest["export"]["include"]
        for p in ([LIBRARY / entry] if (LIBRARY / entry).is_file() else (LIBRARY / entry).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert names == sorted([*repo, wheel_name]), names  # every exported file, the wheel, nothing else
    assert wheel_name == f"python/tinygmm-{manifest['version']}-py3-none-any.whl"
    assert packed == manifest
    wheel = tarball.parent / "wheel.whl"
    wheel.write_bytes(wheel_bytes)
    with zipfile.ZipFile(wheel) as zf:
        inside = set(zf.namelist())
        assert (ROOT / "scripts" / "tinygmm" / "platformio" / "hook.py").read_bytes() == zf.read("tinygmm/platformio/hook.py")
        assert zf.read("tinygmm/library/src/tinygmm_eval.h") == (LIBRARY / "src" / "tinygmm_eval.h").read_bytes()
    assert {f"tinygmm/{p.name}" for p in (ROOT / "scripts" / "tinygmm").glob("*.py")} <= inside


def test_a_fresh_project_builds_with_lib_deps_on_the_folder_and_on_the_packed_tarball(
    tarball: Path, tmp_path: Path
) -> None:
    """One environment per lib_deps line, built by one `pio run`."""
    deps = {"folder": f"file://{LIBRARY}", "packed": f"file://{tarball}"}
    out = build_and_talk(fresh_project(tmp_path / "app", deps))
    assert "tinygmm: installing" not in out  # this Python has tinygmm already: nothing to install
    libdeps = tmp_path / "app" / ".pio" / "libdeps"
    wheel = f"python/{tarball.name.replace('.tar.gz', '-py3-none-any.whl')}"
    assert (libdeps / "packed" / "tinygmm" / wheel).is_file()
    assert (libdeps / "folder" / "tinygmm" / "library.json").is_file()
    assert sorted(p.name for p in (tmp_path / "app" / ".pio" / "build").iterdir() if p.is_dir()) == ["folder", "packed"]

"""No output of an export may be one of its inputs, however the path reaches it (issue 22, item 2).

Inputs: the training CSV, a saved model (--model / custom_gmm_model), the anomaly validation CSV,
platformio.ini, the C++ runtime and library, the tinygmm package itself. Paths: as given, through a
symlink, a hard link, a ``sub/..`` detour, a symlinked folder. Surfaces: the CLI (--data, --model,
--platformio), the PlatformIO hook and export_model (whose outputs must also differ from each other).
Every refusal: exit 2 / TinyGMMError, one line, nothing written, every input byte for byte as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

import tinygmm
from piofake import Exited, FakeEnv, run_script
from tinygmm.codegen.runtime import library_path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "scripts" / "tinygmm"


def _points(n: int = 80) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.r_[rng.normal(0, 1, (n // 2, 2)), rng.normal(6, 1, (n // 2, 2))]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    X = _points()
    (tmp_path / "d.csv").write_text("a,b\n" + "".join(f"{x:.6f},{y:.6f}\n" for x, y in X))
    (tmp_path / "v.csv").write_text("a,b,y\n" + "".join(f"{x:.6f},{y:.6f},{i % 2}\n" for i, (x, y) in enumerate(X)))
    import skops.io as sio

    sio.dump(GaussianMixture(2, random_state=0).fit(X), tmp_path / "m.skops")
    (tmp_path / "platformio.ini").write_text(
        "[env:x]\nplatform = native\ncustom_gmm_data = d.csv\ncustom_gmm_n_components = 2\ncustom_gmm_vectors = none\n"
    )
    (tmp_path / "sub").mkdir()
    return tmp_path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    return subprocess.run(
        [sys.executable, "-m", "tinygmm", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


# How an output path can reach an input: each returns the path to give for the input at `target`.
def _same(folder: Path, target: Path) -> str:
    return str(target)


def _symlink(folder: Path, target: Path) -> str:
    link = folder / "sub" / ("link-" + target.name)
    link.symlink_to(target)
    return str(link)


def _hardlink(folder: Path, target: Path) -> str:
    if target.stat().st_dev != folder.stat().st_dev:
        pytest.skip("the input is on another file system (no hard link possible)")
    link = folder / "sub" / ("hard-" + target.name)
    os.link(target, link)
    return str(link)


def _detour(folder: Path, target: Path) -> str:
    return str(target.parent / "sub" / ".." / target.name) if (target.parent / "sub").is_dir() else str(target)


def _linked_folder(folder: Path, target: Path) -> str:
    alias = folder / "sub" / "alias"
    alias.symlink_to(target.parent, target_is_directory=True)
    return str(alias / target.name)


LINKS: dict[str, Callable[[Path, Path], str]] = {
    "same": _same,
    "symlink": _symlink,
    "hardlink": _hardlink,
    "dotdot": _detour,
    "linked-folder": _linked_folder,
}

# (name of the input, the export arguments that make it an input, the file)
SOURCES = {
    "data": (["--data", "d.csv", "--n-components", "2"], "d.csv", "the training data"),
    "model": (["--model", "m.skops"], "m.skops", "the saved model"),
    "validation": (
        ["--data", "d.csv", "--n-components", "2", "--anomaly-validation", "v.csv", "--anomaly-label", "y"],
        "v.csv",
        "the anomaly validation data",
    ),
    "ini": (["--platformio", "platformio.ini", "--env", "x"], "platformio.ini", "the PlatformIO configuration"),
}


FLAGS = ("--header", "--json", "--vectors")
# every input reached every way, each time through another output flag
CASES = [(s, link, FLAGS[(i + j) % 3]) for i, s in enumerate(SOURCES) for j, link in enumerate(LINKS)]


@pytest.mark.parametrize(("source", "link", "flag"), CASES)
def test_cli_output_that_is_an_input_is_refused(project: Path, source: str, flag: str, link: str) -> None:
    args, name, label = SOURCES[source]
    target = LINKS[link](project, project / name)
    outputs = {"--header": "out/GMM.h", "--json": "out/GMM.json", "--vectors": "out/v.h", flag: target}
    before = _snapshot(project)
    r = _cli(project, "export", *args, *(a for kv in outputs.items() for a in kv))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("tinygmm: error: "), r.stderr
    assert f"{flag} " in r.stderr and label in r.stderr and "would be overwritten" in r.stderr
    assert _snapshot(project) == before  # no input touched, no output written (out/ not even created)


@pytest.mark.parametrize("link", ["same", "symlink", "linked-folder"])
@pytest.mark.parametrize(
    "victim",
    [
        lambda: library_path() / "src" / "tinygmm_eval.h",
        lambda: library_path() / "library.json",
        lambda: PACKAGE / "__init__.py",
        lambda: PACKAGE / "export" / "api.py",
    ],
    ids=["runtime", "library.json", "package-init", "package-module"],
)
def test_cli_never_overwrites_the_tool(project: Path, link: str, victim: Callable[[], Path]) -> None:
    target_file = victim()
    before = target_file.read_bytes()
    target = LINKS[link](project, target_file)
    r = _cli(project, "export", "--data", "d.csv", "--n-components", "2", "--header", target, "--json", "o.json")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "would be overwritten" in r.stderr and "tinygmm" in r.stderr
    assert target_file.read_bytes() == before and not (project / "o.json").exists()


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink", "dotdot"])
def test_outputs_of_one_export_are_distinct(project: Path, link: str) -> None:
    (project / "out").mkdir()
    header = project / "out" / "GMM.h"
    header.write_text("previous\n")
    other = LINKS[link](project, header)
    r = _cli(project, "export", "--data", "d.csv", "--header", str(header), "--json", other, "--vectors", "none")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "name the same file" in r.stderr, r.stderr
    assert header.read_text() == "previous\n"


def test_later_flag_cannot_sneak_the_ini_back(project: Path) -> None:
    """--platformio's own ini is protected even when a later flag names it as an output."""
    before = _snapshot(project)
    r = _cli(project, "export", "--platformio", "platformio.ini", "--env", "x", "--json", "./sub/../platformio.ini")
    assert r.returncode == 2 and "the PlatformIO configuration" in r.stderr and r.stderr.count("\n") == 1
    assert _snapshot(project) == before


@pytest.mark.parametrize(
    ("key", "target"),
    [
        ("custom_gmm_json", "platformio.ini"),
        ("custom_gmm_header", "sub/../d.csv"),
        ("custom_gmm_json", "sub/link-d.csv"),
    ],
)
def test_hook_refuses_an_input_as_output(
    project: Path, key: str, target: str, capfd: pytest.CaptureFixture[str]
) -> None:
    (project / "sub" / "link-d.csv").symlink_to(project / "d.csv")
    with (project / "platformio.ini").open("a") as fh:
        fh.write(f"{key} = {target}\n")
    before = _snapshot(project)
    with pytest.raises(Exited):
        run_script(FakeEnv(project, "x"))
    err = capfd.readouterr().err
    assert "would be overwritten" in err and "Traceback" not in err
    assert _snapshot(project) == before


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink", "dotdot"])
@pytest.mark.parametrize(("first", "second"), [("header", "json"), ("header", "vectors"), ("json", "vectors")])
def test_export_model_outputs_are_distinct(tmp_path: Path, link: str, first: str, second: str) -> None:
    (tmp_path / "sub").mkdir()
    g = GaussianMixture(2, random_state=0).fit(_points())
    paths = {"header": tmp_path / "GMM.h", "json": tmp_path / "GMM.json", "vectors": tmp_path / "v.h"}
    paths[first].write_text("previous\n")
    paths[second] = Path(LINKS[link](tmp_path, paths[first]))
    with pytest.raises(tinygmm.TinyGMMError, match="name the same file") as info:
        tinygmm.export_model(g, paths["header"], json=paths["json"], vectors=paths["vectors"])
    assert "\n" not in str(info.value)
    assert paths[first].read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["sub", paths[first].name])  # nothing else written


def test_export_model_never_overwrites_the_tool(tmp_path: Path) -> None:
    g = GaussianMixture(2, random_state=0).fit(_points())
    for target in (library_path() / "src" / "tinygmm_predict.h", PACKAGE / "options.py"):
        before = target.read_bytes()
        link = tmp_path / ("l-" + target.name)
        link.symlink_to(target)
        for kw in ({"json": link}, {"vectors": link}):
            with pytest.raises(tinygmm.TinyGMMError, match="would be overwritten"):
                tinygmm.export_model(g, tmp_path / "GMM.h", **kw)
        with pytest.raises(tinygmm.TinyGMMError, match="would be overwritten"):
            tinygmm.export_model(g, link)
        assert target.read_bytes() == before and not (tmp_path / "GMM.h").exists()


def test_copies_are_not_inputs(project: Path) -> None:
    """The check compares files, not contents: a copy of the data may be overwritten."""
    shutil.copy(project / "d.csv", project / "copy.csv")
    r = _cli(project, "export", "--data", "d.csv", "--n-components", "2", "--header", "copy.csv", "--json", "o.json")
    assert r.returncode == 0, r.stderr
    assert (project / "copy.csv").read_text().startswith("//")

"""The tinygmm PlatformIO library's build hook, run with a stand-in for PlatformIO's SCons env.

Each test writes a consuming project (platformio.ini + data) in a temporary folder and runs
lib/tinygmm/tinygmm_build.py as PlatformIO's library builder would, for one environment.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from piofake import LIBRARY, ROOT, Exited, FakeEnv, run_script
from tinygmm import __version__
from tinygmm.platformio import hook as pio_hook

BASE = {
    "custom_gmm_data": "data/customers.csv",
    "custom_gmm_features": "Age, Spending Score (1-100)",
    "custom_gmm_n_components": "3",
    "custom_gmm_covariance_type": "diag",
}


def write_ini(project: Path, base: dict[str, str], envs: dict[str, dict[str, str]]) -> None:
    text = "[platformio]\ndefault_envs = " + next(iter(envs)) + "\n\n[env]\n"
    text += "".join(f"{k} = {v}\n" for k, v in base.items())
    for name, opts in envs.items():
        text += f"\n[env:{name}]\nplatform = native\n" + "".join(f"{k} = {v}\n" for k, v in opts.items())
    (project / "platformio.ini").write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data" / "customers.csv", tmp_path / "data")
    write_ini(tmp_path, BASE, {"native": {}, "small": {"custom_gmm_n_components": "2  ; fewer for the Uno"}})
    return tmp_path


class Exports:
    """Counts the `tinygmm export` subprocesses the hook starts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = subprocess.run

        def counting(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
            self.calls += 1
            return real(*args, **kwargs)  # type: ignore[call-overload,no-any-return]

        monkeypatch.setattr(pio_hook.subprocess, "run", counting)


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> Exports:
    monkeypatch.setattr(pio_hook, "_targets", lambda: [])  # a plain `pio run`
    return Exports(monkeypatch)


def header_of(project: Path, env: str) -> Path:
    return project / ".pio" / "build" / env / "tinygmm" / "GMM.h"


# ---- the library ---------------------------------------------------------------------


def test_library_manifest_matches_the_python_package() -> None:
    manifest = json.loads((LIBRARY / "library.json").read_text())
    pyproject = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert manifest["name"] == "tinygmm"
    assert manifest["version"] == __version__ == (pyproject and pyproject.group(1))
    assert (LIBRARY / manifest["build"]["extraScript"]).is_file()
    for header in manifest["headers"]:
        assert (LIBRARY / "src" / header).is_file()
    props = dict(
        line.split("=", 1) for line in (LIBRARY / "library.properties").read_text().splitlines() if "=" in line
    )
    assert props["version"] == __version__


# ---- export per environment, incremental -------------------------------------------


def test_exports_per_environment_and_puts_it_on_the_include_path(project: Path, exports: Exports) -> None:
    env = FakeEnv(project, "native")
    run_script(env)
    header = header_of(project, "native")
    text = header.read_text()
    assert "static const int N_COMPONENTS = 3;" in text and "covariance_type=diag" in text
    assert env.cpppath[0] == str(header.parent)
    assert (header.parent / "GMM.json").is_file()
    assert not (project / "include").exists() and not (project / "test").exists()  # nothing in the tree
    assert exports.calls == 1


def test_unchanged_costs_no_export_and_a_change_refits(
    project: Path, exports: Exports, capfd: pytest.CaptureFixture[str]
) -> None:
    run_script(FakeEnv(project, "native"))
    header = header_of(project, "native")
    before = header.read_bytes()
    capfd.readouterr()
    run_script(FakeEnv(project, "native"))
    assert "up to date" in capfd.readouterr().out and exports.calls == 1  # no subprocess at all
    assert header.read_bytes() == before
    write_ini(project, {**BASE, "custom_gmm_n_components": "4"}, {"native": {}})
    run_script(FakeEnv(project, "native"))
    assert "static const int N_COMPONENTS = 4;" in header.read_text() and exports.calls == 2
    (project / "data" / "customers.csv").write_text((project / "data" / "customers.csv").read_text() + "\n")
    run_script(FakeEnv(project, "native"))
    assert exports.calls == 3  # data bytes changed: export runs (it refits, the CSV's hash changed)


def test_two_environments_never_thrash(project: Path, exports: Exports) -> None:
    for env in ("native", "small", "native", "small", "native"):
        run_script(FakeEnv(project, env))
    assert "N_COMPONENTS = 3;" in header_of(project, "native").read_text()
    assert "N_COMPONENTS = 2;" in header_of(project, "small").read_text()
    assert exports.calls == 2  # one export per environment, none when switching


def test_a_named_header_is_written_there_and_found(project: Path, exports: Exports) -> None:
    write_ini(project, {**BASE, "custom_gmm_header": "include/model/GMM.h"}, {"native": {}})
    env = FakeEnv(project, "native")
    run_script(env)
    assert (project / "include" / "model" / "GMM.h").is_file()
    assert str(project / "include" / "model") in env.cpppath
    assert (project / ".pio" / "build" / "native" / "tinygmm" / "GMM.json").is_file()  # json stays per env


def test_a_shared_header_with_different_options_stops_the_build(
    project: Path, exports: Exports, capfd: pytest.CaptureFixture[str]
) -> None:
    shared = {**BASE, "custom_gmm_header": "include/GMM.h", "custom_gmm_json": "include/GMM.json"}
    write_ini(project, shared, {"native": {}, "uno": {}})
    run_script(FakeEnv(project, "native"))
    before = (project / "include" / "GMM.h").stat().st_mtime_ns
    capfd.readouterr()
    run_script(FakeEnv(project, "uno"))  # same options: shares the file, no refit
    assert "include/GMM.h is up to date" in capfd.readouterr().out
    assert (project / "include" / "GMM.h").stat().st_mtime_ns == before
    run_script(FakeEnv(project, "native"))
    assert exports.calls == 2  # uno's first build checked once; then its stamp answers
    write_ini(project, shared, {"native": {}, "uno": {"custom_gmm_covariance_type": "full"}})
    with pytest.raises(Exited):
        run_script(FakeEnv(project, "uno"))
    err = capfd.readouterr().err
    assert "environments uno and native both write include/GMM.h with different custom_gmm_* options" in err
    assert exports.calls == 2


# ---- hygiene -------------------------------------------------------------------------


def test_an_unknown_option_stops_the_build(project: Path, exports: Exports, capfd: pytest.CaptureFixture[str]) -> None:
    write_ini(project, {**BASE, "custom_gmm_covarance_type": "diag"}, {"native": {}})
    with pytest.raises(Exited):
        run_script(FakeEnv(project, "native"))
    err = capfd.readouterr().err
    assert "unknown option custom_gmm_covarance_type; did you mean custom_gmm_covariance_type?" in err
    assert "Traceback" not in err and exports.calls == 0


def test_options_without_data_name_the_missing_option(
    tmp_path: Path, exports: Exports, capfd: pytest.CaptureFixture[str]
) -> None:
    write_ini(tmp_path, {"custom_gmm_n_components": "3"}, {"native": {}})
    with pytest.raises(Exited):
        run_script(FakeEnv(tmp_path, "native"))
    assert "custom_gmm_data is not set" in capfd.readouterr().err and exports.calls == 0


@pytest.mark.parametrize(
    ("targets", "clean", "dump"),
    [
        ([], True, False),  # pio run -t clean
        (["__idedata"], False, True),  # pio project metadata, IDEs
        (["envdump"], False, False),
        (["nobuild", "upload"], False, False),  # upload what is already built
        (["monitor"], False, False),
        (["compiledb"], False, False),
    ],
)
def test_targets_that_compile_nothing_never_export(
    project: Path, monkeypatch: pytest.MonkeyPatch, targets: list[str], clean: bool, dump: bool
) -> None:
    (project / "data" / "customers.csv").write_text("broken\n")  # an export would fail
    monkeypatch.setattr(pio_hook, "_targets", lambda: targets)
    env = FakeEnv(project, "native", clean=clean, dump=dump)
    run_script(env)
    assert not header_of(project, "native").exists()
    assert env.cpppath == [str(header_of(project, "native").parent)]  # IDEs still see where GMM.h goes


@pytest.mark.parametrize("targets", [[], ["upload"], ["__test"], ["checkprogsize"], ["upload", "monitor"], ["size"]])
def test_targets_that_compile_export(targets: list[str]) -> None:
    """(The export itself for a plain `pio run` is what the other tests run.)"""
    assert pio_hook.skip_reason(targets) is None


def test_unconfigured_project_is_left_alone(
    tmp_path: Path, exports: Exports, capfd: pytest.CaptureFixture[str]
) -> None:
    write_ini(tmp_path, {"monitor_speed": "115200"}, {"native": {}})
    env = FakeEnv(tmp_path, "native")
    run_script(env)
    assert "nothing to export" in capfd.readouterr().out
    assert env.cpppath == [] and exports.calls == 0 and not (tmp_path / ".pio").exists()


def test_failed_export_stops_the_build_and_keeps_the_header(
    project: Path, exports: Exports, capfd: pytest.CaptureFixture[str]
) -> None:
    run_script(FakeEnv(project, "native"))
    before = header_of(project, "native").read_bytes()
    write_ini(project, {**BASE, "custom_gmm_features": "Age, Salary"}, {"native": {}})
    with pytest.raises(Exited):
        run_script(FakeEnv(project, "native"))
    err = capfd.readouterr().err
    assert "no column 'Salary'" in err and "build is stopped" in err and "Traceback" not in err
    assert header_of(project, "native").read_bytes() == before


def test_missing_python_deps_give_the_install_command(
    project: Path, exports: Exports, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a))
    with pytest.raises(Exited):
        run_script(FakeEnv(project, "native"))
    err = capfd.readouterr().err
    assert f'"{sys.executable}" -m pip install "{ROOT}"' in err
    assert not header_of(project, "native").exists()


def test_skip_env_var_leaves_outputs_alone(project: Path, exports: Exports, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGMM_SKIP_EXPORT", "1")
    run_script(FakeEnv(project, "native"))
    assert not (project / ".pio").exists() and exports.calls == 0


def test_real_platformio_config_is_read_the_same_way(project: Path, exports: Exports) -> None:
    """With PlatformIO's own ProjectConfig (when installed) instead of the stand-in."""
    if importlib.util.find_spec("platformio") is None:
        pytest.skip("PlatformIO is not installed (pip install platformio)")
    from platformio.project.config import ProjectConfig

    config = ProjectConfig(str(project / "platformio.ini"))
    for env in ("native", "small", "native"):
        run_script(FakeEnv(project, env, config=config))
    assert "N_COMPONENTS = 2;" in header_of(project, "small").read_text()  # inline ';' comment stripped
    assert exports.calls == 2


def test_custom_gmm_learn_defines_tinygmm_learn_for_the_library_and_the_project(
    project: Path, exports: Exports, capfd: pytest.CaptureFixture[str]
) -> None:
    for value, want in (("off", []), ("adapt", [("TINYGMM_LEARN", "1")]), ("Scratch", [("TINYGMM_LEARN", "2")])):
        write_ini(project, {**BASE, "custom_gmm_learn": value}, {"native": {}})
        env, projenv = FakeEnv(project, "native"), FakeEnv(project, "native")
        run_script(env, projenv=projenv)
        assert env.cppdefines == want and projenv.cppdefines == want, value
    assert exports.calls == 1  # a build option: the export does not see it (no refit)
    write_ini(project, {**BASE, "custom_gmm_learn": "yes"}, {"native": {}})
    capfd.readouterr()
    with pytest.raises(Exited):
        run_script(FakeEnv(project, "native"))
    err = capfd.readouterr().err
    assert "custom_gmm_learn = 'yes': expected one of off, adapt, scratch" in err and "Traceback" not in err


def test_the_repository_uses_the_library_hook_only() -> None:
    ini = (ROOT / "platformio.ini").read_text()
    assert "extra_scripts" not in ini and not (ROOT / "scripts" / "pio_tinygmm.py").exists()


def test_repository_ini_flags_and_test_filters() -> None:
    """Warnings as errors on the project's own sources only; every test_ignore pattern matches a suite."""
    import configparser
    import fnmatch

    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    cp.read(ROOT / "platformio.ini", encoding="utf-8")
    suites = [p.name for p in (ROOT / "test").iterdir() if p.is_dir() and p.name.startswith("test_")]
    for section in [s for s in cp.sections() if s.startswith("env:")]:
        assert "-W" not in cp.get(section, "build_flags", fallback=""), f"[{section}] build_flags reach the core"
        if not cp.has_option(section, "extends"):
            assert "-Werror" in cp.get(section, "build_src_flags", fallback=""), section
        for pattern in cp.get(section, "test_ignore", fallback="").split():
            assert fnmatch.filter(suites, pattern), f"[{section}] test_ignore = {pattern} matches no suite"


# ---- tinygmm export --platformio ---------------------------------------------------


def export_platformio(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    run = [sys.executable, "-m", "tinygmm", "export", "--platformio", *args, "--header", "out/GMM.h"]
    return subprocess.run(
        [*run, "--json", "out/GMM.json", "--vectors", "none"], cwd=project, capture_output=True, text=True
    )


def test_export_platformio_reads_env_overrides(project: Path) -> None:
    r = export_platformio(project)
    assert r.returncode == 0, r.stderr
    assert "K=3" in r.stdout
    r = export_platformio(project, "platformio.ini", "--env", "small")
    assert r.returncode == 0, r.stderr
    assert "K=2" in r.stdout
    r = export_platformio(project, "--env", "nope")
    assert r.returncode == 2 and "no [env:nope] section" in r.stderr


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        (b"custom_gmm_data = d.csv\n[env]\n", "platformio.ini, line 1: an option before any [section]"),
        (
            b"[env]\ncustom_gmm_data = a.csv\nmonitor_speed = 9600\ncustom_gmm_data = b.csv\n",
            "platformio.ini, line 4: option 'custom_gmm_data' appears twice in [env]",
        ),
        (
            b"[env]\n; capteur d'humidit\xe9\ncustom_gmm_data = d.csv\n",
            "platformio.ini, line 2: byte 0xe9 is not UTF-8",
        ),
        (b"[env]\nmonitor_speed = 1\n[env]\n", "platformio.ini, line 3: section [env] appears twice"),
        (b"[env]\ncustom_gmm_covarance_type = diag\n", "unknown option custom_gmm_covarance_type; did you mean"),
    ],
)
def test_export_platformio_bad_ini_is_one_line(tmp_path: Path, ini: bytes, message: str) -> None:
    (tmp_path / "platformio.ini").write_bytes(ini)
    r = export_platformio(tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_every_export_flag_has_a_custom_gmm_twin() -> None:
    """OPTIONS is the one list of option names: a new export flag needs its custom_gmm_* row."""
    from tinygmm.cli import build_parser
    from tinygmm.platformio.config import OPTIONS

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    export = sub.choices["export"]  # type: ignore[attr-defined]
    flags = {s for a in export._actions for s in a.option_strings if s.startswith("--")}
    not_model = {"--help", "--if-changed", "--platformio", "--env"}
    assert flags - not_model == {flag for _, flag in OPTIONS}
    assert all(flag == "--" + name.replace("_", "-") for name, flag in OPTIONS)

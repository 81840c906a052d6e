"""Issue 22, items 2 and 3: ``export --platformio`` reads platformio.ini as PlatformIO does, and never
overwrites it.

Every tricky ini below is read by tinygmm.platformio.ini and by PlatformIO's own ProjectConfig (installed here
and in CI); every option of every environment must come out the same. Then the command line must
export, for ``--env child``, exactly the model that the build hook (reading through PlatformIO)
exports, and refuse an output that is the ini, the data, the model file, the validation CSV or the
runtime, whatever the path or link that names it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from piofake import ROOT, FakeEnv, run_script
from tinygmm.errors import TinyGMMError
from tinygmm.platformio import hook as pio_hook
from tinygmm.platformio.config import read_ini
from tinygmm.platformio.ini import ProjectIni

HAVE_PLATFORMIO = importlib.util.find_spec("platformio") is not None
needs_platformio = pytest.mark.skipif(not HAVE_PLATFORMIO, reason="PlatformIO is not installed")

EXTENDS = """\
[platformio]
default_envs = child

[common]
custom_gmm_features = Age, Spending Score (1-100)
custom_gmm_covariance_type = diag

[env]
platform = native
custom_gmm_data = data/customers.csv
custom_gmm_n_components = 5
custom_gmm_namespace = from_env

[env:base]
extends = common
custom_gmm_n_components = 3
custom_gmm_scaler = standard

[env:mid]
extends = env:base
custom_gmm_tol = 0.01

[env:child]
extends = env:mid
custom_gmm_max_iter = 50

[env:two]
extends = env:base, common2
custom_gmm_header = include/two.h

[common2]
custom_gmm_n_components = 7
custom_gmm_scaler = minmax

[env:lines]
extends =
    common2
    env:child
custom_gmm_json = x.json
"""

INTERPOLATION = """\
[platformio]
default_envs = a
description = ${sysenv.TINYGMM_TEST_WHERE}/desc

[env]
custom_gmm_namespace = ns_${this.__env__}
custom_gmm_data = ${this.custom_gmm_folder}/${this.__env__}.csv
custom_gmm_folder = data
custom_gmm_header = ${platformio.build_dir}/${this.__env__}/GMM.h
custom_gmm_json = ${platformio.workspace_dir}/m.json
custom_gmm_vectors = ${PROJECT_DIR}/v.h
custom_gmm_features = ${common.cols}
custom_gmm_scons = ${BUILD_DIR}/x and ${SOURCE}
custom_gmm_sysenv = ${sysenv.TINYGMM_TEST_WHERE}/d.csv
custom_gmm_unset = [${sysenv.TINYGMM_TEST_UNSET_XYZ}]
custom_gmm_name = ${platformio.name}
custom_gmm_desc = ${platformio.description}
custom_gmm_speed = ${env.monitor_speed} ${env.lib_archive} ${env.build_type}
custom_gmm_flags = ${env.build_flags}
custom_gmm_hash = $PROJECT_HASH
build_flags =
    -DA=1
    -DB="two  words"

[common]
cols = Age, Income
other = ${env:b.custom_gmm_folder}

[env:a]
custom_gmm_alpha = ${env.custom_gmm_folder}-${env:b.custom_gmm_folder}

[env:b]
custom_gmm_folder = other  data
custom_gmm_criterion = ${common.other}
monitor_speed = 115200
"""

VERBATIM = """\
[env]
custom_gmm_data = data/run  2/d  1.csv
custom_gmm_features = 나이, 지출 점수 (1-100), µm
custom_gmm_namespace = a;b ; a comment
custom_gmm_header = h#1 # another comment
custom_gmm_json = tab\there
custom_gmm_vectors = 100%% sure %(custom_gmm_namespace)s
custom_gmm_random_state =
    first line  with  spaces

    after a blank line
    ; a comment line inside
    # and another
    last ; trailing
custom_gmm_dropna=yes
custom_gmm_anomaly_label :   colon  separated
custom_gmm_anomaly_positive =

[env:ünïcode]
custom_gmm_data = données/été.csv

[env:x]
custom_gmm_data = data/x.csv  ; comment with ${nothing}
"""

DEFAULTS = """\
[DEFAULT]
custom_gmm_namespace = everywhere

[platformio]
extra_configs = extra/*.ini

[env:main]
custom_gmm_data = main.csv
"""

EXTRA = """\
[env:main]
custom_gmm_n_components = 4

[env:more]
extends = env:main
custom_gmm_json = more.json
"""

CASES = {"extends": EXTENDS, "interpolation": INTERPOLATION, "verbatim": VERBATIM, "extra_configs": DEFAULTS}


def write_project(tmp: Path, ini: str) -> Path:
    (tmp / "platformio.ini").write_text(ini, encoding="utf-8")
    if "extra_configs" in ini:
        (tmp / "extra").mkdir()
        (tmp / "extra" / "more.ini").write_text(EXTRA, encoding="utf-8")
    return tmp / "platformio.ini"


def platformio_config(ini: Path):  # -> ProjectConfig
    from platformio.project.config import ProjectConfig

    return ProjectConfig(str(ini))


@needs_platformio
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_option_reads_as_platformio_reads_it(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # PlatformIO runs in the project folder (${PROJECT_DIR})
    monkeypatch.setenv("TINYGMM_TEST_WHERE", "/srv/ünï  code")
    monkeypatch.delenv("TINYGMM_TEST_UNSET_XYZ", raising=False)
    ini = write_project(tmp_path, CASES[case])
    theirs = platformio_config(ini)
    ours = ProjectIni(ini)
    assert ours.envs() == theirs.envs() and ours.default_env() == theirs.get_default_env()
    compared = 0
    for env in theirs.envs():
        section = "env:" + env
        names = theirs.options(section)
        assert ours.options(section) == names, section
        for option in names:
            assert ours.get(section, option, None) == theirs.get(section, option, None), (section, option)
            compared += option.startswith("custom_gmm_")
    for option in theirs.options("platformio"):
        assert ours.get("platformio", option) == theirs.get("platformio", option), option
    assert compared >= 6


@needs_platformio
@pytest.mark.parametrize("folder", [ROOT, ROOT / "examples" / "platformio"], ids=["repository", "example"])
def test_the_projects_own_ini_files_read_the_same(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)
    theirs, ours = platformio_config(folder / "platformio.ini"), ProjectIni(folder / "platformio.ini")
    for section in ["env:" + env for env in theirs.envs()]:
        assert ours.options(section) == theirs.options(section)
        for option in theirs.options(section):
            assert ours.get(section, option, None) == theirs.get(section, option, None), (section, option)


@needs_platformio
def test_the_tricky_values_are_what_the_ini_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above is not vacuous: spot checks of what both readers give."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYGMM_TEST_WHERE", "/srv/w")
    ours = ProjectIni(write_project(tmp_path, EXTENDS))
    assert ours.get("env:child", "custom_gmm_n_components") == "3"  # env:base, not [env]
    assert ours.get("env:child", "custom_gmm_covariance_type") == "diag"  # base extends [common]
    assert ours.get("env:two", "custom_gmm_n_components") == "7"  # the last one extended wins
    assert ours.get("env:lines", "custom_gmm_n_components") == "3"
    v = ProjectIni(write_project(tmp_path, VERBATIM))
    assert v.get("env:x", "custom_gmm_data") == "data/x.csv"
    assert v.get("env", "custom_gmm_data") == "data/run  2/d  1.csv"
    assert v.get("env", "custom_gmm_namespace") == "a;b"
    assert v.get("env", "custom_gmm_vectors") == "100% sure a;b"
    i = ProjectIni(write_project(tmp_path, INTERPOLATION))
    assert i.get("env:b", "custom_gmm_data") == "other  data/b.csv"
    assert i.get("env:a", "custom_gmm_header") == str(tmp_path / ".pio" / "build" / "a" / "GMM.h")
    assert i.get("env:a", "custom_gmm_unset") == "[]"


def test_extends_to_nothing_is_named(tmp_path: Path) -> None:
    """PlatformIO skips an extends it cannot find (a silent typo); we say which one."""
    ini = write_project(tmp_path, EXTENDS + "\n[env:nocomma]\nextends = env:child,common2\n")
    with pytest.raises(TinyGMMError, match=r"\[env:nocomma\] extends env:child,common2, which is not a section"):
        read_ini(ini, "nocomma")


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[env:a]\n[env:b]\n", "c", r"there is no \[env:c\] section \(environments: a, b\)$"),
        ("[platformio]\ndefault_envs = c\n[env:a]\n", None, r"default_envs names c, but there is no \[env:c\]"),
        (
            "[env:a]\nextends = env:b\n[env:b]\nextends = env:c\n[env:c]\nextends = env:a\n",
            "a",
            r"extends goes round in a circle: \[env:a\] -> \[env:b\] -> \[env:c\] -> \[env:a\]",
        ),
        ("[env:a]\nextends = env:a\n", "a", r"circle: \[env:a\] -> \[env:a\]"),
        (
            "[env:a]\ncustom_gmm_data = ${this.custom_gmm_json}\ncustom_gmm_json = ${env:a.custom_gmm_data}\n",
            "a",
            r"interpolation goes round in a circle: \$\{env:a.custom_gmm_data\} -> \$\{env:a.custom_gmm_json\} -> ",
        ),
        ("[env:a]\ncustom_gmm_data = ${nowhere.x}\n", "a", r"there is no \[nowhere\] section \(for \$\{nowhere.x\} in custom_gmm_data of \[env:a\]\)$"),
        ("[env:a]\ncustom_gmm_data = ${env.x}\n", "a", r"there is no \[env\] section"),
        ("[env]\n[env:a]\ncustom_gmm_data = ${env:a.x}\n", "a", r"no option x in \[env:a\] or the sections it"),
        ("[c]\nx = ${this.__env__}\n[env:a]\ncustom_gmm_data = ${c.x}\n", "a", r"\$\{this.__env__\} in x of \[c\]"),
        ("[env:a]\ncustom_gmm_data = 100%\n", "a", r"\[env:a\] custom_gmm_data: '%' must be followed by"),
        ("[env:a]\njust words\n", "a", r"line 2: not an option, a section or a comment: 'just words'"),
    ],
)
def test_bad_ini_is_one_clear_line(tmp_path: Path, text: str, env: str | None, message: str) -> None:
    ini = write_project(tmp_path, text)
    with pytest.raises(TinyGMMError, match=message) as err:
        read_ini(ini, env)
    assert "\n" not in str(err.value)
    if HAVE_PLATFORMIO and env == "a" and "extends" not in text:  # (PlatformIO loops forever on those)
        from platformio.exception import PlatformioException

        with pytest.raises((PlatformioException, RecursionError)):  # PlatformIO refuses it too
            config = platformio_config(ini)
            for option in config.options("env:" + env):
                config.get("env:" + env, option)


def test_values_become_arguments_verbatim(tmp_path: Path) -> None:
    ini = write_project(tmp_path, VERBATIM.replace("custom_gmm_json = tab\there\n", ""))
    args = read_ini(ini, "ünïcode")
    assert args[args.index("--data") + 1] == str(tmp_path / "données" / "été.csv")
    args = read_ini(ini)  # no env: [env] alone... but there are environments: the first one
    assert args[args.index("--data") + 1] == str(tmp_path / "données" / "été.csv")
    ini.write_text(VERBATIM.split("[env:ünïcode]")[0], encoding="utf-8")
    args = read_ini(ini)
    assert args[args.index("--data") + 1] == str(tmp_path / "data/run  2/d  1.csv")
    assert args[args.index("--features") + 1] == "나이, 지출 점수 (1-100), µm"
    assert args[args.index("--random-state") + 1] == "first line  with  spaces after a blank line last"
    assert args[args.index("--anomaly-label") + 1] == "colon  separated"
    assert "--dropna" in args and "--anomaly-positive" not in args


def test_multi_line_features_are_one_column_per_line(tmp_path: Path) -> None:
    ini = write_project(tmp_path, "[env]\ncustom_gmm_features =\n    Age\n    Spending Score (1-100),\n    µm\n")
    args = read_ini(ini)
    assert args[args.index("--features") + 1] == "Age,Spending Score (1-100),µm"


# ---- end to end: the command line exports what the build exports ---------------------------------

CHILD = """\
[platformio]
default_envs = base

[env]
custom_gmm_data = data/run  2/d  1.csv
custom_gmm_n_components = 4

[env:base]
platform = native
custom_gmm_features = Age, Spending Score (1-100)
custom_gmm_covariance_type = diag
custom_gmm_n_components = 3

[env:child]
extends = env:base
custom_gmm_covariance_type = ${common.cov}  ; from [common]
custom_gmm_namespace = gmm_${this.__env__}

[common]
cov = spherical
"""


def tinygmm(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "scripts"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "tinygmm", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False
    )


def constants(header: Path) -> str:
    """The model block of a header (what MODEL_HASH names), without the provenance comments."""
    text = header.read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.startswith("//"))


@needs_platformio
def test_cli_exports_the_model_the_build_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path
    (project / "data" / "run  2").mkdir(parents=True)
    shutil.copy(ROOT / "data" / "customers.csv", project / "data" / "run  2" / "d  1.csv")
    (project / "platformio.ini").write_text(CHILD, encoding="utf-8")
    monkeypatch.chdir(project)
    monkeypatch.setattr(pio_hook, "_targets", lambda: [])
    run_script(FakeEnv(project, "child", config=platformio_config(project / "platformio.ini")))
    built = project / ".pio" / "build" / "child" / "tinygmm" / "GMM.h"
    assert "N_COMPONENTS = 3;" in built.read_text() and "covariance_type=spherical" in built.read_text()

    r = tinygmm(project, "export", "--platformio", "platformio.ini", "--env", "child", "--header", "cli/GMM.h",
                "--json", "cli/GMM.json", "--vectors", "none")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert constants(project / "cli" / "GMM.h") == constants(built)
    assert "namespace gmm_child" in constants(built)
    hashes = {re.search(r'MODEL_HASH\[\][^"]*"(\w+)"', p.read_text()).group(1) for p in (built, project / "cli/GMM.h")}  # type: ignore[union-attr]
    assert len(hashes) == 1
    # the old reader (configparser, no extends) fitted K=4 full on [env] alone: not the build's model
    r = tinygmm(project, "export", "--platformio", "--header", "base/GMM.h", "--json", "base/GMM.json", "--vectors",
                "none")  # fmt: skip
    assert r.returncode == 0 and "K=3 D=2 diag" in r.stdout, r.stdout + r.stderr


# ---- no output is an input ---------------------------------------------------------------------------

PROTECTED = """\
[env]
custom_gmm_data = d.csv
custom_gmm_n_components = 2
custom_gmm_vectors = none

[env:x]
custom_gmm_header = out/GMM.h
custom_gmm_json = out/GMM.json
"""


def protected_project(tmp: Path, ini: str = PROTECTED) -> dict[str, bytes]:
    (tmp / "d.csv").write_text("a,b\n" + "".join(f"{i % 7}.5,{(i * 3) % 11}.25\n" for i in range(40)))
    (tmp / "v.csv").write_text("a,b,label\n1,2,0\n30,40,1\n")
    (tmp / "platformio.ini").write_text(ini)
    (tmp / "extra.ini").write_text("[env:x]\ncustom_gmm_tol = 0.01\n")
    (tmp / "out").mkdir()
    (tmp / "link.ini").symlink_to(tmp / "platformio.ini")
    (tmp / "out" / "ini-link").symlink_to(Path("..") / "platformio.ini")
    os.link(tmp / "d.csv", tmp / "out" / "hard.csv")
    return {p.name: p.read_bytes() for p in tmp.iterdir() if p.is_file()}


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["--json", "platformio.ini"], "the PlatformIO configuration"),
        (["--header", "./out/../platformio.ini"], "the PlatformIO configuration"),
        (["--json", "link.ini"], "the PlatformIO configuration"),
        (["--json", "out/ini-link"], "the PlatformIO configuration"),
        (["--vectors", "extra.ini"], "extra_configs file #1"),
        (["--json", "d.csv"], "the training data"),
        (["--anomaly-validation", "v.csv", "--anomaly-label", "label", "--json", "v.csv"], "anomaly validation data"),
        (["--json", "out/hard.csv"], "the training data"),
        (["--json", str(ROOT / "lib" / "tinygmm" / "src" / "tinygmm_eval.h")], "the C++ runtime"),
        (["--vectors", str(ROOT / "lib" / "tinygmm" / "src" / "tinygmm_protocol.h")], "library's src/tinygmm_protocol.h"),
        (["--header", str(ROOT / "lib" / "tinygmm" / "library.json")], "the tinygmm library's library.json"),
    ],
)
def test_cli_never_overwrites_an_input(tmp_path: Path, args: list[str], what: str) -> None:
    before = protected_project(tmp_path, PROTECTED + "[platformio]\nextra_configs = extra.ini\n")
    library = {p: p.read_bytes() for p in (ROOT / "lib" / "tinygmm").rglob("*") if p.is_file()}
    r = tinygmm(tmp_path, "export", "--platformio", "platformio.ini", "--env", "x", *args)
    assert r.returncode == 2, r.stdout + r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and what in line and "it would be overwritten" in line, line
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert not any((tmp_path / "out").glob("GMM*"))
    assert library == {p: p.read_bytes() for p in (ROOT / "lib" / "tinygmm").rglob("*") if p.is_file()}


@pytest.mark.parametrize("json", ["m.skops", "out/../model-link"])
def test_the_saved_model_is_never_an_output(tmp_path: Path, json: str) -> None:
    (tmp_path / "m.skops").write_bytes(b"not even a model: refused before it is read")
    (tmp_path / "model-link").symlink_to("m.skops")
    (tmp_path / "out").mkdir()
    (tmp_path / "platformio.ini").write_text(f"[env:m]\ncustom_gmm_model = m.skops\ncustom_gmm_json = {json}\n")
    r = tinygmm(tmp_path, "export", "--platformio", "--header", "out/GMM.h", "--vectors", "none")
    assert r.returncode == 2 and "is the saved model" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert (tmp_path / "m.skops").read_bytes().startswith(b"not even") and not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("option", ["custom_gmm_json", "custom_gmm_header", "custom_gmm_vectors"])
def test_ini_naming_itself_as_an_output_is_refused(tmp_path: Path, option: str) -> None:
    text = PROTECTED.replace("[env:x]\n", f"[env:x]\n{option} = ./platformio.ini\n").replace("custom_gmm_vectors = none\n", "")
    text = "\n".join(line for line in text.splitlines() if not (line.startswith(option) and "out/" in line)) + "\n"
    before = protected_project(tmp_path, text)
    r = tinygmm(tmp_path, "export", "--platformio", "--env", "x")
    assert r.returncode == 2 and "is the PlatformIO configuration" in r.stderr, r.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before

    # the build hook stops the build the same way, before starting an export
    env = FakeEnv(tmp_path, "x")
    with pytest.raises(pio_hook.BuildStop, match=f"{option} .* is the PlatformIO configuration"):
        pio_hook.export(env, ROOT, targets=[])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


@needs_platformio
def test_hook_with_platformio_protects_extra_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = PROTECTED + "\n[platformio]\nextra_configs = extra.ini\n"
    protected_project(tmp_path, text.replace("out/GMM.json", "extra.ini"))
    monkeypatch.chdir(tmp_path)
    env = FakeEnv(tmp_path, "x", config=platformio_config(tmp_path / "platformio.ini"))
    with pytest.raises(pio_hook.BuildStop, match="custom_gmm_json .* extra_configs file #1"):
        pio_hook.export(env, ROOT, targets=[])
    assert (tmp_path / "extra.ini").read_text() == "[env:x]\ncustom_gmm_tol = 0.01\n"

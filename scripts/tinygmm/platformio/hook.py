"""The PlatformIO build hook of the tinygmm library (``build.extraScript`` of lib/tinygmm/library.json).

PlatformIO runs the library's extra script for every project that depends on the library, with
that project's environment; the script calls :func:`run`. It reads the project's
``custom_gmm_*`` options and keeps the generated header in step with them:

* no ``custom_gmm_*`` option: nothing to do (the library is then just the runtime and protocol);
* an unknown ``custom_gmm_*`` key stops the build (a typo would otherwise be ignored silently);
* the header goes to ``$BUILD_DIR/tinygmm/GMM.h`` (one per environment, so environments never
  overwrite each other) unless ``custom_gmm_header`` names a path; its folder is put on the
  include path either way, so sources ``#include "GMM.h"``;
* targets that compile nothing (clean, ``pio project metadata``, envdump, nobuild, ...) never
  export; with nothing changed, a stamp next to the outputs answers without starting Python;
* otherwise ``tinygmm export --if-changed`` runs with the Python that runs PlatformIO; if it
  fails, the build stops and the previous outputs are left as they were.

Only the standard library is imported here: the fast path must stay well under 0.3 s.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from ..errors import TinyGMMError
from ..export.fingerprint import INPUT_HASH_TAG, generator_fingerprint
from ..export.paths import check_outputs
from ..options import INI, SPELLING_ENV
from ..version import __version__
from .config import PREFIX, check_option_names, export_args, learn_level, value_text
from .ini import protected_inputs

SKIP_ENV = "TINYGMM_SKIP_EXPORT"
OUT_DIR = "tinygmm"  # under $BUILD_DIR
# PlatformIO targets that compile nothing: no export for them (the include path is still set).
NON_COMPILING = frozenset(
    {"clean", "cleanall", "fullclean", "envdump", "idedata", "__idedata", "menuconfig", "erase", "monitor", "nobuild"}
    | {"compiledb", "upload_only", "uploadfs_only"}
)
OUTPUTS = (("header", "--header", "GMM.h"), ("json", "--json", "GMM.json"), ("vectors", "--vectors", None))


class BuildStop(Exception):
    """The build must stop; the message is for the user."""


def skip_reason(targets: Iterable[str], cleaning: bool = False, integration_dump: bool = False) -> str | None:
    """Why no export is needed for these command-line targets, or None when they compile."""
    names = [str(t) for t in targets]
    if cleaning:
        return "clean"
    if integration_dump:
        return "project metadata"
    if "nobuild" in names:
        return "nobuild"
    if names and all(t in NON_COMPILING for t in names):
        return ", ".join(names)
    return None


class ProjectConfig(Protocol):
    """What the hook uses of PlatformIO's ProjectConfig (env.GetProjectConfig())."""

    def options(self, section: str) -> list[str]: ...

    def envs(self) -> list[str]: ...

    def get(self, section: str, option: str, default: object = None) -> object: ...


class BuildEnv(Protocol):
    """What the hook uses of the SCons construction environment PlatformIO gives a library script."""

    def GetProjectConfig(self) -> ProjectConfig: ...

    def GetProjectOption(self, option: str, default: object = None) -> object: ...

    def subst(self, text: str) -> str: ...

    def Prepend(self, **kw: list[str]) -> None: ...

    def Append(self, **kw: list[tuple[str, str]]) -> None: ...

    def Exit(self, code: int) -> None: ...

    def __getitem__(self, key: str) -> str: ...


def configured_options(config: ProjectConfig, pioenv: str) -> list[str]:
    """The custom_gmm_* keys that apply to this environment ([env], extends and [env:NAME])."""
    return [o for o in config.options("env:" + pioenv) if o.startswith(PREFIX)]


def resolve_outputs(get: Callable[[str], object], project: Path, build_dir: Path) -> dict[str, Path | None]:
    """header/json/vectors paths: the ones the project names, else per environment under build_dir."""
    out: dict[str, Path | None] = {}
    for name, _, default in OUTPUTS:
        value = get(PREFIX + name)
        text = value_text(name, value) if value is not None else ""
        if not text:
            out[name] = build_dir / OUT_DIR / default if default else None
        elif name == "vectors" and text.lower() == "none":
            out[name] = None
        else:
            p = Path(text).expanduser()
            out[name] = p if p.is_absolute() else project / p
    return out


def export_argv(get: Callable[[str], object], outputs: dict[str, Path | None]) -> list[str]:
    """``tinygmm export`` arguments for this environment, outputs as absolute paths."""
    names = {flag for _, flag, _ in OUTPUTS}
    args = export_args(get)
    kept: list[str] = []
    i = 0
    while i < len(args):  # every output flag takes a value; they are given below
        if args[i] in names:
            i += 2
            continue
        kept.append(args[i])
        i += 1
    for name, flag, _ in OUTPUTS:
        path = outputs[name]
        kept += [flag, str(path) if path is not None else "none"]
    return kept


def shared_output_conflict(
    config: ProjectConfig, pioenv: str, project: Path, argv: list[str], mine: set[Path]
) -> str | None:
    """Another environment writing one of our outputs with other options would make every build refit."""
    for other in config.envs():
        if other == pioenv:
            continue

        def get(option: str, other: str = other) -> object:
            return config.get("env:" + other, option, None)

        if not configured_options(config, other):
            continue
        theirs = resolve_outputs(get, project, project / ".pio" / "build" / other)
        common = mine & {p.resolve() for p in theirs.values() if p is not None}
        if common and export_argv(get, theirs) != argv:
            path = sorted(common)[0]
            shown = path.relative_to(project) if path.is_relative_to(project) else path
            return (
                f"environments {pioenv} and {other} both write {shown} with different custom_gmm_* options, "
                "so each would refit over the other; drop custom_gmm_header/_json/_vectors (each environment "
                "then gets its own under .pio/build/<env>/tinygmm/) or give each environment its own paths"
            )
    return None


def config_files(config: ProjectConfig, project: Path) -> list[Path]:
    """The files PlatformIO read the configuration from: platformio.ini, then its extra_configs."""
    files = list(getattr(config, "_parsed", None) or [getattr(config, "path", None) or "platformio.ini"])
    return [project / f for f in map(Path, files)]  # (an absolute path stays as it is)


def stamp_key(argv: list[str], project: Path) -> str:
    """What an export depends on, computed without numpy: arguments, data bytes, tool and generator."""
    h = hashlib.sha256()
    h.update(json.dumps([__version__, generator_fingerprint(), argv]).encode())
    for flag in ("--data", "--model", "--anomaly-validation"):  # input files' bytes (CSV, saved estimator)
        if flag in argv:
            path = Path(argv[argv.index(flag) + 1])
            path = path if path.is_absolute() else project / path
            try:
                h.update(path.read_bytes())
            except OSError:
                h.update(b"missing")
    return h.hexdigest()[:32]


def outputs_tagged(paths: Iterable[Path], tag: str) -> bool:
    """Every output exists and carries the export's input-hash tag (as export.up_to_date checks)."""
    line = f"{INPUT_HASH_TAG} {tag}"
    for p in paths:
        try:
            with p.open(encoding="utf-8", errors="replace") as fh:
                if line not in fh.read():  # (the tag can be past 4 KB with many long feature names)
                    return False
        except OSError:
            return False
    return True


def read_tag(header: Path) -> str | None:
    try:
        with header.open(encoding="utf-8", errors="replace") as fh:
            for line in fh.read(4096).splitlines():
                if line.startswith(f"// {INPUT_HASH_TAG} "):
                    return line.split()[-1]
    except OSError:
        return None
    return None


def install_hint(python: str, checkout: Path | None) -> str:
    where = f'"{checkout}"' if checkout else "/path/to/tinygmm  (your checkout, or the tinygmm wheel)"
    return (
        "the tinygmm Python package (with numpy, scipy and scikit-learn) is not installed in the Python that runs "
        f'PlatformIO.\n    Install it with:  "{python}" -m pip install {where}'
    )


def export(
    env: BuildEnv, checkout: Path | None = None, targets: list[str] | None = None, learn_envs: Iterable[BuildEnv] = ()
) -> str:
    """Do what the build needs; returns what was done (for the log). Raises BuildStop.

    ``learn_envs``: the other environments custom_gmm_learn's define goes to (the project's, projenv)."""
    if os.environ.get(SKIP_ENV) == "1":
        return f"{SKIP_ENV}=1: outputs left as they are"
    config = env.GetProjectConfig()
    pioenv = env["PIOENV"]
    names = configured_options(config, pioenv)
    try:
        check_option_names(names)
    except TinyGMMError as exc:
        raise BuildStop(str(exc)) from None
    if not names:
        return "no custom_gmm_* options: nothing to export"
    project = Path(env.subst("$PROJECT_DIR"))
    build_dir = Path(env.subst("$BUILD_DIR"))

    def get(option: str) -> object:
        return env.GetProjectOption(option, None)

    try:  # the learning firmware (tinygmm_device.h, tinygmm_protocol.h): the library and the project's sources
        level = learn_level(get(PREFIX + "learn"))
    except TinyGMMError as exc:
        raise BuildStop(str(exc)) from None
    if level:
        for e in (env, *learn_envs):
            e.Append(CPPDEFINES=[("TINYGMM_LEARN", str(level))])

    outputs = resolve_outputs(get, project, build_dir)
    header = outputs["header"]
    assert header is not None
    env.Prepend(CPPPATH=[str(header.parent)])  # sources include "GMM.h" (before include/, for a stale copy)
    if outputs["vectors"] is not None:
        env.Prepend(CPPPATH=[str(outputs["vectors"].parent)])

    reason = skip_reason(
        _targets() if targets is None else targets,
        cleaning=bool(env.IsCleanTarget()) if hasattr(env, "IsCleanTarget") else False,
        integration_dump=bool(env.IsIntegrationDump()) if hasattr(env, "IsIntegrationDump") else False,
    )
    if reason:
        return f"no export for {reason}"
    argv = export_argv(get, outputs)
    if "--data" not in argv and "--model" not in argv:
        raise BuildStop(
            f"{PREFIX}data is not set: name the training CSV (relative to the project folder), "
            f"or a saved estimator with {PREFIX}model"
        )
    try:  # no output may be the project's configuration (custom_gmm_json = platformio.ini)
        check_outputs(
            {PREFIX + n: p for n, p in outputs.items()}, protected_inputs(config_files(config, project)), False
        )
    except TinyGMMError as exc:
        raise BuildStop(str(exc)) from None
    mine = {p.resolve() for p in outputs.values() if p is not None}
    conflict = shared_output_conflict(config, pioenv, project, argv, mine)
    if conflict:
        raise BuildStop(conflict)

    files = [p for p in outputs.values() if p is not None]
    stamp = build_dir / OUT_DIR / ("stamp-" + hashlib.sha256(str(header).encode()).hexdigest()[:12])
    key = stamp_key(argv, project)
    try:
        recorded = stamp.read_text(encoding="utf-8").split()
    except OSError:
        recorded = []
    if len(recorded) == 2 and recorded[0] == key and outputs_tagged(files, recorded[1]):
        return f"{header} is up to date"

    python = env.subst("$PYTHONEXE") or sys.executable

    if importlib.util.find_spec("sklearn") is None or importlib.util.find_spec("scipy") is None:
        raise BuildStop(install_hint(python, checkout))
    run_env = {**os.environ, SPELLING_ENV: INI}  # its messages name the custom_gmm_* keys, not flags
    if checkout is not None:  # the package next to the library, not another installed copy
        scripts = str(checkout / "scripts")
        run_env["PYTHONPATH"] = os.pathsep.join([scripts, *filter(None, [run_env.get("PYTHONPATH")])])
    result = subprocess.run(
        [python, "-m", "tinygmm", "export", "--if-changed", *argv], cwd=project, env=run_env, check=False
    )
    if result.returncode != 0:
        raise BuildStop("model export failed (see the message above); the build is stopped so no stale GMM.h is used")
    tag = read_tag(header)
    if tag:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_name(stamp.name + ".tmp")
        tmp.write_text(f"{key} {tag}\n", encoding="utf-8")
        os.replace(tmp, stamp)
    return ""  # the export said what it did


def _targets() -> list[str]:
    try:
        from SCons.Script import COMMAND_LINE_TARGETS  # type: ignore[import-not-found]
    except ImportError:
        return []
    return [str(t) for t in COMMAND_LINE_TARGETS]


def run(env: BuildEnv, checkout: Path | None = None, projenv: BuildEnv | None = None) -> None:
    """Entry point of the library's extra script: export, or stop the build with one clear message.
    ``projenv``: the environment of the project's sources (custom_gmm_learn's define goes there too)."""
    try:
        done = export(env, checkout, learn_envs=[projenv] if projenv is not None else [])
    except BuildStop as exc:
        sys.stderr.write(f"\n*** tinygmm: {exc}\n\n")
        env.Exit(1)
        return
    if done:
        print(f"tinygmm: {done}")

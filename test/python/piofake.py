"""A stand-in for PlatformIO's SCons environment, enough to run the tinygmm library's extra script."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "lib" / "tinygmm"


class Exited(Exception):
    pass


def FakeConfig(path: Path) -> Any:  # noqa: N802 - stands for PlatformIO's ProjectConfig class
    """ProjectConfig's lookups (envs, options, get) with PlatformIO's rules, from tinygmm.platformio.ini.

    Imported here, not at the top: test_build_script runs this module in a Python without tinygmm, where
    the only configs are the ones it passes in."""
    from tinygmm.platformio.ini import ProjectIni

    return ProjectIni(path)


class PlainConfig:
    """ProjectConfig's lookups for a plain ini ([env:NAME] sections, no extends or ${...}), with the
    standard library only: for a Python that cannot import tinygmm (test_build_script)."""

    def __init__(self, path: Path) -> None:
        import configparser

        self.parser = configparser.ConfigParser(interpolation=None)
        self.parser.read(path, encoding="utf-8")

    def envs(self) -> list[str]:
        return [s[4:] for s in self.parser.sections() if s.startswith("env:")]

    def options(self, section: str) -> list[str]:
        return self.parser.options(section)

    def get(self, section: str, option: str, default: object = None) -> object:
        return self.parser.get(section, option, fallback=default)


class FakeEnv:
    """The parts of PlatformIO's construction environment the hook uses."""

    def __init__(self, project: Path, pioenv: str, config: Any = None, clean: bool = False, dump: bool = False) -> None:
        self.project = project
        self.pioenv = pioenv
        self.config = config if config is not None else FakeConfig(project / "platformio.ini")
        self.clean = clean
        self.dump = dump
        self.cpppath: list[str] = []
        self.cppdefines: list[tuple[str, str]] = []

    def __getitem__(self, key: str) -> str:
        assert key == "PIOENV"
        return self.pioenv

    def subst(self, text: str) -> str:
        return {
            "$PROJECT_DIR": str(self.project),
            "$BUILD_DIR": str(self.project / ".pio" / "build" / self.pioenv),
            "$PYTHONEXE": sys.executable,
        }[text]

    def GetProjectConfig(self) -> Any:  # noqa: N802 - PlatformIO's names
        return self.config

    def GetProjectOption(self, name: str, default: object = None) -> object:  # noqa: N802
        return self.config.get("env:" + self.pioenv, name, default)

    def Prepend(self, CPPPATH: list[str]) -> None:  # noqa: N802, N803
        self.cpppath[:0] = CPPPATH

    def Append(self, CPPDEFINES: list[tuple[str, str]]) -> None:  # noqa: N802, N803
        self.cppdefines += CPPDEFINES

    def IsCleanTarget(self) -> bool:  # noqa: N802
        return self.clean

    def IsIntegrationDump(self) -> bool:  # noqa: N802
        return self.dump

    def Exit(self, code: int) -> None:  # noqa: N802
        raise Exited(code)


class LibBuilder:
    def __init__(self, path: Path) -> None:
        self.path = str(path)


def run_script(env: FakeEnv, library: Path = LIBRARY, projenv: FakeEnv | None = None) -> None:
    """Execute the library's extra script as PlatformIO's library builder does (``projenv``: the project's
    sources' environment, which PlatformIO exports to library scripts)."""
    script = library / json.loads((library / "library.json").read_text())["build"]["extraScript"]
    exports: dict[str, Any] = {"env": env, "pio_lib_builder": LibBuilder(library)}
    if projenv is not None:
        exports["projenv"] = projenv
    scope: dict[str, Any] = {"__name__": "tinygmm_build"}

    def import_(*names: str) -> None:
        for n in names:
            scope[n] = exports[n]

    scope["Import"] = import_
    exec(compile(script.read_text(), str(script), "exec"), scope)

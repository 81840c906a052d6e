"""platformio.ini read with PlatformIO's own rules, for machines (and commands) without PlatformIO.

``tinygmm export --platformio`` must export the model that ``pio run -e ENV`` builds, so options are
looked up as PlatformIO's ``ProjectConfig.get("env:ENV", option)`` looks them up:

* the file is lexed by configparser with PlatformIO's settings: ``;`` and ``#`` start a comment at
  the start of a line or after whitespace (``a;b`` and ``a#b`` are values), ``%%`` is ``%`` and
  ``%(name)s`` is configparser's own interpolation, indented lines continue a value;
* ``[env:NAME]`` is searched first, then the sections it ``extends`` (a list separated by ``, `` or
  new lines; the last one listed is searched first, each with its own ``extends``), then ``[env]``;
* ``${section.option}`` is replaced by that option as PlatformIO reads it (``${env.x}``,
  ``${env:other.x}``, ``${this.x}`` = the environment being read, ``${this.__env__}`` = its name,
  ``${platformio.x}`` with PlatformIO's defaults for the folders, ``${sysenv.NAME}`` = an environment
  variable or nothing, ``${PROJECT_DIR}``, ``${PROJECT_HASH}``, ``${UNIX_TIME}``); other ``${NAME}``
  are SCons variables and stay as written;
* values are otherwise kept as written (inner spaces, any language); ``extra_configs`` files are
  read after the main file, as PlatformIO does.

Where PlatformIO would hang (an ``extends`` cycle), crash (an interpolation cycle) or silently
ignore a typo (``extends`` naming no section), this module stops with one line saying so.
Only the standard library is used: the PlatformIO hook imports it on its fast path.
"""

from __future__ import annotations

import configparser
import glob
import hashlib
import io
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import TinyGMMError

_MISSING = object()
_INLINE_COMMENT = re.compile(r"\s+;.*$")
_VARIABLE = re.compile(r"\$\{(?:([^.}()]+)\.)?([^}]+)\}")  # ${section.option} or ${NAME}
_TRUE = ("1", "true", "t", "yes", "y", "on")
_FALSE = ("0", "false", "f", "no", "n", "off")


@dataclass(frozen=True)
class _Option:
    """What PlatformIO knows about one of its own options (the ones a value can refer to)."""

    multiple: bool = False
    default: object = None  # a value, or a callable of the project folder
    sysenv: str | None = None
    oldnames: tuple[str, ...] = ()
    kind: str = ""  # "dir" (made absolute), "bool", "int"


def _dir(name: str, default: object, old: tuple[str, ...] = ()) -> tuple[str, _Option]:
    return name, _Option(default=default, sysenv="PLATFORMIO_" + name.upper(), oldnames=old, kind="dir")


# [platformio] (PlatformIO 6: platformio/project/options.py)
_PLATFORMIO: dict[str, _Option] = dict(
    [
        ("name", _Option(default=lambda project: os.path.basename(project))),
        ("description", _Option()),
        ("default_envs", _Option(multiple=True, sysenv="PLATFORMIO_DEFAULT_ENVS", oldnames=("env_default",))),
        ("extra_configs", _Option(multiple=True)),
        _dir("core_dir", lambda _: os.path.join(os.path.expanduser("~"), ".platformio"), ("home_dir",)),
        _dir("globallib_dir", os.path.join("${platformio.core_dir}", "lib")),
        _dir("platforms_dir", os.path.join("${platformio.core_dir}", "platforms")),
        _dir("packages_dir", os.path.join("${platformio.core_dir}", "packages")),
        _dir("cache_dir", os.path.join("${platformio.core_dir}", ".cache")),
        _dir("build_cache_dir", None),
        _dir("workspace_dir", os.path.join("${PROJECT_DIR}", ".pio")),
        _dir("build_dir", os.path.join("${platformio.workspace_dir}", "build")),
        _dir("libdeps_dir", os.path.join("${platformio.workspace_dir}", "libdeps")),
        *(_dir(f"{name}_dir", os.path.join("${PROJECT_DIR}", name)) for name in ("include", "src", "lib", "data")),
        *(_dir(f"{name}_dir", os.path.join("${PROJECT_DIR}", name)) for name in ("test", "boards", "monitor")),
        _dir("shared_dir", os.path.join("${PROJECT_DIR}", "shared")),
    ]
)
# [env]: the options whose value PlatformIO transforms (lists, defaults, types, environment variables)
_MULTIPLE = (
    *("platform_packages", "framework", "targets", "monitor_filters", "lib_ignore", "check_flags", "test_filter"),
    *("test_ignore", "test_testing_command", "debug_init_cmds", "debug_extra_cmds", "debug_server", "extends"),
)
_ENV: dict[str, _Option] = {
    **{name: _Option(multiple=True) for name in _MULTIPLE},
    "build_flags": _Option(multiple=True, sysenv="PLATFORMIO_BUILD_FLAGS"),
    "build_src_flags": _Option(multiple=True, sysenv="PLATFORMIO_BUILD_SRC_FLAGS", oldnames=("src_build_flags",)),
    "build_unflags": _Option(multiple=True, sysenv="PLATFORMIO_BUILD_UNFLAGS"),
    "build_src_filter": _Option(
        multiple=True, sysenv="PLATFORMIO_BUILD_SRC_FILTER", oldnames=("src_filter",), default="+<*> -<.git/> -<.svn/>"
    ),
    "upload_port": _Option(sysenv="PLATFORMIO_UPLOAD_PORT"),
    "upload_flags": _Option(multiple=True, sysenv="PLATFORMIO_UPLOAD_FLAGS"),
    "upload_speed": _Option(kind="int"),
    "lib_deps": _Option(multiple=True, oldnames=("lib_use", "lib_force", "lib_install")),
    "lib_extra_dirs": _Option(multiple=True, sysenv="PLATFORMIO_LIB_EXTRA_DIRS"),
    "extra_scripts": _Option(multiple=True, sysenv="PLATFORMIO_EXTRA_SCRIPTS", oldnames=("extra_script",)),
    "check_tool": _Option(multiple=True, default=["cppcheck"]),
    "check_src_filters": _Option(multiple=True, oldnames=("check_patterns",)),
    "check_severity": _Option(multiple=True, default=["low", "medium", "high"]),
    "debug_build_flags": _Option(multiple=True, default=["-Og", "-g2", "-ggdb2"]),
    "debug_load_cmds": _Option(multiple=True, default=["load"], oldnames=("debug_load_cmd",)),
    "monitor_speed": _Option(kind="int", default=9600, oldnames=("monitor_baud",)),
    "monitor_rts": _Option(kind="int"),
    "monitor_dtr": _Option(kind="int"),
    "test_speed": _Option(kind="int", default=115200),
    "monitor_raw": _Option(kind="bool", default=False),
    "monitor_echo": _Option(kind="bool", default=False),
    "lib_archive": _Option(kind="bool", default=True),
    "check_skip_packages": _Option(kind="bool", default=False),
    "test_build_src": _Option(kind="bool", default=False, oldnames=("test_build_project_src",)),
    **{
        name: _Option(default=value)
        for name, value in (
            ("build_type", "release"),
            ("monitor_parity", "N"),
            ("monitor_eol", "CRLF"),
            ("monitor_encoding", "UTF-8"),
            ("lib_ldf_mode", "chain"),
            ("lib_compat_mode", "soft"),
            ("test_framework", "unity"),
            ("debug_init_break", "tbreak main"),
            ("debug_load_mode", "always"),
        )
    },
    **{f"board_build.{n}": _Option(oldnames=(f"board_{n}",)) for n in ("mcu", "f_cpu", "f_flash", "flash_mode")},
}


def split_list(value: object) -> list[str]:
    """A list option as PlatformIO splits it: by new lines if any, else by ', '; comments dropped."""
    if not value:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split("\n" if "\n" in str(value) else ", ")
    out = []
    for item in items:
        item = str(item).strip()
        if not item or item.startswith((";", "#")):
            continue
        out.append(_INLINE_COMMENT.sub("", item).strip() if ";" in item else item)
    return out


class ProjectIni:
    """A platformio.ini (and its extra_configs) as PlatformIO reads it, for one project folder.

    ``environ`` stands for the process environment (``${sysenv.X}`` and PLATFORMIO_* variables).
    The project folder (``${PROJECT_DIR}``, relative folders and extra_configs) is the ini's folder,
    which is where PlatformIO runs when it builds the project.
    """

    def __init__(self, path: str | Path, environ: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self.project = os.path.abspath(self.path.parent)
        self.environ = os.environ if environ is None else environ
        self.files: list[Path] = []  # every file read: the ini, then its extra_configs
        self._cp = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))  # PlatformIO's parser
        self._active: list[tuple[str, str]] = []  # the options being expanded (a cycle check)
        self._read(self.path)

    # ---- reading ----------------------------------------------------------------------------

    def _read(self, path: Path) -> None:
        if any(_same_file(path, seen) for seen in self.files):
            return
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise TinyGMMError(f"{path} not found") from None
        except OSError as exc:
            raise TinyGMMError(f"cannot read {path}: {exc.strerror or exc}") from None
        self.files.append(path)
        text = ""
        try:
            text = raw.decode("utf-8")
            self._cp.read_file(io.StringIO(text, newline=None), source=str(path))
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise TinyGMMError(
                f"{path}, line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8 (save the file as UTF-8)"
            ) from None
        except configparser.MissingSectionHeaderError as exc:
            raise TinyGMMError(
                f"{path}, line {exc.lineno}: an option before any [section]: {exc.line.strip()!r}"
            ) from None
        except configparser.DuplicateOptionError as exc:
            raise TinyGMMError(
                f"{path}, line {exc.lineno}: option {exc.option!r} appears twice in [{exc.section}]"
            ) from None
        except configparser.DuplicateSectionError as exc:
            raise TinyGMMError(f"{path}, line {exc.lineno}: section [{exc.section}] appears twice") from None
        except configparser.ParsingError as exc:
            lineno = exc.errors[0][0]
            line = text.splitlines()[lineno - 1].strip() if 0 < lineno <= len(text.splitlines()) else ""
            raise TinyGMMError(f"{path}, line {lineno}: not an option, a section or a comment: {line!r}") from None
        except configparser.Error as exc:
            raise TinyGMMError(f"{path}: not a valid ini file ({_first_line(exc)})") from None
        for pattern in self.get("platformio", "extra_configs", []):  # type: ignore[union-attr]
            pattern = os.path.expanduser(pattern) if pattern.startswith("~") else pattern
            for found in glob.glob(pattern, root_dir=self.project, recursive=True):  # relative to the project
                self._read(Path(self.project, found))

    # ---- sections ---------------------------------------------------------------------------

    def sections(self) -> list[str]:
        return self._cp.sections()

    def envs(self) -> list[str]:
        return [s[4:] for s in self._cp.sections() if s.startswith("env:")]

    def default_env(self) -> str | None:
        """The first of default_envs, else the first [env:NAME] (what ``pio run`` builds first)."""
        defaults = self.get("platformio", "default_envs", [])
        if defaults:
            return str(defaults[0])  # type: ignore[index]
        envs = self.envs()
        return envs[0] if envs else None

    def env_section(self, env: str | None) -> str:
        """``env:NAME`` for an environment (None: the default one; [env] alone when there is none)."""
        name = self.default_env() if env is None else env
        if name is None:
            return "env"
        if f"env:{name}" not in self._cp.sections():
            known = ", ".join(self.envs()) or "none"
            given = f"default_envs names {name}, but there is" if env is None else "there is"
            raise TinyGMMError(f"{self.path}: {given} no [env:{name}] section (environments: {known})")
        return f"env:{name}"

    def chain(self, section: str) -> list[str]:
        """The sections searched for an option of ``section``, in PlatformIO's order."""
        order: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            order.append(name)
            if not self._cp.has_section(name) or not self._cp.has_option(name, "extends"):
                return
            for parent in reversed(split_list(self._raw_get(name, "extends"))):
                if parent == name or parent in path:
                    ring = (*path[path.index(parent) :], name, parent) if parent in path else (name, parent)
                    loop = " -> ".join(f"[{s}]" for s in ring)
                    raise TinyGMMError(f"{self.path}: extends goes round in a circle: {loop}")
                if not self._cp.has_section(parent):
                    raise TinyGMMError(
                        f"{self.path}: [{name}] extends {parent}, which is not a section of the configuration "
                        "(separate several with ', ' or new lines)"
                    )
                visit(parent, (*path, name))

        visit(section, ())
        if section.startswith("env:"):
            visit("env", ())
        return order

    def options(self, section: str) -> list[str]:
        """Every option that applies to ``section`` (its own, those it extends, [env])."""
        out: list[str] = []
        for name in self.chain(section):
            if self._cp.has_section(name):
                out += [o for o in self._cp.options(name) if o not in out]
        return out

    # ---- values -----------------------------------------------------------------------------

    def get(self, section: str, option: str, default: object = _MISSING) -> object:
        """The option as PlatformIO's ``ProjectConfig.get`` returns it (a str, a list, a bool, an int or None)."""
        key = (section, option)
        if key in self._active:
            loop = self._active[self._active.index(key) :] + [key]
            raise TinyGMMError(
                f"{self.path}: interpolation goes round in a circle: " + " -> ".join(f"${{{s}.{o}}}" for s, o in loop)
            )
        self._active.append(key)
        try:
            value = self._get(section, option, default)
        finally:
            self._active.pop()
        return value

    def _get(self, section: str, option: str, default: object) -> object:
        meta = self._meta(section, option)
        value = self._lookup(section, option, meta)
        if meta is None:
            if value is _MISSING:
                if default is _MISSING:
                    where = f" (for ${{{section}.{option}}} in {self._active[0][1]} of [{self._active[0][0]}])"
                    if not self._cp.has_section(section):
                        raise TinyGMMError(f"{self.path}: there is no [{section}] section{where}")
                    extends = " or the sections it extends" if section.startswith("env") else ""
                    raise TinyGMMError(f"{self.path}: there is no option {option} in [{section}]{extends}{where}")
                value = default
            return self._expand(section, option, value)
        if meta.sysenv:
            from_env = self.environ.get(meta.sysenv)
            for old in () if from_env else meta.oldnames:
                from_env = self.environ.get("PLATFORMIO_" + old.upper())
                if from_env:
                    break
            if from_env and meta.multiple:
                base = "" if value is _MISSING else str(value)
                value = base + ("\n" if base else "") + from_env
            elif from_env:
                value = from_env
        if value is _MISSING:
            value = default if default is not _MISSING else meta.default
        if callable(value):
            value = value(self.project)
        value = self._expand(section, option, value)
        if meta.kind == "dir" and isinstance(value, str) and value and not ("${" in value and "}" in value):
            value = os.path.join(self.project, os.path.expanduser(value) if value.startswith("~") else value)
            value = os.path.normpath(value)
        if meta.multiple:
            value = split_list(value or [])
        return self._cast(section, option, value, meta.kind)

    def _cast(self, section: str, option: str, value: object, kind: str) -> object:
        if value is None or kind not in ("bool", "int"):
            return value
        items = value if isinstance(value, list) else [value]
        out: list[object] = []
        for item in items:
            text = str(item).strip().lower()
            if kind == "bool" and (isinstance(item, bool) or text in _TRUE + _FALSE):
                out.append(item if isinstance(item, bool) else text in _TRUE)
            elif kind == "int" and _integer(text) is not None:
                out.append(_integer(text))
            else:
                raise TinyGMMError(f"{self.path}: [{section}] {option} = {item!r} is not a valid {kind}")
        return out if isinstance(value, list) else out[0]

    def _meta(self, section: str, option: str) -> _Option | None:
        scope = section.split(":", 1)[0]
        table = {"platformio": _PLATFORMIO, "env": _ENV}.get(scope)
        if table is None:
            return None
        if option in table:
            return table[option]
        return next((meta for meta in table.values() if option in meta.oldnames), None)

    def _lookup(self, section: str, option: str, meta: _Option | None) -> object:
        names = (option, *(meta.oldnames if meta else ()))
        for name in self.chain(section):
            if not self._cp.has_section(name):
                continue
            for candidate in self._cp.options(name):
                if candidate in names:
                    return self._raw_get(name, candidate)
        return _MISSING

    def _raw_get(self, section: str, option: str) -> str:
        """configparser's value (its own %-interpolation included, as PlatformIO's parser does)."""
        try:
            return self._cp.get(section, option)
        except configparser.Error as exc:
            raise TinyGMMError(f"{self.path}: [{section}] {option}: {_first_line(exc)}") from None

    def _expand(self, section: str, option: str, value: object) -> object:
        if not isinstance(value, str) or "$" not in value:
            return value
        value = re.sub(r"(?<!\$)\$PROJECT_HASH", "${PROJECT_HASH}", value)  # PlatformIO's legacy spelling
        if "${" not in value or "}" not in value:
            return value
        return _VARIABLE.sub(lambda m: self._variable(section, option, m.group(1), m.group(2)), value)

    def _variable(self, parent: str, parent_option: str, section: str | None, option: str) -> str:
        if section is None:
            builtin = self._builtins().get(option)
            return builtin() if builtin is not None else "${" + option + "}"  # else a SCons variable
        if section == "sysenv":
            return self.environ.get(option, "")
        if section == "this":
            section = parent
            if option == "__env__":
                if not parent.startswith("env:"):
                    raise TinyGMMError(
                        f"{self.path}: ${{this.__env__}} in {parent_option} of [{parent}], which is not an environment"
                    )
                return parent[4:]
        value = self.get(section, option)
        return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value)

    def _builtins(self) -> dict[str, Callable[[], str]]:
        project = self.project
        return {
            "PROJECT_DIR": lambda: project,
            "PROJECT_HASH": lambda: f"{os.path.basename(project)}-{hashlib.sha1(project.encode()).hexdigest()[:10]}",
            "UNIX_TIME": lambda: str(int(time.time())),
        }


def protected_inputs(files: list[Path]) -> dict[str, Path]:
    """The configuration files an export must never overwrite, labelled for its error message."""
    return {
        "the PlatformIO configuration" if i == 0 else f"the PlatformIO configuration's extra_configs file #{i}": f
        for i, f in enumerate(files)
    }


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(exc).__name__


def _integer(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)

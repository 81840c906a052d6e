"""The custom_gmm_* options of platformio.ini, as ``tinygmm export`` arguments.

Used by the PlatformIO pre-build hook (which reads the options through
PlatformIO itself) and by ``tinygmm export --platformio`` (which reads the
ini with tinygmm.platformio.ini, PlatformIO's rules without PlatformIO).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import TinyGMMError
from ..options import BUILD, INI, LEARN_MODES, on
from .ini import ProjectIni

PREFIX = "custom_gmm_"

# (custom_gmm_<name>, export flag), from the options table: the hook, --platformio and the name check
OPTIONS: tuple[tuple[str, str], ...] = tuple((o.name, o.flag) for o in on(INI))
# options naming files (relative to the project folder)
PATHS = frozenset(o.name for o in on(INI) if o.path)
# flags without a value: the option is a boolean (1/yes/true/on)
SWITCHES = frozenset(o.flag for o in on(INI) if o.switch)
TRUE = ("1", "yes", "true", "on")
# custom_gmm_* keys of the build itself (the hook's compiler flags), not passed to the export
BUILD_KEYS: tuple[str, ...] = tuple(o.name for o in on(BUILD))


def check_option_names(names: Iterable[str]) -> None:
    """Refuse a custom_gmm_* key that is not an option (a typo would otherwise be ignored silently)."""
    known = [PREFIX + name for name, _ in OPTIONS] + [PREFIX + name for name in BUILD_KEYS]
    for name in names:
        if name.startswith(PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else f" (options: {', '.join(known)})"
            raise TinyGMMError(f"unknown option {name}{hint}")


def export_args(get: Callable[[str], object]) -> list[str]:
    """Arguments for every custom_gmm_* option that ``get(option_name)`` returns."""
    args: list[str] = []
    model = get("custom_gmm_model")
    for name, flag in OPTIONS:
        value = get("custom_gmm_" + name)
        if value is None or (name == "data" and model is not None and str(model).strip()):
            continue  # custom_gmm_model (a saved estimator) replaces custom_gmm_data, e.g. the [env] default
        text = value_text(name, value)
        if not text:
            continue
        if flag in SWITCHES:
            if text.lower() in TRUE:
                args.append(flag)
            continue
        args += [flag, text]
    return args


def value_text(name: str, value: object) -> str:
    """An option's value as one argument: as written (inner spaces kept); a multi-line value's lines
    joined, by commas for custom_gmm_features (one column per line), else by a space."""
    text = str(value).strip()
    if "\n" in text:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        text = ",".join(line.rstrip(",").rstrip() for line in lines) if name == "features" else " ".join(lines)
    return text


def read_ini(path: str | Path, env: str | None = None) -> list[str]:
    """custom_gmm_* options of [env:<env>] (default: first default_envs) as PlatformIO resolves them."""
    return ini_args(ProjectIni(path), env)


def ini_args(ini: ProjectIni, env: str | None = None) -> list[str]:
    """Export arguments for one environment of a read platformio.ini (paths relative to its folder)."""
    section = ini.env_section(env)
    check_option_names(ini.options(section))

    def get(option: str) -> object:
        value = ini.get(section, option, None)
        if value is not None and option[len(PREFIX) :] in PATHS:  # relative to the project, as PlatformIO does
            text = value_text(option[len(PREFIX) :], value)
            if text and text.lower() != "none" and not Path(text).expanduser().is_absolute():
                value = str(ini.path.parent / text)
        return value

    return export_args(get)


def learn_level(value: object) -> int:
    """custom_gmm_learn (off | adapt | scratch; unset: off) as TINYGMM_LEARN's value: 0, 1 or 2."""
    text = value_text("learn", value).lower() if value is not None else ""
    if text in ("", "off"):
        return 0
    if text not in LEARN_MODES:
        raise TinyGMMError(f"{PREFIX}learn = {text!r}: expected one of {', '.join(LEARN_MODES)}")
    return LEARN_MODES.index(text)


def ini_learn_level(path: str | Path, env: str | None = None) -> int:
    """custom_gmm_learn of [env:<env>] of a platformio.ini, as TINYGMM_LEARN's value."""
    ini = ProjectIni(path)
    return learn_level(ini.get(ini.env_section(env), PREFIX + "learn", None))

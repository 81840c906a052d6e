"""The custom_gmm_* options of platformio.ini, as ``tinygmm export`` arguments.

Used by the PlatformIO pre-build hook (which reads the options through
PlatformIO itself) and by ``tinygmm export --platformio`` (which reads the
ini with configparser, for machines without PlatformIO).
"""

from __future__ import annotations

import configparser
import difflib
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import TinyGMMError
from ..options import INI, on

PREFIX = "custom_gmm_"

# (custom_gmm_<name>, export flag), from the options table: the hook, --platformio and the name check
OPTIONS: tuple[tuple[str, str], ...] = tuple((o.name, o.flag) for o in on(INI))
# options naming files (relative to the project folder)
PATHS = frozenset(o.name for o in on(INI) if o.path)
# flags without a value: the option is a boolean (1/yes/true/on)
SWITCHES = frozenset(o.flag for o in on(INI) if o.switch)
TRUE = ("1", "yes", "true", "on")


def check_option_names(names: Iterable[str]) -> None:
    """Refuse a custom_gmm_* key that is not an option (a typo would otherwise be ignored silently)."""
    known = [PREFIX + name for name, _ in OPTIONS]
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
        text = " ".join(str(value).split())  # multi-line ini values -> one line
        if not text:
            continue
        if flag in SWITCHES:
            if text.lower() in TRUE:
                args.append(flag)
            continue
        args += [flag, text]
    return args


def read_ini(path: str | Path, env: str | None = None) -> list[str]:
    """custom_gmm_* options of [env] overridden by [env:<env>] (default: first default_envs)."""
    p = Path(path)
    cp = parse_ini(p)
    if env is None:
        defaults = cp.get("platformio", "default_envs", fallback="")
        env = defaults.replace(",", " ").split()[0] if defaults.strip() else None
    sections = ["env"] + ([f"env:{env}"] if env else [])
    if env and not cp.has_section(f"env:{env}"):
        raise TinyGMMError(f"{p}: no [env:{env}] section")

    for s in sections:
        check_option_names(cp.options(s) if cp.has_section(s) else [])

    def get(option: str) -> str | None:
        value = None
        for s in sections:
            if cp.has_option(s, option):
                value = cp.get(s, option)
        if value is not None and option[len(PREFIX) :] in PATHS:  # relative to the project, as PlatformIO does
            text = " ".join(value.split())
            if text and text.lower() != "none" and not Path(text).expanduser().is_absolute():
                value = str(p.parent / text)
        return value

    return export_args(get)


def parse_ini(p: Path) -> configparser.ConfigParser:
    """The ini as PlatformIO reads it (strict: no duplicates), or one line saying what is wrong."""
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    try:
        text = p.read_bytes().decode("utf-8")
        cp.read_string(text, source=str(p))
    except FileNotFoundError:
        raise TinyGMMError(f"{p} not found") from None
    except OSError as exc:
        raise TinyGMMError(f"cannot read {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = p.read_bytes()[: exc.start].count(b"\n") + 1
        raise TinyGMMError(
            f"{p}, line {line}: byte 0x{exc.object[exc.start]:02x} is not UTF-8 (save the file as UTF-8)"
        ) from None
    except configparser.MissingSectionHeaderError as exc:
        raise TinyGMMError(f"{p}, line {exc.lineno}: an option before any [section]: {exc.line.strip()!r}") from None
    except configparser.DuplicateOptionError as exc:
        raise TinyGMMError(f"{p}, line {exc.lineno}: option {exc.option!r} appears twice in [{exc.section}]") from None
    except configparser.DuplicateSectionError as exc:
        raise TinyGMMError(f"{p}, line {exc.lineno}: section [{exc.section}] appears twice") from None
    except configparser.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TinyGMMError(f"{p}: not a valid ini file ({first})") from None
    return cp

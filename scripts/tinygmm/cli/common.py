"""What several sub-commands share: the one-line-error parser and the option groups of the options table."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
from collections.abc import Sequence
from typing import Any, NoReturn

from ..anomaly import AnomalyOptions
from ..errors import TinyGMMError
from ..fit.sweep import FitOptions
from ..options import ANOMALY, DATA, OPTIONS, REPORT, on


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump), like every other tinygmm error; no abbreviated
    options (``--n-component 4`` is refused, not taken for --n-components); an unknown option names the
    closest one and the help of the sub-command it was given to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # main prints it (as every error: one line, options named as the user gave them), exit 2
        raise TinyGMMError(f"{message} (see '{self.prog} --help')")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            sub = self._subcommand(parsed)
            sub.exit(2, f"tinygmm: error: {unrecognized(extras, sub)}\n")
        return parsed

    def _subcommand(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The sub-command's parser the arguments went to (this one without sub-commands)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = getattr(parsed, action.dest, None)
                if chosen in action.choices:
                    return action.choices[chosen]
        return self


def unrecognized(extras: list[str], parser: argparse.ArgumentParser) -> str:
    """``unrecognized argument --featurs (did you mean --features? see 'tinygmm export --help')``."""
    known = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
    options = [e for e in extras if e.startswith("-") and len(e) > 1]
    shown = options or extras  # an unknown option's value is not worth naming
    what = f"argument{'s' if len(shown) > 1 else ''} {' '.join(shown)}"
    guess = ""
    for extra in extras:
        if extra.startswith("--"):
            close = difflib.get_close_matches(extra.split("=", 1)[0], known, n=1, cutoff=0.6)
            if close:
                guess = f"did you mean {close[0]}? "
            break
    return f"unrecognized {what} ({guess}see '{parser.prog} --help')"


def add_model_options(p: argparse.ArgumentParser, data_help: str) -> None:
    """Data and fitting options shared by export and report (scikit-learn's names)."""
    g = p.add_argument_group(DATA)
    for option in on(REPORT, DATA):
        option.add_to(g)
    for action in p._actions:
        if action.dest == "data":
            action.help = data_help


def fit_options(a: argparse.Namespace) -> FitOptions:
    o = FitOptions(**{f.name: getattr(a, f.name) for f in dataclasses.fields(FitOptions)})
    o.validate()
    return o


def add_anomaly_options(p: argparse.ArgumentParser) -> None:
    """How export calibrates the anomaly threshold (see tinygmm.anomaly)."""
    g = p.add_argument_group(ANOMALY)
    for option in on(REPORT, ANOMALY):
        option.add_to(g)


def anomaly_options(a: argparse.Namespace) -> AnomalyOptions | None:
    o = AnomalyOptions(**{f.name: getattr(a, "anomaly_" + f.name) for f in dataclasses.fields(AnomalyOptions)})
    o.validate()
    if not o.enabled:
        return None
    return o


# flags whose value is a number (the options table's, and the device commands' own)
NUMBER_FLAGS = frozenset(o.flag for o in OPTIONS if o.parse is not None) | {"--timeout", "--window"}


def negative_values(argv: list[str]) -> list[str]:
    """``--anomaly-threshold -1e3`` as ``--anomaly-threshold=-1e3``: argparse takes a word starting with '-'
    for an option unless it looks like ``-5`` or ``-.5``, so ``-1e3`` would be 'expected one argument'."""
    out: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--":
            out += [word, *words]
            break
        if word in NUMBER_FLAGS:
            value = next(words, None)
            if value is not None and value.startswith("-") and _is_number(value):
                out.append(f"{word}={value}")
                continue
            out += [word] if value is None else [word, value]
            continue
        out.append(word)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

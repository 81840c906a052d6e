"""What several sub-commands share: the one-line-error parser and the option groups of the options table."""

from __future__ import annotations

import argparse
import dataclasses
from typing import NoReturn

from ..anomaly import AnomalyOptions
from ..errors import TinyGMMError
from ..fit.sweep import FitOptions
from ..options import ANOMALY, DATA, OPTIONS, REPORT, on


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump), like every other tinygmm error."""

    def error(self, message: str) -> NoReturn:
        # main prints it (as every error: one line, options named as the user gave them), exit 2
        raise TinyGMMError(f"{message} (see '{self.prog} --help')")


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

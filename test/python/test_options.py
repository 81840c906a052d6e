"""The options table (tinygmm.options) is the one definition of every export option: the `export` and `report`
flags, the custom_gmm_* keys and export_model's keyword arguments come from it, with the same defaults."""

from __future__ import annotations

import argparse
import dataclasses
import inspect

from tinygmm import export_model
from tinygmm.cli import build_parser
from tinygmm.fit.sweep import FitOptions
from tinygmm.options import API, CLI, DEFAULTS, INI, OPTIONS, REPORT, on
from tinygmm.platformio.config import OPTIONS as INI_OPTIONS
from tinygmm.platformio.config import PATHS, SWITCHES


def subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings if s.startswith("--") and s != "--help"}


def test_every_export_flag_is_in_the_table_with_its_default() -> None:
    actions = flags(subparser("export"))
    assert set(actions) == {o.flag for o in on(CLI)}
    for o in on(CLI):
        assert actions[o.flag].default == o.value, o.name
        assert actions[o.flag].dest == o.name


def test_every_report_flag_of_the_model_is_in_the_table() -> None:
    actions = flags(subparser("report"))
    table = {o.flag for o in on(REPORT)}
    assert table <= set(actions)
    assert set(actions) - table == {"--json", "--out", "--plot-features"}  # what to report, not how to fit
    for o in on(REPORT):
        assert actions[o.flag].default == o.value, o.name


def test_every_help_shows_the_default() -> None:
    for parser in (subparser("export"), subparser("report")):
        for flag, action in flags(parser).items():
            if action.default not in (None, False) and flag not in ("--out",):
                assert "(default" in (action.help or ""), flag
    assert "(default: 100)" in flags(subparser("export"))["--max-iter"].help  # type: ignore[operator]


def test_every_flag_has_its_custom_gmm_twin_or_says_why_not() -> None:
    assert tuple((o.name, o.flag) for o in on(INI)) == INI_OPTIONS
    for o in OPTIONS:
        if o.surfaces & {CLI, INI, API} != {CLI, INI, API}:
            assert o.note, f"{o.name} is not on every surface: its note must say why"
    cli_only = {o.name for o in on(CLI)} - {o.name for o in on(INI)}
    assert cli_only == {"if_changed", "platformio", "env"}
    assert {o.name for o in on(INI)} <= {o.name for o in on(CLI)}  # every key is also a flag
    assert {"data", "model", "header", "json", "vectors", "anomaly_validation"} == PATHS
    assert {"--dropna", "--fixed-point", "--trust-pickle"} == SWITCHES


def test_export_model_keywords_and_defaults_come_from_the_table() -> None:
    params = dict(inspect.signature(export_model).parameters)
    params.pop("estimator")
    assert set(params) == {o.keyword for o in on(API)}
    for o in on(API):
        p = params[o.keyword]
        if o.name == "header":
            assert p.default is inspect.Parameter.empty  # required
            continue
        assert p.default == o.api_value, o.name
        if o.name not in ("json", "vectors"):  # written only when asked for, see their notes
            assert p.default == DEFAULTS[o.name], o.name


def test_fit_options_defaults_are_the_table_defaults() -> None:
    for f in dataclasses.fields(FitOptions):
        assert f.default == DEFAULTS[f.name], f.name
    assert FitOptions().max_iter == 100 and FitOptions().n_components is None and FitOptions().tol == 1e-3

"""The one table of export options.

Each option is written once here, with its default, help and choices; from this table come the
``tinygmm export`` (and ``tinygmm report``) flags, the ``custom_gmm_*`` keys of platformio.ini that the
PlatformIO hook and ``export --platformio`` accept, the defaults of ``FitOptions`` and of ``export_model``'s
keyword arguments, and the CLI reference in the docs. An option missing from a surface, or with another
default there, says why in ``note``.

Standard library only: the PlatformIO hook's no-change path imports it.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

CLI = "cli"  # a flag of `tinygmm export`
INI = "ini"  # a custom_gmm_* key of platformio.ini (the hook, export --platformio)
API = "api"  # a keyword argument of tinygmm.export_model
REPORT = "report"  # also a flag of `tinygmm report`
BUILD = "build"  # a custom_gmm_* key the build hook turns into a compiler flag (no export flag, no keyword)
EVERYWHERE = frozenset({CLI, INI, API})
# set to "ini" by the PlatformIO hook for the export it runs: messages then name custom_gmm_* keys
SPELLING_ENV = "TINYGMM_OPTIONS_FROM"
NOT_API = frozenset({CLI, INI})

# The choices of the fitting options (checked by FitOptions.validate, with its own messages).
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
SCALERS = ("none", "standard", "minmax")
LEARN_MODES = ("off", "adapt", "scratch")  # custom_gmm_learn -> -DTINYGMM_LEARN=0|1|2
CRITERIA = ("bic", "aic", "lrt")

# argparse groups, in the order `tinygmm export --help` shows them
DATA = "data and model"
SAVED = "saved estimator (instead of --data)"
OUTPUTS = "outputs"
ANOMALY = "anomaly threshold (anomalous: score_samples(x) < threshold)"
FIRMWARE = "firmware (the build hook's compiler flags)"

FITTED = "export_model takes an estimator already fitted, so it has no fitting options"


def components(text: str) -> int | None:
    """--n-components: an integer or ``auto`` (None)."""
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {text!r}") from None


def seed(text: str) -> int | None:
    """--random-state: an integer or ``none``."""
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from None


class GivenFloat(float):
    """A float that keeps the text the user wrote, for error messages (``--anomaly-threshold 1e39``):
    its repr is that text; str(), formatting, arithmetic and JSON are those of the float."""

    text: str

    def __new__(cls, given: str | float) -> GivenFloat:
        value = super().__new__(cls, given)
        value.text = given.strip() if isinstance(given, str) else float.__repr__(value)
        return value

    def __repr__(self) -> str:
        return self.text


def real(text: str) -> float:
    """A float flag's value (argparse type), remembering how it was written."""
    try:
        return GivenFloat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None


@dataclass(frozen=True)
class Option:
    """One export option on every surface that carries it."""

    name: str  # custom_gmm_<name>, --<name with dashes>, export_model's keyword (unless api_name)
    help: str  # without the default: shown_help() appends it
    group: str
    default: object = None
    parse: Callable[[str], object] | None = None  # argparse type (None: the text itself)
    choices: tuple[str, ...] = ()  # shown in the help; checked by FitOptions.validate
    metavar: str | None = None
    switch: bool = False  # a flag without value; as custom_gmm_* key 1/yes/true/on
    path: bool = False  # names a file: relative to the project folder in platformio.ini
    surfaces: frozenset[str] = EVERYWHERE
    api_name: str | None = None  # export_model's keyword when its name differs
    note: str = ""  # why a surface is missing, or why a default differs between surfaces
    required: bool = False  # (report makes --data optional: --json names its data)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def key(self) -> str:
        return "custom_gmm_" + self.name

    @property
    def keyword(self) -> str:
        return self.api_name or self.name

    @property
    def value(self) -> object:
        """The default as the parsed value (``auto`` -> None for --n-components)."""
        if isinstance(self.default, str) and self.parse is not None:
            return self.parse(self.default)
        return self.default

    @property
    def api_value(self) -> object:
        """export_model's default: the same as the CLI's, except for the outputs (see note)."""
        return None if self.group == OUTPUTS and self.name in ("header", "json", "vectors") else self.value

    def shown_default(self) -> str | None:
        if self.switch or self.default is None:
            return None
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)

    def shown_help(self) -> str:
        text = self.help
        if self.choices:
            text += f"; one of {', '.join(self.choices)}"
        shown = self.shown_default()
        return text + (f" (default: {shown})" if shown is not None else "")

    def add_to(self, group: argparse._ArgumentGroup) -> None:
        if self.switch:
            group.add_argument(self.flag, action="store_true", help=self.shown_help())
            return
        group.add_argument(
            self.flag,
            type=self.parse,
            default=self.value,
            metavar=self.metavar,
            required=self.required,
            help=self.shown_help(),
        )


def _fit(
    name: str,
    help: str,
    default: object,
    parse: Callable[[str], object] | None = None,
    choices: tuple[str, ...] = (),
    metavar: str | None = None,
    switch: bool = False,
) -> Option:
    """A fitting option: `export` and `report` flags and custom_gmm_* keys, not export_model's."""
    return Option(name, help, DATA, default, parse, choices, metavar, switch, surfaces=NOT_API | {REPORT}, note=FITTED)


OPTIONS: tuple[Option, ...] = (
    Option(
        "data",
        "training CSV with a header row (required unless --model)",
        DATA,
        path=True,
        surfaces=NOT_API | {REPORT},
        note="export_model exports a fitted estimator; its X are raw inputs, not a CSV",
    ),
    Option(
        "features",
        'comma-separated column names, e.g. "Age,Spending Score (1-100)" (default: all numeric columns)',
        DATA,
        surfaces=EVERYWHERE | {REPORT},
        api_name="feature_names",
        note="export_model takes a list of names (default: the estimator's feature_names_in_, else x0..)",
    ),
    _fit("dropna", "drop rows with empty or non-numeric cells (and report them)", False, switch=True),
    _fit("n_components", "number of components, or auto", "auto", parse=components, metavar="K|auto"),
    _fit("max_components", "largest K tried by auto", 10, parse=int),
    _fit("criterion", "auto selection", "bic", choices=CRITERIA),
    _fit("alpha", "significance level of the LRT", 0.05, parse=real),
    _fit("covariance_type", "scikit-learn's covariance_type", "full", choices=COVARIANCE_TYPES),
    _fit("init_params", "scikit-learn's init_params", "kmeans", choices=INIT_PARAMS),
    _fit("max_iter", "EM iterations per fit (scikit-learn's max_iter)", 100, parse=int),
    _fit("tol", "EM convergence threshold (scikit-learn's tol)", 1e-3, parse=real),
    _fit("reg_covar", "added to the covariances' diagonal (scikit-learn's reg_covar)", 1e-6, parse=real),
    _fit("n_init", "EM runs per K, the best kept (scikit-learn's n_init)", 1, parse=int),
    _fit("random_state", "integer seed, or none", 0, parse=seed),
    _fit("scaler", "input scaling fitted on the data, baked into the header", "none", choices=SCALERS),
    _fit(
        "n_jobs",
        "auto: fit N values of K at once in worker processes (default: one per core); same results for any N",
        None,
        parse=int,
        metavar="N",
    ),
    Option(
        "model",
        "export a fitted scikit-learn estimator saved as .skops (or .joblib/.pkl with --trust-pickle): "
        "a (Bayesian)GaussianMixture, alone or after scalers / PCA in a Pipeline; or a model JSON "
        "(a learning device's, from tinygmm pull); --features names its inputs",
        SAVED,
        metavar="FILE",
        path=True,
        surfaces=NOT_API,
        note="export_model takes the estimator object itself",
    ),
    Option(
        "trust_pickle",
        "allow --model to load a pickle (.joblib/.pkl), which runs arbitrary code from the file",
        SAVED,
        False,
        switch=True,
        surfaces=NOT_API,
        note="export_model loads no file",
    ),
    Option(
        "header",
        "C++ header",
        OUTPUTS,
        "GMM.h",
        path=True,
        note="export_model's header is its required second argument; the hook's default is "
        ".pio/build/<env>/tinygmm/GMM.h (one per environment)",
    ),
    Option(
        "json",
        "model JSON",
        OUTPUTS,
        "GMM.json",
        path=True,
        note="export_model writes it only when asked (default None); the hook's default is "
        ".pio/build/<env>/tinygmm/GMM.json",
    ),
    Option(
        "vectors",
        "also write golden test vectors (a C++ header of inputs and scikit-learn's answers) to this file",
        OUTPUTS,
        "none",
        metavar="PATH",
        path=True,
        note="export_model writes them only when asked (default None); the hook writes none unless asked",
    ),
    Option("namespace", "C++ namespace of the model", OUTPUTS, "gmm"),
    Option(
        "fixed_point",
        "also emit the integer path (quantize, predict_fixed, predict_q) for MCUs without an FPU",
        OUTPUTS,
        False,
        switch=True,
    ),
    Option(
        "anomaly_quantile",
        "threshold = Q-quantile of the training rows' scores",
        ANOMALY,
        parse=real,
        metavar="Q",
        surfaces=EVERYWHERE | {REPORT},
    ),
    Option(
        "anomaly_threshold",
        "threshold = this log-likelihood",
        ANOMALY,
        parse=real,
        metavar="T",
        surfaces=EVERYWHERE | {REPORT},
    ),
    Option(
        "anomaly_validation",
        "labelled rows: the threshold with the best F1",
        ANOMALY,
        metavar="CSV",
        path=True,
        surfaces=EVERYWHERE | {REPORT},
        note="export_model takes the labelled rows themselves, (X_val, y_val) with y_val 1 = anomalous",
    ),
    Option(
        "anomaly_label",
        "with --anomaly-validation: the label column",
        ANOMALY,
        metavar="COLUMN",
        surfaces=NOT_API | {REPORT},
        note="export_model's anomaly_validation holds the labels (y_val)",
    ),
    Option(
        "anomaly_positive",
        "the label value meaning anomalous (default 1)",
        ANOMALY,
        metavar="VALUE",
        surfaces=NOT_API | {REPORT},
        note="export_model's y_val is 1 (or True) for anomalous",
    ),
    Option(
        "anomaly_max_fpr",
        "best recall with a false-positive rate <= F",
        ANOMALY,
        parse=real,
        metavar="F",
        surfaces=EVERYWHERE | {REPORT},
    ),
    Option(
        "prune_below",
        "drop components lighter than this (a BayesianGaussianMixture's inactive ones)",
        OUTPUTS,
        surfaces=frozenset({API}),
        note="only an imported estimator (a BayesianGaussianMixture) has components to prune",
    ),
    Option(
        "X",
        "raw inputs the golden vectors are drawn from and the anomaly threshold is calibrated on "
        "(default: inputs drawn from the mixture itself)",
        OUTPUTS,
        surfaces=frozenset({API}),
        note="the CLI and the hook use the training CSV's rows",
    ),
    Option(
        "if_changed",
        "do nothing when the outputs already match the inputs",
        OUTPUTS,
        False,
        switch=True,
        surfaces=frozenset({CLI}),
        note="the hook always passes it; export_model always writes",
    ),
    Option(
        "platformio",
        "take the custom_gmm_* options of a platformio.ini as PlatformIO reads them for [env:NAME] "
        "(extends, [env], ${...}); flags given after it override them",
        OUTPUTS,
        metavar="INI",
        surfaces=frozenset({CLI}),
        note="where the options come from: the CLI reading platformio.ini",
    ),
    Option(
        "env",
        "with --platformio: the [env:NAME] to read (default: the first of default_envs, else of the file)",
        OUTPUTS,
        surfaces=frozenset({CLI}),
        note="with --platformio only: the hook knows its environment",
    ),
    Option(
        "learn",
        "firmware that learns on the device (docs/online.md): adapt the exported model, or learn from "
        "scratch; off builds the frozen classifier",
        FIRMWARE,
        "off",
        choices=LEARN_MODES,
        surfaces=frozenset({BUILD}),
        note="hook-only: a build option, not an export one; the hook passes -DTINYGMM_LEARN=1 (adapt) or 2 "
        "(scratch) to the library and the project's sources, and `--port native` builds honour the key of "
        "platformio.ini's [env:native]",
    ),
)

BY_NAME = {o.name: o for o in OPTIONS}
# name -> default value (parsed: n_components "auto" is None); values of several types, hence Any
DEFAULTS: dict[str, Any] = {o.name: o.value for o in OPTIONS}
# export_model's keyword -> its default (the outputs' defaults differ there: see their notes)
API_DEFAULTS: dict[str, Any] = {o.keyword: o.api_value for o in OPTIONS if API in o.surfaces}


def on(surface: str, group: str | None = None) -> Iterator[Option]:
    """The options of one surface (CLI, INI, API, REPORT), in table order, optionally of one group."""
    return (o for o in OPTIONS if surface in o.surfaces and (group is None or o.group == group))


_FLAG_RE = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def spelled(option: Option, surface: str) -> str:
    """How the user writes an option on a surface: --flag, custom_gmm_key or export_model's keyword."""
    return {INI: option.key, API: option.keyword}.get(surface, option.flag)


def respell(message: str, surface: str, only: frozenset[str] | set[str] | None = None) -> str:
    """An error message written with CLI flags, with the options as the user gave them on ``surface``
    (``only``: just these flags, e.g. those that came from platformio.ini)."""
    flags = {o.flag: o for o in OPTIONS if surface in o.surfaces}

    def one(m: re.Match[str]) -> str:
        option = flags.get(m.group())
        if option is None or (only is not None and m.group() not in only):
            return m.group()
        return spelled(option, surface)

    return _FLAG_RE.sub(one, message)

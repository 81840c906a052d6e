"""The custom_gmm_* options of platformio.ini, as ``tinygmm export`` arguments.

Used by the PlatformIO pre-build hook (which reads the options through
PlatformIO itself) and by ``tinygmm export --platformio`` (which reads the
ini with configparser, for machines without PlatformIO).
"""

from __future__ import annotations

import configparser
from collections.abc import Callable
from pathlib import Path

from .errors import TinyGMMError

# (custom_gmm_<name>, export flag)
OPTIONS: tuple[tuple[str, str], ...] = (
    ("data", "--data"),
    ("features", "--features"),
    ("n_components", "--n-components"),
    ("max_components", "--max-components"),
    ("criterion", "--criterion"),
    ("alpha", "--alpha"),
    ("covariance_type", "--covariance-type"),
    ("scaler", "--scaler"),
    ("init_params", "--init-params"),
    ("max_iter", "--max-iter"),
    ("tol", "--tol"),
    ("reg_covar", "--reg-covar"),
    ("n_init", "--n-init"),
    ("random_state", "--random-state"),
    ("header", "--header"),
    ("json", "--json"),
    ("vectors", "--vectors"),
    ("dropna", "--dropna"),
    ("anomaly_quantile", "--anomaly-quantile"),
    ("anomaly_threshold", "--anomaly-threshold"),
    ("anomaly_validation", "--anomaly-validation"),
    ("anomaly_label", "--anomaly-label"),
    ("anomaly_positive", "--anomaly-positive"),
    ("anomaly_max_fpr", "--anomaly-max-fpr"),
)


def export_args(get: Callable[[str], object]) -> list[str]:
    """Arguments for every custom_gmm_* option that ``get(option_name)`` returns."""
    args: list[str] = []
    for name, flag in OPTIONS:
        value = get("custom_gmm_" + name)
        if value is None:
            continue
        text = " ".join(str(value).split())  # multi-line ini values -> one line
        if not text:
            continue
        if flag == "--dropna":
            if text.lower() in ("1", "yes", "true", "on"):
                args.append(flag)
            continue
        args += [flag, text]
    return args


def read_ini(path: str | Path, env: str | None = None) -> list[str]:
    """custom_gmm_* options of [env] overridden by [env:<env>] (default: first default_envs)."""
    p = Path(path)
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    if not cp.read(p, encoding="utf-8"):
        raise TinyGMMError(f"{p} not found")
    if env is None:
        defaults = cp.get("platformio", "default_envs", fallback="")
        env = defaults.replace(",", " ").split()[0] if defaults.strip() else None
    sections = ["env"] + ([f"env:{env}"] if env else [])
    if env and not cp.has_section(f"env:{env}"):
        raise TinyGMMError(f"{p}: no [env:{env}] section")

    def get(option: str) -> str | None:
        value = None
        for s in sections:
            if cp.has_option(s, option):
                value = cp.get(s, option)
        return value

    return export_args(get)

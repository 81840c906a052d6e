"""``tinygmm export``: fit a CSV (or load a saved estimator) and write the header, model JSON and vectors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data.reader import parse_feature_list
from ..errors import TinyGMMError
from ..export.paths import output_path
from ..export.requests import (
    ExportRequest,
    ModelRequest,
    check_request,
    export_saved_model,
    run_export,
    up_to_date,
)
from ..fit.sweep import Progress, sweep_table
from ..options import CLI, OUTPUTS, SAVED, on
from ..platformio.config import read_ini
from ..platformio.ini import ProjectIni, protected_inputs
from .common import add_anomaly_options, add_model_options, anomaly_options, fit_options


def cmd_export_model(a: argparse.Namespace) -> int:
    """``export --model FILE``: a saved estimator through the same export path."""
    if a.data is not None:
        raise TinyGMMError("--model exports a saved estimator; --data (fit on a CSV) cannot be given with it")
    req = ModelRequest(model=a.model, trust_pickle=a.trust_pickle, **_request_args(a))
    check_request(req, writing=False, protect=protected_config(a))  # export_saved_model checks permissions too
    if a.if_changed and _up_to_date(req, up_to_date):
        print(f"tinygmm: {a.header} is up to date")
        return 0
    res = export_saved_model(req)
    m = res.model
    print(
        f"tinygmm: {m.options.get('estimator')}: K={m.n_components} D={m.n_features} "
        f"{m.covariance_type} model {m.model_hash} -> " + ", ".join(str(p) for p in res.written)
    )
    if res.anomaly is not None:
        print(f"tinygmm: {res.anomaly.describe()}")
    return 0


def _request_args(a: argparse.Namespace) -> dict[str, Any]:
    """What both export requests (--data and --model) take from the command line alike."""
    return {
        "features": parse_feature_list(a.features),
        "header": output_path("--header", a.header),
        "json": output_path("--json", a.json),
        "vectors": None if a.vectors in (None, "none") else output_path("--vectors", a.vectors),
        "namespace": a.namespace,
        "fixed_point": a.fixed_point,
        "anomaly": anomaly_options(a),
    }


def _left_out(name: str, why: str) -> str:
    return f"{name} ({why})" if name.startswith("column ") else f"{name!r} ({why})"


def _up_to_date(req: ExportRequest | ModelRequest, check: Callable[[ExportRequest | ModelRequest], bool]) -> bool:
    """--if-changed: a data path that cannot even be looked at is 'changed' (loading it then says why)."""
    try:
        return check(req)
    except OSError:
        return False


def cmd_export(a: argparse.Namespace) -> int:

    if a.model is not None:
        return cmd_export_model(a)
    if a.data is None:
        raise TinyGMMError("export needs --data CSV (to fit a model) or --model FILE (a saved estimator)")
    req = ExportRequest(data=a.data, options=fit_options(a), dropna=a.dropna, **_request_args(a))
    check_request(req, writing=False, protect=protected_config(a))  # run_export checks permissions too
    if a.if_changed and _up_to_date(req, up_to_date):
        print(f"tinygmm: {a.header} is up to date")
        return 0
    res = run_export(req, Progress("tinygmm: choosing K"))
    m = res.model
    if req.features is None:
        left_out = m.data.get("left_out") or []
        print(
            f"tinygmm: features: {', '.join(m.feature_names)}"
            + ("; left out: " + ", ".join(_left_out(name, why) for name, why in left_out) if left_out else "")
        )
    if res.fit is not None and res.fit.sweep:
        print(sweep_table(res.fit.sweep, m.n_components, req.options.alpha))
        stuck = [r.k for r in res.fit.sweep if r.em_stuck_below is not None]
        if stuck:
            print(
                f"tinygmm: warning: EM got stuck for K={', '.join(map(str, stuck))} (see the table); try --n-init 5",
                file=sys.stderr,
            )
    dropped = m.data.get("dropped_lines") or []
    if dropped:
        print(f"tinygmm: --dropna dropped {len(dropped)} row(s) at CSV line(s) {', '.join(map(str, dropped[:20]))}")
    if not m.converged:
        print("tinygmm: warning: EM did not converge; consider a larger --max-iter or --tol", file=sys.stderr)
    if res.anomaly is not None:
        print(f"tinygmm: {res.anomaly.describe()}")
    print(
        f"tinygmm: K={m.n_components} D={m.n_features} {m.covariance_type} model {m.model_hash} -> "
        + ", ".join(str(p) for p in res.written)
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="fit a GMM on a CSV and write the C++ header, model JSON and test vectors")
    add_model_options(p, "training CSV with a header row (required unless --model)")
    s = p.add_argument_group(SAVED)
    for option in on(CLI, SAVED):
        option.add_to(s)
    o = p.add_argument_group(OUTPUTS)
    for option in on(CLI, OUTPUTS):
        if option.name == "if_changed":  # the usage line lists the anomaly flags before --if-changed, as it did
            add_anomaly_options(p)
        option.add_to(o)
    p.set_defaults(func=cmd_export)


def expand_platformio(argv: list[str]) -> list[str]:
    """``export --platformio [INI] [--env NAME]``: the ini's custom_gmm_* options, then the rest.

    ``--platformio INI`` stays at the end, so the export refuses to overwrite the ini (protected_config).
    """
    if not argv or argv[0] != "export" or "--platformio" not in argv:
        return argv
    rest = list(argv[1:])
    i = rest.index("--platformio")
    ini = "platformio.ini"
    if i + 1 < len(rest) and not rest[i + 1].startswith("--"):
        ini = rest.pop(i + 1)
    rest.pop(i)
    env = None
    if "--env" in rest:
        j = rest.index("--env")
        if j + 1 >= len(rest):
            raise TinyGMMError("--env needs an environment name")
        env = rest[j + 1]
        del rest[j : j + 2]
    return ["export", *read_ini(ini, env), *rest, "--platformio", ini]


def protected_config(a: argparse.Namespace) -> dict[str, Path]:
    """Inputs besides data, model and runtime that no output may be: the ini and its extra_configs."""
    return protected_inputs(ProjectIni(a.platformio).files) if a.platformio else {}

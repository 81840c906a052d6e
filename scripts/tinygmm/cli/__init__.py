"""Command-line entry point: ``tinygmm export|classify|stream|verify|report``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from .. import __version__
from ..errors import TinyGMMError


def _k(text: str) -> int | None:
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {text!r}") from None


def _random_state(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from None


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Data and fitting options shared by export and report (scikit-learn's names)."""
    g = p.add_argument_group("data and model")
    g.add_argument("--data", required=True, help="training CSV with a header row")
    g.add_argument(
        "--features",
        help='comma-separated column names, e.g. "Age,Spending Score (1-100)" (default: all numeric columns)',
    )
    g.add_argument("--dropna", action="store_true", help="drop rows with empty or non-numeric cells (and report them)")
    g.add_argument(
        "--n-components", type=_k, default=None, metavar="K|auto", help="number of components, or auto (default)"
    )
    g.add_argument("--max-components", type=int, default=10, help="largest K tried by auto (default 10)")
    g.add_argument("--criterion", default="bic", help="auto selection: bic (default), aic or lrt")
    g.add_argument("--alpha", type=float, default=0.05, help="significance level of the LRT (default 0.05)")
    g.add_argument("--covariance-type", default="full", help="full (default), tied, diag or spherical")
    g.add_argument("--init-params", default="kmeans", help="kmeans (default), k-means++, random, random_from_data")
    g.add_argument("--max-iter", type=int, default=100)
    g.add_argument("--tol", type=float, default=1e-3)
    g.add_argument("--reg-covar", type=float, default=1e-6)
    g.add_argument("--n-init", type=int, default=1)
    g.add_argument("--random-state", type=_random_state, default=0, help="integer seed (default 0) or none")
    g.add_argument("--scaler", default="none", help="none (default), standard or minmax; baked into the header")
    g.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="auto: fit N values of K at once in worker processes (default: one per core); same results for any N",
    )


def fit_options(a: argparse.Namespace):  # -> FitOptions
    from ..fit.sweep import FitOptions

    o = FitOptions(
        n_components=a.n_components,
        max_components=a.max_components,
        criterion=a.criterion,
        alpha=a.alpha,
        covariance_type=a.covariance_type,
        init_params=a.init_params,
        max_iter=a.max_iter,
        tol=a.tol,
        reg_covar=a.reg_covar,
        n_init=a.n_init,
        random_state=a.random_state,
        scaler=a.scaler,
        n_jobs=a.n_jobs,
    )
    o.validate()
    return o


def add_anomaly_options(p: argparse.ArgumentParser) -> None:
    """How export calibrates the anomaly threshold (see tinygmm.anomaly)."""
    g = p.add_argument_group("anomaly threshold (anomalous: score_samples(x) < threshold)")
    g.add_argument("--anomaly-quantile", type=float, metavar="Q", help="threshold = Q-quantile of the training rows' scores")
    g.add_argument("--anomaly-threshold", type=float, metavar="T", help="threshold = this log-likelihood")
    g.add_argument("--anomaly-validation", metavar="CSV", help="labelled rows: the threshold with the best F1")
    g.add_argument("--anomaly-label", metavar="COLUMN", help="with --anomaly-validation: the label column")
    g.add_argument("--anomaly-positive", metavar="VALUE", help="the label value meaning anomalous (default 1)")
    g.add_argument("--anomaly-max-fpr", type=float, metavar="F", help="best recall with a false-positive rate <= F")


def anomaly_options(a: argparse.Namespace):  # -> AnomalyOptions | None
    from ..anomaly import AnomalyOptions

    o = AnomalyOptions(
        quantile=a.anomaly_quantile,
        threshold=a.anomaly_threshold,
        validation=a.anomaly_validation,
        label=a.anomaly_label,
        positive=a.anomaly_positive,
        max_fpr=a.anomaly_max_fpr,
    )
    o.validate()
    if not o.enabled:
        return None
    return o


def cmd_export_model(a: argparse.Namespace) -> int:
    """``export --model FILE``: a saved estimator through the same export path."""
    from ..export.requests import ModelRequest, check_request, export_saved_model, up_to_date

    if a.data is not None:
        raise TinyGMMError("--model exports a saved estimator; --data (fit on a CSV) cannot be given with it")
    req = ModelRequest(model=a.model, trust_pickle=a.trust_pickle, **_request_args(a))
    check_request(req, writing=False)  # export_saved_model checks permissions too
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
    from ..data.reader import parse_feature_list
    from ..export.paths import output_path

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


def _up_to_date(req: object, check: Callable[[object], bool]) -> bool:
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
    from ..export.requests import ExportRequest, check_request, run_export, up_to_date
    from ..fit.sweep import Progress, sweep_table

    req = ExportRequest(data=a.data, options=fit_options(a), dropna=a.dropna, **_request_args(a))
    check_request(req, writing=False)  # run_export checks permissions too
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
    if res.fit.sweep:  # type: ignore[attr-defined]
        print(sweep_table(res.fit.sweep, m.n_components, req.options.alpha))  # type: ignore[attr-defined]
        stuck = [r.k for r in res.fit.sweep if r.em_stuck_below is not None]  # type: ignore[attr-defined]
        if stuck:
            print(
                f"tinygmm: warning: EM got stuck for K={', '.join(map(str, stuck))} (see the table); "
                "try --n-init 5",
                file=sys.stderr,
            )
    dropped = m.data.get("dropped_lines") or []
    if dropped:
        print(f"tinygmm: --dropna dropped {len(dropped)} row(s) at CSV line(s) {', '.join(map(str, dropped[:20]))}")
    if not m.converged:
        print("tinygmm: warning: EM did not converge; consider a larger --max-iter or --tol", file=sys.stderr)
    if res.anomaly is not None:
        print(f"tinygmm: {res.anomaly.describe()}")  # type: ignore[attr-defined]
    print(
        f"tinygmm: K={m.n_components} D={m.n_features} {m.covariance_type} model {m.model_hash} -> "
        + ", ".join(str(p) for p in res.written)
    )
    return 0


def cmd_library(_: argparse.Namespace) -> int:
    from ..codegen.runtime import library_path

    print(library_path())
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump), like every other tinygmm error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"tinygmm: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tinygmm", description="Gaussian mixture models for microcontrollers.")
    parser.add_argument("--version", action="version", version=f"tinygmm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("export", help="fit a GMM on a CSV and write the C++ header, model JSON and test vectors")
    add_model_options(p)
    for action in p._actions:  # --data is optional here: --model names a saved estimator instead
        if action.dest == "data":
            action.required = False
            action.help = "training CSV with a header row (required unless --model)"
    s = p.add_argument_group("saved estimator (instead of --data)")
    s.add_argument(
        "--model",
        metavar="FILE",
        help="export a fitted scikit-learn estimator saved as .skops (or .joblib/.pkl with --trust-pickle): "
        "a (Bayesian)GaussianMixture, alone or after scalers / PCA in a Pipeline; --features names its inputs",
    )
    s.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow --model to load a pickle (.joblib/.pkl), which runs arbitrary code from the file",
    )
    o = p.add_argument_group("outputs")
    o.add_argument("--header", default="include/GMM.h", help="C++ header (default include/GMM.h)")
    o.add_argument("--json", default="include/GMM.json", help="model JSON (default include/GMM.json)")
    o.add_argument("--vectors", default="test/test_parity/golden_vectors.h", help="golden vectors header, or none")
    o.add_argument("--namespace", default="gmm", help="C++ namespace of the model (default gmm)")
    o.add_argument(
        "--fixed-point",
        action="store_true",
        help="also emit the integer path (quantize, predict_fixed, predict_q) for MCUs without an FPU",
    )
    add_anomaly_options(p)
    o.add_argument("--if-changed", action="store_true", help="do nothing when the outputs already match the inputs")
    o.add_argument(
        "--platformio",
        metavar="INI",
        help="take the custom_gmm_* options of a platformio.ini ([env], then [env:NAME] given by --env); "
        "flags given after it override them",
    )
    o.add_argument(
        "--env", help="with --platformio: the [env:NAME] whose overrides apply (default: first default_envs)"
    )
    p.set_defaults(func=cmd_export)

    lib = sub.add_parser(
        "library",
        help="print the folder of the PlatformIO / Arduino library (for lib_deps = symlink://FOLDER)",
    )
    lib.set_defaults(func=cmd_library)

    from . import device as host_cli
    from . import report as report_cli

    host_cli.register(sub)

    report_cli.register(sub, add_model_options, fit_options)

    return parser


def _expand_platformio(argv: list[str]) -> list[str]:
    """``export --platformio [INI] [--env NAME]``: the ini's custom_gmm_* options, then the rest."""
    from ..platformio.config import read_ini

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
    return ["export", *read_ini(ini, env), *rest]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(_expand_platformio(list(sys.argv[1:] if argv is None else argv)))
        return int(args.func(args))
    except TinyGMMError as exc:
        print(f"tinygmm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tinygmm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

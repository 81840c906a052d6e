"""``tinygmm report``: the sub-command's arguments and entry point."""

from __future__ import annotations

import argparse
import importlib.util
import sys

from ..data.reader import parse_feature_list
from ..errors import TinyGMMError
from ..fit.sweep import Progress
from ..options import REPORT, on
from .common import add_anomaly_options, add_model_options, anomaly_options, fit_options

# what a model JSON fixes: every report option but --data (it overrides the JSON's data path) and --n-jobs
# (it never changes the model)
MODEL_OPTION_DESTS = tuple(o.name for o in on(REPORT) if o.name not in ("data", "n_jobs"))


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report",
        help="write an offline HTML report (model selection, clusters, parameters, header footprint) plus PNGs",
        description="Fit as 'tinygmm export' would (or load an exported model JSON) and write DIR/index.html, "
        "one self-contained page that opens offline, plus the PNG figures.",
    )
    add_model_options(p, "training CSV with a header row (required unless --json; with --json, overrides its path)")
    add_anomaly_options(p)
    g = p.add_argument_group("report")
    g.add_argument(
        "--json",
        metavar="MODEL",
        help="report this exported model JSON instead of fitting; data, features and options come from it",
    )
    g.add_argument("--out", default="report", metavar="DIR", help="output directory (default: report)")
    g.add_argument(
        "--plot-features",
        metavar="A,B",
        help="the two features of the 2-D cluster plot (default: the first two)",
    )
    p.set_defaults(func=lambda a: cmd_report(a, p))
    return p


PLOTTING = ("matplotlib", "plotly")  # the tinygmm[report] extra: not needed to export or build


def require_plotting() -> None:
    """One line with the exact pip command when the report's plotting libraries are missing."""
    missing = [name for name in PLOTTING if importlib.util.find_spec(name) is None]
    if missing:
        raise TinyGMMError(
            f"tinygmm report needs {' and '.join(missing)}, which are not installed; "
            f'install them with: "{sys.executable}" -m pip install "tinygmm[report]"'
        )


def cmd_report(a: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    require_plotting()
    # after the check: the report's modules import matplotlib and plotly (the optional tinygmm[report] extra)
    from ..report import build, source

    plot_features = source.parse_plot_features(a.plot_features)
    progress = Progress("tinygmm: choosing K")
    if a.json is not None:
        ignored = [d for d in MODEL_OPTION_DESTS if getattr(a, d) != parser.get_default(d)]
        if ignored:
            flags = ", ".join("--" + d.replace("_", "-") for d in ignored)
            print(f"tinygmm: warning: {flags} ignored with --json (the model JSON fixes them)", file=sys.stderr)
        src = source.from_json(a.json, a.data, progress, plot_features)
    else:
        if a.data is None:
            raise TinyGMMError("report needs --data CSV (to fit a model) or --json MODEL (an exported model)")
        features = parse_feature_list(a.features)
        options = fit_options(a)
        anomaly = anomaly_options(a)
        src = source.from_data(a.data, features, a.dropna, options, progress, plot_features, anomaly)
    report = build.build(src, plot_features)
    index = build.write(report, a.out)
    extra = ", interactive 3-D view" if report.has_3d else ""
    print(f"tinygmm: K={src.chosen_k} report -> {index} ({len(report.pngs)} PNGs{extra})")
    return 0

"""Everything a report shows: the data, the model, the K sweep and the cluster labels."""

from __future__ import annotations

import csv
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..anomaly import AnomalyOptions, AnomalyThreshold, calibrate, load_labelled, load_threshold, load_validation
from ..codegen.identity import load_model, stamp_hash
from ..data.reader import Dataset, load_csv
from ..errors import TinyGMMError
from ..fit.estimator import model_of_fit
from ..fit.sweep import FitOptions, SweepRow, fit, mark_em_stuck
from ..model.exported import ExportedModel
from ..names import nfc

ProgressFn = Callable[..., None]  # (K values done, total, share of the work done)


@dataclass
class ReportSource:
    data: Dataset
    model: ExportedModel
    options: FitOptions
    sweep: list[SweepRow]
    chosen_by: str  # "bic", "aic", "lrt" or "fixed"
    origin: str  # what the model came from, for the page header
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    notes: list[str] = field(default_factory=list)
    anomaly: AnomalyThreshold | None = None
    validation: tuple[np.ndarray, np.ndarray] | None = None  # (X, labels 1 = anomalous) it was calibrated on

    @property
    def chosen_k(self) -> int:
        return self.model.n_components


def resolve_plot_features(names: list[str], wanted: list[str] | None) -> tuple[int, int] | None:
    """Indices of the two features of the 2-D plot; None when there is only one feature."""
    if wanted is None:
        return (0, 1) if len(names) >= 2 else None
    if len(names) < 2:
        raise TinyGMMError(f"--plot-features needs two features, but the model has only {names[0]!r}")
    if len(wanted) != 2 or wanted[0] == wanted[1]:
        raise TinyGMMError(f"--plot-features needs two different feature names, got {', '.join(map(repr, wanted))}")
    names = [nfc(n) for n in names]
    missing = [w for w in wanted if w not in names]
    if missing:
        raise TinyGMMError(
            f"--plot-features: {', '.join(map(repr, missing))} is not a model feature; "
            f"features are {', '.join(map(repr, names))}"
        )
    return names.index(wanted[0]), names.index(wanted[1])


def parse_plot_features(text: str | None) -> list[str] | None:
    """``--plot-features "Age,Spending Score (1-100)"`` -> two names (checked against the model's later)."""
    if text is None:
        return None
    names = [nfc(n.strip()) for n in next(csv.reader([text]), [])]  # names are compared in NFC
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise TinyGMMError(f"--plot-features needs two different feature names separated by a comma, got {text!r}")
    return names


def _sweep(data: Dataset, options: FitOptions, k: int, progress: ProgressFn | None) -> list[SweepRow]:
    """The 1..max(max_components, k) sweep, with the model's own fitting options."""
    opts = dataclasses.replace(options, n_components=None, max_components=max(options.max_components, k))
    return fit(data, opts, progress).sweep


def _finish(src: ReportSource) -> ReportSource:
    m = src.model
    if m.feature_names != src.data.feature_names:
        raise TinyGMMError("internal: data and model features differ")
    src.labels = np.asarray(m.to_sklearn().predict(m.transform(src.data.X)), dtype=int)
    if not m.converged:
        src.notes.append("EM did not converge for the chosen model; consider a larger --max-iter or --tol.")
    return src


def from_data(
    path: str,
    features: list[str] | None,
    dropna: bool,
    options: FitOptions,
    progress: ProgressFn | None = None,
    plot_features: list[str] | None = None,
    anomaly: AnomalyOptions | None = None,
) -> ReportSource:
    """Fit exactly as ``tinygmm export`` would, plus the K sweep when K was fixed."""
    options.validate()
    data = load_csv(path, features, dropna=dropna)
    resolve_plot_features(data.feature_names, plot_features)  # fail before the (slow) fit
    labelled = load_validation(anomaly, data.feature_names) if anomaly is not None else None
    result = fit(data, options, progress)
    model = model_of_fit(result, data, options.as_dict())
    stamp_hash(model)
    sweep = result.sweep or _sweep(data, options, model.n_components, progress)
    src = ReportSource(data, model, options, sweep, result.chosen_by, f"fitted on {path}")
    if anomaly is not None:
        g = model.to_sklearn()
        src.anomaly = calibrate(
            anomaly, lambda X: g.score_samples(model.transform(X)), data.X, data.feature_names, labelled
        )
        src.validation = None if labelled is None else (labelled[0], labelled[1])
    return _finish(src)


def _options_from_json(doc: dict[str, object]) -> FitOptions:
    known = {f.name for f in dataclasses.fields(FitOptions)}
    try:
        o = FitOptions(**{k: v for k, v in doc.items() if k in known})  # type: ignore[arg-type]
        o.validate()
    except (TypeError, TinyGMMError) as exc:
        raise TinyGMMError(f"model JSON has unusable fitting options: {exc}") from None
    return o


def _find_data(recorded: str, json_path: Path) -> Path:
    """The data file named in a model JSON: as written, else relative to the JSON or a folder above it."""
    p = Path(recorded)
    if p.is_absolute() or p.is_file():
        return p
    for base in [json_path.resolve().parent, *json_path.resolve().parent.parents][:4]:
        if (base / p).is_file():
            return base / p
    return p


def from_json(
    json_path: str,
    data_path: str | None = None,
    progress: ProgressFn | None = None,
    plot_features: list[str] | None = None,
) -> ReportSource:
    """Report an exported model; reload its training data to plot it (``data_path`` overrides the recorded one)."""
    jp = Path(json_path)
    model = load_model(jp)
    if model.projection is not None or model.log_weights is not None:
        raise TinyGMMError(
            f"{jp}: report draws models fitted by 'tinygmm export --data'; this one "
            f"({model.options.get('estimator', 'an imported estimator')}) is not supported by report yet"
        )
    resolve_plot_features(model.feature_names, plot_features)
    recorded = str(model.data.get("path") or "")
    if data_path is None and not recorded:
        raise TinyGMMError(f"{jp}: records no data path; pass --data")
    path = Path(data_path) if data_path is not None else _find_data(recorded, jp)
    if not path.is_file():
        raise TinyGMMError(f"{jp}: its training data {recorded!r} was not found; pass --data PATH")
    options = _options_from_json(model.options)
    dropna = bool(model.data.get("dropped_lines"))
    data = load_csv(path, list(model.feature_names), dropna=dropna)
    notes: list[str] = []
    if model.data.get("sha256") and model.data["sha256"] != data.sha256:
        msg = f"{path} has changed since the model was exported (sha256 differs); plots show the current file."
        print(f"tinygmm: warning: {msg}", file=sys.stderr)
        notes.append(msg)
    try:
        # model JSONs written before EM-stuck rows were marked get them marked here
        sweep = mark_em_stuck([SweepRow(**row) for row in model.selection])
    except TypeError:
        raise TinyGMMError(f"{jp}: unreadable 'selection' rows") from None
    if not sweep:
        sweep = _sweep(data, options, model.n_components, progress)
        notes.append(
            f"The model JSON has no K sweep (K was fixed at {model.n_components}); "
            f"the sweep shown was re-run with the model's options."
        )
    chosen_by = "fixed" if options.n_components is not None else options.criterion
    src = ReportSource(data, model, options, sweep, chosen_by, f"model {jp} (data {path})", notes=notes)
    _anomaly_from_json(src, jp)
    return _finish(src)


def _anomaly_from_json(src: ReportSource, jp: Path) -> None:
    """The threshold stored in the JSON and, when still at hand, the validation rows it was chosen on."""
    src.anomaly = t = load_threshold(jp)
    v = t.validation if t is not None else {}
    if not v.get("file"):
        return
    vp = _find_data(str(v["file"]), jp)
    if not vp.is_file():
        src.notes.append(f"The anomaly threshold's validation file {v['file']} was not found: no ROC/PR curves.")
        return
    X, y, _ = load_labelled(vp, list(src.model.feature_names), str(v["label"]), str(v.get("positive")))
    src.validation = (X, y)

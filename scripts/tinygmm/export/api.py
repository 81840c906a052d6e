"""``tinygmm.export_model``: a fitted scikit-learn estimator -> GMM.h (+ model JSON, golden vectors).

The one export path: ``tinygmm export`` (CSV or ``--model FILE``) and the
PlatformIO hook call ``write_outputs`` through here too.
"""

from __future__ import annotations

import json as jsonlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import sklearn

from ..anomaly import AnomalyOptions, AnomalyThreshold, Labelled, calibrate
from ..codegen.covariance import kind
from ..codegen.ctext import check_identifier
from ..codegen.header import model_constants, render_header, validate_c_text
from ..codegen.identity import stamp_hash
from ..codegen.runtime import library_files
from ..data.inputs import estimator_names, raw_inputs
from ..errors import TinyGMMError, TinyGMMWarning
from ..fit.estimator import from_estimator
from ..fit.sweep import FitResult
from ..model.exported import ExportedModel
from ..options import API, API_DEFAULTS, respell
from ..version import __version__
from .atomic import write_all
from .paths import check_outputs, clean_stale_temps
from .vectors import golden, make_inputs, render_vectors


@dataclass(frozen=True)
class ExportOptions:
    """What the header is made with, besides the model. New export options go here (and become
    keyword arguments of export_model)."""

    namespace: str = API_DEFAULTS["namespace"]
    fixed_point: bool = API_DEFAULTS["fixed_point"]
    prune_below: float | None = API_DEFAULTS["prune_below"]
    anomaly: AnomalyOptions | None = None  # how the anomaly threshold is calibrated (None: no threshold)


@dataclass
class PruneReport:
    """What ``prune_below`` did: components kept (original indices) and the largest changes it causes."""

    kept: list[int]
    dropped: list[int]
    label_changes: float  # fraction of the sample inputs whose predict changes
    label_changes_far: float  # the same on far points
    max_log_likelihood_change: float  # |score_samples change|, sample inputs
    max_log_likelihood_change_far: float  # relative change, far points


@dataclass
class ModelSource:
    """Where a model came from, for the provenance comment and the JSON (the CSV path fills it)."""

    provenance: Callable[[ExportedModel], list[str]] | None = None
    input_hash: str | None = None
    labelled: Labelled | None = None  # anomaly validation rows already loaded (X, y with 1 = anomalous, label)


@dataclass
class ExportResult:
    model: ExportedModel
    written: list[Path]
    fit: FitResult | None = None  # on the CSV path
    pruned: PruneReport | None = None
    header: str = ""  # the header's text
    anomaly: AnomalyThreshold | None = None  # the calibrated threshold, with an anomaly option

    def __repr__(self) -> str:
        """Short (a notebook prints it): the model's shape and hash and the files written, not the header's text."""
        m = self.model
        extra = "" if self.anomaly is None else f", anomaly_threshold={self.anomaly.threshold:.7g}"
        if self.pruned is not None:
            extra += f", pruned={self.pruned.dropped}"
        return (
            f"ExportResult(K={m.n_components}, D={m.n_features}, covariance_type={m.covariance_type!r}, "
            f"model_hash={m.model_hash!r}{extra}, written=[{', '.join(repr(str(p)) for p in self.written)}])"
        )


def prune(m: ExportedModel, below: float, X: np.ndarray) -> tuple[ExportedModel, PruneReport]:
    """Drop the components whose weight is below ``below``; measure what that changes on X and far points."""
    keep = np.flatnonzero(m.weights >= below)
    if len(keep) == 0:
        raise TinyGMMError(
            f"prune_below={below:g} would drop every component (the largest weight is {m.weights.max():.3g})"
        )
    shared = kind(m).shared_precision  # one covariance for every component: kept as it is
    pruned = replace(
        m,
        weights=m.weights[keep] / m.weights[keep].sum(),
        means=m.means[keep],
        covariances=m.covariances if shared else m.covariances[keep],
        precisions_cholesky=m.precisions_cholesky if shared else m.precisions_cholesky[keep],
        log_weights=None if m.log_weights is None else m.log_weights[keep],
    )
    inputs, far = make_inputs(m, X, n_in=min(len(X), 400), n_far=60)
    g0, g1 = m.to_sklearn(), pruned.to_sklearn()
    z0, z1 = m.transform(inputs), pruned.transform(inputs)
    changed = g0.predict(z0) != keep[g1.predict(z1)]
    ll0, ll1 = g0.score_samples(z0), g1.score_samples(z1)
    dll = np.abs(ll1 - ll0)
    report = PruneReport(
        kept=[int(j) for j in keep],
        dropped=[int(j) for j in np.flatnonzero(m.weights < below)],
        label_changes=float(changed[~far].mean()),
        label_changes_far=float(changed[far].mean()),
        max_log_likelihood_change=float(dll[~far].max()),
        max_log_likelihood_change_far=float((dll[far] / np.abs(ll0[far])).max()),
    )
    return pruned, report


def default_provenance(m: ExportedModel) -> list[str]:
    return [
        f"tinygmm {__version__}, scikit-learn {sklearn.__version__}",
        f"estimator: {m.options.get('estimator', '?')}",
        f"features: {', '.join(m.feature_names)}",
        f"model: K={m.n_components} D={m.n_features}"
        + (f" (projected to {m.n_dims})" if m.projection is not None else "")
        + f" covariance_type={m.covariance_type} hash={m.model_hash}"
        + ("" if m.converged else " (EM did NOT converge)"),
    ]


def calibrate_anomaly(
    m: ExportedModel, anomaly: AnomalyOptions | None, X: np.ndarray | None, labelled: Labelled | None = None
) -> AnomalyThreshold | None:
    """The threshold ``anomaly`` asks for, on the raw inputs X (the training rows), or without X on
    inputs drawn from the mixture itself (m.sample_inputs); None without an anomaly option."""
    if anomaly is None or not anomaly.enabled:
        return None
    g = m.to_sklearn()
    rows = "training rows" if X is not None else "inputs drawn from the mixture"
    t = calibrate(
        anomaly,
        lambda Z: g.score_samples(m.transform(Z)),  # what the device's score_samples computes
        m.sample_inputs() if X is None else X,
        m.feature_names,
        labelled,
    )
    return None if t is None else replace(t, rows=rows)


def write_outputs(
    m: ExportedModel,
    header: Path,
    json: Path | None,
    vectors: Path | None,
    X: np.ndarray | None,
    opts: ExportOptions,
    source: ModelSource,
) -> tuple[list[Path], str, AnomalyThreshold | None]:
    """Render every output, then write them all or none (see atomic.write_all).

    X: raw inputs the golden vectors are drawn from and the anomaly threshold is calibrated on.
    Returns the paths written, the header's text and the anomaly threshold (or None).
    """
    threshold = calibrate_anomaly(m, opts.anomaly, X, source.labelled)
    constants = model_constants(m)  # generated once: the header's body and the model's hash
    stamp_hash(m, constants)
    provenance = (source.provenance or default_provenance)(m)
    if threshold is not None:  # before the input-hash tag, which stays last
        at = len(provenance) - 1 if provenance and provenance[-1].startswith("tinygmm-inputs:") else len(provenance)
        provenance = [*provenance[:at], threshold.describe(), *provenance[at:]]
    files: dict[Path, str] = {}
    text = render_header(
        m, provenance, opts.namespace, fixed_point=opts.fixed_point, constants=constants, anomaly=threshold
    )
    validate_c_text(text)
    files[header] = text
    if json is not None:
        doc = jsonlib.loads(m.to_json())
        doc = {**({"input_hash": source.input_hash} if source.input_hash else {}), "provenance": provenance, **doc}
        if threshold is not None:
            doc["anomaly"] = threshold.to_dict()
        try:
            files[json] = jsonlib.dumps(doc, indent=1, allow_nan=False) + "\n"
        except ValueError:
            raise TinyGMMError("the fitted model has non-finite parameters; not written") from None
    if vectors is not None:
        vtext = render_vectors(golden(m, m.sample_inputs() if X is None else X), m, provenance)
        validate_c_text(vtext)
        files[vectors] = vtext
    write_all(files)
    return list(files), text, threshold


def export_model(
    estimator: Any,
    header: str | Path,
    *,
    feature_names: Any = None,
    json: str | Path | None = None,
    vectors: str | Path | None = None,
    X: Any = None,
    namespace: str = API_DEFAULTS["namespace"],
    fixed_point: bool = API_DEFAULTS["fixed_point"],
    prune_below: float | None = API_DEFAULTS["prune_below"],
    anomaly_quantile: float | None = API_DEFAULTS["anomaly_quantile"],
    anomaly_threshold: float | None = API_DEFAULTS["anomaly_threshold"],
    anomaly_validation: tuple[Any, Any] | None = API_DEFAULTS["anomaly_validation"],
    anomaly_max_fpr: float | None = API_DEFAULTS["anomaly_max_fpr"],
) -> ExportResult:
    """Export a fitted estimator as a standalone C++ header, with the same contract as ``tinygmm export``.

    Parameters
    ----------
    estimator : GaussianMixture, BayesianGaussianMixture, or a Pipeline of StandardScaler,
        MinMaxScaler, MaxAbsScaler, RobustScaler and PCA steps ending in one of them (fitted).
    header : path of the C++ header (``gmm::predict``, ``predict_proba``, ``score_samples``,
        ``classify``; ``N_FEATURES`` = the number of raw input features).
    feature_names : default the estimator's ``feature_names_in_``, else x0..x{D-1}.
    json, vectors : also write the model JSON / golden vectors (drawn from X, a sample of raw
        inputs, or from the mixture itself without it).
    namespace, fixed_point : as ``--namespace`` and ``--fixed-point``.
    prune_below : drop components lighter than this (a BayesianGaussianMixture's inactive
        ones); the result's ``pruned`` says how much that changes labels and log-likelihoods.
    anomaly_quantile, anomaly_threshold, anomaly_validation, anomaly_max_fpr : at most one of
        the first three adds an anomaly threshold (``is_anomaly``; anomalous when
        ``score_samples(x) < threshold``), as ``--anomaly-quantile`` (the Q-quantile of the
        scores of X, or without X of inputs drawn from the mixture), ``--anomaly-threshold``
        (a log-likelihood) and ``--anomaly-validation`` (here ``(X_val, y_val)``: raw inputs and
        labels, 1 or True = anomalous; the threshold with the best F1, or with anomaly_max_fpr
        the best recall at that false-positive rate). The result's ``anomaly`` holds it.

    Returns
    -------
    ExportResult with the model, the paths written and, with prune_below, a PruneReport.
    Nothing is written when anything fails (TinyGMMError, one line naming the argument). Warnings
    of numpy or scikit-learn on the way come out as one TinyGMMWarning each, at the caller's line.
    """
    kwargs = dict(locals())
    with warnings.catch_warnings(record=True) as caught:
        try:
            result = _export_model(**kwargs)
        except TinyGMMError as exc:
            raise TinyGMMError(respell(str(exc), API)) from None
    for text in dict.fromkeys(" ".join(str(w.message).split()) for w in caught):
        warnings.warn(respell(text, API), TinyGMMWarning, stacklevel=2)
    return result


def _export_model(
    estimator: Any,
    header: str | Path,
    feature_names: Any,
    json: str | Path | None,
    vectors: str | Path | None,
    X: Any,
    namespace: str,
    fixed_point: bool,
    prune_below: float | None,
    anomaly_quantile: float | None,
    anomaly_threshold: float | None,
    anomaly_validation: tuple[Any, Any] | None,
    anomaly_max_fpr: float | None,
) -> ExportResult:
    labelled = None
    anomaly = AnomalyOptions(
        quantile=anomaly_quantile,
        threshold=anomaly_threshold,
        validation="anomaly_validation=(X_val, y_val)" if anomaly_validation is not None else None,
        label="y_val" if anomaly_validation is not None else None,
        max_fpr=anomaly_max_fpr,
    )
    anomaly.validate()
    opts = ExportOptions(
        namespace=namespace,
        fixed_point=fixed_point,
        prune_below=prune_below,
        anomaly=anomaly if anomaly.enabled else None,
    )
    check_identifier(namespace, "namespace=")
    outputs = {"header=": Path(header), "json=": _path(json), "vectors=": _path(vectors)}
    check_outputs(outputs, library_files())
    clean_stale_temps([p for p in outputs.values() if p is not None])
    m = from_estimator(estimator, feature_names)
    names_in = estimator_names(estimator)  # a DataFrame X is matched by column name to these, else to feature_names
    match = names_in if names_in is not None else (m.feature_names if feature_names is not None else None)
    Xa = None if X is None else raw_inputs(X, m.feature_names, match)
    if anomaly_validation is not None:
        labelled = _labelled(anomaly_validation, m.feature_names, match)
    report = None
    if opts.prune_below is not None:
        m, report = prune(m, opts.prune_below, m.sample_inputs() if Xa is None else Xa)
    written, text, threshold = write_outputs(
        m,
        Path(header),
        outputs["json="],
        outputs["vectors="],
        Xa,
        opts,
        ModelSource(labelled=labelled),
    )
    return ExportResult(m, written, pruned=report, header=text, anomaly=threshold)


def _path(p: str | Path | None) -> Path | None:
    return None if p is None else Path(p)


def _labelled(validation: Any, names: list[str], match: list[str] | None) -> Labelled:
    """anomaly_validation=(X_val, y_val) checked: raw inputs, two classes, 1/True = anomalous."""
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise TinyGMMError(f"anomaly_validation must be a pair (X_val, y_val), not a {type(validation).__name__}")
    X_val, y_val = validation
    Xv = raw_inputs(X_val, names, match, "anomaly_validation's X_val")
    try:
        y = np.asarray(y_val, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise TinyGMMError(f"anomaly_validation's y_val must be 0/1 labels ({str(exc).splitlines()[0]})") from None
    if len(y) != len(Xv) or not np.all((y == 0) | (y == 1)):
        raise TinyGMMError(f"anomaly_validation's y_val must be {len(Xv)} labels, 0 (normal) or 1 (anomalous)")
    if not (np.any(y == 1) and np.any(y == 0)):
        raise TinyGMMError("anomaly_validation: the labelled rows must hold both classes, normal and anomalous")
    return Xv, y.astype(np.int64), "1"

"""Anomaly thresholds: calibrated at export, evaluated on the device.

A point is anomalous when its log-likelihood under the mixture,
scikit-learn's ``score_samples``, is below a threshold T (scikit-learn's
outlier detectors' convention: ``decision_function = score_samples - T``,
negative means anomalous). T comes from one of three places:

* ``quantile``: the Q-quantile of the training rows' scores (Q = 0.01 flags
  about 1 % of them, scikit-learn's ``contamination``);
* ``user``: a log-likelihood given by the user;
* ``validation``: labelled rows (normal / anomalous); T maximises F1, or,
  with ``max_fpr``, recall among the thresholds whose false-positive rate is
  at most ``max_fpr``.

Everything here takes the model's score function and data, not a model
object, so that any exporter (CLI, PlatformIO hook, ``export_model``) can call
it. The device side (see tinygmm_eval.h: ``is_anomaly``) is rendered by
codegen.anomaly.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

from .data.reader import load_csv
from .data.rules import decode, read_rows
from .errors import TinyGMMError
from .names import nfc

ScoreFn = Callable[[np.ndarray], np.ndarray]
FLOAT32_MAX = float(np.finfo(np.float32).max)  # the device's scores and threshold are float32


@dataclass(frozen=True)
class AnomalyOptions:
    """How the threshold is chosen (exactly one of quantile, threshold, validation)."""

    quantile: float | None = None
    threshold: float | None = None
    validation: str | None = None  # CSV with the model's features and a label column
    label: str | None = None  # its label column
    positive: str | None = None  # the label value that means "anomalous" (default 1)
    max_fpr: float | None = None  # with validation: best recall at FPR <= max_fpr instead of best F1

    def validate(self, feature_names: list[str] | None = None) -> None:
        given = [
            n
            for n, v in (("quantile", self.quantile), ("threshold", self.threshold), ("validation", self.validation))
            if v is not None
        ]
        if len(given) > 1:
            raise TinyGMMError(
                "give only one of --anomaly-quantile, --anomaly-threshold and --anomaly-validation "
                f"(got {', '.join('--anomaly-' + g for g in given)})"
            )
        if self.quantile is not None and not (0.0 < self.quantile < 1.0):
            raise TinyGMMError(f"--anomaly-quantile must be in (0, 1), e.g. 0.01; got {self.quantile!r}")
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise TinyGMMError(
                f"--anomaly-threshold {self.threshold!r} is not a number; give a finite log-likelihood, e.g. -12.5"
            )
        if self.threshold is not None and abs(self.threshold) > FLOAT32_MAX:
            raise TinyGMMError(
                f"--anomaly-threshold {self.threshold!r} is beyond float32's range (+-{FLOAT32_MAX:.4g}), in which "
                "the device compares log-likelihoods; give a log-likelihood near your data's score_samples, e.g. -12.5"
            )
        if self.validation is not None and not self.label:
            raise TinyGMMError(
                "--anomaly-validation needs --anomaly-label COLUMN (the column saying which rows are anomalous)"
            )
        if self.validation is None:
            for flag, v in (
                ("--anomaly-label", self.label),
                ("--anomaly-positive", self.positive),
                ("--anomaly-max-fpr", self.max_fpr),
            ):
                if v is not None:
                    raise TinyGMMError(f"{flag} only applies with --anomaly-validation (labelled rows)")
        if self.max_fpr is not None and not (0.0 <= self.max_fpr < 1.0):
            raise TinyGMMError(f"--anomaly-max-fpr must be in [0, 1), e.g. 0.05; got {self.max_fpr!r}")
        if feature_names is not None and self.label is not None and self.label in feature_names:
            raise TinyGMMError(
                f"--anomaly-label {self.label!r} is also a model feature; leave it out of --features "
                "(the model must not see the answer)"
            )

    @property
    def enabled(self) -> bool:
        return self.quantile is not None or self.threshold is not None or self.validation is not None

    def hash_doc(self) -> dict[str, Any]:
        """What an export's input hash must cover: the options and the validation file's bytes."""
        doc: dict[str, Any] = {k: v for k, v in asdict(self).items() if v is not None}
        if self.validation is not None:
            p = Path(self.validation)
            doc["validation_sha256"] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "missing"
        return doc


@dataclass(frozen=True)
class AnomalyThreshold:
    """A calibrated threshold: anomalous when score_samples(x) < threshold."""

    threshold: float
    method: str  # "quantile", "user", "validation-f1" or "validation-fpr"
    training_flag_rate: float  # fraction of the training rows below the threshold
    quantile: float | None = None
    validation: dict[str, Any] = field(default_factory=dict)  # metrics at the threshold, with validation
    rows: str = "training rows"  # what quantile and training_flag_rate were measured on

    def describe(self) -> str:
        """One line for the header comment and the CLI."""
        if self.method == "quantile":
            how = f"the {self.quantile:g}-quantile of the {self.rows}' score_samples"
        elif self.method == "user":
            how = "given by the user"
        elif self.method == "validation-f1":
            how = "the best F1 on the validation rows"
        else:
            how = f"the best recall at FPR <= {self.validation.get('max_fpr', 0):g} on the validation rows"
        text = (
            f"anomaly threshold {self.threshold:.9g} ({how}); flags {100 * self.training_flag_rate:.2f} % "
            f"of the {self.rows}"
        )
        v = self.validation
        if v:
            text += (
                f"; validation: precision {v['precision']:.4f} recall {v['recall']:.4f} F1 {v['f1']:.4f} "
                f"FPR {v['fpr']:.4f} ROC AUC {v['roc_auc']:.4f}"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> AnomalyThreshold:
        try:
            t = cls(
                threshold=float(doc["threshold"]),
                method=str(doc["method"]),
                training_flag_rate=float(doc["training_flag_rate"]),
                quantile=None if doc.get("quantile") is None else float(doc["quantile"]),
                validation=dict(doc.get("validation") or {}),
                rows=str(doc.get("rows", "training rows")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TinyGMMError(f"the model JSON's 'anomaly' entry is malformed ({exc})") from None
        if not math.isfinite(t.threshold):
            raise TinyGMMError("the model JSON's anomaly threshold is not finite")
        return t


def load_threshold(json_path: str | Path) -> AnomalyThreshold | None:
    """The threshold stored in a model JSON by export, or None."""
    p = Path(json_path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # ExportedModel.load reports a missing or broken file
    a = doc.get("anomaly") if isinstance(doc, dict) else None
    return AnomalyThreshold.from_dict(a) if a else None


# ---- calibration -----------------------------------------------------------------


def flag_rate(scores: np.ndarray, threshold: float) -> float:
    return float(np.mean(np.asarray(scores) < threshold))


def _finite_scores(score: ScoreFn, X: np.ndarray, what: str) -> np.ndarray:
    s = np.asarray(score(np.asarray(X, dtype=np.float64)), dtype=np.float64)
    if not np.all(np.isfinite(s)):
        raise TinyGMMError(f"the model gives non-finite log-likelihoods on the {what}; cannot calibrate")
    return s


def calibrate_quantile(score: ScoreFn, X_train: np.ndarray, q: float) -> AnomalyThreshold:
    """T = the q-quantile of the training scores (linear interpolation, numpy's default)."""
    AnomalyOptions(quantile=q).validate()
    s = _finite_scores(score, X_train, "training rows")
    t = float(np.quantile(s, q))
    return AnomalyThreshold(t, "quantile", flag_rate(s, t), quantile=float(q))


def calibrate_user(score: ScoreFn, X_train: np.ndarray, threshold: float) -> AnomalyThreshold:
    AnomalyOptions(threshold=threshold).validate()
    s = _finite_scores(score, X_train, "training rows")
    return AnomalyThreshold(float(threshold), "user", flag_rate(s, float(threshold)))


def detection_metrics(scores: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, Any]:
    """Precision, recall, F1, FPR, ROC AUC and the confusion matrix of ``score < threshold``
    against labels y (1 = anomalous), with sklearn.metrics."""

    y = np.asarray(y, dtype=np.int64)
    pred = (np.asarray(scores) < threshold).astype(np.int64)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, pred, labels=[0, 1]).ravel())
    return {
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "fpr": fp / max(1, fp + tn),
        "roc_auc": float(roc_auc_score(y, -np.asarray(scores))),
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "n_normal": int(np.sum(y == 0)),
        "n_anomalous": int(np.sum(y == 1)),
    }


def best_threshold(scores: np.ndarray, y: np.ndarray, max_fpr: float | None = None) -> float:
    """The threshold (midway between two consecutive distinct scores, so that float32
    rounding on the device does not move a validation row across it) that maximises
    F1, or with max_fpr the recall among thresholds with FPR <= max_fpr (then F1).
    Ties: the lower threshold (fewer flags)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    u = np.unique(s)  # ascending; cut i flags every score <= u[i]; cut -1 flags none
    cuts = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2.0, [u[-1] + 1.0]])
    order = np.searchsorted(u, s)  # row's rank among the distinct scores
    pos = np.bincount(order, weights=(y == 1), minlength=len(u))
    neg = np.bincount(order, weights=(y == 0), minlength=len(u))
    tp = np.concatenate([[0.0], np.cumsum(pos)])
    fp = np.concatenate([[0.0], np.cumsum(neg)])
    n_pos, n_neg = tp[-1], fp[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tp > 0, 2 * tp / (tp + fp + n_pos), 0.0)
    recall = tp / n_pos
    fpr = fp / n_neg
    if max_fpr is None:
        key = f1
    else:
        ok = fpr <= max_fpr + 1e-12
        key = np.where(ok, recall + 1e-9 * f1, -1.0)
    return float(cuts[int(np.argmax(key))])


def calibrate_validation(
    score: ScoreFn, X_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, max_fpr: float | None = None
) -> AnomalyThreshold:
    y = np.asarray(y_val, dtype=np.int64)
    if not (np.any(y == 1) and np.any(y == 0)):
        raise TinyGMMError(
            "--anomaly-validation: the labelled rows must hold both classes, normal and anomalous "
            f"(found {int(np.sum(y == 0))} normal, {int(np.sum(y == 1))} anomalous)"
        )
    s_train = _finite_scores(score, X_train, "training rows")
    s_val = _finite_scores(score, X_val, "validation rows")
    t = best_threshold(s_val, y, max_fpr)
    metrics = detection_metrics(s_val, y, t)
    if max_fpr is not None:
        metrics["max_fpr"] = float(max_fpr)
    return AnomalyThreshold(
        t, "validation-f1" if max_fpr is None else "validation-fpr", flag_rate(s_train, t), validation=metrics
    )


def load_labelled(
    path: str | Path, features: list[str], label: str, positive: str | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """(X with the model's features, y with 1 = anomalous, the anomalous label value) of a validation CSV.

    Labels are 0/1 (1 anomalous, unless ``positive`` names 0), or two distinct
    strings of which ``positive`` names the anomalous one.
    """
    p = Path(path)
    if not p.is_file():
        raise TinyGMMError(f"--anomaly-validation: file not found: {p}")
    label, features = nfc(label), [nfc(f) for f in features]  # names are compared in NFC (tinygmm.names)
    if label in features:
        raise TinyGMMError(f"--anomaly-label {label!r} is also a model feature; leave it out of --features")
    text = decode(p.read_bytes(), p)
    rows = [r for _, r in read_rows(text, p) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise TinyGMMError(f"--anomaly-validation {p}: no data rows")
    header = [nfc(h.strip()) for h in rows[0]]
    missing = [f for f in features if f not in header]
    if missing:
        raise TinyGMMError(
            f"--anomaly-validation {p} has another feature set: no column(s) {', '.join(map(repr, missing))} "
            f"of the model's {', '.join(map(repr, features))}"
        )
    if label not in header:
        raise TinyGMMError(
            f"--anomaly-label: {p} has no column {label!r}; available columns: {', '.join(map(repr, header))}"
        )
    j = header.index(label)
    values = [r[j].strip() if j < len(r) else "" for r in rows[1:]]
    empty = [i + 2 for i, v in enumerate(values) if not v]
    if empty:
        raise TinyGMMError(f"--anomaly-label {label!r}: empty label in {p} (data row(s) {empty[:8]})")
    distinct = sorted(set(values))
    if len(distinct) != 2:
        raise TinyGMMError(
            f"--anomaly-label {label!r} in {p} must take exactly two values (normal and anomalous); "
            f"found {len(distinct)}: {', '.join(map(repr, distinct[:8]))}"
        )

    def as_01(v: str) -> str:
        try:
            f = float(v)
        except ValueError:
            return v
        return "1" if f == 1.0 else "0" if f == 0.0 else v

    canon = [as_01(v) for v in values]
    kinds = sorted(set(canon))
    if positive is None:
        if kinds != ["0", "1"]:
            raise TinyGMMError(
                f"--anomaly-label {label!r} takes the values {distinct[0]!r} and {distinct[1]!r}: name the "
                f"anomalous one with --anomaly-positive (e.g. --anomaly-positive {distinct[1]})"
            )
        positive = "1"
    pos = as_01(positive.strip())
    if pos not in kinds:
        raise TinyGMMError(
            f"--anomaly-positive {positive!r} is not a value of column {label!r} "
            f"(its values are {distinct[0]!r} and {distinct[1]!r})"
        )
    y = np.array([1 if v == pos else 0 for v in canon], dtype=np.int64)
    X = load_csv(p, features, check_constant=False).X
    return X, y, positive


Labelled = tuple[np.ndarray, np.ndarray, str]


def load_validation(opts: AnomalyOptions, feature_names: list[str]) -> Labelled | None:
    """The validation rows the options name (checked: both classes, the model's features), or None.

    Cheap: exporters call it before fitting, so a bad file fails fast."""
    opts.validate(feature_names)
    if opts.validation is None:
        return None
    assert opts.label is not None
    X, y, positive = load_labelled(opts.validation, feature_names, opts.label, opts.positive)
    if not (np.any(y == 1) and np.any(y == 0)):
        raise TinyGMMError(f"--anomaly-validation {opts.validation}: the labelled rows must hold both classes")
    return X, y, positive


def calibrate(
    opts: AnomalyOptions,
    score: ScoreFn,
    X_train: np.ndarray,
    feature_names: list[str],
    labelled: Labelled | None = None,
) -> AnomalyThreshold | None:
    """The threshold the options ask for (None when none is asked for).

    labelled: load_validation's result, if the caller already has it."""
    opts.validate(feature_names)
    if opts.quantile is not None:
        return calibrate_quantile(score, X_train, opts.quantile)
    if opts.threshold is not None:
        return calibrate_user(score, X_train, opts.threshold)
    if opts.validation is not None:
        X_val, y, positive = labelled or load_validation(opts, feature_names)  # type: ignore[misc]
        t = calibrate_validation(score, X_train, X_val, y, opts.max_fpr)
        t.validation.update({"file": str(opts.validation), "label": opts.label, "positive": positive})
        return t
    return None

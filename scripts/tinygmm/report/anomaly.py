"""The report's anomaly section: training scores against the threshold, and with
validation labels the ROC and precision-recall curves and the confusion matrix
at the chosen threshold (sklearn.metrics)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from ..anomaly import AnomalyThreshold, detection_metrics
from . import html as H
from .plots import figure, png

PNGS = ("anomaly_scores.png", "anomaly_curves.png")


def scores_histogram(train: np.ndarray, t: AnomalyThreshold, val: tuple[np.ndarray, np.ndarray] | None) -> bytes:
    fig = figure(7.0, 3.4)
    ax = fig.add_subplot()
    every = np.concatenate([train, *([val[0]] if val else [])])
    lo = min(float(np.percentile(every, 1)), t.threshold - 1.0)
    bins = np.linspace(lo, float(np.max(every)) + 0.1, 50)
    ax.hist(np.clip(train, bins[0], None), bins=bins, color="#4c78a8", alpha=0.75, label="training rows")
    if val is not None:
        s, y = val
        for cls, colour, name in ((0, "#54a24b", "validation: normal"), (1, "#e45756", "validation: anomalous")):
            ax.hist(np.clip(s[y == cls], bins[0], None), bins=bins, histtype="step", lw=1.6, color=colour, label=name)
    ax.axvline(t.threshold, color="black", lw=1.5, ls="--", label=f"threshold {t.threshold:.4g}")
    ax.set_xlabel("score_samples (log-likelihood; values below the axis are piled at its left end)")
    ax.set_ylabel("rows")
    ax.legend(fontsize=8)
    return png(fig)


def curves(s: np.ndarray, y: np.ndarray, t: AnomalyThreshold) -> bytes:

    fpr, tpr, _ = roc_curve(y, -s)
    prec, rec, _ = precision_recall_curve(y, -s)
    at = detection_metrics(s, y, t.threshold)
    fig = figure(7.6, 3.4)
    a, b = fig.subplots(1, 2)
    a.plot(fpr, tpr, color="#4c78a8")
    a.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.8)
    a.plot([at["fpr"]], [at["recall"]], "o", color="black", label="chosen threshold")
    a.set_xlabel("false-positive rate")
    a.set_ylabel("true-positive rate (recall)")
    a.set_title(f"ROC (AUC {at['roc_auc']:.3f})", fontsize=10)
    a.legend(fontsize=8, loc="lower right")
    b.plot(rec, prec, color="#4c78a8")
    b.plot([at["recall"]], [at["precision"]], "o", color="black")
    b.set_xlabel("recall")
    b.set_ylabel("precision")
    b.set_ylim(0, 1.02)
    b.set_title(f"precision-recall (F1 {at['f1']:.3f} at the threshold)", fontsize=10)
    return png(fig)


def section(
    t: AnomalyThreshold, train_scores: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None, pngs: dict[str, bytes]
) -> str:
    """HTML of the section; adds its PNGs to ``pngs``. ``val``: (validation scores, labels 1 = anomalous)."""
    pngs["anomaly_scores.png"] = scores_histogram(train_scores, t, val)
    parts = [
        f"<p>{H.e(t.describe())}. A point is anomalous when <code>score_samples(x) &lt; {t.threshold:.9g}</code> "
        "(on the device: <code>gmm::is_anomaly(x)</code>).</p>",
        H.figure(
            "anomaly_scores.png",
            pngs["anomaly_scores.png"],
            "histogram of the training scores with the threshold",
            "The training rows' log-likelihoods (scikit-learn's score_samples)"
            + (", and the validation rows' by label," if val is not None else "")
            + " with the threshold.",
        ),
    ]
    if val is not None:
        s, y = val
        m = detection_metrics(s, y, t.threshold)
        pngs["anomaly_curves.png"] = curves(s, y, t)
        parts.append(
            H.figure(
                "anomaly_curves.png",
                pngs["anomaly_curves.png"],
                "ROC and precision-recall curves",
                "ROC and precision-recall curves of the validation rows (sklearn.metrics), the chosen threshold marked.",
            )
        )
        c = m["confusion"]
        parts.append(
            H.table(
                ["validation rows", "flagged anomalous", "not flagged"],
                [
                    ["anomalous", str(c["tp"]), str(c["fn"])],
                    ["normal", str(c["fp"]), str(c["tn"])],
                ],
                left=1,
            )
        )
        parts.append(
            f"<p>Confusion matrix at the threshold: precision {m['precision']:.4f}, recall {m['recall']:.4f}, "
            f"F1 {m['f1']:.4f}, false-positive rate {m['fpr']:.4f}, ROC AUC {m['roc_auc']:.4f}.</p>"
        )
    return "\n".join(parts)

"""The report's figures: matplotlib (Agg, no pyplot state) for PNGs, plotly for the 3-D view.

Densities come from scikit-learn (the model's score_samples on a grid) and
scipy (gaussian_kde, chi2); nothing statistical is re-implemented here.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from pandas.plotting import scatter_matrix
from scipy.stats import chi2, gaussian_kde
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

from ..fit.sweep import SweepRow
from ..model.exported import ExportedModel

DPI = 110
GRID = 200
SAVE_METADATA = {"Software": None}  # no matplotlib version in the PNG: same input, same bytes


def figure(width: float, height: float, layout: str | None = "constrained"):

    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)  # the Agg backend, without pyplot's global state
    return fig


def png(fig) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # a feature name in a script the font lacks (Korean in DejaVu Sans) is drawn with boxes in the
        # figure (the page's text has it right): not a warning line for each glyph on the terminal
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        fig.savefig(buf, format="png", dpi=DPI, metadata=SAVE_METADATA)
    return buf.getvalue()


def cluster_colours(k: int) -> list[str]:
    """One colour per component, the same in every figure and table."""

    if k <= 10:
        cmap = colormaps["tab10"]
        return [to_hex(cmap(i)) for i in range(k)]
    if k <= 20:
        cmap = colormaps["tab20"]
        return [to_hex(cmap(i)) for i in range(k)]
    cmap = colormaps["turbo"]
    return [to_hex(cmap(i / (k - 1))) for i in range(k)]


# ---- the mixture restricted to some features ---------------------------------
def marginal(m: ExportedModel, idx: list[int]) -> ExportedModel:
    """The mixture's marginal over features ``idx`` (a Gaussian mixture again: sub-blocks of means/covariances)."""

    idx = list(idx)
    if idx == list(range(m.n_features)):
        return m
    t = m.covariance_type
    if t == "full":
        cov = m.covariances[:, idx][:, :, idx]
    elif t == "tied":
        cov = m.covariances[np.ix_(idx, idx)]
    elif t == "diag":
        cov = m.covariances[:, idx]
    else:
        cov = m.covariances.copy()
    return ExportedModel(
        feature_names=[m.feature_names[i] for i in idx],
        covariance_type=t,
        weights=m.weights,
        means=m.means[:, idx],
        covariances=cov,
        precisions_cholesky=_compute_precision_cholesky(cov, t),
        scaler=m.scaler,
        offset=m.offset[idx],
        scale=m.scale[idx],
    )


def log_density(m: ExportedModel, X: np.ndarray) -> np.ndarray:
    """log p(x) in raw feature units (scikit-learn's score_samples, corrected for the scaler's Jacobian)."""
    return m.to_sklearn().score_samples(m.transform(X)) - float(np.sum(np.log(m.scale)))


def weighted_log_component(m: ExportedModel, X: np.ndarray) -> np.ndarray:
    """log w_k + log N_k(x) in raw feature units, shape (n, K)."""
    return m.weighted_log_prob(X) - float(np.sum(np.log(m.scale)))


def raw_means(m: ExportedModel) -> np.ndarray:
    return m.offset + m.scale * m.means


def _span(values: np.ndarray, pad: float = 0.06) -> np.ndarray:
    lo, hi = float(np.min(values)), float(np.max(values))
    width = hi - lo or 1.0
    return np.linspace(lo - pad * width, hi + pad * width, GRID)


# ---- figures -----------------------------------------------------------------
def feature_distributions(X: np.ndarray, names: list[str], m: ExportedModel) -> bytes:
    """Histogram, kernel density estimate and the mixture's marginal for every feature."""

    d = len(names)
    cols = min(d, 3)
    rows = math.ceil(d / cols)
    fig = figure(4.2 * cols, 3.3 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for j, name in enumerate(names):
        ax = axes[j]
        x = X[:, j]
        grid = _span(x)
        ax.hist(x, bins="auto", density=True, color="#c9d3e0", edgecolor="white", label="histogram")
        ax.plot(grid, gaussian_kde(x)(grid), color="#1f3b73", lw=2, label="KDE (scipy)")
        mixture = np.exp(log_density(marginal(m, [j]), grid[:, None]))
        ax.plot(grid, mixture, color="#d62728", lw=1.6, ls="--", label="GMM marginal")
        ax.set_title(name)
        ax.set_xlabel(name)
        ax.set_ylabel("density")
        ax.set_ylim(bottom=0)
    for ax in axes[d:]:
        ax.set_visible(False)
    axes[0].legend(loc="best", fontsize="small", frameon=False)
    fig.suptitle("Distribution of each feature", fontweight="bold")
    return png(fig)


def pair_plot(X: np.ndarray, names: list[str], labels: np.ndarray, colours: list[str]) -> bytes:
    """pandas' scatter_matrix, points coloured by cluster, KDEs on the diagonal."""

    d = len(names)
    size = max(6.0, min(2.6 * d, 16.0))
    fig = figure(size, size, layout=None)
    ax = fig.add_subplot()
    frame = pd.DataFrame(X, columns=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "the figure containing the passed axes is being cleared"
        axes = scatter_matrix(
            frame,
            ax=ax,
            c=[colours[i] for i in labels],
            alpha=0.7,
            s=12,
            marker="o",
            edgecolors="none",
            diagonal="kde",
            density_kwds={"color": "#1f3b73"},
        )
    for a in np.ravel(axes):
        a.xaxis.label.set_size("small")
        a.yaxis.label.set_size("small")
        a.tick_params(labelsize="x-small")

    k = len(colours)
    handles = [Line2D([], [], ls="", marker="o", color=colours[i], label=f"cluster {i}") for i in range(k)]
    ncol = max(1, min(k, int(size / 1.1)))
    fig.suptitle("Pair plot (points coloured by cluster; KDE on the diagonal)", fontweight="bold", y=1 - 0.12 / size)
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.45 / size),
        ncol=ncol,
        frameon=False,
        fontsize="small",
        columnspacing=1.0,
        handletextpad=0.2,
    )
    top = 1 - (0.6 + 0.25 * math.ceil(k / ncol)) / size
    fig.subplots_adjust(left=0.1, bottom=0.1, right=0.98, top=top, wspace=0.08, hspace=0.08)
    return png(fig)


def _integer_ticks(ax) -> None:

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def information_criteria(sweep: list[SweepRow], chosen: int, chosen_by: str) -> bytes:
    ks = [r.k for r in sweep]
    fig = figure(7.5, 4.2)
    ax = fig.add_subplot()
    ax.plot(ks, [r.bic for r in sweep], "o-", color="#1f77b4", label="BIC")
    ax.plot(ks, [r.aic for r in sweep], "s-", color="#ff7f0e", label="AIC")
    for rows_key, colour in (("bic", "#1f77b4"), ("aic", "#ff7f0e")):
        best = min(sweep, key=lambda r, key=rows_key: getattr(r, key))
        ax.scatter([best.k], [getattr(best, rows_key)], s=160, facecolors="none", edgecolors=colour, lw=2, zorder=4)
    how = "fixed" if chosen_by == "fixed" else f"by {chosen_by.upper()}"
    ax.axvline(chosen, color="#2ca02c", ls="--", lw=1.5, label=f"chosen K = {chosen} ({how})")
    ax.set_xlabel("number of components K")
    ax.set_ylabel("criterion (lower is better)")
    ax.set_title("BIC and AIC against K (circles: minima)")
    _integer_ticks(ax)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return png(fig)


def likelihood_ratio(sweep: list[SweepRow], chosen: int, alpha: float) -> bytes | None:
    """Statistic of each step K-1 -> K against its chi-squared critical value; None when there is no step."""

    steps = [r for r in sweep if r.lrt_statistic is not None and r.lrt_df is not None]
    if not steps:
        return None
    ks = np.array([r.k for r in steps])
    stat = np.array([r.lrt_statistic for r in steps], dtype=float)
    crit = np.array([chi2.ppf(1.0 - alpha, r.lrt_df) for r in steps])
    significant = stat > crit
    fig = figure(7.5, 4.2)
    ax = fig.add_subplot()
    colours = np.where(significant, "#1f77b4", "#b0b7c0")
    ax.bar(ks, stat, width=0.6, color=colours, label="2·(LL(K) − LL(K−1))")
    ax.plot(ks, crit, "_", color="black", ms=28, mew=2.5, label=f"χ² critical value, 1−α = {1 - alpha:g}")
    top = max(float(np.max(stat)), float(np.max(crit)))
    for r, s, c in zip(steps, stat, crit, strict=True):
        p = r.lrt_pvalue if r.lrt_pvalue is not None else float("nan")
        ax.annotate(
            f"df {r.lrt_df}\np {p:.2g}",
            (r.k, max(s, c, 0.0)),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize="x-small",
        )
    if chosen in ks:
        ax.axvspan(chosen - 0.45, chosen + 0.45, color="#2ca02c", alpha=0.15, zorder=0, label=f"chosen K = {chosen}")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylim(top=top * 1.18 if top > 0 else 1.0)
    ax.set_xticks(ks, [f"{k - 1}→{k}" for k in ks])
    ax.set_xlabel("step K−1 → K")
    ax.set_ylabel("likelihood-ratio statistic")
    ax.set_title(f"Likelihood-ratio test per step (α = {alpha:g}; blue: significant)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, loc="upper right", fontsize="small")
    return png(fig)


def clusters_2d(
    X: np.ndarray, m: ExportedModel, pair: tuple[int, int], labels: np.ndarray, colours: list[str]
) -> bytes:
    """Scatter of two features coloured by cluster, the (marginal) mixture density's contours, the means."""
    i, j = pair
    sub = marginal(m, [i, j])
    means = raw_means(m)[:, [i, j]]
    gx = _span(np.concatenate([X[:, i], means[:, 0]]))
    gy = _span(np.concatenate([X[:, j], means[:, 1]]))
    xx, yy = np.meshgrid(gx, gy)
    logp = log_density(sub, np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)
    # contour levels: the density exceeded by 95, 75, 50 and 25 % of the data points
    at_points = log_density(sub, X[:, [i, j]])
    levels = np.unique(np.quantile(at_points, [0.05, 0.25, 0.5, 0.75]))

    fig = figure(9.6, 6.2)
    ax = fig.add_subplot()
    ax.contourf(xx, yy, logp, levels=[*levels, float(np.max(logp)) + 1.0], cmap="Greys", alpha=0.22)
    ax.contour(xx, yy, logp, levels=levels, colors="#555555", linewidths=0.9)
    for k in range(m.n_components):
        sel = labels == k
        ax.scatter(
            X[sel, i],
            X[sel, j],
            s=18,
            color=colours[k],
            alpha=0.8,
            edgecolors="none",
            label=f"cluster {k} (n={int(sel.sum())}, w={m.weights[k]:.2f})",
        )
    ax.scatter(
        means[:, 0],
        means[:, 1],
        marker="X",
        s=190,
        c=colours[: m.n_components],
        edgecolors="black",
        linewidths=1.3,
        zorder=5,
        label="component means",
    )

    handles, texts = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="#555555", lw=0.9))
    texts.append("density contours (95/75/50/25 % of points inside)")
    ax.legend(handles, texts, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize="small")
    ax.set_xlabel(m.feature_names[i])
    ax.set_ylabel(m.feature_names[j])
    other = m.n_features - 2
    title = f"Clusters: {m.feature_names[j]} against {m.feature_names[i]}"
    if other > 0:
        rest = [n for t, n in enumerate(m.feature_names) if t not in (i, j)]
        over = ", ".join(rest) if other <= 2 else f"the {other} other features"
        title += f"\n(mixture density marginalised over {over})"
    fig.suptitle(title, fontweight="bold")
    return png(fig)


def clusters_1d(X: np.ndarray, m: ExportedModel, labels: np.ndarray, colours: list[str]) -> bytes:
    """One feature: histogram, KDE, the mixture's density and each weighted component, points as a rug."""

    x = X[:, 0]
    name = m.feature_names[0]
    grid = _span(x)
    comp = np.exp(weighted_log_component(m, grid[:, None]))
    total = np.exp(log_density(m, grid[:, None]))
    fig = figure(8.0, 4.8)
    ax = fig.add_subplot()
    ax.hist(x, bins="auto", density=True, color="#dde3ea", edgecolor="white", label="histogram")
    ax.plot(grid, gaussian_kde(x)(grid), color="#1f3b73", lw=1.5, ls=":", label="KDE (scipy)")
    ax.plot(grid, total, color="black", lw=2, label="mixture density")
    means = raw_means(m)[:, 0]
    for k in range(m.n_components):
        ax.plot(grid, comp[:, k], color=colours[k], lw=1.6, label=f"component {k} (w={m.weights[k]:.2f})")
        ax.axvline(means[k], color=colours[k], lw=1, ls="--")
    top = float(max(np.max(total), np.max(comp)))
    rng = np.random.default_rng(0)
    jitter = -top * (0.04 + 0.06 * rng.random(x.size))
    ax.scatter(x, jitter, s=8, c=[colours[k] for k in labels], alpha=0.7, edgecolors="none")
    ax.set_ylim(-top * 0.12, top * 1.1)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel(name)
    ax.set_ylabel("density")
    fig.suptitle(
        f"Mixture components on {name}\n(dashed lines: component means; points below the axis, coloured by cluster)",
        fontweight="bold",
    )
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize="small")
    return png(fig)


def view_3d(X: np.ndarray, m: ExportedModel, axes3: list[int], labels: np.ndarray, colours: list[str]) -> str:
    """An interactive plotly scatter3d as an HTML fragment with plotly.js inlined (no network)."""

    names = [m.feature_names[i] for i in axes3]
    means = raw_means(m)[:, axes3]
    fig = go.Figure()
    for k in range(m.n_components):
        sel = labels == k
        fig.add_trace(
            go.Scatter3d(
                x=X[sel, axes3[0]],
                y=X[sel, axes3[1]],
                z=X[sel, axes3[2]],
                mode="markers",
                name=f"cluster {k} (n={int(sel.sum())})",
                marker={"size": 3.5, "color": colours[k], "opacity": 0.85},
            )
        )
    fig.add_trace(
        go.Scatter3d(
            x=means[:, 0],
            y=means[:, 1],
            z=means[:, 2],
            mode="markers",
            name="component means",
            marker={
                "size": 9,
                "symbol": "diamond",
                "color": colours[: m.n_components],
                "line": {"color": "black", "width": 2},
            },
        )
    )
    fig.update_layout(
        title={"text": "Clusters in 3-D (drag to rotate, scroll to zoom, click legend to hide)"},
        scene={"xaxis_title": names[0], "yaxis_title": names[1], "zaxis_title": names[2]},
        height=640,
        margin={"l": 0, "r": 0, "t": 50, "b": 0},
        legend={"itemsizing": "constant"},
        template="plotly_white",
    )
    return fig.to_html(
        full_html=False,
        include_plotlyjs=True,
        div_id="view3d",
        config={"displaylogo": False, "responsive": True},
    )

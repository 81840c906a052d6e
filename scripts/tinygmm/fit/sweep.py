"""Fit a Gaussian mixture with scikit-learn and choose the number of components."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import chi2
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from threadpoolctl import threadpool_limits

from ..data.reader import Dataset
from ..errors import TinyGMMError
from ..options import COVARIANCE_TYPES, CRITERIA, DEFAULTS, INIT_PARAMS, SCALERS


@dataclass(frozen=True)
class FitOptions:
    """Model options; names follow scikit-learn's GaussianMixture."""

    # defaults: the options table (tinygmm.options), as the CLI and platformio.ini have them
    n_components: int | None = DEFAULTS["n_components"]  # None: choose automatically
    max_components: int = DEFAULTS["max_components"]
    criterion: str = DEFAULTS["criterion"]
    alpha: float = DEFAULTS["alpha"]
    covariance_type: str = DEFAULTS["covariance_type"]
    init_params: str = DEFAULTS["init_params"]
    max_iter: int = DEFAULTS["max_iter"]
    tol: float = DEFAULTS["tol"]
    reg_covar: float = DEFAULTS["reg_covar"]
    n_init: int = DEFAULTS["n_init"]
    random_state: int | None = DEFAULTS["random_state"]
    scaler: str = DEFAULTS["scaler"]
    # auto-K sweep: how many K values are fitted at once (None: one per core). Never changes a result:
    # every K is fitted on one thread with its own copy of the options, whatever n_jobs is.
    n_jobs: int | None = DEFAULTS["n_jobs"]

    def validate(self) -> None:
        if self.n_components is not None and self.n_components < 1:
            raise TinyGMMError(f"--n-components must be >= 1 or 'auto', got {self.n_components}")
        if self.max_components < 1:
            raise TinyGMMError(f"--max-components must be >= 1, got {self.max_components}")
        for name, value, allowed in (
            ("--covariance-type", self.covariance_type, COVARIANCE_TYPES),
            ("--init-params", self.init_params, INIT_PARAMS),
            ("--scaler", self.scaler, SCALERS),
            ("--criterion", self.criterion, CRITERIA),
        ):
            if value not in allowed:
                raise TinyGMMError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if not 0.0 < self.alpha < 1.0:  # also refuses nan
            raise TinyGMMError(f"--alpha must be in (0, 1), got {self.alpha}")
        if self.max_iter < 1:
            raise TinyGMMError(f"--max-iter must be >= 1, got {self.max_iter}")
        if self.n_init < 1:
            raise TinyGMMError(f"--n-init must be >= 1, got {self.n_init}")
        if not (self.tol > 0 and math.isfinite(self.tol)):
            raise TinyGMMError(f"--tol must be a finite number > 0, got {self.tol}")
        if not (self.reg_covar >= 0 and math.isfinite(self.reg_covar)):
            raise TinyGMMError(f"--reg-covar must be a finite number >= 0, got {self.reg_covar}")
        if self.random_state is not None and not 0 <= self.random_state < 2**32:
            raise TinyGMMError(
                f"--random-state {self.random_state!r} is not a seed scikit-learn takes; give 0 to {2**32 - 1}, or none"
            )
        if self.n_jobs is not None and self.n_jobs < 1:
            raise TinyGMMError(f"--n-jobs must be >= 1 (or omitted: all cores), got {self.n_jobs}")

    def as_dict(self) -> dict[str, object]:
        """The options that define the model (n_jobs only decides how fast it is found)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "n_jobs"}


def n_parameters(covariance_type: str, n_components: int, n_features: int) -> int:
    """Free parameters of a mixture (same count as scikit-learn's BIC uses)."""
    k, d = n_components, n_features
    cov = {
        "full": k * d * (d + 1) // 2,
        "tied": d * (d + 1) // 2,
        "diag": k * d,
        "spherical": k,
    }[covariance_type]
    return cov + k * d + k - 1


@dataclass(frozen=True)
class SweepRow:
    """One candidate K: fit quality and, for K > 1, the LRT of K-1 -> K."""

    k: int
    log_likelihood: float  # total over all samples
    bic: float
    aic: float
    n_parameters: int
    lrt_statistic: float | None = None
    lrt_df: int | None = None
    lrt_pvalue: float | None = None
    # EM got stuck: this K's fit ended below the log-likelihood of this smaller K (which a K-component
    # mixture can always match), so the row compares optima found, not model sizes
    em_stuck_below: int | None = None


@dataclass
class FitResult:
    gmm: GaussianMixture
    offset: np.ndarray
    scale: np.ndarray
    sweep: list[SweepRow] = field(default_factory=list)
    chosen_by: str = "fixed"
    converged: bool = True
    scaler: StandardScaler | MinMaxScaler | None = None  # the fitted scaler, if any

    @property
    def estimator(self) -> GaussianMixture | Pipeline:
        """The fit as one scikit-learn estimator: the mixture, or a Pipeline (scaler, mixture)."""
        if self.scaler is None:
            return self.gmm

        return Pipeline([("scaler", self.scaler), ("gmm", self.gmm)])


def fit_scaler(X: np.ndarray, kind: str) -> tuple[StandardScaler | MinMaxScaler | None, np.ndarray, np.ndarray]:
    """(fitted scaler or None, offset, scale) such that the model sees (x - offset) / scale."""
    d = X.shape[1]
    if kind == "none":
        return None, np.zeros(d), np.ones(d)
    if kind == "standard":
        s = StandardScaler().fit(X)
        return s, s.mean_.copy(), s.scale_.copy()

    m = MinMaxScaler().fit(X)
    return m, m.data_min_.copy(), m.data_range_.copy()


def _gmm(k: int, o: FitOptions):

    return GaussianMixture(
        n_components=k,
        covariance_type=o.covariance_type,
        init_params=o.init_params,
        max_iter=o.max_iter,
        tol=o.tol,
        reg_covar=o.reg_covar,
        n_init=o.n_init,
        random_state=o.random_state,
    )


def _fit_one(k: int, Z: np.ndarray, o: FitOptions):

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            g = _gmm(k, o).fit(Z)
        except ValueError as exc:
            raise TinyGMMError(f"scikit-learn could not fit K={k}: {exc}") from None
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return g, converged


def lrt(prev: SweepRow, row: SweepRow) -> tuple[float, int, float]:
    """Likelihood-ratio test of K-1 against K components.

    Statistic 2 * (LL_K - LL_{K-1}) on total log-likelihoods, with degrees of
    freedom the difference in free parameters, against a chi-squared law.
    """

    stat = 2.0 * (row.log_likelihood - prev.log_likelihood)
    df = row.n_parameters - prev.n_parameters
    p = float(chi2.sf(stat, df)) if stat > 0 else 1.0
    return stat, df, p


def choose_k(rows: list[SweepRow], criterion: str, alpha: float) -> int:
    if criterion == "bic":
        return min(rows, key=lambda r: r.bic).k
    if criterion == "aic":
        return min(rows, key=lambda r: r.aic).k
    # LRT: keep adding components while the step is significant.
    chosen = rows[0].k
    for r in rows[1:]:
        if r.lrt_pvalue is None or r.lrt_pvalue >= alpha:
            break
        chosen = r.k
    return chosen


def fit(
    data: Dataset,
    options: FitOptions,
    progress: Callable[..., None] | None = None,
) -> FitResult:
    """Fit the scaler and the mixture; sweep K when ``n_components`` is None."""
    options.validate()
    n, d = data.X.shape
    scaler, offset, scale = fit_scaler(data.X, options.scaler)
    # (x - 0) / 1 is x bit for bit: no second copy of a large matrix without a scaler
    Z = data.X if options.scaler == "none" else (data.X - offset) / scale
    if options.n_components is not None:
        if n < options.n_components:
            raise TinyGMMError(
                f"{n} data rows but {options.n_components} components: "
                "each component needs at least one row; lower --n-components"
            )
        g, conv = _fit_one(options.n_components, Z, options)
        return FitResult(g, offset, scale, [], "fixed", conv, scaler)

    k_max = min(options.max_components, n)
    if k_max < 1:
        raise TinyGMMError("no data rows to fit")
    fitted = _sweep(Z, options, k_max, progress)
    rows: list[SweepRow] = []
    for k in range(1, k_max + 1):
        _, _, score = fitted[k]
        npar = n_parameters(options.covariance_type, k, d)
        # scikit-learn's own formulas (GaussianMixture.bic / .aic), from one score(Z) per K
        row = SweepRow(k, score * n, -2 * score * n + npar * math.log(n), -2 * score * n + 2 * npar, npar)
        if rows:
            stat, df, p = lrt(rows[-1], row)
            row = dataclasses.replace(row, lrt_statistic=stat, lrt_df=df, lrt_pvalue=p)
        rows.append(row)
    rows = mark_em_stuck(rows)
    k = choose_k(rows, options.criterion, options.alpha)
    g, conv, _ = fitted[k]
    return FitResult(g, offset, scale, rows, options.criterion, conv, scaler)


# Below this many data cells a sweep runs in this process: starting worker processes would cost more.
PARALLEL_MIN_CELLS = 200_000


def _fit_k(k: int, Z: np.ndarray, o: FitOptions) -> tuple[int, object, bool, float]:
    """One K of the sweep, on one thread (so the result is the same in any process, with any n_jobs)."""

    with threadpool_limits(limits=1):
        g, conv = _fit_one(k, Z, o)
        score = float(g.score(Z))  # mean log-likelihood per sample
    return k, g, conv, score


def sweep_jobs(n_jobs: int | None, n_k: int, n_cells: int) -> int:
    """Worker processes for a sweep of n_k values of K (1: in this process)."""
    cores = os.cpu_count() or 1
    jobs = cores if n_jobs is None else n_jobs
    return max(1, min(jobs, n_k)) if n_cells >= PARALLEL_MIN_CELLS else 1


def _sweep(
    Z: np.ndarray, o: FitOptions, k_max: int, progress: Callable[..., None] | None
) -> dict[int, tuple[object, bool, float]]:
    """{K: (fitted mixture, converged, mean log-likelihood)} for K = 1..k_max, largest K first."""
    order = list(range(k_max, 0, -1))  # the slowest fits first: workers finish together
    total_work = sum(order)
    jobs = sweep_jobs(o.n_jobs, k_max, Z.size)
    if jobs == 1:
        results = (_fit_k(k, Z, o) for k in order)
    else:
        # loky worker processes; Z reaches them as a read-only memory map, not a copy per task
        results = Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(_fit_k)(k, Z, o) for k in order)
    fitted: dict[int, tuple[object, bool, float]] = {}
    work = 0
    if progress:
        progress(0, k_max, 0.0)  # the sweep starts now
    for k, g, conv, score in results:
        fitted[k] = (g, conv, score)
        work += k
        if progress:
            progress(len(fitted), k_max, work / total_work)
    return fitted


def mark_em_stuck(rows: list[SweepRow]) -> list[SweepRow]:
    """Set ``em_stuck_below`` on every K whose log-likelihood is below a smaller K's best."""
    out: list[SweepRow] = []
    best_k, best_ll = None, -math.inf
    for r in sorted(rows, key=lambda r: r.k):
        stuck = best_k if r.log_likelihood < best_ll else None
        out.append(dataclasses.replace(r, em_stuck_below=stuck))
        if r.log_likelihood > best_ll:
            best_k, best_ll = r.k, r.log_likelihood
    return out


def stuck_note(rows: list[SweepRow]) -> str | None:
    """One sentence on the K values where EM got stuck, with what to try; None when there are none."""
    stuck = [r for r in rows if r.em_stuck_below is not None]
    if not stuck:
        return None
    ks = ", ".join(str(r.k) for r in stuck)
    return (
        f"EM got stuck for K={ks}: each fit ended with a lower log-likelihood than a smaller K "
        "(a larger mixture can always do at least as well), so those rows compare local optima, not model "
        "sizes, and a negative LRT statistic says nothing about the model; "
        "try --n-init 5 (more starts per K) or --init-params k-means++"
    )


def sweep_table(rows: list[SweepRow], chosen: int, alpha: float) -> str:
    """Plain-text table of the model-selection sweep."""

    def f(v: float | None, fmt: str) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    head = f"{'K':>3} {'logL':>12} {'BIC':>12} {'AIC':>12} {'LRT':>10} {'df':>4} {'p-value':>9}"
    lines = [head]
    for r in rows:
        mark = "  <- chosen" if r.k == chosen else ""
        if r.em_stuck_below is not None:
            mark += f"  * EM stuck: logL below K={r.em_stuck_below}'s"
        lines.append(
            f"{r.k:>3} {r.log_likelihood:>12.2f} {r.bic:>12.2f} {r.aic:>12.2f} "
            f"{f(r.lrt_statistic, '.2f'):>10} {f(r.lrt_df, 'd'):>4} {f(r.lrt_pvalue, '.3g'):>9}{mark}"
        )
    lines.append(f"(LRT: 2*(logL_K - logL_K-1) against chi2(df); alpha = {alpha})")
    note = stuck_note(rows)
    if note:
        lines.append(f"(*: {note})")
    return "\n".join(lines)


class Progress:
    """Prints sweep progress on stderr once a sweep has run for over a second: K values done,
    elapsed time and an estimate of the time left (from the share of the work done, a K costing
    about K times K=1)."""

    def __init__(self, label: str = "fitting") -> None:
        self.start = time.monotonic()
        self.label = label
        self.shown = False

    def line(self, done: int, total: int, work: float | None = None) -> str:
        elapsed = time.monotonic() - self.start
        frac = done / total if work is None else work
        text = f"{self.label}: {done}/{total} K values fitted, {_duration(elapsed)} elapsed"
        if done < total and frac > 0:
            text += f", about {_duration(elapsed * (1 - frac) / frac)} left"
        return text

    def __call__(self, done: int, total: int, work: float | None = None) -> None:
        if done == 0:
            self.start = time.monotonic()
            return
        if time.monotonic() - self.start > 1.0 or self.shown:
            self.shown = True
            text = self.line(done, total, work)
            if sys.stderr.isatty():
                end = "\n" if done == total else ""
                print(f"\r{text}\x1b[K", end=end, file=sys.stderr, flush=True)
            else:
                print(text, file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s} s" if s < 120 else f"{s // 60} min {s % 60:02d} s"

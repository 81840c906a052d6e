"""Fit a Gaussian mixture with scikit-learn and choose the number of components."""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .data import Dataset
from .errors import TinyGMMError

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
SCALERS = ("none", "standard", "minmax")
CRITERIA = ("bic", "aic", "lrt")


@dataclass(frozen=True)
class FitOptions:
    """Model options; names follow scikit-learn's GaussianMixture."""

    n_components: int | None = None  # None: choose automatically
    max_components: int = 10
    criterion: str = "bic"
    alpha: float = 0.05
    covariance_type: str = "full"
    init_params: str = "kmeans"
    max_iter: int = 100
    tol: float = 1e-3
    reg_covar: float = 1e-6
    n_init: int = 1
    random_state: int | None = 0
    scaler: str = "none"

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

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


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


@dataclass
class FitResult:
    gmm: object  # sklearn.mixture.GaussianMixture
    offset: np.ndarray
    scale: np.ndarray
    sweep: list[SweepRow] = field(default_factory=list)
    chosen_by: str = "fixed"
    converged: bool = True
    scaler: object | None = None  # the fitted StandardScaler / MinMaxScaler, if any

    @property
    def estimator(self) -> object:
        """The fit as one scikit-learn estimator: the mixture, or a Pipeline (scaler, mixture)."""
        if self.scaler is None:
            return self.gmm
        from sklearn.pipeline import Pipeline

        return Pipeline([("scaler", self.scaler), ("gmm", self.gmm)])


def fit_scaler(X: np.ndarray, kind: str) -> tuple[object | None, np.ndarray, np.ndarray]:
    """(fitted scaler or None, offset, scale) such that the model sees (x - offset) / scale."""
    d = X.shape[1]
    if kind == "none":
        return None, np.zeros(d), np.ones(d)
    if kind == "standard":
        from sklearn.preprocessing import StandardScaler

        s = StandardScaler().fit(X)
        return s, s.mean_.copy(), s.scale_.copy()
    from sklearn.preprocessing import MinMaxScaler

    m = MinMaxScaler().fit(X)
    return m, m.data_min_.copy(), m.data_range_.copy()


def scaler_params(X: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) such that the model sees (x - offset) / scale."""
    return fit_scaler(X, kind)[1:]


def _gmm(k: int, o: FitOptions):
    from sklearn.mixture import GaussianMixture

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
    from sklearn.exceptions import ConvergenceWarning

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
    from scipy.stats import chi2

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
    progress: Callable[[int, int], None] | None = None,
) -> FitResult:
    """Fit the scaler and the mixture; sweep K when ``n_components`` is None."""
    options.validate()
    n, d = data.X.shape
    scaler, offset, scale = fit_scaler(data.X, options.scaler)
    Z = (data.X - offset) / scale
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
    rows: list[SweepRow] = []
    fitted = {}
    for k in range(1, k_max + 1):
        g, conv = _fit_one(k, Z, options)
        ll = float(g.score(Z)) * n
        npar = n_parameters(options.covariance_type, k, d)
        row = SweepRow(k, ll, float(g.bic(Z)), float(g.aic(Z)), npar)
        if rows:
            stat, df, p = lrt(rows[-1], row)
            row = SweepRow(k, ll, row.bic, row.aic, npar, stat, df, p)
        rows.append(row)
        fitted[k] = (g, conv)
        if progress:
            progress(k, k_max)
    k = choose_k(rows, options.criterion, options.alpha)
    g, conv = fitted[k]
    return FitResult(g, offset, scale, rows, options.criterion, conv, scaler)


def sweep_table(rows: list[SweepRow], chosen: int, alpha: float) -> str:
    """Plain-text table of the model-selection sweep."""

    def f(v: float | None, fmt: str) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    head = f"{'K':>3} {'logL':>12} {'BIC':>12} {'AIC':>12} {'LRT':>10} {'df':>4} {'p-value':>9}"
    lines = [head]
    for r in rows:
        mark = "  <- chosen" if r.k == chosen else ""
        lines.append(
            f"{r.k:>3} {r.log_likelihood:>12.2f} {r.bic:>12.2f} {r.aic:>12.2f} "
            f"{f(r.lrt_statistic, '.2f'):>10} {f(r.lrt_df, 'd'):>4} {f(r.lrt_pvalue, '.3g'):>9}{mark}"
        )
    lines.append(f"(LRT: 2*(logL_K - logL_K-1) against chi2(df); alpha = {alpha})")
    return "\n".join(lines)


class Progress:
    """Prints sweep progress on stderr once a sweep has run for over a second."""

    def __init__(self, label: str = "fitting") -> None:
        self.start = time.monotonic()
        self.label = label
        self.shown = False

    def __call__(self, k: int, total: int) -> None:
        if time.monotonic() - self.start > 1.0 or self.shown:
            self.shown = True
            if sys.stderr.isatty():
                end = "\n" if k == total else ""
                print(f"\r{self.label}: K={k}/{total}", end=end, file=sys.stderr, flush=True)
            else:
                print(f"{self.label}: K={k}/{total}", file=sys.stderr, flush=True)

"""The integer model of the --fixed-point path and its error bound (see tinygmm_fixed.h)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import TinyGMMError
from ..model.exported import ExportedModel
from .clit import cfloat, float_array, index_array, int_array
from .covariance import HALF_SQRT, kind
from .spaces import (
    discriminative_order,
    log_constant,
    mixture_samples,
    precision_factors_z,
    upper_factor,
    z_space,
)

QUANT_MAGIC = 12582912.0  # 1.5 * 2^23: x + MAGIC rounds x to an integer in the low mantissa bits


@dataclass
class FixedPoint:
    """The integer model of the --fixed-point path (see tinygmm_fixed.h).

    Everything is in the evaluation's feature order: z_i is input feature
    ``perm[i]`` (the most discriminative first, which the bins of
    ``predict_fixed`` key on).
    """

    F: int  # zq = round(z * 2^F), |z| < 2^(15 - F)
    G: np.ndarray  # (K,) per component: Uq = round(U * 2^G_k)
    T: int  # y in units of 2^-T (shift F + G_k - T, 16 when possible), log-probabilities in units of 2^-2T
    diag: bool
    perm: np.ndarray  # (D,) z_i = (x[perm[i]] - offset_i) / scale_i
    offset: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    u: np.ndarray  # (K, D, D) float64 upper triangular, z-space, times sqrt(1/2)
    b: np.ndarray  # (K, D) = U^T mean
    c: np.ndarray  # (K,)
    uq: np.ndarray  # (K, D, D) int
    bq: np.ndarray  # (K, D) int (without the rounding offset)
    cq: np.ndarray  # (K,) int
    yclamp: int
    gain: np.ndarray  # (D,) float32 values: 2^F / scale
    fused: bool  # quantize computes x * gain + qa (else (x - qa) * gain + MAGIC)
    qa: np.ndarray  # (D,) float32 values: MAGIC - offset * gain if fused, else offset

    @property
    def shift(self) -> np.ndarray:
        return self.F + self.G - self.T

    @property
    def all16(self) -> bool:
        return bool(np.all(self.shift == 16))

    @property
    def zmax(self) -> float:
        return 2.0 ** (15 - self.F)

    def rq(self, k: int) -> list[int]:
        """Component k's int32 stream: cq, then bq_j minus the rounding offset of the shift."""
        off = 2 ** int(self.shift[k] - 1)
        return [int(self.cq[k])] + [int(v) - off for v in self.bq[k]]

    def z(self, X: np.ndarray) -> np.ndarray:
        """Raw inputs (n, D) -> z-space in the evaluation's feature order."""
        return (np.asarray(X, dtype=np.float64)[:, self.perm] - self.offset) / self.scale

    def column_y(self, k: int, j: int, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The device's y_j (clamped) and whether it clamped, from the exact accumulator."""
        sh = int(self.shift[k])
        y = acc >> 16 if self.all16 or sh == 16 else np.clip(acc >> sh, -32767, 32767)
        return np.clip(y, -self.yclamp, self.yclamp), np.abs(y) > self.yclamp

    def log_prob_q(self, zq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exactly what the device computes: (lpq (n, K), clamped (n, K)) for int inputs zq (n, D)."""
        zq = np.asarray(zq, dtype=np.int64)
        n, (k_, d) = len(zq), self.uq.shape[:2]
        lpq = np.empty((n, k_), dtype=np.int64)
        clamped = np.zeros((n, k_), dtype=bool)
        for k in range(k_):
            rq, q = self.rq(k), np.zeros(n, dtype=np.int64)
            for j in range(d):
                rows = [j] if self.diag else range(j + 1)
                acc = -rq[1 + j] + sum(zq[:, i] * int(self.uq[k, i, j]) for i in rows)
                y, cl = self.column_y(k, j, acc)
                q += y * y
                clamped[:, k] |= cl
            lpq[:, k] = rq[0] - q
        return lpq, clamped

    def column_error(self, zq: np.ndarray) -> np.ndarray:
        """Bound on |y~_kj - y_kj| for quantised inputs zq (n, D) -> (n, K, D)."""
        ez = 2.0 ** -(self.F + 1) + 2.0 ** -(self.F + 7)  # rounding, plus float32 rounding in quantize
        eu = 2.0 ** -(self.G[None, :, None] + 1.0)
        eb = 2.0 ** -(self.F + self.G[None, :, None] + 1.0)
        ey = 2.0 ** -(self.T + 1)
        zabs = np.abs(zq) * 2.0**-self.F  # (n, D)
        col_u = np.abs(self.u).sum(axis=1)  # (K, D): sum_i |U_ij|
        mask = np.abs(self.u) > 0 if self.diag else np.triu(np.ones((zq.shape[1],) * 2, bool))
        col_z = np.einsum(
            "ni,kij->nkj", zabs, mask.astype(float) if mask.ndim == 3 else np.broadcast_to(mask, self.u.shape)
        )
        return ez * col_u[None] + eu * col_z + eb + ey

    def log_prob_error(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bound on |lpq * 2^-2T - log p| (n, K), exact log p (n, K)) at raw inputs X."""
        z = self.z(X)
        zq = np.round(z * 2.0**self.F)
        y = np.einsum("ni,kij->nkj", z, self.u) - self.b[None]
        e = self.column_error(zq)
        eps = np.sum(e * (2 * np.abs(y) + e), axis=2) + 2.0 ** -(2 * self.T + 1)
        return eps, self.c[None] - np.sum(y * y, axis=2)

    def max_column_error(self) -> float:
        """Worst per-column y error over the quantisation domain."""
        d = self.u.shape[1]
        return float(self.column_error(np.full((1, d), 2.0**15)).max())


def fixed_point(m: ExportedModel) -> FixedPoint:
    """Quantise the model in z-space: choose F, G, T so that nothing overflows int32."""
    k, d = m.n_components, m.n_features
    sp = z_space(m)
    o, s, means_z = sp.o, sp.s, sp.means_z
    u = precision_factors_z(m, sp.A) * HALF_SQRT
    diag = kind(m).diagonal
    # evaluation order: by descending ratio of between- to within-component
    # variance, so that column 0 (which the bins key on) separates most
    sd_z = np.sqrt(np.array([np.diag(np.linalg.inv(uk @ uk.T) / 2.0) for uk in u]))
    perm = discriminative_order(m.weights, means_z, sd_z**2)
    if not np.array_equal(perm, np.arange(d)):
        means_z, sd_z, o, s = means_z[:, perm], sd_z[:, perm], o[perm], s[perm]
        if diag:
            u = np.stack([np.diag(np.diag(uk)[perm]) for uk in u])
        else:
            u = np.stack([upper_factor((uk @ uk.T)[np.ix_(perm, perm)]) for uk in u])
    b = np.einsum("ki,kij->kj", means_z, u)  # U^T mean, per component
    c = log_constant(m)
    # the domain covers every component out to 4 standard deviations per feature
    reach = float(np.max(np.abs(means_z) + 4.0 * sd_z))
    zmax = max(4.0, 2.0 ** math.ceil(math.log2(max(1e-9, reach))))
    F = 15 - int(round(math.log2(zmax)))
    # quantize rounds with one float addition of MAGIC (the sum's last mantissa
    # bit is worth 1). When x * gain stays small enough for its float32 rounding
    # to be negligible (< 2^-7 LSB), the offset is folded into that addition,
    # x * gain + (MAGIC - offset * gain): two float operations per feature. The
    # addend is a float32 with a step of 1, so the offset moves by up to half a
    # step; that known shift (delta, in LSB) goes into the means instead.
    gain = (2.0**F / s).astype(np.float32).astype(np.float64)
    fused = bool(np.max(np.abs(o * gain)) + 2.0**15 <= 2.0**17)
    if fused:
        qa = (QUANT_MAGIC - o * gain).astype(np.float32).astype(np.float64)
        delta = o * gain - (QUANT_MAGIC - qa)
        means_z = means_z + delta * 2.0**-F
    else:
        qa = o.astype(np.float32).astype(np.float64)
    limit = 2.0**31 - 2.0**16
    # per component: the largest G_k for which nothing overflows. T (<= 10) is
    # then chosen so that every component can use a shift of 16 (free on 8-bit
    # MCUs: the high word), G_k = 16 + T - F, unless that would leave T < 6;
    # only then do the narrowest components get their largest G_k and a
    # smaller (slower) shift.
    gmax = np.empty(k, dtype=np.int64)
    for j in range(k):
        colsum, bmax, umax = np.abs(u[j]).sum(axis=0).max(), float(np.abs(b[j]).max()), np.abs(u[j]).max()
        g = 40
        while g > -60 and (
            2.0**15 * colsum * 2.0**g + bmax * 2.0 ** (F + g) + 2.0**16 >= limit or umax * 2.0**g >= 32767
        ):
            g -= 1
        gmax[j] = g
    T = int(min(10, max(6, gmax.min() + F - 16)))
    while T >= 1 and np.abs(c).max() * 2.0 ** (2 * T) >= 2.0**30:
        T -= 1
    if T < 1:
        raise TinyGMMError("--fixed-point: the model's log-densities are too large for a 32-bit fixed-point format")
    G = np.maximum(np.minimum(gmax, 16 + T - F), T + 1 - F)  # shift >= 1
    uq = np.round(u * 2.0 ** G[:, None, None]).astype(np.int64)
    bq = np.round(b * 2.0 ** (F + G[:, None])).astype(np.int64)
    if np.abs(uq).max() > 32767:
        raise TinyGMMError("--fixed-point: a component is too narrow for a 16-bit fixed-point format")
    cq = np.round(c * 2.0 ** (2 * T)).astype(np.int64)
    room = (2.0**31 - 1 - float(np.abs(cq).max())) / d
    yclamp = int(min(16383, math.floor(math.sqrt(room))))
    return FixedPoint(F, G, T, diag, perm, o, s, u, b, c, uq, bq, cq, yclamp, gain, fused, qa)


@dataclass
class FixedBins:
    """predict_fixed's visiting plan: bins of zq[0] and, per bin, which components to try in which order.

    Bin b holds zq[0] in [lo + b 2^s, lo + (b + 1) 2^s) (the first and last
    bins extend to the ends of int16). Per bin: the component that usually wins
    there first, then the others by descending upper bound of their integer
    log-probability over the bin, cq - min y_0^2 (exact: y_0 is monotone in
    zq[0]), stored rounded up in units of 2^16, so that predict_fixed may stop
    at the first bound below the best so far.
    """

    lo: int
    s: int
    visit: np.ndarray  # (NB, K) component indices
    bound: np.ndarray  # (NB, K) int16: ceil(upper bound / 2^16), in visiting order


def fixed_bins(m: ExportedModel, q: FixedPoint, nb: int = 16) -> FixedBins:
    """The bins (nb a power of two) span the middle 98 % of zq[0] over samples of the mixture."""
    k = m.n_components
    x, winners = mixture_samples(m)
    zq0 = np.clip(np.round(q.z(x)[:, 0] * 2.0**q.F), -32767, 32767)
    lo_q, hi_q = np.quantile(zq0, [0.01, 0.99]) if k > 1 else (0.0, 0.0)
    s = min(max(0, math.ceil(math.log2(max(1.0, (hi_q - lo_q) / nb)))), 16 - int(math.log2(nb)))
    lo = max(-32768, min(int(round((lo_q + hi_q) / 2 - nb * 2**s / 2)), 32768 - nb * 2**s))
    starts = [-32768] + [lo + b * 2**s for b in range(1, nb)]
    ends = [lo + (b + 1) * 2**s - 1 for b in range(nb - 1)] + [32767]
    which = np.clip((zq0 - lo) // 2**s, 0, nb - 1).astype(np.int64)
    visit = np.empty((nb, k), dtype=np.int64)
    bound = np.empty((nb, k), dtype=np.int64)
    for bi in range(nb):
        ends_zq = np.array([[starts[bi]], [ends[bi]]], dtype=np.int64)
        ub = np.empty(k, dtype=np.int64)
        for j in range(k):
            acc = -q.rq(j)[1] + ends_zq[:, 0] * int(q.uq[j, 0, 0])
            y, _ = q.column_y(j, 0, acc)
            y_min2 = 0 if y[0] <= 0 <= y[1] else int(min(y[0] ** 2, y[1] ** 2))
            ub[j] = int(q.cq[j]) - y_min2
        counts = np.bincount(winners[which == bi], minlength=k)
        first = int(np.argmax(counts)) if counts.any() else int(np.argmax(ub))
        rest = sorted((j for j in range(k) if j != first), key=lambda j: (-int(ub[j]), j))
        visit[bi] = [first, *rest]
        bound[bi] = [-((-int(ub[j])) >> 16) for j in visit[bi]]  # ceil
    return FixedBins(lo, s, visit, bound)


def fixed_point_code(m: ExportedModel, projected: bool = False) -> tuple[str, str]:
    """(detail arrays + policy, public functions) of the fixed-point path.

    m is the mixture on its own input; projected: the header's x is projected first.
    """
    q = fixed_point(m)
    return fixed_tables(m, q, fixed_bins(m, q)), fixed_public(q, projected)


def fixed_tables(m: ExportedModel, q: FixedPoint, bins: FixedBins) -> str:
    """The integer tables and the policy struct Fixed (inside namespace detail)."""
    k, d = m.n_components, m.n_features
    nb = len(bins.visit)
    rq, uq = [], []
    for j in range(k):
        rq += q.rq(j)
        for col in range(d):
            uq += [int(q.uq[j, col, col])] if q.diag else [int(v) for v in q.uq[j, : col + 1, col]]
    nu = d if q.diag else d * (d + 1) // 2
    arrays = "\n".join(
        [
            float_array(
                "Q_A",
                q.qa,
                max(d, 1),
                "fixed point: zq[i] = round(x[Q_PERM[i]] * Q_GAIN[i] + Q_A[i] - 1.5 * 2^23)"
                if q.fused
                else "fixed point: zq[i] = round((x[Q_PERM[i]] - Q_A[i]) * Q_GAIN[i])",
            ),
            float_array("Q_GAIN", q.gain, max(d, 1), "2^F / scale"),
            index_array(
                "Q_PERM", [int(v) for v in q.perm], "evaluation order of the features (most discriminative first)"
            ),
            "// per component: y = acc >> Q_SHIFT, 16 unless the component is very narrow\n"
            f"static constexpr uint8_t Q_SHIFT[{k}] TINYGMM_FLASH = {{{', '.join(str(int(v)) for v in q.shift)}}};\n",
            int_array("Q_RQ", "int32_t", rq, d + 1, "per component: cq, then bq_j - 2^(shift - 1) per column (int32)"),
            int_array("Q_UQ", "int16_t", uq, max(nu, 1), "per component: Uq by column (int16)"),
            int_array(
                "Q_VISIT",
                "uint8_t",
                [int(v) for v in bins.visit.ravel()],
                k,
                f"per bin of zq[0] (bin = clamp((zq[0] - {bins.lo}) >> {bins.s}, 0, {nb - 1})): components in visiting order",
            ),
            int_array(
                "Q_BOUND",
                "int16_t",
                [int(v) for v in bins.bound.ravel()],
                k,
                "per bin, in visiting order: upper bound of the component's log-probability there, in units of 2^16",
            ),
        ]
    )
    policy = (
        "struct Fixed {\n"
        f"  static const int D = {d};\n  static const int K = {k};\n  static const int NU = {nu};\n"
        f"  static const bool DIAG = {'true' if q.diag else 'false'};\n"
        f"  static const int16_t YCLAMP = {q.yclamp};\n"
        f"  static const bool ALL16 = {'true' if q.all16 else 'false'};  // every shift is 16\n"
        "  static int shift(int k) { return TINYGMM_READ_U8(Q_SHIFT + k); }\n"
        "  static const int32_t* rq() { return Q_RQ; }\n"
        "  static const int16_t* uq() { return Q_UQ; }\n"
        "  static const uint8_t* visit() { return Q_VISIT; }\n"
        "  static const int16_t* bound() { return Q_BOUND; }\n"
        f"  static uint8_t bin(int16_t z0) {{ return tinygmm::bin_of_q<{nb}, {bins.lo}, {bins.s}>(z0); }}\n"
        "};\n"
    )
    return arrays + policy


def fixed_public(q: FixedPoint, projected: bool = False) -> str:
    """The public fixed-point functions (quantize, predict_fixed, predict_q) and their error bound."""
    dims = "N_DIMS" if projected else "N_FEATURES"
    project, v = ("\n  float v[N_DIMS];\n  project(x, v);", "v") if projected else ("", "x")
    public = f"""
// ---- fixed point (--fixed-point) ----
// z = ({"v" if projected else "x"} - offset) / scale is quantised as zq = round(z * 2^FIXED_INPUT_BITS){" (v = project(x))" if projected else ""}
// (int16, |z| < {q.zmax:g}), feature Q_PERM[i] in zq[i]; log-probabilities are
// compared in units of 2^-FIXED_LOG_PROB_BITS. Per component, |error| <=
// sum_j e_j (2 |y_j| + e_j) + 2^-(FIXED_LOG_PROB_BITS + 1), y_j the
// component's whitened coordinates (sum_j y_j^2 = its quadratic term) and
// e_j <= FIXED_Y_ERROR_MAX.
static const int FIXED_INPUT_BITS = {q.F};
static const int FIXED_LOG_PROB_BITS = {2 * q.T};
static const float FIXED_Z_MAX = {cfloat(q.zmax)};
static const float FIXED_Y_ERROR_MAX = {cfloat(q.max_column_error())};
// false when x is outside the quantisation domain (or NaN)
inline bool quantize(const float* x, int16_t* zq) {{{project}
  return tinygmm::quantize<{dims}, {"true" if q.fused else "false"}>({v}, zq, detail::Q_A, detail::Q_GAIN, detail::Q_PERM);
}}
// integer-only predict on quantised inputs (as quantize makes them)
inline int predict_fixed(const int16_t* zq) {{
  bool clamped;
  return tinygmm::predict_fixed<detail::Fixed>(zq, &clamped);
}}
// predict through the fixed-point path; inputs outside the domain (and the
// rare winner with a clamped term) are decided by the float predict
inline int predict_q(const float* x) {{
  int16_t zq[{dims}];
  if (quantize(x, zq)) {{
    bool clamped;
    const int k = tinygmm::predict_fixed<detail::Fixed>(zq, &clamped);
    if (!clamped) return k;
  }}
  return predict(x);
}}
"""
    return public

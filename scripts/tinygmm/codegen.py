"""Render the model as a standalone C++ header (data and thin glue only).

All algorithms live in ``lib/tinygmm/src/tinygmm_eval.h``; this module
precomputes every x-independent quantity in float64 and prints it with
float32 round-trip precision, then pastes that runtime in so the header
needs nothing but <math.h>, <stdint.h> (and <avr/pgmspace.h> on AVR).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .errors import TinyGMMError
from .model import ExportedModel
from .runtime import RUNTIME_NAME, runtime_path

HALF_SQRT = math.sqrt(0.5)
QUANT_MAGIC = 12582912.0  # 1.5 * 2^23: x + MAGIC rounds x to an integer in the low mantissa bits
LOG_2PI = math.log(2.0 * math.pi)
# A mean whose float32 step exceeds this many of its component's standard
# deviations is stored as a float pair, and x - offset computed exactly.
EXACT_LIMIT = 2.0**-17


def cfloat(v: float) -> str:
    """A float literal that round-trips to the same float32."""
    f = np.float32(v)
    if not np.isfinite(f):
        raise TinyGMMError(f"model constant {v!r} does not fit a float32; cannot export")
    text = repr(float(f)) if f == 0 else np.format_float_positional(f, unique=True, trim="0")
    if len(text) > 16:
        text = np.format_float_scientific(f, unique=True, trim="0")
    if "." not in text and "e" not in text:
        text += ".0"
    if text.endswith("."):
        text += "0"
    return text + "f"


def _rows(values: np.ndarray, per_line: int) -> str:
    flat = [cfloat(v) for v in np.asarray(values, dtype=np.float64).ravel()]
    lines = [", ".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    return "    " + ",\n    ".join(lines)


def _array(name: str, values: np.ndarray, per_line: int, comment: str) -> str:
    n = int(np.asarray(values).size)
    return f"// {comment}\nstatic constexpr float {name}[{n}] TINYGMM_FLASH = {{\n{_rows(values, per_line)}\n}};\n"


@dataclass
class DeviceArrays:
    """Model constants in raw-input space, as the runtime consumes them."""

    arrays: list[str]  # C array definitions
    policy: str  # body of struct Model


def log_det_cholesky(m: ExportedModel) -> np.ndarray:
    """log det of each component's precision Cholesky factor (scaled space), shape (K,)."""
    pc, d = m.precisions_cholesky, m.n_features
    t = m.covariance_type
    if t == "full":
        return np.array([np.sum(np.log(np.diag(u))) for u in pc])
    if t == "tied":
        return np.full(m.n_components, np.sum(np.log(np.diag(pc))))
    if t == "diag":
        return np.sum(np.log(pc), axis=1)
    return d * np.log(pc)


def input_transform(m: ExportedModel) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) of the device's z = (x - offset) / scale.

    The offset is the weighted mean of the component means; the scale is the
    user's scaler if there is one, else the mixture's own standard deviation
    (one common value for spherical models, which must stay isotropic). Model
    constants in z-space are of order one, so float32 keeps them precise even
    for badly scaled, strongly correlated raw features.
    """
    means_raw = m.offset + m.scale * m.means
    offset = m.weights @ means_raw
    if m.scaler != "none":
        return offset, m.scale.copy()
    t = m.covariance_type
    if t == "full":
        var = np.array([np.diag(c) for c in m.covariances])
    elif t == "tied":
        var = np.tile(np.diag(m.covariances), (m.n_components, 1))
    elif t == "diag":
        var = m.covariances
    else:
        var = np.repeat(m.covariances[:, None], m.n_features, axis=1)
    total = m.weights @ (var + (means_raw - offset) ** 2)
    scale = np.sqrt(total)
    if t == "spherical":
        scale = np.full_like(scale, np.sqrt(total.mean()))
    return offset, np.where(scale > 0, scale, 1.0)


def discriminative_order(weights: np.ndarray, means: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Features by descending ratio of between-component to within-component variance.

    The first partial sums of predict (and predict_fixed's bins) are the
    marginal distances of the first features; the more they separate the
    components, the earlier a losing component is dropped. means and var are
    (K, D), in one space.
    """
    centre = weights @ means
    between = weights @ (means - centre) ** 2
    within = weights @ var
    ratio = between / np.where(within > 0, within, 1.0)
    return np.array(sorted(range(means.shape[1]), key=lambda i: (-ratio[i], i)), dtype=np.int64)


def feature_order(m: ExportedModel, means_z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """discriminative_order of a full or diag model in z-space."""
    if m.covariance_type == "full":
        var = np.array([np.diag(c) for c in m.covariances]) / A**2
    else:
        var = m.covariances / A**2
    return discriminative_order(m.weights, means_z, var)


def upper_factor(p: np.ndarray) -> np.ndarray:
    """Upper triangular U with U U^T = p (p symmetric positive definite)."""
    return np.linalg.cholesky(p[::-1, ::-1])[::-1, ::-1]


def mixture_samples(m: ExportedModel, n: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(raw inputs, winning component) for n points drawn from the mixture itself (seeded)."""
    g = m.to_sklearn()
    g.random_state = 0
    z, _ = g.sample(n)
    return m.offset + m.scale * z, g.predict(z)


def start_hints(
    values: np.ndarray, winners: np.ndarray, order: list[int], k: int, bins: int = 8
) -> tuple[np.ndarray, list[int]]:
    """Where predict should start: bin edges of one input value and, per bin, the record
    (index in ``order``) that wins most often there. ``values`` must already be what the
    device compares (float32-rounded, or integers)."""
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1], method="nearest"))
    which = np.searchsorted(edges, values, side="right")
    record_of = {comp: j for j, comp in enumerate(order)}
    firsts = []
    for b in range(len(edges) + 1):
        counts = np.bincount(winners[which == b], minlength=k)
        firsts.append(record_of[int(np.argmax(counts))])
    return edges, firsts


def mean_resolution(means_w: np.ndarray, inv_sd_w: np.ndarray) -> float:
    """The largest float32 step of a component mean (and so of an input near
    it), in standard deviations of that component along that feature."""
    step = np.spacing(np.abs(means_w).astype(np.float32)).astype(np.float64)
    return float(np.max(step * inv_sd_w))


def float_pair(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v as hi + lo, two float32 values (hi the nearest float32)."""
    hi = np.asarray(v, dtype=np.float32).astype(np.float64)
    return hi, (np.asarray(v, dtype=np.float64) - hi).astype(np.float32).astype(np.float64)


def device_arrays(m: ExportedModel) -> DeviceArrays:
    """Move the model into the device's input space and precompute its constants.

    With u = (x - offset_u) / scale_u the space scikit-learn fitted in and
    z = (x - o) / s the standardised space, u = A z + b with A = s / scale_u
    and b = (o - offset_u) / scale_u; a precision Cholesky factor U becomes
    diag(A) U and a mean mu becomes (mu - b) / A. The device only centres its
    input, w = x - o = s z, so the scale s is folded in as well (means s mu_z,
    factors diag(1/s) U_z): a per-feature scale costs float32 no precision,
    while the offset, which would, stays a subtraction. The log-density
    constants stay those of u-space, so score_samples equals scikit-learn's.
    """
    k, d, t = m.n_components, m.n_features, m.covariance_type
    if k > 127:
        raise TinyGMMError(f"{k} components: the device runtime supports at most 127")
    o, s = input_transform(m)
    A = s / m.scale
    b = (o - m.offset) / m.scale
    means_z = (m.means - b) / A
    means_w = means_z * s
    c = np.log(m.weights) + log_det_cholesky(m) - 0.5 * d * LOG_2PI
    pk = d * (d + 1) // 2
    # inverse standard deviations along each feature in w-space (for mean_resolution)
    if t in ("full", "tied"):
        pc = m.precisions_cholesky if t == "full" else m.precisions_cholesky[None]
        inv_sd_w = np.sqrt(np.einsum("kij,kij->ki", pc, pc)) * (A / s)[None, :]
    elif t == "diag":
        inv_sd_w = m.precisions_cholesky * (A / s)[None, :]
    else:
        inv_sd_w = np.outer(m.precisions_cholesky, A / s)
    iso = bool(np.all(s == s[0]))
    exact = t != "tied" and (t != "spherical" or iso) and mean_resolution(means_w, inv_sd_w) > EXACT_LIMIT
    if exact:  # the means against the float32 offset the device subtracts, to float64 precision
        means_w = means_w + (o - o.astype(np.float32).astype(np.float64))[None, :]

    def packed(u: np.ndarray, perm: np.ndarray | None = None) -> np.ndarray:
        uz = A[:, None] * u  # precision Cholesky in z-space
        if perm is not None:  # the upper triangular factor of the permuted precision
            uz = upper_factor((uz @ uz.T)[np.ix_(perm, perm)])
        sp = s if perm is None else s[perm]
        uw = (uz / sp[:, None]) * HALF_SQRT  # y = (w - mean_w) @ uw
        return np.concatenate([uw[: j + 1, j] for j in range(d)])

    per = max(d, 1)
    perm = None
    if t in ("full", "diag") and d > 1:
        perm = feature_order(m, means_z, A)
        if np.array_equal(perm, np.arange(d)):
            perm = None
    transform_call = "tinygmm::centre<D>(x, w, IN_OFFSET)"
    arrays = [_array("IN_OFFSET", o if perm is None else o[perm], per, "input centring w = x - IN_OFFSET (D)")]
    if perm is not None:
        means_w = means_w[:, perm]
    if perm is not None or t == "full":  # (the AVR kernel for full models always reads PERM)
        arrays.append(
            "// feature order of the evaluation (most discriminative first): w[i] = x[PERM[i]] - IN_OFFSET[i]\n"
            f"static constexpr uint8_t PERM[{d}] TINYGMM_FLASH = "
            f"{{{', '.join(map(str, perm if perm is not None else range(d)))}}};\n"
        )
        transform_call = f"tinygmm::centre_{'exact' if exact else 'perm'}<D>(x, w, IN_OFFSET, PERM)"
    elif exact:
        transform_call = "tinygmm::centre_exact<D>(x, w, IN_OFFSET, nullptr)"
    mean_hi, mean_lo = float_pair(means_w)

    def mean(j: int, col: int) -> list[float]:
        """Record entries of component j's mean along col: one float, or the pair hi, lo."""
        return [mean_hi[j, col], mean_lo[j, col]] if exact else [means_w[j, col]]

    mean_what = "mean_j (hi, lo)" if exact else "mean_j"
    # predict visits components by descending upper bound (ties: lower index first)
    order = sorted(range(k), key=lambda j: (-float(np.float32(c[j])), j)) if t != "tied" else list(range(k))
    arrays.append(
        f"// component index of each record (the order predict visits them)\n"
        f"static constexpr uint8_t ORDER[{k}] TINYGMM_FLASH = {{{', '.join(map(str, order))}}};\n"
    )
    shared = "  static float shared(const float*) { return 0.0f; }\n"
    if t == "full":
        u = [packed(m.precisions_cholesky[j], perm) for j in range(k)]
        recs, fn, what = (
            [],
            "full_log_prob",
            f"c, then per column j: {mean_what}, U[0..j][j] (U: sqrt(1/2) precision Cholesky)",
        )
        for j in order:
            r, pos = [c[j]], 0
            for col in range(d):
                r += [*mean(j, col), *u[j][pos : pos + col + 1]]
                pos += col + 1
            recs.append(r)
    elif t == "diag":
        p = m.precisions_cholesky * (A / s)[None, :] * HALF_SQRT
        if perm is not None:
            p = p[:, perm]
        fn, what = "diag_log_prob", f"c, then {mean_what.replace('_j', '_i')}, sqrt(1/2) / sd_i per feature"
        recs = [[c[j], *[v for i in range(d) for v in (*mean(j, i), p[j, i])]] for j in order]
    elif t == "spherical":
        # isotropic in z-space; w-space is isotropic too only if s is uniform
        # (no user scaler), else the device scales its input (D multiplies).
        h = 0.5 * (m.precisions_cholesky * A[0] / (s[0] if iso else 1.0)) ** 2
        mu = means_w if iso else means_z
        if not iso:
            arrays.insert(1, _array("IN_INV_SCALE", 1.0 / s, per, "z = (x - IN_OFFSET) * IN_INV_SCALE (D)"))
            transform_call = "tinygmm::standardize<D>(x, w, IN_OFFSET, IN_INV_SCALE)"
        fn, what = "spherical_log_prob", "c, precision / 2, mean" + (" (hi, lo per feature)" if exact else "")
        recs = [[c[j], h[j], *[v for i in range(d) for v in (mean(j, i) if iso else [mu[j, i]])]] for j in order]
    else:  # tied: linear discriminant; w is centred on the weighted mean of the means
        uw = (A / s)[:, None] * m.precisions_cholesky
        prec_w = uw @ uw.T
        slope = means_w @ prec_w  # (K, D)
        intercept = c - 0.5 * np.einsum("ki,ij,kj->k", means_w, prec_w, means_w)
        fn, what = "linear_log_prob", "c - 1/2 mean' P mean, then P mean"
        recs = [[intercept[j], *slope[j]] for j in order]
        arrays.append(
            _array(
                "PREC_CHOL",
                packed(m.precisions_cholesky),
                pk,
                "sqrt(1/2) * shared precision Cholesky in w-space, packed by column",
            )
        )
        shared = "  static float shared(const float* w) { return tinygmm::tied_shared<D>(w, PREC_CHOL); }\n"
    hint = "  static const int HINT_BINS = 0;\n  static int hint(const float*) { return -1; }\n"
    hint_tables = "nullptr, nullptr"
    if t in ("full", "diag") and k >= 3:  # the types whose partial sums prune
        hint_tables = "HINT_EDGES, HINT_FIRST"
        x, winners = mixture_samples(m)
        f0 = 0 if perm is None else int(perm[0])
        w0 = (x[:, f0] - np.float32(o[f0])).astype(np.float32).astype(np.float64)
        edges, first = start_hints(w0, winners, order, k)
        bits = np.asarray(edges, dtype=np.float32).view(np.int32).astype(np.int64)
        keys = np.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)  # order_key: integer order = float order
        arrays.append(
            _int_array(
                "HINT_EDGES",
                "int32_t",
                [int(v) for v in keys],
                4,
                f"predict starts with HINT_FIRST[bin of w[0] among the edges {', '.join(f'{v:.9g}' for v in edges)}]\n"
                "// (as order_key values)",
            )
            + f"static constexpr uint8_t HINT_FIRST[{len(first)}] TINYGMM_FLASH = {{{', '.join(map(str, first))}}};\n"
        )
        hint = (
            f"  static const int HINT_BINS = {len(first)};\n"
            "  static int hint(const float* w) {\n"
            f"    return TINYGMM_READ_U8(HINT_FIRST + tinygmm::bin_of<{len(first)}>(w[0], HINT_EDGES));\n"
            "  }\n"
        )
    rec_len = len(recs[0])
    arrays.append(
        _array(
            "RECORDS",
            np.array(recs),
            rec_len,
            f"one record per component, in ORDER; c = log weight + log det(precision Cholesky) - D/2 log(2 pi)\n"
            f"// record: {what} (w-space)",
        )
    )
    body = (
        f"  static const int R = {rec_len};\n"
        f"  static const int W = {2 * d if exact else d};\n"
        f"  static const bool EXACT = {'true' if exact else 'false'};  // float-pair means (see centre_exact)\n"
        f"  static const bool BOUNDED = {'false' if t == 'tied' else 'true'};\n"
        f"  static const bool FULL = {'true' if t == 'full' else 'false'};  // full records (see full_log_prob)\n"
        f"  static void transform(const float* x, float* w) {{ {transform_call}; }}\n"
        + shared
        + hint
        + "  static const float* records() { return RECORDS; }\n"
        "  static int order(int j) { return TINYGMM_READ_U8(ORDER + j); }\n"
        + (
            "#if TINYGMM_AVR_KERNEL\n"
            "  static int predict_kernel(const float* x) {\n"
            "    return tinygmm::full_predict<K, D, 4 * R, HINT_BINS, RECORDS, ORDER, IN_OFFSET, PERM, "
            + hint_tables
            + ">(x);\n  }\n#endif\n"
            if t == "full" and not exact
            else ""
        )
        + "  template <bool P>\n"
        "  static bool log_prob(const float* rec, const float* w, float best, bool tie_wins, float* lp) {\n"
        f"    return tinygmm::{fn}<D, P{', true' if exact else ''}>(rec, w, best, tie_wins, lp);\n"
        "  }\n"
    )
    return DeviceArrays(arrays, body)


@dataclass
class FixedPoint:
    """The integer model of the --fixed-point path (see tinygmm_eval.h).

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
    k, d, t = m.n_components, m.n_features, m.covariance_type
    o, s = input_transform(m)
    A = s / m.scale
    b_shift = (o - m.offset) / m.scale
    means_z = (m.means - b_shift) / A
    pc = m.precisions_cholesky
    if t == "full":
        u = np.stack([A[:, None] * pc[j] for j in range(k)])
    elif t == "tied":
        u = np.stack([A[:, None] * pc] * k)
    elif t == "diag":
        u = np.stack([np.diag(A * pc[j]) for j in range(k)])
    else:
        u = np.stack([np.diag(A * pc[j]) for j in range(k)])
    u = u * HALF_SQRT
    diag = t in ("diag", "spherical")
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
    b = np.einsum("ki,kij->kj", means_z, u)
    c = np.log(m.weights) + log_det_cholesky(m) - 0.5 * d * LOG_2PI
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


def _int_array(name: str, ctype: str, values: list[int], per_line: int, comment: str) -> str:
    items = [str(int(v)) + ("L" if ctype == "int32_t" else "") for v in values]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    body = "    " + ",\n    ".join(lines)
    return f"// {comment}\nstatic constexpr {ctype} {name}[{len(items)}] TINYGMM_FLASH = {{\n{body}\n}};\n"


def fixed_point_code(m: ExportedModel) -> tuple[str, str]:
    """(detail arrays + policy, public functions) of the fixed-point path."""
    q = fixed_point(m)
    bins = fixed_bins(m, q)
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
            _array(
                "Q_A",
                q.qa,
                max(d, 1),
                "fixed point: zq[i] = round(x[Q_PERM[i]] * Q_GAIN[i] + Q_A[i] - 1.5 * 2^23)"
                if q.fused
                else "fixed point: zq[i] = round((x[Q_PERM[i]] - Q_A[i]) * Q_GAIN[i])",
            ),
            _array("Q_GAIN", q.gain, max(d, 1), "2^F / scale"),
            "// evaluation order of the features (most discriminative first)\n"
            f"static constexpr uint8_t Q_PERM[{d}] TINYGMM_FLASH = {{{', '.join(map(str, q.perm))}}};\n",
            "// per component: y = acc >> Q_SHIFT, 16 unless the component is very narrow\n"
            f"static constexpr uint8_t Q_SHIFT[{k}] TINYGMM_FLASH = {{{', '.join(str(int(v)) for v in q.shift)}}};\n",
            _int_array("Q_RQ", "int32_t", rq, d + 1, "per component: cq, then bq_j - 2^(shift - 1) per column (int32)"),
            _int_array("Q_UQ", "int16_t", uq, max(nu, 1), "per component: Uq by column (int16)"),
            _int_array(
                "Q_VISIT",
                "uint8_t",
                [int(v) for v in bins.visit.ravel()],
                k,
                f"per bin of zq[0] (bin = clamp((zq[0] - {bins.lo}) >> {bins.s}, 0, {nb - 1})): components in visiting order",
            ),
            _int_array(
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
    public = f"""
// ---- fixed point (--fixed-point) ----
// z = (x - offset) / scale is quantised as zq = round(z * 2^FIXED_INPUT_BITS)
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
inline bool quantize(const float* x, int16_t* zq) {{
  return tinygmm::quantize<N_FEATURES, {"true" if q.fused else "false"}>(x, zq, detail::Q_A, detail::Q_GAIN, detail::Q_PERM);
}}
// integer-only predict on quantised inputs (as quantize makes them)
inline int predict_fixed(const int16_t* zq) {{
  bool clamped;
  return tinygmm::predict_fixed<detail::Fixed>(zq, &clamped);
}}
// predict through the fixed-point path; inputs outside the domain (and the
// rare winner with a clamped term) are decided by the float predict
inline int predict_q(const float* x) {{
  int16_t zq[N_FEATURES];
  if (quantize(x, zq)) {{
    bool clamped;
    const int k = tinygmm::predict_fixed<detail::Fixed>(zq, &clamped);
    if (!clamped) return k;
  }}
  return predict(x);
}}
"""
    return arrays + policy, public


_fixed_point_model = fixed_point  # (render_header's fixed_point flag shadows the function)
_GUARD_RE = re.compile(r"[^A-Za-z0-9]+")


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_header(
    m: ExportedModel,
    provenance: list[str],
    namespace: str = "gmm",
    fixed_point: bool = False,
    anomaly: object = None,  # AnomalyThreshold | None
) -> str:
    """The complete text of GMM.h (deterministic for a given model and provenance).

    fixed_point adds the integer path (quantize, predict_fixed, predict_q);
    anomaly (an anomaly.AnomalyThreshold) the anomaly decision.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", namespace):
        raise TinyGMMError(f"invalid C++ namespace {namespace!r}")
    guard = "TINYGMM_MODEL_" + _GUARD_RE.sub("_", namespace).upper() + "_H"
    dev = device_arrays(m)
    fixed_detail, fixed_public = fixed_point_code(m) if fixed_point else ("", "")
    # ---- anomaly threshold (tinygmm.anomaly): one self-contained section ----
    anomaly_public = ""
    if anomaly is not None:
        from .anomaly import anomaly_header

        anomaly_public = anomaly_header(anomaly, namespace, _fixed_point_model(m) if fixed_point else None)
    runtime = runtime_path().read_text(encoding="utf-8")
    names = "|".join(m.feature_names)
    for n in m.feature_names:
        if any(ch in n for ch in "|\n\r") or not n.isprintable():
            raise TinyGMMError(f"feature name {n!r} has a character the device protocol cannot send")
    prov = "\n".join(f"// {line}" for line in provenance)
    cov_enum = {"full": "COV_FULL", "tied": "COV_TIED", "diag": "COV_DIAG", "spherical": "COV_SPHERICAL"}
    return f"""// Generated by tinygmm - do not edit; re-run the exporter instead.
{prov}
//
// API (namespace {namespace}):
//   int   predict(const float* x);                      // sklearn predict
//   int   predict_proba(const float* x, float* p);      // sklearn predict_proba, returns argmax
//   float score_samples(const float* x);                // sklearn score_samples (natural log)
//   int   classify(const float* x, float* p, float* ll);// all three in one pass
// x holds N_FEATURES raw feature values (any scaling is built in).
#ifndef {guard}
#define {guard}

// ---- runtime: verbatim copy of lib/tinygmm/src/{RUNTIME_NAME} ----
{runtime.rstrip()}
// ---- end of runtime ----

namespace {namespace} {{

static const int N_FEATURES = {m.n_features};
static const int N_COMPONENTS = {m.n_components};
static const tinygmm::CovarianceType COVARIANCE_TYPE = tinygmm::{cov_enum[m.covariance_type]};
// Feature names joined with '|', in input order.
static const char FEATURE_NAMES[] TINYGMM_FLASH = {_c_string(names)};
static const char MODEL_HASH[] TINYGMM_FLASH = "{m.model_hash}";

namespace detail {{

{chr(10).join(dev.arrays)}
struct Model {{
  static const int D = N_FEATURES;
  static const int K = N_COMPONENTS;
{dev.policy}}};
{fixed_detail}
}}  // namespace detail

inline int predict(const float* x) {{ return tinygmm::predict<detail::Model>(x); }}
inline int predict_proba(const float* x, float* proba) {{
  return tinygmm::predict_proba<detail::Model>(x, proba);
}}
inline float score_samples(const float* x) {{ return tinygmm::score_samples<detail::Model>(x); }}
inline int classify(const float* x, float* proba, float* log_likelihood) {{
  return tinygmm::classify<detail::Model>(x, proba, log_likelihood);
}}
{fixed_public}{anomaly_public}
}}  // namespace {namespace}

#endif  // {guard}
"""


def validate_c_text(text: str) -> None:
    """Refuse to write a header that would compile to NaN/inf constants."""
    if re.search(r"\b(nan|inf|NAN|INFINITY)f?\b", text.split("// ---- end of runtime ----")[-1]):
        raise TinyGMMError("generated header would contain nan/inf constants; not written")

"""The float path: each component as one record of w-space constants.

With u = (x - offset_u) / scale_u the space scikit-learn fitted in and
z = (x - o) / s the standardised space, u = A z + b with A = s / scale_u
and b = (o - offset_u) / scale_u; a precision Cholesky factor U becomes
diag(A) U and a mean mu becomes (mu - b) / A. The device only centres its
input, w = x - o = s z, so the scale s is folded in as well (means s mu_z,
factors diag(1/s) U_z): a per-feature scale costs float32 no precision,
while the offset, which would, stays a subtraction. The log-density
constants stay those of u-space, so score_samples equals scikit-learn's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TinyGMMError
from ..model.exported import ExportedModel
from .clit import BYTE_INDEXED_FEATURES, MAX_INDEXED_FEATURES, byte_array, float_array, index_array, int_array
from .covariance import HALF_SQRT, Full, Records, Spherical, Tied, kind
from .spaces import (
    EXACT_LIMIT,
    Space,
    discriminative_order,
    float_pair,
    inv_sd_w,
    log_constant,
    mean_resolution,
    mixture_samples,
    upper_factor,
    z_space,
)


@dataclass
class DeviceArrays:
    """Model constants in w-space, as the runtime consumes them."""

    arrays: list[str]  # C array definitions (text)
    policy: str  # body of struct Model
    exact: bool = False  # float-pair means (see centre_exact)
    perm: np.ndarray | None = None  # evaluation order of the features (None: input order)


@dataclass
class Frame:
    """What every record builder needs: the model in w-space, in evaluation order."""

    m: ExportedModel
    sp: Space
    c: np.ndarray  # (K,) log constants
    perm: np.ndarray | None
    exact: bool
    means_w: np.ndarray  # (K, D), permuted, offset-corrected when exact
    order: list[int]  # component of each record

    def mean(self, j: int, col: int) -> list[float]:
        """Record entries of component j's mean along col: one float, or the pair hi, lo."""
        if not self.exact:
            return [self.means_w[j, col]]
        hi, lo = float_pair(self.means_w[j, col])
        return [float(hi), float(lo)]

    def packed(self, u: np.ndarray, perm: np.ndarray | None = None) -> np.ndarray:
        """sqrt(1/2) U in w-space (y = (w - mean_w) @ uw), packed by column; U a u-space factor."""
        A, s, d = self.sp.A, self.sp.s, self.m.n_features
        uz = A[:, None] * u  # precision Cholesky in z-space
        if perm is not None:  # the upper triangular factor of the permuted precision
            uz = upper_factor((uz @ uz.T)[np.ix_(perm, perm)])
        sp = s if perm is None else s[perm]
        uw = (uz / sp[:, None]) * HALF_SQRT
        return np.concatenate([uw[: j + 1, j] for j in range(d)])


# ---- the frame: feature order, EXACT, visiting order -------------------------


def feature_order(m: ExportedModel, sp: Space) -> np.ndarray | None:
    """discriminative_order of a full or diag model in z-space (None: keep the input order)."""
    if not kind(m).ordered_features or m.n_features < 2:
        return None
    var = kind(m).compute_feature_variances(m.covariances, m.n_components, m.n_features) / sp.A**2
    perm = discriminative_order(m.weights, sp.means_z, var)
    return None if np.array_equal(perm, np.arange(m.n_features)) else perm


def needs_exact(m: ExportedModel, sp: Space, means_w: np.ndarray) -> bool:
    """True when a float32 step of some mean is a visible part of its sd (see EXACT_LIMIT)."""
    t = kind(m)
    iso = bool(np.all(sp.s == sp.s[0]))
    if t is Tied or (t is Spherical and not iso):  # no means in the records / means in z-space
        return False
    return mean_resolution(means_w, inv_sd_w(m, sp.A / sp.s)) > EXACT_LIMIT


def frame(m: ExportedModel) -> Frame:
    sp = z_space(m)
    c = log_constant(m)
    means_w = sp.means_z * sp.s
    exact = needs_exact(m, sp, means_w)
    if exact:  # the means against the float32 offset the device subtracts, to float64 precision
        means_w = means_w + (sp.o - sp.o.astype(np.float32).astype(np.float64))[None, :]
    perm = feature_order(m, sp)
    if perm is not None:
        means_w = means_w[:, perm]
    # predict visits components by descending upper bound (ties: lower index first)
    k = m.n_components
    order = (
        list(range(k)) if kind(m).shared_precision else sorted(range(k), key=lambda j: (-float(np.float32(c[j])), j))
    )
    return Frame(m, sp, c, perm, exact, means_w, order)


# ---- tables and glue ---------------------------------------------------------


def centring(f: Frame) -> tuple[list[str], str]:
    """The tables (IN_OFFSET, PERM) and the call of the device's w = x - o."""
    d, o, perm = f.m.n_features, f.sp.o, f.perm
    tables = [
        float_array("IN_OFFSET", o if perm is None else o[perm], max(d, 1), "input centring w = x - IN_OFFSET (D)")
    ]
    if perm is not None or kind(f.m) is Full:  # (the AVR kernel for full models always reads PERM)
        tables.append(
            index_array(
                "PERM",
                list(perm if perm is not None else range(d)),
                "feature order of the evaluation (most discriminative first): w[i] = x[PERM[i]] - IN_OFFSET[i]",
            )
        )
        return tables, f"tinygmm::centre_{'exact' if f.exact else 'perm'}<D>(x, w, IN_OFFSET, PERM)"
    if f.exact:
        return tables, "tinygmm::centre_exact<D>(x, w, IN_OFFSET, nullptr)"
    return tables, "tinygmm::centre<D>(x, w, IN_OFFSET)"


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


def hint_code(f: Frame) -> tuple[list[str], str, str]:
    """(tables, policy lines, the kernel's table arguments) of predict's starting hint.

    Only the types whose partial sums prune (full, diag) with K >= 3 get one.
    """
    none = (
        [],
        "  static const int HINT_BINS = 0;\n  static int hint(const float*) { return -1; }\n",
        "nullptr, nullptr",
    )
    k = f.m.n_components
    if not kind(f.m).ordered_features or k < 3:
        return none
    x, winners = mixture_samples(f.m)
    f0 = 0 if f.perm is None else int(f.perm[0])
    w0 = (x[:, f0] - np.float32(f.sp.o[f0])).astype(np.float32).astype(np.float64)
    edges, first = start_hints(w0, winners, f.order, k)
    bits = np.asarray(edges, dtype=np.float32).view(np.int32).astype(np.int64)
    keys = np.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)  # order_key: integer order = float order
    table = int_array(
        "HINT_EDGES",
        "int32_t",
        [int(v) for v in keys],
        4,
        f"predict starts with HINT_FIRST[bin of w[0] among the edges {', '.join(f'{v:.9g}' for v in edges)}]\n"
        "// (as order_key values)",
    ) + byte_array("HINT_FIRST", first, None)
    policy = (
        f"  static const int HINT_BINS = {len(first)};\n"
        "  static int hint(const float* w) {\n"
        f"    return TINYGMM_READ_U8(HINT_FIRST + tinygmm::bin_of<{len(first)}>(w[0], HINT_EDGES));\n"
        "  }\n"
    )
    return [table], policy, "HINT_EDGES, HINT_FIRST"


def policy_body(f: Frame, rec: Records, rec_len: int, transform_call: str, hint: str, hint_tables: str) -> str:
    """The body of struct Model: sizes, flags and the calls into the runtime."""
    t, d, exact = kind(f.m), f.m.n_features, f.exact
    shared_arg = "const float* w" if rec.shared != "0.0f" else "const float*"
    kernel = (
        "#if TINYGMM_AVR_KERNEL\n"
        "  static int predict_kernel(const float* x) {\n"
        "    return tinygmm::full_predict<K, D, 4 * R, HINT_BINS, RECORDS, ORDER, IN_OFFSET, PERM, "
        + hint_tables
        + ">(x);\n  }\n#endif\n"
        if t is Full and not exact and d <= BYTE_INDEXED_FEATURES  # (the kernel reads a uint8_t PERM)
        else ""
    )
    return (
        f"  static const int R = {rec_len};\n"
        f"  static const int W = {2 * d if exact else d};\n"
        f"  static const bool EXACT = {'true' if exact else 'false'};  // float-pair means (see centre_exact)\n"
        f"  static const bool BOUNDED = {'false' if t.shared_precision else 'true'};\n"
        f"  static const bool FULL = {'true' if t is Full else 'false'};  // full records (see full_log_prob)\n"
        f"  static void transform(const float* x, float* w) {{ {transform_call}; }}\n"
        f"  static float shared({shared_arg}) {{ return {rec.shared}; }}\n"
        + hint
        + "  static const float* records() { return RECORDS; }\n"
        "  static int order(int j) { return TINYGMM_READ_U8(ORDER + j); }\n" + kernel + "  template <bool P>\n"
        "  static bool log_prob(const float* rec, const float* w, float best, bool tie_wins, float* lp) {\n"
        f"    return tinygmm::{rec.kernel}<D, P{', true' if exact else ''}>(rec, w, best, tie_wins, lp);\n"
        "  }\n"
    )


def device_arrays(m: ExportedModel) -> DeviceArrays:
    """Move the model into the device's input space and precompute its constants."""
    k = m.n_components
    if k > 127:
        raise TinyGMMError(f"{k} components: the device runtime supports at most 127")
    if m.n_features > MAX_INDEXED_FEATURES:
        raise TinyGMMError(
            f"{m.n_features} features: the device runtime supports at most {MAX_INDEXED_FEATURES} "
            "(reduce them, e.g. with a PCA in a pipeline)"
        )
    f = frame(m)
    rec = kind(m).build_records(f)
    arrays, transform_call = centring(f)
    if rec.transform is not None:
        arrays.insert(1, rec.transform[0])
        transform_call = rec.transform[1]
    arrays.append(byte_array("ORDER", f.order, "component index of each record (the order predict visits them)"))
    arrays += rec.arrays
    hint_tables, hint, hint_args = hint_code(f)
    arrays += hint_tables
    rec_len = len(rec.rows[0])
    arrays.append(
        float_array(
            "RECORDS",
            np.array(rec.rows),
            rec_len,
            f"one record per component, in ORDER; c = log weight + log det(precision Cholesky) - D/2 log(2 pi)\n"
            f"// record: {rec.what} (w-space)",
        )
    )
    body = policy_body(f, rec, rec_len, transform_call, hint, hint_args)
    return DeviceArrays(arrays, body, f.exact, f.perm)

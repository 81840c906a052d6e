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
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import TinyGMMError
from .model import ExportedModel

HALF_SQRT = math.sqrt(0.5)
LOG_2PI = math.log(2.0 * math.pi)
RUNTIME_NAME = "tinygmm_eval.h"


def runtime_path() -> Path:
    """Where the C++ runtime source is: the installed package, else the repo's lib/."""
    packaged = resources.files("tinygmm").joinpath("runtime", RUNTIME_NAME)
    if packaged.is_file():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[2] / "lib" / "tinygmm" / "src" / RUNTIME_NAME
    if repo.is_file():
        return repo
    raise TinyGMMError(f"C++ runtime {RUNTIME_NAME} not found (broken install?)")


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
    return f"// {comment}\nstatic const float {name}[{n}] TINYGMM_FLASH = {{\n{_rows(values, per_line)}\n}};\n"


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


def device_arrays(m: ExportedModel) -> DeviceArrays:
    """Move the model into the device's z-space and precompute its constants.

    With u = (x - offset_u) / scale_u the space scikit-learn fitted in and
    z = (x - o) / s the device's, u = A z + b with A = s / scale_u and
    b = (o - offset_u) / scale_u; a precision Cholesky factor U becomes
    diag(A) U and a mean mu becomes (mu - b) / A. The log-density constants
    stay those of u-space, so score_samples equals scikit-learn's.
    """
    k, d, t = m.n_components, m.n_features, m.covariance_type
    o, s = input_transform(m)
    A = s / m.scale
    b = (o - m.offset) / m.scale
    means_z = (m.means - b) / A
    c = np.log(m.weights) + log_det_cholesky(m) - 0.5 * d * LOG_2PI
    pk = d * (d + 1) // 2

    def packed(u: np.ndarray) -> np.ndarray:
        uz = (A[:, None] * u) * HALF_SQRT  # y = (z - mean_z) @ uz
        return np.concatenate([uz[: j + 1, j] for j in range(d)])

    per = max(d, 1)
    arrays = [
        _array("IN_OFFSET", o, per, "input transform z = (x - IN_OFFSET) * IN_INV_SCALE (D)"),
        _array("IN_INV_SCALE", 1.0 / s, per, "(D)"),
    ]
    if t != "tied":
        arrays.append(_array("MEANS", means_z, per, "component means in z-space (K x D)"))
        arrays.append(_array("LOG_NORM", c, 4, "log weight + log det(precision Cholesky) - D/2 log(2 pi) (K)"))
    if t == "full":
        u = np.stack([packed(m.precisions_cholesky[j]) for j in range(k)])
        arrays.append(
            _array("PREC_CHOL", u, pk, "sqrt(1/2) * precision Cholesky in z-space, packed by column (K x D(D+1)/2)")
        )
        body = (
            "  static float shared(const float*) { return 0.0f; }\n"
            "  static float log_prob(int k, const float* z) {\n"
            "    return tinygmm::full_log_prob<D>(z, MEANS + k * D, PREC_CHOL + k * (D * (D + 1) / 2),\n"
            "                                     TINYGMM_READ(LOG_NORM + k));\n"
            "  }\n"
        )
    elif t == "diag":
        p = m.precisions_cholesky * A[None, :] * HALF_SQRT
        arrays.append(_array("PREC", p, per, "sqrt(1/2) / standard deviation in z-space (K x D)"))
        body = (
            "  static float shared(const float*) { return 0.0f; }\n"
            "  static float log_prob(int k, const float* z) {\n"
            "    return tinygmm::diag_log_prob<D>(z, MEANS + k * D, PREC + k * D, TINYGMM_READ(LOG_NORM + k));\n"
            "  }\n"
        )
    elif t == "spherical":
        h = 0.5 * (m.precisions_cholesky * A[0]) ** 2
        arrays.append(_array("HALF_PREC", h, 4, "precision / 2 in z-space (K)"))
        body = (
            "  static float shared(const float*) { return 0.0f; }\n"
            "  static float log_prob(int k, const float* z) {\n"
            "    return tinygmm::spherical_log_prob<D>(z, MEANS + k * D, TINYGMM_READ(HALF_PREC + k),\n"
            "                                          TINYGMM_READ(LOG_NORM + k));\n"
            "  }\n"
        )
    else:  # tied: linear discriminant; z is centred on the weighted mean of the means
        uz = A[:, None] * m.precisions_cholesky
        prec_z = uz @ uz.T
        slope = means_z @ prec_z  # (K, D)
        intercept = c - 0.5 * np.einsum("ki,ij,kj->k", means_z, prec_z, means_z)
        arrays.append(_array("SLOPE", slope, per, "P mean_k in z-space (K x D)"))
        arrays.append(_array("INTERCEPT", intercept, 4, "LOG_NORM_k - 1/2 mean_k' P mean_k (K)"))
        arrays.append(
            _array(
                "PREC_CHOL",
                packed(m.precisions_cholesky),
                pk,
                "sqrt(1/2) * shared precision Cholesky in z-space, packed by column",
            )
        )
        body = (
            "  static float shared(const float* z) { return tinygmm::tied_shared<D>(z, PREC_CHOL); }\n"
            "  static float log_prob(int k, const float* z) {\n"
            "    return tinygmm::linear_log_prob<D>(z, SLOPE + k * D, TINYGMM_READ(INTERCEPT + k));\n"
            "  }\n"
        )
    transform = (
        "  static void transform(const float* x, float* z) {\n"
        "    tinygmm::standardize<D>(x, z, IN_OFFSET, IN_INV_SCALE);\n"
        "  }\n"
    )
    return DeviceArrays(arrays, transform + body)


_GUARD_RE = re.compile(r"[^A-Za-z0-9]+")


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_header(m: ExportedModel, provenance: list[str], namespace: str = "gmm") -> str:
    """The complete text of GMM.h (deterministic for a given model and provenance)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", namespace):
        raise TinyGMMError(f"invalid C++ namespace {namespace!r}")
    guard = "TINYGMM_MODEL_" + _GUARD_RE.sub("_", namespace).upper() + "_H"
    dev = device_arrays(m)
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

}}  // namespace detail

inline int predict(const float* x) {{ return tinygmm::predict<detail::Model>(x); }}
inline int predict_proba(const float* x, float* proba) {{
  return tinygmm::predict_proba<detail::Model>(x, proba);
}}
inline float score_samples(const float* x) {{ return tinygmm::score_samples<detail::Model>(x); }}
inline int classify(const float* x, float* proba, float* log_likelihood) {{
  return tinygmm::classify<detail::Model>(x, proba, log_likelihood);
}}

}}  // namespace {namespace}

#endif  // {guard}
"""


def validate_c_text(text: str) -> None:
    """Refuse to write a header that would compile to NaN/inf constants."""
    if re.search(r"\b(nan|inf|NAN|INFINITY)f?\b", text.split("// ---- end of runtime ----")[-1]):
        raise TinyGMMError("generated header would contain nan/inf constants; not written")

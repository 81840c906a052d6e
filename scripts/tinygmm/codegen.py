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
    return (
        f"// {comment}\n"
        f"static const float {name}[{n}] TINYGMM_FLASH = {{\n{_rows(values, per_line)}\n}};\n"
    )


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


def device_arrays(m: ExportedModel) -> DeviceArrays:
    """Fold the scaler into the model and precompute the runtime's constants."""
    k, d, t = m.n_components, m.n_features, m.covariance_type
    s, o = m.scale, m.offset
    means_raw = o + s * m.means  # (K, D)
    c = np.log(m.weights) + log_det_cholesky(m) - 0.5 * d * LOG_2PI
    inv_s = 1.0 / s
    pk = d * (d + 1) // 2

    def packed(u: np.ndarray) -> np.ndarray:
        ur = (inv_s[:, None] * u) * HALF_SQRT  # rows scaled: y = (x - mean_raw) @ ur
        return np.concatenate([ur[: j + 1, j] for j in range(d)])

    arrays: list[str] = []
    per = max(d, 1)
    if t in ("full", "diag", "spherical"):
        arrays.append(_array("MEANS", means_raw, per, "component means, raw input space (K x D)"))
        arrays.append(_array("LOG_NORM", c, 4, "log weight + log det(precision Cholesky) - D/2 log(2 pi)"))
    if t == "full":
        u = np.stack([packed(m.precisions_cholesky[j]) for j in range(k)])
        arrays.append(_array("PREC_CHOL", u, pk, "sqrt(1/2) * precision Cholesky, packed by column (K x D(D+1)/2)"))
        body = (
            "  static float shared(const float*) { return 0.0f; }\n"
            "  static float log_prob(int k, const float* x) {\n"
            "    return tinygmm::full_log_prob<D>(x, MEANS + k * D, PREC_CHOL + k * (D * (D + 1) / 2),\n"
            "                                     TINYGMM_READ(LOG_NORM + k));\n"
            "  }\n"
        )
    elif t == "diag":
        p = m.precisions_cholesky * inv_s[None, :] * HALF_SQRT
        arrays.append(_array("PREC", p, per, "sqrt(1/2) / standard deviation, raw input space (K x D)"))
        body = (
            "  static float shared(const float*) { return 0.0f; }\n"
            "  static float log_prob(int k, const float* x) {\n"
            "    return tinygmm::diag_log_prob<D>(x, MEANS + k * D, PREC + k * D, TINYGMM_READ(LOG_NORM + k));\n"
            "  }\n"
        )
    elif t == "spherical":
        h = 0.5 * m.precisions_cholesky**2
        arrays.append(_array("HALF_PREC", h, 4, "precision / 2 of each component (K)"))
        scaled = m.scaler != "none"
        if scaled:
            arrays.append(_array("INPUT_SCALE", inv_s, per, "1 / scaler scale per feature (D)"))
        scale_arg = "INPUT_SCALE" if scaled else "static_cast<const float*>(0)"
        body = (
            "  static float shared(const float*) { return 0.0f; }\n"
            "  static float log_prob(int k, const float* x) {\n"
            f"    return tinygmm::spherical_log_prob<D>(x, MEANS + k * D, {scale_arg},\n"
            "                                          TINYGMM_READ(HALF_PREC + k), TINYGMM_READ(LOG_NORM + k));\n"
            "  }\n"
        )
    else:  # tied: linear discriminant around the weighted centre of the means
        u_raw = inv_s[:, None] * m.precisions_cholesky  # (x - mean_raw) @ u_raw
        prec_raw = u_raw @ u_raw.T
        centre = m.weights @ means_raw
        delta = means_raw - centre
        b = delta @ prec_raw  # (K, D)
        a = c - 0.5 * np.einsum("ki,ij,kj->k", delta, prec_raw, delta)
        arrays.append(_array("CENTRE", centre, per, "expansion centre: weighted mean of the means (D)"))
        arrays.append(_array("SLOPE", b, per, "P (mean_k - centre), raw input space (K x D)"))
        arrays.append(_array("INTERCEPT", a, 4, "LOG_NORM_k - 1/2 (mean_k - centre)' P (mean_k - centre) (K)"))
        arrays.append(_array("PREC_CHOL", packed(m.precisions_cholesky), pk, "sqrt(1/2) * shared precision Cholesky, packed by column"))
        body = (
            "  static float shared(const float* x) { return tinygmm::tied_shared<D>(x, CENTRE, PREC_CHOL); }\n"
            "  static float log_prob(int k, const float* x) {\n"
            "    return tinygmm::linear_log_prob<D>(x, CENTRE, SLOPE + k * D, TINYGMM_READ(INTERCEPT + k));\n"
            "  }\n"
        )
    return DeviceArrays(arrays, body)


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

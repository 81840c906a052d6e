"""The device side of an anomaly threshold: the public anomaly API of a generated header."""

from __future__ import annotations

import math

import numpy as np

from ..anomaly import AnomalyThreshold
from .clit import cfloat
from .fixedpoint import FixedPoint


def anomaly_header(
    t: AnomalyThreshold, namespace: str, fixed: FixedPoint | None = None, projected: bool = False
) -> str:
    """The public anomaly API of a generated header (inside the model's namespace).

    ``fixed`` (a codegen.FixedPoint, or None) adds the integer decision; ``projected``: the
    header's x goes through project() first. The macro TINYGMM_MODEL_ANOMALY_<namespace> (the
    namespace exactly, as the include guard) tells tinygmm_device.h the model has a threshold.
    """
    t32 = float(np.float32(t.threshold))
    dims = "N_DIMS" if projected else "N_FEATURES"
    decide = (
        "{\n  float v[N_DIMS];\n  project(x, v);\n  return tinygmm::is_anomaly<detail::Model>(v, ANOMALY_THRESHOLD);\n}"
        if projected
        else "{ return tinygmm::is_anomaly<detail::Model>(x, ANOMALY_THRESHOLD); }"
    )
    text = f"""
// ---- anomaly detection ----
// {t.describe()}
// anomalous when score_samples(x) < ANOMALY_THRESHOLD (scikit-learn's outlier-detector convention)
#define TINYGMM_MODEL_ANOMALY_{namespace} 1
static const float ANOMALY_THRESHOLD = {cfloat(t32)};
// score_samples(x) - ANOMALY_THRESHOLD: negative means anomalous
inline float decision_function(const float* x) {{ return score_samples(x) - ANOMALY_THRESHOLD; }}
// score_samples(x) < ANOMALY_THRESHOLD, mostly without exp/log: one component above the
// threshold says normal, all below it by log K say anomalous (see tinygmm_eval.h)
inline bool is_anomaly(const float* x) {decide}
"""
    if fixed is not None:
        scale = 2.0 ** (2 * fixed.T)
        lim = 2**31 - 1
        hi = min(lim, max(-lim, int(round(t.threshold * scale))))
        lo = min(lim, max(-lim, int(math.floor((t.threshold - math.log(max(1, len(fixed.c)))) * scale))))
        text += f"""// integer decision on quantised inputs (see quantize): 1 anomalous, 0 normal, -1 undecided
// (the score is within log K of the threshold, or the deciding term was clamped). In units of
// 2^-FIXED_LOG_PROB_BITS: normal once a component reaches ANOMALY_THRESHOLD_Q, anomalous when
// every component is below ANOMALY_LOW_Q = (threshold - log K). Each component's log-probability
// is off by at most its bound eps_k (see FIXED_Y_ERROR_MAX), so a decided answer equals
// score_samples(x) < threshold whenever |score_samples(x) - threshold| > max_k eps_k.
static const int32_t ANOMALY_THRESHOLD_Q = {hi}L;
static const int32_t ANOMALY_LOW_Q = {lo}L;
inline int is_anomaly_fixed(const int16_t* zq) {{
  return tinygmm::is_anomaly_fixed<detail::Fixed>(zq, ANOMALY_THRESHOLD_Q, ANOMALY_LOW_Q);
}}
// is_anomaly through the fixed-point path; outside the domain, or undecided, in float
inline bool is_anomaly_q(const float* x) {{
  int16_t zq[{dims}];
  if (quantize(x, zq)) {{
    const int a = is_anomaly_fixed(zq);
    if (a >= 0) return a == 1;
  }}
  return is_anomaly(x);
}}
"""
    return text

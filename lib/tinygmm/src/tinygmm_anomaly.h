// tinygmm_anomaly.h - the anomaly decision score_samples(x) < threshold, mostly
// without computing the score.
//
// Pasted into a generated GMM.h only for a model exported with an anomaly
// threshold (--anomaly-*); see docs/runtime.md.
#ifndef TINYGMM_ANOMALY_H
#define TINYGMM_ANOMALY_H

#include "tinygmm_platform.h"
#include "tinygmm_predict.h"

namespace tinygmm {

// ---- anomaly decision ----------------------------------------------------
//
// score_samples(x) < threshold, scikit-learn's outlier convention. With
// lp_k = log w_k + log N(x | k) (here: minus shared(w)) the mixture's score
// is log sum_k exp(lp_k), so max_k lp_k <= score <= max_k lp_k + log K: one
// component at or above the threshold already says "normal", and every
// component below threshold - log K says "anomalous". Components are visited
// as predict visits them (the start hint, then by descending bound c_k), each
// pruned against threshold - log K by the bound and the partial sums (see
// full_log_prob), so most inputs need one component (normal) or a few
// columns of each (anomalous), and no exp/log. An input whose components lie
// within log K below the threshold needs the sum itself, sum_k exp(lp_k -
// threshold) < 1: one expf per such component (no logf), the pruned ones
// bounded by 1/2^ceil(log2 K) each, and only if that bound cannot decide, a
// second pass over the components that matter. So the answer is the device's
// score_samples(x) < threshold, except within float32 rounding of the
// threshold. NaN input: anomalous.

// An upper bound of log K (ceil(log2 K) ln 2, exact for powers of two): a
// looser bound only sends a few more inputs to the full score.
template <int K>
struct LogKBound {
  static const int BITS = 1 + LogKBound<(K + 1) / 2>::BITS;
};
template <>
struct LogKBound<1> {
  static const int BITS = 0;
};

template <class M>
inline bool is_anomaly(const float* x, float threshold) {
  float w[M::W];
  M::transform(x, w);
  const float base = threshold - M::shared(w);  // lp_k >= base: normal
  const int BITS = LogKBound<M::K>::BITS;
  const float low = base - (float)BITS * 0.693147182f;  // every lp_k < low: anomalous
  // shared(w) overflowed (a tied model, w far out or not finite): the full score decides
  bool exact = !is_finite(base);
  const int8_t first = exact ? (int8_t)-1 : (int8_t)M::hint(w);
  int8_t j = first, next = exact ? (int8_t)M::K : (int8_t)0;
  // anomalous iff sum_k exp(lp_k - base) < 1. Components between low and base add
  // their term; the others (pruned, or after the bound) less than 2^-BITS each.
  float sum = 0.0f;
  int8_t computed = 0;
  for (;;) {
    if (j < 0) {
      if (next == first) ++next;
      if (next >= M::K) break;
      j = next++;
    }
    const float* rec = M::records() + j * M::R;
    j = -1;
    // records are in descending order of their bound: no later one reaches low either
    if (M::BOUNDED && !beats(TINYGMM_READ(rec), low, true)) break;
    float lp;
    if (!M::template log_prob<true>(rec, w, low, true, &lp)) continue;  // below low
    if (is_nan(lp)) {  // inf - inf: a bounded component overflowed, far below
      exact = exact || !M::BOUNDED;
      continue;
    }
    if (beats(lp, base, true)) return false;
    sum += expf(lp - base);  // within log K below the threshold: its term counts
    if (!(sum < 1.0f)) return false;
    ++computed;
  }
  if (exact) {  // a tied model far out: the full score (see classify)
    float proba[M::K];
    float ll;
    classify<M>(x, proba, &ll);
    return !(ll >= threshold);
  }
  // (2^-BITS exactly: a power of two)
  if (!(sum + (float)(M::K - computed) * (1.0f / (float)(1L << BITS)) > 1.0f)) return true;
  // Undecided by the bound: the sum over every component not below base - 24
  // (together the others add less than K e^-24 to it, below float32 resolution).
  const float floor_lp = base - 24.0f;
  sum = 0.0f;
  const float* rec = M::records();
  for (int8_t r = 0; r < M::K; ++r, rec += M::R) {
    if (M::BOUNDED && !beats(TINYGMM_READ(rec), floor_lp, true)) break;
    float lp;
    if (!M::template log_prob<true>(rec, w, floor_lp, true, &lp) || is_nan(lp)) continue;
    sum += expf(lp - base);
  }
  return !(sum >= 1.0f);
}

}  // namespace tinygmm

#endif  // TINYGMM_ANOMALY_H

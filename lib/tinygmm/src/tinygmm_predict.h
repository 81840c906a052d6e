// tinygmm_predict.h - allocation-free Gaussian mixture evaluation in log space:
// predict, predict_proba, score_samples and classify (log-sum-exp).
//
// Part of the runtime a generated GMM.h pastes (always); see docs/runtime.md.
// It knows no particular model: a generated header supplies a "model policy" struct
//
//   struct Model {
//     static const int D;                          // features
//     static const int K;                          // components
//     static const int R;                          // floats per component record
//     static const int W;                          // length of w: D, or 2 D when EXACT
//     static const bool EXACT;                     // w and the means are float pairs (see centre_exact)
//     static const bool BOUNDED;                   // record[0] bounds log_prob from above
//     static void transform(const float* x, float* w); // raw input -> centred w[W]
//     static float shared(const float* w);         // term common to all components
//     static const float* records();               // K records (flash), visiting order
//     static int order(int j);                     // component index of record j
//     template <bool PRUNE>                        // *lp = log w_k + log N(x | k) - shared(w)
//     static bool log_prob(const float* record, const float* w, float best, bool tie_wins, float* lp);
//     static int hint(const float* w);             // record to visit first (-1: none)
//     static const int HINT_BINS;                  // size of that table (0: none)
//     static const bool FULL;                      // full-covariance records: on AVR, predict
//     static int predict_kernel(const float* x);   //   is full_predict (hand-written, same result)
//   };
//
// and the algorithms below (predict, predict_proba, score_samples, classify)
// are written once against that interface (with PRUNE, log_prob may stop as
// soon as it cannot beat best, see full_log_prob). Everything that does not depend on
// x is precomputed in float64 at export time (Cholesky factors of the
// precisions, as scikit-learn's precisions_cholesky_, pre-multiplied by
// sqrt(1/2); log weights plus log determinants), so a component costs one
// triangular mat-vec and no exp/log. exp/log are only used to normalise
// probabilities, after subtracting the maximum, so nothing underflows to an
// all-zero result however far x lies from the data.
//
// C++11, no heap, no exceptions, no STL. Model constants live in flash on AVR.
#ifndef TINYGMM_PREDICT_H
#define TINYGMM_PREDICT_H

#include "tinygmm_platform.h"
#include "tinygmm_log_prob.h"

namespace tinygmm {

// The bin of v among ascending edges (the number of edges <= v).
template <int NB>
inline int bin_of(float v, const int32_t* edge_keys) {  // edges as order_key values, ascending
  const int32_t key = order_key(v);
  int b = 0;
  while (b < NB - 1 && key >= TINYGMM_READ_I32(edge_keys + b)) ++b;
  return b;
}

// Index of the most probable component (scikit-learn's predict) for a
// centred input w. Components are visited in the model's record order:
// descending upper bound c_k >= log_prob (log weight + log det; ties by
// index) for bounded models. As soon as a component's bound cannot beat the
// best so far, neither can any later one; inside a component the partial
// sums prune (see full_log_prob). The result is exactly the argmax of the
// values classify computes.
//
// When every log-probability overflows float32 (w so far out that
// ||U^T (w - mean)||^2 > FLT_MAX: -inf, or NaN from inf - inf), the ranking
// is still well defined: that far out it is the ranking of the quadratic
// terms, which scaling w preserves. So w is scaled down by 2^-8 (exactly: a
// power of two) until the winner is finite. NaN input ends as component 0.
template <class M>
inline int predict_centred(float* w) {
  uint8_t retries = 20;
again:
  int8_t best = M::K;  // none yet: any value, even -inf, beats it
  float best_lp = -INFINITY;
  // Start with the component that usually wins where w[0] lies (a table
  // made at export): a good best from the start lets the bound and the
  // partial sums drop most other components early. Only the visiting order
  // changes; the result is the same argmax. Then the records in order,
  // skipping that one.
  const int8_t first = TINYGMM_PRUNE ? (int8_t)M::hint(w) : (int8_t)-1;
  int8_t j = first, next = 0;
  for (;;) {
    if (j < 0) {
      if (next == first) ++next;
      if (next >= M::K) break;
      j = next++;
    }
    const float* rec = M::records() + j * M::R;
    const int8_t k = (int8_t)M::order(j);
    j = -1;
    const bool tie_wins = k < best;
    if (TINYGMM_PRUNE && M::BOUNDED && !beats(TINYGMM_READ(rec), best_lp, tie_wins)) break;
    float lp;
    const bool ok = M::template log_prob<TINYGMM_PRUNE>(rec, w, best_lp, tie_wins, &lp);
    if (TINYGMM_PRUNE ? ok : beats(lp, best_lp, tie_wins)) {
      best_lp = lp;
      best = k;
    }
  }
  if (!is_finite(best_lp)) {
    if (--retries == 0) return 0;  // NaN input
    for (int i = 0; i < M::W; ++i) w[i] *= 0.00390625f;  // 2^-8: exact
    goto again;
  }
  return best;
}


#if TINYGMM_AVR_KERNEL
// The assembly predict of full-covariance models (defined in tinygmm_avr_kernel.h,
// which a header pastes only for a model that uses it: see PredictImpl).
template <int K, int D, int RB, int NB, const float* RECORDS, const uint8_t* ORDER, const float* OFFSET,
          const uint8_t* PERM, const int32_t* EDGES, const uint8_t* FIRST>
__attribute__((naked, noinline)) uint8_t full_predict(const float*);
#endif

template <class M, bool KERNEL = TINYGMM_AVR_KERNEL && M::FULL && !M::EXACT && (M::D <= 8) && (M::K <= 127)>
struct PredictImpl {
  static int run(const float* x) {
    float w[M::W];
    M::transform(x, w);
    return predict_centred<M>(w);
  }
};
#if TINYGMM_AVR_KERNEL
template <class M>
struct PredictImpl<M, true> {
  static int run(const float* x) {
    return M::predict_kernel(x);
  }
};
#endif

template <class M>
inline int predict(const float* x) {
  return PredictImpl<M>::run(x);
}

// Fills proba[K] (scikit-learn's predict_proba), returns the argmax and, if
// log_likelihood is not null, stores scikit-learn's score_samples there.
template <class M>
inline int classify(const float* x, float* proba, float* log_likelihood) {
  float w[M::W];
  M::transform(x, w);
  const float* rec = M::records();
  bool far = false;
  for (int j = 0; j < M::K; ++j, rec += M::R) {
    float* lp = &proba[M::order(j)];
    M::template log_prob<false>(rec, w, 0.0f, true, lp);
    if (is_nan(*lp)) {
      // inf - inf. A bounded (quadratic) component overflowed: it is far below
      // the others. An unbounded (linear) one could be either way.
      *lp = -INFINITY;
      far = far || !M::BOUNDED;
    }
  }
  int best = 0;
  for (int k = 1; k < M::K; ++k)
    if (proba[k] > proba[best]) best = k;
  const float top = proba[best];
  if (far || !(top > -INFINITY) || top == INFINITY) {
    // Every component overflowed: the mixture's log-likelihood is below
    // -FLT_MAX and all the probability is on the (far-field) winner.
    best = predict_centred<M>(w);
    for (int k = 0; k < M::K; ++k) proba[k] = k == best ? 1.0f : 0.0f;
    if (log_likelihood) *log_likelihood = -INFINITY;
    return best;
  }
  float sum = 0.0f;
  for (int k = 0; k < M::K; ++k) {
    proba[k] = expf(proba[k] - top);
    sum += proba[k];
  }
  const float inv = 1.0f / sum;
  for (int k = 0; k < M::K; ++k) proba[k] *= inv;
  if (log_likelihood) *log_likelihood = M::shared(w) + top + logf(sum);
  return best;
}

template <class M>
inline float score_samples(const float* x) {
  float proba[M::K];
  float ll;
  classify<M>(x, proba, &ll);
  return ll;
}

template <class M>
inline int predict_proba(const float* x, float* proba) {
  return classify<M>(x, proba, 0);
}

}  // namespace tinygmm

#endif  // TINYGMM_PREDICT_H

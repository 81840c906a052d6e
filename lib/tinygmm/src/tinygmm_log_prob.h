// tinygmm_log_prob.h - one component's log-probability, per covariance type
// (full, diag, spherical, tied as a linear discriminant), on inputs centred
// (and reordered) at export: centre, centre_perm, centre_exact, standardize.
//
// Part of the runtime a generated GMM.h pastes (always); see docs/runtime.md.
#ifndef TINYGMM_LOG_PROB_H
#define TINYGMM_LOG_PROB_H

#include "tinygmm_platform.h"

namespace tinygmm {

// Component records. Each component's constants are one record in a flash
// stream, in the order the evaluation reads them, so the evaluation walks one
// pointer forward (no index arithmetic, each constant read once).
//
// Each component's log-probability is c - q with q a sum of squares, built up
// term by term. Float addition of non-negative terms never decreases q, and
// c - q is monotone in q, so once c - q(partial) cannot beat the best so far
// the final value cannot either: predict (PRUNE) stops there. *lp gets the
// value reached (the exact log-probability when true is returned); with
// PRUNE false the checks compile away and the function returns true.
//
// Full: q = ||U^T (w - mean)||^2 with U upper triangular (scaled by
// sqrt(1/2)). Record: c, then per column j: mean_j, U[0][j] .. U[j][j].
// The loops over features are unrolled by templates (D is a compile-time
// constant) so that small models keep d[] in registers; -Os would not.
template <int I, int J>
struct Dot {  // d[I] * u[0] + ... + d[J] * u[J - I], reading u forward
  static inline float run(float acc, const float* d, const float*& p) {
    return Dot<I + 1, J>::run(acc + d[I] * TINYGMM_READ(p++), d, p);
  }
};
template <int J>
struct Dot<J, J> {
  static inline float run(float acc, const float* d, const float*& p) { return acc + d[J] * TINYGMM_READ(p++); }
};
template <int J>
struct Dot<0, J> {  // the first product starts the sum (no 0 + ...)
  static inline float run(const float* d, const float*& p) {
    const float first = d[0] * TINYGMM_READ(p++);
    return Dot<1, J>::run(first, d, p);
  }
};
template <>
struct Dot<0, 0> {
  static inline float run(const float* d, const float*& p) { return d[0] * TINYGMM_READ(p++); }
};

// w[i] - mean_i, reading the mean forward: one float, or with EXACT the pair
// hi, lo against w's pair (w[i], w[D + i]) (see centre_exact).
template <int D, bool EXACT>
inline float mean_diff(const float* w, int i, const float*& p) {
  if (!EXACT) return w[i] - TINYGMM_READ(p++);
  const float hi = TINYGMM_READ(p++);
  const float lo = TINYGMM_READ(p++);
  return (w[i] - hi) + (w[D + i] - lo);
}

template <int J, int D, bool PRUNE, bool EXACT>
struct FullColumns {
  static inline bool run(const float* p, const float* w, float* d, float q, float c, float best, bool tie_wins,
                         float* lp) {
    d[J] = mean_diff<D, EXACT>(w, J, p);  // only once column J needs it
    const float y = Dot<0, J>::run(d, p);
    q = J == 0 ? y * y : q + y * y;
    if (PRUNE && J + 1 < D && !beats(c - q, best, tie_wins)) {
      *lp = c - q;
      return false;
    }
    return FullColumns<J + 1, D, PRUNE, EXACT>::run(p, w, d, q, c, best, tie_wins, lp);
  }
};
template <int D, bool PRUNE, bool EXACT>
struct FullColumns<D, D, PRUNE, EXACT> {
  static inline bool run(const float*, const float*, float*, float q, float c, float best, bool tie_wins, float* lp) {
    *lp = c - q;
    return !PRUNE || beats(*lp, best, tie_wins);
  }
};

template <int D, bool PRUNE, bool EXACT = false>
inline bool full_log_prob(const float* p, const float* w, float best, bool tie_wins, float* lp) {
  const float c = TINYGMM_READ(p);
  float d[D];
  return FullColumns<0, D, PRUNE, EXACT>::run(p + 1, w, d, 0.0f, c, best, tie_wins, lp);
}

// Diagonal: q = sum_i ((w_i - mean_i) * p_i)^2 (p scaled by sqrt(1/2)).
// Record: c, then mean_i, p_i per feature.
template <int D, bool PRUNE, bool EXACT = false>
inline bool diag_log_prob(const float* p, const float* w, float best, bool tie_wins, float* lp) {
  const float c = TINYGMM_READ(p++);
  float q = 0.0f;
  for (int i = 0; i < D; ++i) {
    const float m = mean_diff<D, EXACT>(w, i, p);
    const float y = m * TINYGMM_READ(p++);
    q = i == 0 ? y * y : q + y * y;
    // a check costs about a third of a term: every other term is enough
    if (PRUNE && (i & 1) && i + 1 < D && !beats(c - q, best, tie_wins)) {
      *lp = c - q;
      return false;
    }
  }
  *lp = c - q;
  return !PRUNE || beats(*lp, best, tie_wins);
}

// Spherical: c - h * sum_i (w_i - mean_i)^2, h = precision / 2.
// Record: c, h, then the mean.
template <int D, bool PRUNE, bool EXACT = false>
inline bool spherical_log_prob(const float* p, const float* w, float best, bool tie_wins, float* lp) {
  const float c = TINYGMM_READ(p++);
  const float h = TINYGMM_READ(p++);
  float q = 0.0f;
  for (int i = 0; i < D; ++i) {
    const float y = mean_diff<D, EXACT>(w, i, p);
    q = i == 0 ? y * y : q + y * y;
  }
  *lp = c - h * q;
  return !PRUNE || beats(*lp, best, tie_wins);
}

// Tied covariance, evaluated as a linear discriminant (w is centred on the
// weighted mean of the component means):
// log p_k = shared(w) + a_k + b_k . w, shared(w) = -||U^T w||^2.
// The quadratic term is common to every component, so predict and
// predict_proba never compute it, and far points keep their exact ordering.
// Record: a, then b. No upper bound: predict visits every component.
template <int D, bool PRUNE>
inline bool linear_log_prob(const float* p, const float* w, float best, bool tie_wins, float* lp) {
  float s = TINYGMM_READ(p++);
  for (int i = 0; i < D; ++i) s += w[i] * TINYGMM_READ(p++);
  *lp = s;
  return !PRUNE || beats(s, best, tie_wins);
}

template <int D>
inline float tied_shared(const float* w, const float* u) {
  float q = 0.0f;
  for (int j = 0; j < D; ++j) {
    float y = 0.0f;
    for (int i = 0; i <= j; ++i) y += w[i] * TINYGMM_READ(u++);
    q += y * y;
  }
  return -q;
}

// w = x - offset. Every model is evaluated on inputs centred on the mixture,
// so that no constant carries a large offset and float32 keeps its
// precision for badly scaled raw features; the per-feature scale of the
// standardised space is folded into the constants at export time (a scale
// costs no precision, an offset would).
template <int D>
inline void centre(const float* x, float* w, const float* offset) {
  for (int i = 0; i < D; ++i) w[i] = x[i] - TINYGMM_READ(offset + i);
}

// The same with the features reordered, w[i] = x[perm[i]] - offset[i]: the
// most discriminative feature first makes the first partial sums of predict
// prune most.
template <int D, class Index>
inline void centre_perm(const float* x, float* w, const float* offset, const Index* perm) {
  for (int i = 0; i < D; ++i) w[i] = x[read_index(perm + i)] - TINYGMM_READ(offset + i);
}

// w = x - offset to the last bit, as a float pair: w[i] + w[D + i] equals
// x[perm[i]] - offset[i] exactly (Knuth's TwoSum; perm may be null). For
// models (EXACT) with a component so far from the mixture's centre, relative
// to its spread, that one float32 rounding of x - offset, or of its mean, is
// a visible part of a standard deviation (a cluster floored to reg_covar
// far out, without a scaler). Their records hold each mean as a pair hi + lo
// too, and mean_diff takes (w - hi) + (w_lo - lo): near the mean w - hi is
// exact (Sterbenz), so the difference is right to one rounding of itself.
// Overflow (x - offset beyond FLT_MAX) keeps a zero low part.
template <int D, class Index>
inline void centre_exact(const float* x, float* w, const float* offset, const Index* perm) {
  for (int i = 0; i < D; ++i) {
    const float a = x[perm ? (int)read_index(perm + i) : i];
    const float b = -TINYGMM_READ(offset + i);
    const float s = a + b;
    const float a1 = s - b;
    const float b1 = s - a1;
    w[i] = s;
    w[D + i] = is_finite(s) ? (a - a1) + (b - b1) : 0.0f;
  }
}

template <int D>
inline void centre_exact(const float* x, float* w, const float* offset, decltype(nullptr)) {  // input order
  centre_exact<D>(x, w, offset, static_cast<const uint8_t*>(nullptr));
}

// z = (x - offset) * inv_scale, for spherical models whose input scaler is
// not isotropic (the scale cannot be folded into one precision).
template <int D>
inline void standardize(const float* x, float* z, const float* offset, const float* inv_scale) {
  for (int i = 0; i < D; ++i) z[i] = (x[i] - TINYGMM_READ(offset + i)) * TINYGMM_READ(inv_scale + i);
}

}  // namespace tinygmm

#endif  // TINYGMM_LOG_PROB_H

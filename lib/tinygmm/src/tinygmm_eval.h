// tinygmm_eval.h - allocation-free Gaussian mixture evaluation in log space.
//
// This is the runtime behind every generated GMM.h (the exporter copies this
// file verbatim into the header, so a header stays standalone). It knows no
// particular model: a generated header supplies a "model policy" struct
//
//   struct Model {
//     static const int D;                          // features
//     static const int K;                          // components
//     static const int R;                          // floats per component record
//     static const bool BOUNDED;                   // record[0] bounds log_prob from above
//     static void transform(const float* x, float* w); // raw input -> centred w
//     static float shared(const float* w);         // term common to all components
//     static const float* records();               // K records (flash), visiting order
//     static int order(int j);                     // component index of record j
//     template <bool PRUNE>                        // *lp = log w_k + log N(x | k) - shared(w)
//     static bool log_prob(const float* record, const float* w, float best, bool tie_wins, float* lp);
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
#ifndef TINYGMM_EVAL_H
#define TINYGMM_EVAL_H

#include <math.h>
#include <stdint.h>

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define TINYGMM_FLASH PROGMEM
#define TINYGMM_READ(p) pgm_read_float(p)
#define TINYGMM_READ_U8(p) pgm_read_byte(p)
#define TINYGMM_READ_I16(p) ((int16_t)pgm_read_word(p))
#define TINYGMM_READ_I32(p) ((int32_t)pgm_read_dword(p))
#else
#define TINYGMM_FLASH
#define TINYGMM_READ(p) (*(p))
#define TINYGMM_READ_U8(p) (*(p))
#define TINYGMM_READ_I16(p) (*(p))
#define TINYGMM_READ_I32(p) (*(p))
#endif

namespace tinygmm {

enum CovarianceType { COV_FULL = 0, COV_TIED = 1, COV_DIAG = 2, COV_SPHERICAL = 3 };

// Does log-probability v beat the best so far? Ties go to the lower component
// index, as numpy's argmax (and so scikit-learn's predict) decides them.
// Exactly one comparison. Without a hardware FPU (AVR, Cortex-M0) a float
// comparison is a library call; there floats are compared as integers
// instead: flipping the magnitude bits of negatives makes the signed integer
// order the float order (NaN sorts above +inf, and -0 below +0, which c - q
// never produces).
#ifndef TINYGMM_SOFT_FLOAT
#if defined(__AVR__) || (defined(__arm__) && !defined(__ARM_FP)) || defined(__SOFTFP__)
#define TINYGMM_SOFT_FLOAT 1
#else
#define TINYGMM_SOFT_FLOAT 0
#endif
#endif

// Pruning inside a component pays where a float operation costs ~100 cycles
// and a branch little; with an FPU the checks cost more than they save.
#ifndef TINYGMM_PRUNE
#define TINYGMM_PRUNE TINYGMM_SOFT_FLOAT
#endif

#if TINYGMM_SOFT_FLOAT
inline int32_t order_key(float f) {
  union {
    float f;
    int32_t i;
  } u;
  u.f = f;
  return u.i >= 0 ? u.i : u.i ^ (int32_t)0x7FFFFFFFL;
}
inline bool beats(float v, float best, bool tie_wins) {
  const int32_t a = order_key(v), b = order_key(best);
  return tie_wins ? a >= b : a > b;
}
inline bool is_nan(float f) {  // NaNs of either sign sort outside [-inf, +inf]
  const int32_t k = order_key(f);
  return k > (int32_t)0x7F800000L || k < (int32_t)-2139095041L;
}
inline bool is_finite(float f) {
  const int32_t k = order_key(f);
  return k > (int32_t)-2139095041L && k < (int32_t)0x7F800000L;  // order_key(-inf), order_key(+inf)
}
#else
inline bool beats(float v, float best, bool tie_wins) { return tie_wins ? v >= best : v > best; }
inline bool is_nan(float f) { return f != f; }
inline bool is_finite(float f) { return f > -INFINITY && f < INFINITY; }
#endif

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

template <int J, int D, bool PRUNE>
struct FullColumns {
  static inline bool run(const float* p, const float* w, float* d, float q, float c, float best, bool tie_wins,
                         float* lp) {
    d[J] = w[J] - TINYGMM_READ(p++);  // only once column J needs it
    const float y = Dot<0, J>::run(d, p);
    q = J == 0 ? y * y : q + y * y;
    if (PRUNE && J + 1 < D && !beats(c - q, best, tie_wins)) {
      *lp = c - q;
      return false;
    }
    return FullColumns<J + 1, D, PRUNE>::run(p, w, d, q, c, best, tie_wins, lp);
  }
};
template <int D, bool PRUNE>
struct FullColumns<D, D, PRUNE> {
  static inline bool run(const float*, const float*, float*, float q, float c, float best, bool tie_wins, float* lp) {
    *lp = c - q;
    return !PRUNE || beats(*lp, best, tie_wins);
  }
};

template <int D, bool PRUNE>
inline bool full_log_prob(const float* p, const float* w, float best, bool tie_wins, float* lp) {
  const float c = TINYGMM_READ(p);
  float d[D];
  return FullColumns<0, D, PRUNE>::run(p + 1, w, d, 0.0f, c, best, tie_wins, lp);
}

// Diagonal: q = sum_i ((w_i - mean_i) * p_i)^2 (p scaled by sqrt(1/2)).
// Record: c, then mean_i, p_i per feature.
template <int D, bool PRUNE>
inline bool diag_log_prob(const float* p, const float* w, float best, bool tie_wins, float* lp) {
  const float c = TINYGMM_READ(p++);
  float q = 0.0f;
  for (int i = 0; i < D; ++i) {
    const float m = TINYGMM_READ(p++);
    const float y = (w[i] - m) * TINYGMM_READ(p++);
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
template <int D, bool PRUNE>
inline bool spherical_log_prob(const float* p, const float* w, float best, bool tie_wins, float* lp) {
  const float c = TINYGMM_READ(p++);
  const float h = TINYGMM_READ(p++);
  float q = 0.0f;
  for (int i = 0; i < D; ++i) {
    const float y = w[i] - TINYGMM_READ(p++);
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
template <int D>
inline void centre_perm(const float* x, float* w, const float* offset, const uint8_t* perm) {
  for (int i = 0; i < D; ++i) w[i] = x[TINYGMM_READ_U8(perm + i)] - TINYGMM_READ(offset + i);
}

// z = (x - offset) * inv_scale, for spherical models whose input scaler is
// not isotropic (the scale cannot be folded into one precision).
template <int D>
inline void standardize(const float* x, float* z, const float* offset, const float* inv_scale) {
  for (int i = 0; i < D; ++i) z[i] = (x[i] - TINYGMM_READ(offset + i)) * TINYGMM_READ(inv_scale + i);
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
// The bin of v among ascending edges (the number of edges <= v).
template <int NB>
inline int bin_of(float v, const float* edges) {
  int b = 0;
#if TINYGMM_SOFT_FLOAT
  const int32_t key = order_key(v);
  while (b < NB - 1 && key >= order_key(TINYGMM_READ(edges + b))) ++b;
#else
  while (b < NB - 1 && v >= TINYGMM_READ(edges + b)) ++b;
#endif
  return b;
}

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
    for (int i = 0; i < M::D; ++i) w[i] *= 0.00390625f;  // 2^-8: exact
    goto again;
  }
  return best;
}

template <class M>
inline int predict(const float* x) {
  float w[M::D];
  M::transform(x, w);
  return predict_centred<M>(w);
}

// Fills proba[K] (scikit-learn's predict_proba), returns the argmax and, if
// log_likelihood is not null, stores scikit-learn's score_samples there.
template <class M>
inline int classify(const float* x, float* proba, float* log_likelihood) {
  float w[M::D];
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

// ---- fixed point (exported with --fixed-point) ---------------------------
//
// For MCUs without an FPU. The input is quantised once to z-space,
// zq_i = round(z_i * 2^F) in int16 (z = standardised input, |z_i| < 2^(15-F)),
// and every component is evaluated in integers: with U the precision
// Cholesky factor (times sqrt(1/2)) quantised to int16 as Uq = round(U 2^G)
// and b = U^T mean as bq = round(b 2^(F+G)) in int32 (G per component),
//   acc_j = sum_{i<=j} zq_i Uq_ij - bq_j          (exact, int32)
//   yq_j  = (acc_j + 2^(S-1)) >> S                (y_j in units of 2^-T, S = F + G - T,
//                                                  16 unless the component is very narrow)
//   lpq   = cq - sum_j yq_j^2                     (log-probability in units of 2^-2T)
// with cq = round(c 2^(2T)). yq is clamped to +-Q::YCLAMP so nothing
// overflows; a component whose yq clamped has a true log-probability below
// its clamped value, so it is only a problem if it wins, which predict_fixed
// reports (the float entry point then decides in float). Layouts: full
// (triangular Uq, full and tied models) or diagonal (diag and spherical).
// Record streams: RQ (int32) = cq, then bq_j per column; UQ (int16) = the
// column's Uq entries (j + 1 of them, or 1 for the diagonal layout). As in
// the float path, the column loops are unrolled by templates.
// 16 x 16 -> 32 bit signed product. On AVR with a hardware multiplier, four
// MULs inline (Atmel's AVR201 sequence) instead of a call to __mulhisi3.
inline int32_t mul16(int16_t a, int16_t b) {
#if defined(__AVR__) && defined(__AVR_HAVE_MUL__)
  int32_t r;
  uint8_t zero;
  __asm__(
      "clr %[z]\n\t"
      "muls %B[a], %B[b]\n\t"
      "movw %C[r], r0\n\t"
      "mul %A[a], %A[b]\n\t"
      "movw %A[r], r0\n\t"
      "mulsu %B[a], %A[b]\n\t"
      "sbc %D[r], %[z]\n\t"
      "add %B[r], r0\n\t"
      "adc %C[r], r1\n\t"
      "adc %D[r], %[z]\n\t"
      "mulsu %B[b], %A[a]\n\t"
      "sbc %D[r], %[z]\n\t"
      "add %B[r], r0\n\t"
      "adc %C[r], r1\n\t"
      "adc %D[r], %[z]\n\t"
      "clr __zero_reg__"
      : [r] "=&r"(r), [z] "=&r"(zero)
      : [a] "a"(a), [b] "a"(b)
      : "r0");
  return r;
#else
  return (int32_t)a * b;
#endif
}

template <int I, int J>
struct IDot {  // zq[I] * uq[0] + ... + zq[J] * uq[J - I], reading uq forward
  static inline int32_t run(int32_t acc, const int16_t* zq, const int16_t*& pu) {
    return IDot<I + 1, J>::run(acc + mul16(zq[I], TINYGMM_READ_I16(pu++)), zq, pu);
  }
};
template <int J>
struct IDot<J, J> {
  static inline int32_t run(int32_t acc, const int16_t* zq, const int16_t*& pu) {
    return acc + mul16(zq[J], TINYGMM_READ_I16(pu++));
  }
};

inline int16_t clamp16(int32_t v) { return v > 32767 ? 32767 : v < -32767 ? -32767 : (int16_t)v; }

template <int J, int D, bool DIAG, bool PRUNE, bool ALL16 = false>
struct FixedColumns {
  static inline bool run(const int32_t* pc, const int16_t* pu, const int16_t* zq, uint8_t shift, int16_t yclamp, int32_t c,
                         int32_t q, int32_t best, bool tie_wins, int32_t* lp, bool* clamped) {
    const int32_t acc = IDot<DIAG ? J : 0, J>::run(-TINYGMM_READ_I32(pc), zq, pu);
    // the stored bq carries the rounding offset; a shift of 16 takes the high word
    int16_t y = (ALL16 || shift == 16) ? (int16_t)(acc >> 16) : clamp16(acc >> shift);
    if (y > yclamp) {
      y = yclamp;
      *clamped = true;
    } else if (y < -yclamp) {
      y = -yclamp;
      *clamped = true;
    }
    q += mul16(y, y);
    if (PRUNE && J + 1 < D && (tie_wins ? c - q < best : c - q <= best)) return false;
    return FixedColumns<J + 1, D, DIAG, PRUNE, ALL16>::run(pc + 1, pu, zq, shift, yclamp, c, q, best, tie_wins, lp,
                                                           clamped);
  }
};
template <int D, bool DIAG, bool PRUNE, bool ALL16>
struct FixedColumns<D, D, DIAG, PRUNE, ALL16> {
  static inline bool run(const int32_t*, const int16_t*, const int16_t*, uint8_t, int16_t, int32_t c, int32_t q, int32_t best,
                         bool tie_wins, int32_t* lp, bool*) {
    *lp = c - q;
    return tie_wins ? *lp >= best : *lp > best;
  }
};

// The bin of zq[0] predict_fixed starts from: clamp((z0 - LO) >> S, 0, NB - 1),
// in 16-bit unsigned arithmetic (z0 + 2^15 is in [0, 65535]).
template <int NB, int LO, int S>
inline uint8_t bin_of_q(int16_t z0) {
  const uint16_t u = (uint16_t)((uint16_t)z0 ^ 0x8000u), lo = (uint16_t)(LO + 32768L);
  if (u < lo) return 0;
  const uint16_t b = (uint16_t)(u - lo) >> S;
  return b < NB ? (uint8_t)b : (uint8_t)(NB - 1);
}

// Argmax over the quantised log-probabilities of zq (z-space, 2^F units).
// Sets *clamped when the winner had a clamped term (then the answer may be
// wrong; see above). The visiting plan is made at export (FixedBins in
// codegen.py): per bin of zq[0], the component that usually wins there, then
// the others by descending upper bound of their log-probability over the bin
// (cq - min y_0^2, exact, rounded up to units of 2^16). Once a bound is below
// the best so far, so are all later ones: the loop stops there. Inside a
// component the partial sums prune, as in predict. The result is exactly the
// first argmax of the K integer log-probabilities.
template <class Q>
inline int predict_fixed(const int16_t* zq, bool* clamped) {
  int8_t best = Q::K;
  int32_t best_lp = -(int32_t)0x7FFFFFFFL - 1;
  bool best_clamped = false;
  const uint8_t bin = Q::bin(zq[0]);
  const uint8_t* visit = Q::visit() + bin * Q::K;
  const int16_t* bound = Q::bound() + bin * Q::K;
  for (int8_t i = 0; i < Q::K; ++i) {
    // bound < floor(best / 2^16) implies log-probability < best (the high word: free on 8-bit MCUs)
    if (TINYGMM_READ_I16(bound + i) < (int16_t)(best_lp >> 16)) break;
    const int8_t k = (int8_t)TINYGMM_READ_U8(visit + i);
    const int32_t* pc = Q::rq() + k * (Q::D + 1);
    const int16_t* pu = Q::uq() + k * Q::NU;
    const uint8_t shift = Q::ALL16 ? 16 : (uint8_t)Q::shift(k);
    const bool tie_wins = k < best;
    int32_t lp;
    bool cl = false;
    if (FixedColumns<0, Q::D, Q::DIAG, true, Q::ALL16>::run(pc + 1, pu, zq, shift, Q::YCLAMP, TINYGMM_READ_I32(pc), 0,
                                                            best_lp, tie_wins, &lp, &cl)) {
      best_lp = lp;
      best = k;
      best_clamped = cl;
    }
  }
  *clamped = best_clamped;
  return best < Q::K ? best : 0;
}

// zq[i] = round((x[perm[i]] - offset[i]) * gain[i]) with gain = 2^F / scale;
// false when some |zq_i| would exceed 32767 (or x is NaN). Rounding is one
// float addition of MAGIC = 1.5 * 2^23: the sum's mantissa step is 1, so its
// low 23 bits hold 2^22 + round(v) for |v| < 2^22 (the sum's sign and
// exponent bits, 0x96, say whether it is); no float-to-int conversion. FUSED:
// a[i] = MAGIC - offset[i] * gain[i] is folded into that addition (two float
// operations per feature; see fixed_point in codegen.py), else a = offset.
template <int D, bool FUSED>
inline bool quantize(const float* x, int16_t* zq, const float* a, const float* gain, const uint8_t* perm) {
  for (int i = 0; i < D; ++i) {
    const float xi = x[TINYGMM_READ_U8(perm + i)];
    union {
      float f;
      uint32_t u;
    } v;
    v.f = FUSED ? xi * TINYGMM_READ(gain + i) + TINYGMM_READ(a + i)
                : (xi - TINYGMM_READ(a + i)) * TINYGMM_READ(gain + i) + 12582912.0f;
    if ((uint16_t)(v.u >> 16) >> 7 != 0x96) return false;  // |round(v)| >= 2^22, inf or NaN
    const int32_t r = (int32_t)(v.u & 0x7FFFFFUL) - 0x400000L;
    if (r < -32767L || r > 32767L) return false;
    zq[i] = (int16_t)r;
  }
  return true;
}

}  // namespace tinygmm

#endif  // TINYGMM_EVAL_H

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
// Exactly one comparison. Without a hardware FPU (AVR, Cortex-M0, RV32IMC, Xtensa lx106) a float
// comparison is a library call; there floats are compared as integers
// instead: flipping the magnitude bits of negatives makes the signed integer
// order the float order (NaN sorts above +inf, and -0 below +0, which c - q
// never produces).
#ifndef TINYGMM_SOFT_FLOAT
#if defined(__AVR__) || (defined(__arm__) && !defined(__ARM_FP)) || defined(__SOFTFP__) || \
    (defined(__riscv) && !defined(__riscv_flen)) || defined(__XTENSA_SOFT_FLOAT__)
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

inline int32_t order_key(float f) {
  union {
    float f;
    int32_t i;
  } u;
  u.f = f;
  return u.i >= 0 ? u.i : u.i ^ (int32_t)0x7FFFFFFFL;
}
#if TINYGMM_SOFT_FLOAT
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
template <int D>
inline void centre_perm(const float* x, float* w, const float* offset, const uint8_t* perm) {
  for (int i = 0; i < D; ++i) w[i] = x[TINYGMM_READ_U8(perm + i)] - TINYGMM_READ(offset + i);
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
template <int D>
inline void centre_exact(const float* x, float* w, const float* offset, const uint8_t* perm) {
  for (int i = 0; i < D; ++i) {
    const float a = x[perm ? TINYGMM_READ_U8(perm + i) : i];
    const float b = -TINYGMM_READ(offset + i);
    const float s = a + b;
    const float a1 = s - b;
    const float b1 = s - a1;
    w[i] = s;
    w[D + i] = is_finite(s) ? (a - a1) + (b - b1) : 0.0f;
  }
}

// z = (x - offset) * inv_scale, for spherical models whose input scaler is
// not isotropic (the scale cannot be folded into one precision).
template <int D>
inline void standardize(const float* x, float* z, const float* offset, const float* inv_scale) {
  for (int i = 0; i < D; ++i) z[i] = (x[i] - TINYGMM_READ(offset + i)) * TINYGMM_READ(inv_scale + i);
}

// v = M (x - centre), M (P x D) stored by column: for pipelines whose linear
// steps (a PCA, scalers around it) were folded at export into one map. One
// subtraction per raw feature and P * D multiply-adds; the mixture is then
// evaluated on v (P features) as any other model.
template <int D, int P>
inline void project(const float* x, float* v, const float* centre, const float* m) {
  for (int i = 0; i < P; ++i) v[i] = 0.0f;
  for (int j = 0; j < D; ++j) {
    const float d = x[j] - TINYGMM_READ(centre + j);
    for (int i = 0; i < P; ++i) v[i] += TINYGMM_READ(m++) * d;
  }
}

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

#if defined(__AVR__) && defined(__AVR_HAVE_MUL__) && defined(__AVR_HAVE_LPMX__) && !defined(TINYGMM_NO_ASM)
#define TINYGMM_AVR_KERNEL 1
#else
#define TINYGMM_AVR_KERNEL 0
#endif

#if TINYGMM_AVR_KERNEL
// predict for full-covariance models on AVR, hand-written for size (the
// whole of predict: transform, start hint, visiting loop, overflow retry).
// It performs the same float operations (avr-libc's __subsf3 / __mulsf3 /
// __addsf3, in the same order) with the same visiting order, bound,
// partial-sum pruning and tie rule as the C++ code above, so its answer is
// identical; test_avr_sim.py checks it against the host build of the C++
// code. avr-gcc ABI: arguments in r24:r25, r22:r23, ...; r2-r17 and Y are
// saved here; the float routines clobber r18-r27, r30, r31, r0 and T only.
// K, D, the record size, the number of hint bins and the tables' addresses
// are immediates. Frame (from Y+1): best_key 4, c 4, best, k, first, next,
// retries, w[D], d[D] (w - mean, this component).
template <int K, int D, int RB, int NB, const float* RECORDS, const uint8_t* ORDER, const float* OFFSET,
          const uint8_t* PERM, const int32_t* EDGES, const uint8_t* FIRST>
__attribute__((naked, noinline)) uint8_t full_predict(const float*) {
  __asm__ volatile(
      "push r2\n push r3\n push r4\n push r5\n push r6\n push r7\n push r8\n push r9\n push r10\n push r11\n"
      "push r12\n push r13\n push r14\n push r15\n push r16\n push r17\n push r28\n push r29\n"
      "in r28, __SP_L__\n in r29, __SP_H__\n"
      "subi r28, lo8(%[frame])\n sbci r29, hi8(%[frame])\n"
      "in r0, __SREG__\n cli\n out __SP_H__, r29\n out __SREG__, r0\n out __SP_L__, r28\n"
      "ldi r26, 20\n std Y+13, r26\n"  // retries
      // w[i] = x[perm[i]] - offset[i]
      "movw r2, r24\n"
      "ldi r26, lo8(%[off])\n ldi r27, hi8(%[off])\n movw r4, r26\n"
      "ldi r26, lo8(%[perm])\n ldi r27, hi8(%[perm])\n movw r6, r26\n"
      "movw r26, r28\n adiw r26, 14\n movw r8, r26\n"
      "ldi r17, %[d]\n"
      "1:\n"
      "movw r30, r6\n lpm r24, Z+\n movw r6, r30\n"
      "lsl r24\n lsl r24\n"
      "movw r26, r2\n add r26, r24\n adc r27, __zero_reg__\n"
      "ld r22, X+\n ld r23, X+\n ld r24, X+\n ld r25, X+\n"
      "movw r30, r4\n lpm r18, Z+\n lpm r19, Z+\n lpm r20, Z+\n lpm r21, Z+\n movw r4, r30\n"
      "%~call __subsf3\n"
      "movw r26, r8\n st X+, r22\n st X+, r23\n st X+, r24\n st X+, r25\n movw r8, r26\n"
      "dec r17\n brne 1b\n"
      // first = hint_first[number of edges <= w[0]] (keys), or none
      ".if %[nb] > 1\n"
      "ldd r22, Y+14\n ldd r23, Y+15\n ldd r24, Y+16\n ldd r25, Y+17\n"
      "rcall 20f\n"
      "ldi r30, lo8(%[edges])\n ldi r31, hi8(%[edges])\n"
      "clr r16\n"
      "ldi r17, %[nb] - 1\n"
      "2:\n"
      "lpm r18, Z+\n lpm r19, Z+\n lpm r20, Z+\n lpm r21, Z+\n"
      "cp r22, r18\n cpc r23, r19\n cpc r24, r20\n cpc r25, r21\n"
      "brlt 3f\n"
      "inc r16\n dec r17\n brne 2b\n"
      "3:\n"
      "ldi r30, lo8(%[first])\n ldi r31, hi8(%[first])\n add r30, r16\n adc r31, __zero_reg__\n lpm r24, Z\n"
      ".else\n"
      "ldi r24, 0xFF\n"
      ".endif\n"
      "std Y+11, r24\n"
      "4:\n"  // one pass over the records
      "ldi r24, %[k]\n std Y+9, r24\n"  // best: none; best_key = order_key(-inf), which a tie with "none" beats
      "ldi r24, 0xFF\n std Y+1, r24\n std Y+2, r24\n ldi r24, 0x7F\n std Y+3, r24\n ldi r24, 0x80\n std Y+4, r24\n"
      "std Y+12, __zero_reg__\n"  // next
      "ldd r24, Y+11\n tst r24\n brmi 5f\n rcall 10f\n"
      "5:\n"  // the others in order, skipping first
      "ldd r24, Y+12\n cpi r24, %[k]\n brsh 6f\n"
      "mov r25, r24\n inc r25\n std Y+12, r25\n"
      "ldd r25, Y+11\n cp r24, r25\n breq 5b\n"
      "rcall 10f\n"
      "brtc 5b\n"  // T: the bound says no later record can win
      "6:\n"  // a finite winner? order_key - order_key(-inf) - 1 must not have 0xFF on top
      "ldd r24, Y+3\n ldd r25, Y+4\n subi r24, 0x80\n sbci r25, 0x80\n cpi r25, 0xFF\n brne 8f\n"
      "ldd r24, Y+13\n dec r24\n std Y+13, r24\n breq 9f\n"  // NaN input: 0
      "movw r26, r28\n adiw r26, 14\n movw r8, r26\n"  // w *= 2^-8 (exact), and again
      "ldi r17, %[d]\n"
      "7:\n"
      "movw r26, r8\n ld r22, X+\n ld r23, X+\n ld r24, X+\n ld r25, X+\n"
      "ldi r18, 0\n ldi r19, 0\n ldi r20, 0x80\n ldi r21, 0x3B\n"
      "%~call __mulsf3\n"
      "movw r26, r8\n st X+, r22\n st X+, r23\n st X+, r24\n st X+, r25\n movw r8, r26\n"
      "dec r17\n brne 7b\n"
      "rjmp 4b\n"
      "8:\n"
      "ldd r24, Y+9\n"
      "9:\n"
      "subi r28, lo8(-(%[frame]))\n sbci r29, hi8(-(%[frame]))\n"
      "in r0, __SREG__\n cli\n out __SP_H__, r29\n out __SREG__, r0\n out __SP_L__, r28\n"
      "pop r29\n pop r28\n pop r17\n pop r16\n pop r15\n pop r14\n pop r13\n pop r12\n pop r11\n pop r10\n"
      "pop r9\n pop r8\n pop r7\n pop r6\n pop r5\n pop r4\n pop r3\n pop r2\n"
      "ret\n"

      "10:\n"  // evaluate record r24; T set: its bound cannot win
      "ldi r30, lo8(%[order])\n ldi r31, hi8(%[order])\n add r30, r24\n adc r31, __zero_reg__\n"
      "lpm r25, Z\n std Y+10, r25\n"  // k = order[j]
      "ldi r18, %[rb]\n mul r24, r18\n"
      "ldi r30, lo8(%[rec])\n ldi r31, hi8(%[rec])\n add r30, r0\n adc r31, r1\n clr __zero_reg__\n"
      "lpm r22, Z+\n lpm r23, Z+\n lpm r24, Z+\n lpm r25, Z+\n movw r10, r30\n"  // c
      "std Y+5, r22\n std Y+6, r23\n std Y+7, r24\n std Y+8, r25\n"
      "rcall 21f\n"
      "brcs 12f\n"
      "set\n ret\n"
      "12:\n"
      "movw r14, r28\n ldi r16, 14\n add r14, r16\n adc r15, __zero_reg__\n"  // &w[0]
      "clr r16\n"  // column j
      "13:\n"
      "movw r26, r14\n ld r22, X+\n ld r23, X+\n ld r24, X+\n ld r25, X+\n movw r14, r26\n"
      "movw r30, r10\n lpm r18, Z+\n lpm r19, Z+\n lpm r20, Z+\n lpm r21, Z+\n movw r10, r30\n"
      "%~call __subsf3\n"  // d_j = w_j - mean_j, at d[j] = w[j] + 4 D
      "movw r26, r14\n adiw r26, %[d4] - 4\n st X+, r22\n st X+, r23\n st X+, r24\n st X+, r25\n"
      "movw r12, r28\n ldi r17, 14 + %[d4]\n add r12, r17\n adc r13, __zero_reg__\n"  // &d[0]
      "mov r17, r16\n inc r17\n"
      "14:\n"  // y = d_0 U_0j + ... + d_j U_jj
      "movw r26, r12\n ld r22, X+\n ld r23, X+\n ld r24, X+\n ld r25, X+\n movw r12, r26\n"
      "movw r30, r10\n lpm r18, Z+\n lpm r19, Z+\n lpm r20, Z+\n lpm r21, Z+\n movw r10, r30\n"
      "%~call __mulsf3\n"
      "cp r16, r17\n brcs 15f\n"  // the first product starts the sum
      "movw r18, r6\n movw r20, r8\n %~call __addsf3\n"
      "15:\n"
      "movw r6, r22\n movw r8, r24\n"
      "dec r17\n brne 14b\n"
      "movw r18, r22\n movw r20, r24\n %~call __mulsf3\n"  // y^2
      "tst r16\n breq 16f\n"
      "movw r18, r2\n movw r20, r4\n %~call __addsf3\n"
      "16:\n"
      "movw r2, r22\n movw r4, r24\n"  // q
      "movw r18, r22\n movw r20, r24\n"
      "ldd r22, Y+5\n ldd r23, Y+6\n ldd r24, Y+7\n ldd r25, Y+8\n"
      "%~call __subsf3\n"  // c - q
      "rcall 21f\n"
      "brcc 17f\n"  // cannot win any more
      "inc r16\n cpi r16, %[d]\n brsh 18f\n rjmp 13b\n"
      "18:\n"
      "std Y+1, r22\n std Y+2, r23\n std Y+3, r24\n std Y+4, r25\n"  // the new best
      "ldd r24, Y+10\n std Y+9, r24\n"
      "17:\n"
      "clt\n"  // (the float routines may have changed T)
      "ret\n"

      "20:\n"  // r22:r25 = order_key(r22:r25)
      "sbrs r25, 7\n ret\n"
      "com r22\n com r23\n com r24\n com r25\n subi r25, 0x80\n"
      "ret\n"

      "21:\n"  // r22:r25 = order_key(float r22:r25); carry set if it beats the best (a tie if k < best)
      "rcall 20b\n"
      "ldd r18, Y+1\n ldd r19, Y+2\n ldd r20, Y+3\n ldd r21, Y+4\n"
      "cp r18, r22\n cpc r19, r23\n cpc r20, r24\n cpc r21, r25\n"
      "brne 22f\n"
      "ldd r18, Y+10\n ldd r19, Y+9\n cp r18, r19\n"  // equal: carry = k < best
      "ret\n"
      "22:\n"
      "sec\n brlt 23f\n clc\n"  // best < key
      "23:\n"
      "ret\n" ::[k] "n"(K),
      [d] "n"(D), [d4] "n"(4 * D), [rb] "n"(RB), [nb] "n"(NB), [frame] "n"(13 + 8 * D), [rec] "i"(RECORDS),
      [order] "i"(ORDER), [off] "i"(OFFSET), [perm] "i"(PERM), [edges] "i"(EDGES), [first] "i"(FIRST)
      : "memory");
}
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
// codegen/fixedpoint.py): per bin of zq[0], the component that usually wins there, then
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

// The anomaly decision on quantised inputs, in integers (as is_anomaly, with
// the thresholds in units of 2^-2T: hi = threshold, lo = threshold - log K):
// 0 normal (a component reaches hi), 1 anomalous (every component is below
// lo), -1 undecided (a component lies between the two, or the one that
// reached hi had a clamped term, which can only make it look better).
// Components are visited by predict_fixed's plan and pruned against lo.
template <class Q>
inline int is_anomaly_fixed(const int16_t* zq, int32_t hi, int32_t lo) {
  const uint8_t bin = Q::bin(zq[0]);
  const uint8_t* visit = Q::visit() + bin * Q::K;
  const int16_t* bound = Q::bound() + bin * Q::K;
  bool unsure = false;
  const int32_t lo_high = lo >> 16;
  for (int8_t i = 0; i < Q::K; ++i) {
    // bound < floor(lo / 2^16): below lo. After the first (the bin's usual winner),
    // bounds descend, so no later component reaches lo either.
    if ((int32_t)TINYGMM_READ_I16(bound + i) < lo_high) {
      if (i == 0) continue;
      break;
    }
    const int8_t k = (int8_t)TINYGMM_READ_U8(visit + i);
    const int32_t* pc = Q::rq() + k * (Q::D + 1);
    const int16_t* pu = Q::uq() + k * Q::NU;
    const uint8_t shift = Q::ALL16 ? 16 : (uint8_t)Q::shift(k);
    int32_t lp;
    bool cl = false;
    if (!FixedColumns<0, Q::D, Q::DIAG, true, Q::ALL16>::run(pc + 1, pu, zq, shift, Q::YCLAMP, TINYGMM_READ_I32(pc), 0,
                                                             lo, true, &lp, &cl))
      continue;  // below lo (clamping only raises a value)
    if (lp >= hi && !cl) return 0;
    unsure = true;
  }
  return unsure ? -1 : 1;
}

// zq[i] = round((x[perm[i]] - offset[i]) * gain[i]) with gain = 2^F / scale;
// false when some |zq_i| would exceed 32767 (or x is NaN). Rounding is one
// float addition of MAGIC = 1.5 * 2^23: the sum's mantissa step is 1, so its
// low 23 bits hold 2^22 + round(v) for |v| < 2^22 (the sum's sign and
// exponent bits, 0x96, say whether it is); no float-to-int conversion. FUSED:
// a[i] = MAGIC - offset[i] * gain[i] is folded into that addition (two float
// operations per feature; see fixed_point in codegen/fixedpoint.py), else a = offset.
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

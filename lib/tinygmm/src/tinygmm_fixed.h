// tinygmm_fixed.h - the integer (fixed-point) evaluation: quantize, predict_fixed.
//
// Pasted into a generated GMM.h only for a model exported with --fixed-point;
// see docs/runtime.md.
#ifndef TINYGMM_FIXED_H
#define TINYGMM_FIXED_H

#include "tinygmm_platform.h"

namespace tinygmm {

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

// zq[i] = round((x[perm[i]] - offset[i]) * gain[i]) with gain = 2^F / scale;
// false when some |zq_i| would exceed 32767 (or x is NaN). Rounding is one
// float addition of MAGIC = 1.5 * 2^23: the sum's mantissa step is 1, so its
// low 23 bits hold 2^22 + round(v) for |v| < 2^22 (the sum's sign and
// exponent bits, 0x96, say whether it is); no float-to-int conversion. FUSED:
// a[i] = MAGIC - offset[i] * gain[i] is folded into that addition (two float
// operations per feature; see fixed_point in codegen/fixedpoint.py), else a = offset.
template <int D, bool FUSED, class Index>
inline bool quantize(const float* x, int16_t* zq, const float* a, const float* gain, const Index* perm) {
  for (int i = 0; i < D; ++i) {
    const float xi = x[read_index(perm + i)];
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

#endif  // TINYGMM_FIXED_H

// tinygmm_platform.h - what every part of the tinygmm runtime shares: flash access
// (PROGMEM on AVR), the covariance types, and float comparisons that cost no
// library call on MCUs without an FPU (order_key, beats, is_nan, is_finite).
//
// Part of the runtime a generated GMM.h pastes (always); see docs/runtime.md.
// C++11, no heap, no exceptions, no STL.
#ifndef TINYGMM_PLATFORM_H
#define TINYGMM_PLATFORM_H

#include <math.h>
#include <stdint.h>

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define TINYGMM_FLASH PROGMEM
#define TINYGMM_READ(p) pgm_read_float(p)
#define TINYGMM_READ_U8(p) pgm_read_byte(p)
#define TINYGMM_READ_U16(p) ((uint16_t)pgm_read_word(p))
#define TINYGMM_READ_I16(p) ((int16_t)pgm_read_word(p))
#define TINYGMM_READ_I32(p) ((int32_t)pgm_read_dword(p))
#else
#define TINYGMM_FLASH
#define TINYGMM_READ(p) (*(p))
#define TINYGMM_READ_U8(p) (*(p))
#define TINYGMM_READ_U16(p) (*(p))
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

// Can predict use the assembly kernel of full-covariance models (tinygmm_avr_kernel.h)?
// AVR with MUL and LPM Rd, Z+; -DTINYGMM_NO_ASM says no.
#if defined(__AVR__) && defined(__AVR_HAVE_MUL__) && defined(__AVR_HAVE_LPMX__) && !defined(TINYGMM_NO_ASM)
#define TINYGMM_AVR_KERNEL 1
#else
#define TINYGMM_AVR_KERNEL 0
#endif

// A feature index from a flash table (PERM, Q_PERM): the exporter writes uint8_t
// tables for models of up to 256 features and uint16_t tables above.
inline uint8_t read_index(const uint8_t* p) { return TINYGMM_READ_U8(p); }
inline uint16_t read_index(const uint16_t* p) { return TINYGMM_READ_U16(p); }

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

}  // namespace tinygmm

#endif  // TINYGMM_PLATFORM_H

// tinygmm_online.h - a Gaussian mixture that learns on the device (stepwise EM).
//
// The exported GMM.h is the frozen, fast path. OnlineGMM<K, D, COV, WARM> is a
// mixture whose parameters change with every sample it learns from, in fixed
// memory and bounded time, so a device can learn its own "normal" and keep
// adapting to drift. Standalone: it needs no generated header (begin_from_header
// reads one if you have it), C++11, no heap, no exceptions, no STL, floats only
// (AVR has no 64-bit double). docs/online.md describes the algorithm; the
// float32 reference scripts/tinygmm/online.py performs the same operations in
// the same order and is the oracle of the tests.
//
// Algorithm (Cappe & Moulines 2009, stepwise EM). Per component k the state
// holds the sufficient statistic s0_k (an average of responsibilities), the
// mean mu_k and the covariance C_k without regularisation (mean and covariance
// are the sufficient statistics s1/s0 and s2/s0 - mu mu^T, kept centred so
// float32 does not cancel). One learn(x) step, with gamma the step size:
//   r_k   = responsibilities of x under the current parameters (log-sum-exp), truncated:
//           a component more than CUT = 5 nats below the best gets r_k = 0 and the
//           rest are renormalised (the sample's score counts every component within 17 nats)
//   s0_k <- (1 - gamma) s0_k + gamma r_k
//   eta   = gamma r_k / s0_k (new),  d = x - mu_k (old mean)
//   mu_k <- mu_k + eta d
//   C_k  <- (1 - eta) C_k + eta (1 - eta) d d^T    (exactly the update of s2/s0 - mu mu^T)
// The weights are s0_k / sum s0; the model's covariances are C_k + reg_covar I
// (scikit-learn's reg_covar). gamma = max((t16 + t0)^-alpha, gamma_floor), t16 = t rounded down to a
// multiple of GAMMA_HOLD = 16 (the step is held for 16 samples: one power, exp(-alpha log t), per 16 steps): with
// gamma_floor = 0 it decreases (0.5 < alpha <= 1: converges), with gamma_floor
// > 0 the model forgets with a time constant of about 1 / gamma_floor and so
// tracks drift. Guards: inputs that are not finite or exceed x_limit are
// refused (ONLINE_BAD_INPUT, nothing changes), so is an input that every
// component finds impossibly far (ONLINE_FAR); each LDL^T pivot is floored
// at max(reg_covar, 1e-30) (the factor stays positive definite even if
// rounding made C_k indefinite); s0_k never falls below min_weight, and a
// component starved down to that floor is restarted by splitting a heavy
// component whose tail the current sample lies in (see split()).
// The scoring parameters (each component's LDL^T factor of C_k + reg I: no square
// roots, its log constant and mean) are made from the statistics at the end of
// every block of GAMMA_HOLD = 16 samples, and the E-step holds them within the block
// (mini-batch stepwise EM, Liang & Klein 2009): O(K D^3 / 6) operations per block,
// no loop that depends on the data. The logs are the library's own (log_table,
// log_near1: float32 operations only, the same bits on every target).
//
// Two starts: begin(cfg, weights, means, covariances) adapts a given model
// (scikit-learn's layout; begin_from_header<gmm::detail::Model> recovers them
// from a generated header's records), begin_scratch(cfg) first stores WARM
// samples, clusters them with k-means (RESTARTS greedy k-means++ seedings from a
// deterministic xorshift32 PRNG, LLOYD Lloyd iterations each, the lowest
// inertia wins) and starts online EM from those clusters.
//
// Anomaly threshold: the quantile cfg.quantile of the scores of the learned
// samples (each scored before it is learned), estimated by the P^2 algorithm
// (Jain & Chlamtac 1985) in 5 markers; freeze_threshold() stops it.
//
// save()/load(): the whole state as bytes (magic, format version, K, D, COV,
// WARM, payload length, payload, CRC-32). Every field of the state is 4 bytes,
// so the payload has no padding and is the same on every little-endian target.
#ifndef TINYGMM_ONLINE_H
#define TINYGMM_ONLINE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVR__)
#include <avr/eeprom.h>
#include <avr/pgmspace.h>
#endif

#if defined(__GNUC__)
#define TINYGMM_ONLINE_NOINLINE __attribute__((noinline))
#else
#define TINYGMM_ONLINE_NOINLINE
#endif

namespace tinygmm {

enum OnlineStatus {
  ONLINE_OK = 0,           // learned
  ONLINE_WARMING = 1,      // stored for the scratch start's seeding (not learned yet)
  ONLINE_BAD_INPUT = -1,   // NaN, inf or |x_i| > x_limit: refused, state unchanged
  ONLINE_FAR = -2,         // every log-probability overflowed, or beyond cfg.max_tail: refused, state unchanged
  ONLINE_NOT_STARTED = -3, // begin / begin_scratch first
  ONLINE_BAD_MODEL = -4,   // begin: a weight, mean or covariance not usable
  ONLINE_BAD_STATE = -5    // load: wrong magic, version, shape, length or CRC, or a value not finite
};

// What learn() says about the sample it learned, scored on the parameters before the step
// (the score counts every component within 17 nats of the best: score_samples to float32 rounding).
struct OnlineScore {
  int label;             // the most probable component
  float probability;     // its responsibility
  float log_likelihood;  // score_samples (natural log)
  bool anomalous;        // log_likelihood below the threshold before the step
};

// The covariance types OnlineGMM supports (the numbers of tinygmm::CovarianceType).
static const int ONLINE_COV_FULL = 0;
static const int ONLINE_COV_DIAG = 2;

struct OnlineConfig {
  float alpha;        // step exponent, 0.5 < alpha <= 1
  float t0;           // step offset (>= 1): gamma_t = (t16 + t0)^-alpha, t16 = t rounded down to a multiple of 16
  float gamma_floor;  // 0: decreasing steps; > 0: gamma never below it (forgets, tracks drift)
  float reg_covar;    // added to every covariance's diagonal (scikit-learn's meaning)
  float min_weight;   // floor of each s0_k
  float x_limit;      // |x_i| above it: refused
  float quantile;     // the anomaly threshold is this quantile of the training scores (0 < q < 1)
  float max_tail;     // > 0: refuse (ONLINE_FAR) x with |L^-1 (x - mean)|^2 / 2 > max_tail for its best
                      // component (a glitch gate; 0: off, every finite x within x_limit is learned)
  uint32_t seed;      // xorshift32 seed of the scratch start (0 is replaced by a constant)
};

inline OnlineConfig online_defaults() {
  OnlineConfig c;
  c.alpha = 0.7f;
  c.t0 = 50.0f;
  c.gamma_floor = 0.0f;
  c.reg_covar = 1e-6f;
  c.min_weight = 1e-3f;
  c.x_limit = 1e15f;
  c.quantile = 0.01f;
  c.max_tail = 0.0f;
  c.seed = 1u;
  return c;
}

namespace online_detail {

#if defined(__AVR__)
#define TINYGMM_ONLINE_PROGMEM PROGMEM
inline float read_float(const float* p) { return pgm_read_float(p); }
#else
#define TINYGMM_ONLINE_PROGMEM
inline float read_float(const float* p) { return *p; }
#endif

inline uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
// 0.5f * f with the same bits: an exponent decrement when f and the result are normal (no soft-float multiply)
inline float half(float f) {
  uint32_t u = bits_of(f);
  const uint32_t e = u & 0x7F800000UL;
  if (e > 0x00800000UL && e != 0x7F800000UL) {
    u -= 0x00800000UL;
    memcpy(&f, &u, 4);
    return f;
  }
  return 0.5f * f;
}
// a > b for a, b not NaN (-0 == +0), by integer compares: no float compare library call on
// soft-float targets
inline int32_t order_key(float f) {
  const uint32_t u = bits_of(f);
  return (u & 0x80000000UL) ? -(int32_t)(u & 0x7FFFFFFFUL) : (int32_t)u;
}
inline bool greater(float a, float b) { return order_key(a) > order_key(b); }
// integer tests: no float compare library calls on soft-float targets, and NaN-proof
inline bool finite(float f) { return (bits_of(f) & 0x7F800000UL) != 0x7F800000UL; }
inline bool normal_range(float f) {  // 2^-100 < |f| < 2^100 and finite
  const uint32_t e = (bits_of(f) >> 23) & 0xFFu;
  return e > 27u && e < 227u;
}

inline float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

// log(v) by a table, for the learner's log constants: v = 2^e m, m in [1, 2); the top six bits of m pick
// c_i = 1 + (i + 1/2) / 64, stored as INV_i = 1 / c_i (float32) and LOG_i = -log INV_i (float32 of the
// exact value); then log v = e ln 2 + LOG_i + log1p(u) with u = m INV_i - 1, |u| < 1/128, by three terms
// of the series (error below u^4 / 4 < 1e-9). Within 1.3 float32 ulps of log v when |log v| > 1 and
// within 1e-7 absolute (near v = 1); about 1,300 cycles on the ATmega328P where avr-libc's logf takes
// about 2,300. The same float32 operations in tinygmm.online give the same bits on every target.
// Positive normal v; anything else goes to logf.
inline float log_table(float v) {
  static const float INV[64] TINYGMM_ONLINE_PROGMEM = {
      0.992248058f, 0.97709924f, 0.962406039f, 0.948148131f, 0.934306562f, 0.92086333f,
      0.90780139f, 0.895104885f, 0.882758617f, 0.870748281f, 0.859060407f, 0.847682118f,
      0.836601317f, 0.825806439f, 0.815286636f, 0.805031419f, 0.795031071f, 0.785276055f,
      0.775757551f, 0.766467094f, 0.75739646f, 0.748538017f, 0.739884377f, 0.731428564f,
      0.723163843f, 0.715083778f, 0.707182348f, 0.699453533f, 0.691891909f, 0.684491992f,
      0.677248657f, 0.670157075f, 0.663212419f, 0.656410277f, 0.64974618f, 0.643216074f,
      0.636815906f, 0.630541861f, 0.624390244f, 0.61835748f, 0.612440169f, 0.606635094f,
      0.600938976f, 0.595348835f, 0.589861751f, 0.584474862f, 0.579185545f, 0.57399106f,
      0.568888903f, 0.563876629f, 0.558951974f, 0.554112554f, 0.549356222f, 0.544680834f,
      0.540084362f, 0.53556484f, 0.53112036f, 0.526748955f, 0.522448957f, 0.518218637f,
      0.514056206f, 0.509960175f, 0.505928874f, 0.501960814f,
  };
  static const float LOG[64] TINYGMM_ONLINE_PROGMEM = {
      0.00778214401f, 0.0231670551f, 0.0383188389f, 0.0532445312f, 0.0679506734f, 0.0824436471f,
      0.0967296585f, 0.110814378f, 0.124703482f, 0.138402343f, 0.151916042f, 0.165249571f,
      0.178407639f, 0.191394866f, 0.204215527f, 0.216873974f, 0.229374081f, 0.241719961f,
      0.25391525f, 0.265963525f, 0.27786845f, 0.289633274f, 0.301261365f, 0.312755734f,
      0.324119478f, 0.33535558f, 0.34646672f, 0.357455909f, 0.368325531f, 0.379078329f,
      0.389716774f, 0.400243163f, 0.410659939f, 0.420969278f, 0.431173474f, 0.441274583f,
      0.451274663f, 0.46117574f, 0.47097972f, 0.480688542f, 0.490304023f, 0.499827832f,
      0.509261906f, 0.518607795f, 0.527867079f, 0.537041485f, 0.546132386f, 0.555141449f,
      0.564070106f, 0.572919786f, 0.581691742f, 0.590387464f, 0.599008203f, 0.60755527f,
      0.616029918f, 0.624433339f, 0.632766604f, 0.641031206f, 0.649227977f, 0.65735805f,
      0.665422678f, 0.673422635f, 0.681359172f, 0.689233243f,
  };
  const uint32_t u = bits_of(v);
  const uint32_t be = u >> 23;  // sign and biased exponent
  if (be == 0u || be >= 0xFFu) return logf(v);  // zero, subnormal, negative, inf, NaN
  const int i = (int)((u >> 17) & 63u);
  const float m = from_bits((u & 0x007FFFFFUL) | 0x3F800000UL);
  const float t = m * read_float(INV + i) - 1.0f;
  const float poly = t * (1.0f - t * (0.5f - t * 0.333333343f));
  return (float)((int)be - 127) * 0.693147182f + (read_float(LOG + i) + poly);
}

// exp(x) for x <= 0, for the responsibilities, the scores and the step size: x = (64 m + j) ln2/64 + r
// with n = 64 m + j the nearest integer to 64 x / ln 2, r by a two-part ln2/64 (n times the first part
// is exact), so |r| <= ln2/128; exp(x) = 2^m 2^(j/64) (1 + r + r^2/2) with 2^(j/64) from a table
// (float32). Within 2.2 float32 ulps of exp(x); about 1,300 cycles on the ATmega328P where avr-libc's
// expf takes about 1,900; float32 operations only, the same bits on every target (tinygmm.online).
// Below -86 it returns 0 (exp(-86) ~ 4e-38: nothing the mixture's sums can see); x > 0 goes to expf.
inline float exp_table(float x) {
  static const float POW2[64] TINYGMM_ONLINE_PROGMEM = {
      1.0f, 1.01088929f, 1.0218972f, 1.03302491f, 1.04427373f, 1.05564523f,
      1.06714046f, 1.07876074f, 1.09050775f, 1.10238254f, 1.1143868f, 1.12652159f,
      1.13878858f, 1.15118921f, 1.1637249f, 1.17639697f, 1.18920708f, 1.20215678f,
      1.21524739f, 1.22848058f, 1.24185777f, 1.25538075f, 1.26905096f, 1.28287005f,
      1.29683959f, 1.31096125f, 1.32523668f, 1.33966756f, 1.35425556f, 1.36900246f,
      1.38390994f, 1.39897966f, 1.41421354f, 1.42961335f, 1.44518077f, 1.46091783f,
      1.47682619f, 1.49290776f, 1.50916445f, 1.52559817f, 1.54221082f, 1.55900443f,
      1.5759809f, 1.59314215f, 1.61049032f, 1.62802744f, 1.64575553f, 1.66367662f,
      1.68179286f, 1.70010638f, 1.71861935f, 1.73733389f, 1.75625217f, 1.77537644f,
      1.79470909f, 1.81425214f, 1.8340081f, 1.85397911f, 1.87416768f, 1.89457595f,
      1.91520655f, 1.93606174f, 1.95714414f, 1.97845602f,
  };
  if (!(x > -86.0f)) return 0.0f;
  if (!(x < 0.0f)) return x == 0.0f ? 1.0f : expf(x);
  const int32_t n = (int32_t)(x * 92.3324814f - 0.5f);  // round to nearest (x < 0: truncation of y - 1/2)
  const float nf = (float)n;
  const float r = (x - nf * 0.010833740234375f) - nf * -3.31553815e-06f;
  const float p = 1.0f + r * (1.0f + half(r));
  const uint32_t u = bits_of(p * read_float(POW2 + (n & 63)));
  // times 2^m, m = floor(n / 64) >= -125 (normal): added to the exponent, in the upper 16 bits
  const int16_t m = (int16_t)((n - (n & 63)) >> 6);  // (n - (n & 63) is a multiple of 64: exact)
  const uint16_t hi = (uint16_t)((uint16_t)(u >> 16) + (uint16_t)(m * 128));
  return from_bits(((uint32_t)hi << 16) | (u & 0xFFFFUL));
}

// log(v) for v > 0 near 1, by log1p's series in t = v - 1 (exact): t (1 - t/2) when |t| <= 2^-11
// (error below 4e-11), t (1 - t (1/2 - t (1/3 - t/4))) when |t| <= 1/32 (error below 7e-9: under one
// float32 ulp of a score), log_table otherwise. For the mixture's sum of responsibilities (often
// exactly 1, when one component explains the sample) and total weight (1 up to the weight floors
// and rounding): a score costs no logf and no division.
inline float log_near1(float v) {
  const float t = v - 1.0f;
  const uint32_t a = bits_of(t) & 0x7FFFFFFFUL;  // |t|
  if (a == 0u) return 0.0f;                        // v == 1
  if (a <= 0x3A000000UL) return t * (1.0f - 0.5f * t);  // 2^-11
  if (a <= 0x3D000000UL) return t * (1.0f - t * (0.5f - t * (0.333333343f - 0.25f * t)));  // 2^-5
  return log_table(v);
}

inline uint32_t crc32(const uint8_t* p, size_t n, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (uint8_t b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0xEDB88320UL & (0UL - (crc & 1UL)));
  }
  return ~crc;
}

inline uint32_t xorshift32(uint32_t& s) {
  s ^= s << 13;
  s ^= s >> 17;
  s ^= s << 5;
  return s;
}

// uniform in [0, 1): the top 24 bits, exactly representable
inline float uniform01(uint32_t& s) { return (float)(xorshift32(s) >> 8) * 5.9604644775390625e-8f; }

template <bool B, int A, int C>
struct Pick {
  static const int V = A;
};
template <int A, int C>
struct Pick<false, A, C> {
  static const int V = C;
};

}  // namespace online_detail

// P^2 streaming quantile (Jain & Chlamtac 1985): five markers at the quantiles 0, p/2, p, (1 + p)/2
// and 1, O(1) time and memory. The desired positions are kept exactly, as 32.32 fixed point (an
// integer part and a fraction in units of 2^-32), so the per-sample bookkeeping is integer arithmetic
// and exact up to 2^32 samples. (A fourth marker at 2p would move less often, but after a learning
// transient it keeps the transient's low scores: the threshold then flags almost nothing.)
// Not a template, so one copy of its code serves every OnlineGMM in a program.
struct P2Quantile {
  uint32_t count;
  int32_t n[5];       // marker positions (0-based)
  float q[5];         // marker heights
  uint32_t want[3];   // desired positions of markers 1..3: integer part
  uint32_t frac[3];   // and fraction (units of 2^-32)
  uint32_t step[3];   // their increments per sample (units of 2^-32)

  TINYGMM_ONLINE_NOINLINE void add(float v, float p) {
    if (count < 5) {
      int i = (int)count;  // insertion sort of the first five
      while (i > 0 && q[i - 1] > v) {
        q[i] = q[i - 1];
        --i;
      }
      q[i] = v;
      if (++count == 5) {
        const float dn[3] = {0.5f * p, p, 0.5f * (1.0f + p)};
        for (int j = 0; j < 5; ++j) n[j] = j;
        for (int j = 0; j < 3; ++j) {
          step[j] = (uint32_t)(dn[j] * 4294967296.0f);  // dn < 1
          want[j] = step[j] >> 30;                        // 4 dn: the desired positions after 5 samples
          frac[j] = step[j] << 2;
        }
      }
      return;
    }
    ++count;
    int k;
    const int32_t kv = online_detail::order_key(v);  // (integer compares: v and the heights are not NaN)
    if (kv < online_detail::order_key(q[0])) {
      q[0] = v;
      k = 0;
    } else if (kv >= online_detail::order_key(q[4])) {
      q[4] = v;
      k = 3;
    } else {
      k = 0;
      while (k < 3 && kv >= online_detail::order_key(q[k + 1])) ++k;
    }
    for (int i = k + 1; i < 5; ++i) ++n[i];
    for (int j = 0; j < 3; ++j) {  // desired position += dn (marker 0 stays at 0, marker 4 at count - 1)
      frac[j] += step[j];
      if (frac[j] < step[j]) ++want[j];
    }
    for (int i = 1; i < 4; ++i) {
      // d = desired - n: d >= 1, or d <= -1, exactly
      const uint32_t w = want[i - 1];
      const uint32_t ni = (uint32_t)n[i];
      int sg = 0;
      if (w >= ni + 1u && n[i + 1] - n[i] > 1) {
        sg = 1;
      } else if ((w + 1u < ni || (w + 1u == ni && frac[i - 1] == 0u)) && n[i - 1] - n[i] < -1) {
        sg = -1;
      }
      if (sg == 0) continue;
      const float fs = (float)sg;
      const float a = (float)(n[i] - n[i - 1]), b = (float)(n[i + 1] - n[i]), c = (float)(n[i + 1] - n[i - 1]);
      const float qp = q[i] + fs / c * ((a + fs) * (q[i + 1] - q[i]) / b + (b - fs) * (q[i] - q[i - 1]) / a);
      if (q[i - 1] < qp && qp < q[i + 1]) {
        q[i] = qp;
      } else {
        const int o = i + sg;
        q[i] = q[i] + fs * (q[o] - q[i]) / (float)(n[o] - n[i]);
      }
      n[i] += sg;
    }
  }
};

// Where OnlineGMM::save_to / load_from keep the state: STATE_BYTES bytes from offset 0 of something
// (EEPROM, flash, a file, RAM), written and read in pieces. write / read return true when all len
// bytes were stored / read; ctx is passed back. (A storage that only reads may leave write null.)
struct OnlineStorage {
  bool (*write)(void* ctx, size_t offset, const uint8_t* data, size_t len);
  bool (*read)(void* ctx, size_t offset, uint8_t* data, size_t len);
  void* ctx;
};

#if defined(__AVR__)
// The AVR's EEPROM as an OnlineStorage, the state from byte address base on (ctx holds it);
// eeprom_update_block writes only the bytes that changed (EEPROM cells last ~100,000 writes).
inline bool eeprom_write_piece(void* ctx, size_t offset, const uint8_t* data, size_t len) {
  eeprom_update_block(data, reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(ctx) + offset), len);
  return true;
}
inline bool eeprom_read_piece(void* ctx, size_t offset, uint8_t* data, size_t len) {
  eeprom_read_block(data, reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(ctx) + offset), len);
  return true;
}
inline OnlineStorage eeprom_storage(uintptr_t base = 0) {
  const OnlineStorage st = {eeprom_write_piece, eeprom_read_piece, reinterpret_cast<void*>(base)};
  return st;
}
#endif

template <int K, int D, int COV = ONLINE_COV_FULL, int WARM = 4 * K>
class OnlineGMM {
 public:
  static const int K_COMPONENTS = K;
  static const int D_FEATURES = D;
  static const bool FULL = COV == ONLINE_COV_FULL;
  static const int T = FULL ? D * (D + 1) / 2 : D;  // covariance entries per component (packed lower triangle)
  static const int WARM_N = WARM > 0 ? WARM : 1;
  static const int WARM_SIZE = WARM;  // 0: adapt only
  static const int LLOYD = 5;     // Lloyd iterations of the scratch start
  static const int RESTARTS = 4;  // k-means++ seedings tried (the lowest inertia wins)
  static const int TRIALS = 2 + (K > 2) + (K > 7) + (K > 20);  // candidates per centre: 2 + floor(ln K)
  static const int THRESHOLD_AFTER = WARM_N + 8 * K;  // samples (with the warm-up's) before the threshold's estimator starts
  static const uint32_t GAMMA_HOLD = 16u;  // samples per step size (a power of 2), see learn()
  static const uint8_t FORMAT_VERSION = 2;  // 2: P^2 with exact desired positions (issue 21)
  static const int HEADER_BYTES = 12;

  struct Component {
    float s0;        // weight statistic (weight = s0 / total)
    float c;         // log s0 - log det L - D/2 log(2 pi)  (so lp = c - |L^-1 d|^2 / 2 - log total)
    float mean[D];
    float cov[T];    // C (without reg_covar), packed lower triangle by rows (full) or diagonal
    float ldl[T];    // LDL^T factor of C + reg I, same packing: L below the diagonal, 1 / D_j on it
    float emean[D];  // the mean ldl and c were made with: with them, the scoring parameters (see refresh())
  };
  struct State {
    uint32_t mode;    // 0 not started, 1 warming, 2 learning
    uint32_t t;       // samples learned (with the warm-up's)
    uint32_t n_warm;  // samples in the warm-up buffer
    uint32_t rng;
    uint32_t frozen;  // threshold frozen
    uint32_t splits;  // starved components restarted (see split())
    uint32_t at_floor;  // the step reached gamma_floor
    P2Quantile p2;
    float threshold;
    float total;  // sum of s0
    float last_gamma;  // the step size of the current block of GAMMA_HOLD samples
    float etotal;      // the total when the scoring parameters were made (see refresh())
    OnlineConfig cfg;
    Component comp[K];
    float warm[WARM_N * D];
  };
  static const int STATE_BYTES = HEADER_BYTES + (int)sizeof(State) + 4;

  OnlineGMM() { memset(&s_, 0, sizeof(s_)); }

  // ---- starts ----------------------------------------------------------

  // Adapt a model: weights[K], means[K*D], covariances[K*D*D] (full) or
  // [K*D] (diag), scikit-learn's layout (reg_covar included, as
  // GaussianMixture's covariances_). t counts from 0: the first steps are
  // t0^-alpha (for 16 samples), so t0 says how many samples the start is worth.
  int begin(const OnlineConfig& cfg, const float* weights, const float* means, const float* covariances) {
    State n;
    memset(&n, 0, sizeof(n));
    n.cfg = sanitized(cfg);
    float wsum = 0.0f;
    for (int k = 0; k < K; ++k) {
      if (!online_detail::finite(weights[k]) || !(weights[k] > 0.0f)) return ONLINE_BAD_MODEL;
      wsum += weights[k];
    }
    for (int k = 0; k < K; ++k) {
      Component& m = n.comp[k];
      m.s0 = weights[k] / wsum;
      if (m.s0 < n.cfg.min_weight) m.s0 = n.cfg.min_weight;
      for (int i = 0; i < D; ++i) {
        m.mean[i] = means[k * D + i];
        if (!online_detail::finite(m.mean[i])) return ONLINE_BAD_MODEL;
      }
      for (int i = 0; i < D; ++i) {
        for (int j = 0; j <= (FULL ? i : -1); ++j) m.cov[idx(i, j)] = covariances[(k * D + i) * D + j];
        if (!FULL) m.cov[i] = covariances[k * D + i];
        m.cov[idx(i, i)] -= n.cfg.reg_covar;
      }
      for (int e = 0; e < T; ++e)
        if (!online_detail::finite(m.cov[e])) return ONLINE_BAD_MODEL;
    }
    n.total = 0.0f;
    for (int k = 0; k < K; ++k) n.total += n.comp[k].s0;
    n.mode = 2;
    n.threshold = -INFINITY;
    s_ = n;
    refresh();
    return ONLINE_OK;
  }

  // Learn from scratch: the first WARM accepted samples are stored, then seeded.
  void begin_scratch(const OnlineConfig& cfg) {
    memset(&s_, 0, sizeof(s_));
    s_.cfg = sanitized(cfg);
    s_.rng = s_.cfg.seed ? s_.cfg.seed : 0x9E3779B9UL;
    s_.threshold = -INFINITY;
    s_.mode = WARM > 0 ? 1 : 0;
  }

  // Adapt the model of a generated header: M is its gmm::detail::Model (or
  // another namespace's), header_cov its COVARIANCE_TYPE. The records hold
  // the means and sqrt(1/2) precision Cholesky factors in the header's input
  // space w = x[perm] - offset; the covariances are recovered here (in float)
  // and offset / perm found by evaluating M::transform. Full and diag models
  // without a projection or float-pair means; anything else: ONLINE_BAD_MODEL.
  template <class M>
  int begin_from_header(const OnlineConfig& cfg, int header_cov) {
    if (M::K != K || M::D != D || M::W != D || M::EXACT || header_cov != COV) return ONLINE_BAD_MODEL;
    if (FULL ? M::R != 1 + D + D * (D + 1) / 2 : M::R != 1 + 2 * D) return ONLINE_BAD_MODEL;
    float x[D], w0[D], w[D];
    int perm[D];
    for (int i = 0; i < D; ++i) x[i] = 0.0f;
    M::transform(x, w0);  // -offset
    for (int i = 0; i < D; ++i) perm[i] = -1;
    for (int j = 0; j < D; ++j) {
      x[j] = 1e30f;
      M::transform(x, w);
      x[j] = 0.0f;
      for (int i = 0; i < D; ++i) {
        if (w[i] == w0[i]) continue;
        if (perm[i] >= 0) return ONLINE_BAD_MODEL;  // not a permutation
        perm[i] = j;
      }
    }
    for (int i = 0; i < D; ++i)
      if (perm[i] < 0) return ONLINE_BAD_MODEL;
    float weights[K], means[K * D], covs[FULL ? K * D * D : K * D];
    const float half_log_2pi = 0.918938533f;
    for (int j = 0; j < K; ++j) {
      const float* p = M::records() + j * M::R;
      const int k = M::order(j);
      float logw = readf(p++) + (float)D * half_log_2pi;
      if (FULL) {
        float u[D][D];  // upper triangular, u[i][c]
        for (int c = 0; c < D; ++c) {
          means[k * D + perm[c]] = readf(p++) - w0[c];
          for (int i = 0; i <= c; ++i) u[i][c] = readf(p++);
          for (int i = c + 1; i < D; ++i) u[i][c] = 0.0f;
          logw -= logf(u[c][c] * 1.41421356f);
        }
        // V = U^-1 (upper triangular), Sigma_w = V^T V / 2
        float v[D][D];
        for (int c = 0; c < D; ++c) {
          for (int r = D - 1; r >= 0; --r) {
            if (r > c) {
              v[r][c] = 0.0f;
              continue;
            }
            float acc = r == c ? 1.0f : 0.0f;
            for (int m = r + 1; m <= c; ++m) acc -= u[r][m] * v[m][c];
            v[r][c] = acc / u[r][r];
          }
        }
        for (int a = 0; a < D; ++a)
          for (int b = 0; b < D; ++b) {
            float acc = 0.0f;
            for (int m = 0; m < D; ++m) acc += v[m][a] * v[m][b];
            covs[(k * D + perm[a]) * D + perm[b]] = 0.5f * acc;
          }
      } else {
        for (int i = 0; i < D; ++i) {
          means[k * D + perm[i]] = readf(p++) - w0[i];
          const float q = readf(p++);
          logw -= logf(q * 1.41421356f);
          covs[k * D + perm[i]] = 0.5f / (q * q);
        }
      }
      weights[k] = expf(logw);
    }
    return begin(cfg, weights, means, covs);
  }

  // ---- learning --------------------------------------------------------

  // One step; with score, what the step found about x (when it returns ONLINE_OK after the warm-up).
  int learn(const float* x, OnlineScore* score = 0) {
    if (s_.mode == 0) return ONLINE_NOT_STARTED;
    for (int i = 0; i < D; ++i)
      if (!online_detail::finite(x[i]) || !(fabsf(x[i]) <= s_.cfg.x_limit)) return ONLINE_BAD_INPUT;
    if (s_.mode == 1) {
      for (int i = 0; i < D; ++i) s_.warm[s_.n_warm * D + i] = x[i];
      if (++s_.n_warm < (uint32_t)WARM_N) return ONLINE_WARMING;
      seed();
      return ONLINE_OK;
    }
    float r[K];
    float top;
    const int best = log_probs(x, 1.0f, r, &top);
    if (best < 0) return ONLINE_FAR;
    const float tail = s_.comp[best].c - r[best];  // |L^-1 (x - mean)|^2 / 2 of the best component
    if (s_.cfg.max_tail > 0.0f && !(tail <= s_.cfg.max_tail)) return ONLINE_FAR;
    // sum: every component within SCORE_CUT nats of the best (the sample's score, as score_samples);
    // kept: those within CUT, the ones the step updates (a truncated E-step: responsibilities below
    // e^-CUT ~ 1/150 of the best are left out and the rest renormalised)
    float sum = 0.0f, kept = 0.0f;
    for (int k = 0; k < K; ++k) {
      const float e = r[k] - top;
      const uint32_t eb = online_detail::bits_of(e);  // e <= 0: integer compares
      float v;
      if ((eb & 0x7FFFFFFFUL) == 0u) {
        v = 1.0f;  // the best component (and any tie): exp(0) == 1 exactly, no exp
      } else if (eb <= NEG_SCORE_CUT_BITS) {
        v = online_detail::exp_table(e);
      } else {
        r[k] = 0.0f;
        continue;  // (sum + 0 == sum)
      }
      sum += v;
      if (eb <= NEG_CUT_BITS) {
        kept += v;
        r[k] = v;
      } else {
        r[k] = 0.0f;
      }
    }
    if (score) {  // (reads the state before the step; changes nothing)
      const float th = threshold();
      score->label = best;
      score->probability = 1.0f / sum;  // exp(0) / sum, as classify
      score->log_likelihood = mixture_score(top, sum);
      score->anomalous = th > -INFINITY && !(score->log_likelihood >= th);
    }
    // the threshold's estimator takes the scores from the (WARM + 8 K)-th sample on: not the transient
    // of a start (a scratch start's first models, or a header's model meeting the device's data)
    if (!s_.frozen && s_.t >= (uint32_t)THRESHOLD_AFTER)
      s_.p2.add(score ? score->log_likelihood : mixture_score(top, sum), s_.cfg.quantile);
    if (kept != 1.0f) {  // (one component within CUT: r is already normalised; 1 / 1 and r * 1 are exact)
      const float inv = 1.0f / kept;
      for (int k = 0; k < K; ++k)
        if (online_detail::bits_of(r[k]) != 0u) r[k] *= inv;  // (0 * inv == 0)
    }

    ++s_.t;
    // gamma = max((t_h + t0)^-alpha, gamma_floor) with t_h = t rounded down to a multiple of GAMMA_HOLD:
    // the step is held for GAMMA_HOLD samples, so the power runs once per GAMMA_HOLD steps (the block whose
    // end refreshes the scoring parameters). It decreases: once at the floor, it stays there.
    float g = s_.cfg.gamma_floor;
    if (!s_.at_floor) {
      if ((s_.t & (GAMMA_HOLD - 1u)) == 0u || online_detail::bits_of(s_.last_gamma) == 0u) {  // (>= 0)
        const float th = (float)(s_.t & ~(GAMMA_HOLD - 1u)) + s_.cfg.t0;  // >= 1
        g = online_detail::exp_table(-s_.cfg.alpha * online_detail::log_table(th));  // th^-alpha
        if (!(g > s_.cfg.gamma_floor)) {
          g = s_.cfg.gamma_floor;
          s_.at_floor = 1u;
        }
      } else {
        g = s_.last_gamma;  // the held step (t_h unchanged since it was computed)
      }
    }
    s_.last_gamma = g;
    const float keep = 1.0f - g;
    float total = 0.0f;
    for (int k = 0; k < K; ++k) {
      Component& m = s_.comp[k];
      const bool updated = online_detail::bits_of(r[k]) != 0u;  // r[k] > 0 (r is never negative)
      // g r: g itself when r == 1 (one component within CUT: the same bits, one multiply less)
      const float gr = online_detail::bits_of(r[k]) == 0x3F800000UL ? g : g * r[k];
      float s0 = updated ? keep * m.s0 + gr : keep * m.s0;  // (g * 0 == 0, y + 0 == y: the same bits)
      if (updated) {
        const float eta = gr / s0;
        // u = eta d is the mean's step; C <- (1 - eta) C + eta (1 - eta) d d^T = (1 - eta) (C + u d^T)
        const float a = 1.0f - eta;
        float d[D], u[D];
        for (int i = 0; i < D; ++i) {
          d[i] = x[i] - m.mean[i];
          u[i] = eta * d[i];
          m.mean[i] += u[i];
        }
        float* c = m.cov;  // packed by rows
        for (int i = 0; i < D; ++i) {
          if (FULL) {
            for (int j = 0; j <= i; ++j, ++c) *c = a * (*c + u[i] * d[j]);
          } else {
            *c = a * (*c + u[i] * d[i]);
            ++c;
          }
        }
      }
      if (online_detail::bits_of(s0) < online_detail::bits_of(s_.cfg.min_weight)) s0 = s_.cfg.min_weight;  // (> 0)
      m.s0 = s0;
      total += s0;
    }
    s_.total = total;
    split(x, best, tail);
    // the end of a block of GAMMA_HOLD samples: the scoring parameters from the statistics
    if ((s_.t & (GAMMA_HOLD - 1u)) == 0u) refresh();
    return ONLINE_OK;
  }

  // ---- evaluation on the current parameters (scikit-learn's contract) --

  bool ready() const { return s_.mode == 2; }
  uint32_t samples_seen() const { return s_.t; }
  uint32_t warm_count() const { return s_.n_warm; }
  uint32_t splits() const { return s_.splits; }

  // Fills proba[K], returns the most probable component and stores score_samples
  // (natural log) in *log_likelihood when not null. Not ready: -1. NaN input:
  // component 0, score -inf. A point so far out that every log-probability
  // overflows gets all the probability on the component that is least far.
  int classify(const float* x, float* proba, float* log_likelihood) const {
    if (s_.mode != 2) return -1;
    float top;
    float scale = 1.0f;
    int best = log_probs(x, scale, proba, &top);
    if (best < 0) {
      for (int retry = 0; retry < 20 && best < 0; ++retry) {
        scale *= 0.00390625f;
        best = log_probs(x, scale, proba, &top, true);
      }
      if (best < 0) best = 0;
      for (int k = 0; k < K; ++k) proba[k] = k == best ? 1.0f : 0.0f;
      if (log_likelihood) *log_likelihood = -INFINITY;
      return best;
    }
    float sum = 0.0f;
    for (int k = 0; k < K; ++k) {
      const float e = proba[k] - top;
      proba[k] = online_detail::exp_table(e);
      sum += proba[k];
    }
    const float inv = 1.0f / sum;
    for (int k = 0; k < K; ++k) proba[k] *= inv;
    if (log_likelihood) *log_likelihood = mixture_score(top, sum);
    return best;
  }
  // The argmax of the log-probabilities (no exp / log: as classify's answer, for far points too).
  int predict(const float* x) const {
    if (s_.mode != 2) return -1;
    float lp[K];
    float top, scale = 1.0f;
    int best = log_probs(x, scale, lp, &top);
    for (int retry = 0; retry < 20 && best < 0; ++retry) {
      scale *= 0.00390625f;
      best = log_probs(x, scale, lp, &top, true);
    }
    return best < 0 ? 0 : best;
  }
  int predict_proba(const float* x, float* proba) const { return classify(x, proba, 0); }
  float score_samples(const float* x) const {
    float p[K];
    float ll = -INFINITY;
    classify(x, p, &ll);
    return ll;
  }
  // score_samples(x) < threshold (NaN: anomalous); never before 5 samples were learned
  bool is_anomaly(const float* x) const {
    const float th = threshold();
    if (!(th > -INFINITY)) return false;
    return !(score_samples(x) >= th);
  }
  float threshold() const {
    if (s_.frozen || s_.p2.count < 5) return s_.threshold;
    return s_.p2.q[2];
  }
  void freeze_threshold(bool frozen = true) {
    if (frozen && !s_.frozen) s_.threshold = threshold();
    if (!frozen && s_.p2.count < 5) s_.threshold = -INFINITY;
    s_.frozen = frozen ? 1u : 0u;
  }
  bool threshold_frozen() const { return s_.frozen != 0; }
  void set_threshold(float th) {  // and freeze it
    s_.threshold = th;
    s_.frozen = 1u;
  }

  // The current parameters, scikit-learn's layout (covariances with reg_covar).
  void get_params(float* weights, float* means, float* covariances) const {
    for (int k = 0; k < K; ++k) {
      const Component& m = s_.comp[k];
      if (weights) weights[k] = m.s0 / s_.total;
      for (int i = 0; i < D; ++i) {
        if (means) means[k * D + i] = m.mean[i];
        if (!covariances) continue;
        if (FULL) {
          for (int j = 0; j < D; ++j) {
            const float v = m.cov[i >= j ? idx(i, j) : idx(j, i)] + (i == j ? s_.cfg.reg_covar : 0.0f);
            covariances[(k * D + i) * D + j] = v;
          }
        } else {
          covariances[k * D + i] = m.cov[i] + s_.cfg.reg_covar;
        }
      }
    }
  }
  const State& state() const { return s_; }

  // ---- persistence -----------------------------------------------------

  // Writes STATE_BYTES bytes into buf; returns that or 0 when cap is too small.
  size_t save(uint8_t* buf, size_t cap) const {
    if (cap < (size_t)STATE_BYTES) return 0;
    const OnlineStorage st = {mem_write, 0, buf};
    return save_to(st) ? (size_t)STATE_BYTES : 0;
  }
  // Restores a save()d state: ONLINE_OK, or ONLINE_BAD_STATE and nothing changes.
  int load(const uint8_t* buf, size_t len) {
    if (len != (size_t)STATE_BYTES) return ONLINE_BAD_STATE;
    const OnlineStorage st = {0, mem_read, const_cast<uint8_t*>(buf)};
    return load_from(st);
  }
  // The same STATE_BYTES bytes written in three pieces to a storage (EEPROM, flash, a file) from
  // offset 0: no copy of the state is made (an Uno's stack could not hold one of a large state).
  // false: the storage refused a piece. *crc (if given): the CRC-32 stored in the last 4 bytes.
  bool save_to(const OnlineStorage& st, uint32_t* crc = 0) const {
    uint8_t h[HEADER_BYTES];
    write_header(h);
    const uint8_t* body = reinterpret_cast<const uint8_t*>(&s_);
    const uint32_t c = online_detail::crc32(body, sizeof(State), online_detail::crc32(h, HEADER_BYTES));
    uint8_t tail[4];
    for (int i = 0; i < 4; ++i) tail[i] = (uint8_t)(c >> (8 * i));
    if (crc) *crc = c;
    return st.write(st.ctx, 0, h, HEADER_BYTES) && st.write(st.ctx, HEADER_BYTES, body, sizeof(State)) &&
           st.write(st.ctx, HEADER_BYTES + sizeof(State), tail, 4);
  }
  // Restores a save_to()d state from a storage, reading it twice: first in 16-byte pieces to check
  // the header, every field and the CRC (ONLINE_BAD_STATE and nothing changes when one fails), then
  // straight into the learner. Should the storage read differently the second time (it changed in
  // between, or failed), the learner is left not started (ONLINE_NOT_STARTED; begin again).
  int load_from(const OnlineStorage& st) {
    uint8_t h[HEADER_BYTES], want[HEADER_BYTES];
    write_header(want);
    if (!st.read(st.ctx, 0, h, HEADER_BYTES) || memcmp(h, want, HEADER_BYTES) != 0) return ONLINE_BAD_STATE;
    uint32_t crc = online_detail::crc32(h, HEADER_BYTES), mode = 0;
    uint8_t piece[16];
    for (size_t off = 0; off < sizeof(State); off += sizeof piece) {
      const size_t n = sizeof(State) - off < sizeof piece ? sizeof(State) - off : sizeof piece;
      if (!st.read(st.ctx, HEADER_BYTES + off, piece, n)) return ONLINE_BAD_STATE;
      crc = online_detail::crc32(piece, n, crc);
      for (size_t j = 0; j + 4 <= n; j += 4) {
        uint32_t w;
        memcpy(&w, piece + j, 4);
        if (off + j == 0) mode = w;  // (mode is the state's first field)
        if (!field_ok(off + j, w, mode)) return ONLINE_BAD_STATE;
      }
    }
    uint8_t tail[4];
    if (!st.read(st.ctx, HEADER_BYTES + sizeof(State), tail, 4)) return ONLINE_BAD_STATE;
    uint32_t stored = 0;
    for (int i = 0; i < 4; ++i) stored |= (uint32_t)tail[i] << (8 * i);
    if (stored != crc) return ONLINE_BAD_STATE;
    uint8_t* body = reinterpret_cast<uint8_t*>(&s_);
    if (!st.read(st.ctx, HEADER_BYTES, body, sizeof(State)) ||
        online_detail::crc32(body, sizeof(State), online_detail::crc32(h, HEADER_BYTES)) != stored) {
      memset(&s_, 0, sizeof(s_));  // (mode 0: not started)
      return ONLINE_NOT_STARTED;
    }
    return ONLINE_OK;
  }

 private:
  // -SCORE_CUT = -17 and -CUT = -5 as float bits: for e <= 0, e >= -c <=> bits(e) <= bits(-c)
  static const uint32_t NEG_SCORE_CUT_BITS = 0xC1880000UL;
  static const uint32_t NEG_CUT_BITS = 0xC0A00000UL;
  static constexpr float SPLIT_SCALE = 0.25f;
  State s_;

  static int idx(int i, int j) { return FULL ? i * (i + 1) / 2 + j : i; }

  // load_from's check of the 4-byte field at byte offset off of a stored State (mode: its first field)
  static bool field_ok(size_t off, uint32_t w, uint32_t mode) {
    if (off == offsetof(State, mode)) return w <= 2u;
    if (off == offsetof(State, n_warm)) return w <= (uint32_t)WARM_N;
    if (off == offsetof(State, p2) + offsetof(P2Quantile, count)) return w <= 0xFFFFFF00UL;
    if (mode != 2u) return true;
    const float f = online_detail::from_bits(w);
    if (off == offsetof(State, total) || off == offsetof(State, etotal)) return f > 0.0f && online_detail::finite(f);
    const size_t c0 = offsetof(State, comp);
    if (off < c0 || off >= c0 + sizeof(Component) * K) return true;
    const size_t rel = (off - c0) % sizeof(Component);
    if (rel == offsetof(Component, s0)) return f > 0.0f && online_detail::finite(f);
    return online_detail::finite(f);  // c, mean, cov, ldl
  }
  static bool mem_write(void* ctx, size_t offset, const uint8_t* data, size_t len) {
    memcpy(static_cast<uint8_t*>(ctx) + offset, data, len);
    return true;
  }
  static bool mem_read(void* ctx, size_t offset, uint8_t* data, size_t len) {
    memcpy(data, static_cast<const uint8_t*>(ctx) + offset, len);
    return true;
  }
  static float readf(const float* p) {
#if defined(__AVR__)
    return pgm_read_float(p);
#else
    return *p;
#endif
  }

  static OnlineConfig sanitized(const OnlineConfig& c) {
    OnlineConfig o = c;
    if (!(o.alpha > 0.0f && o.alpha <= 1.0f)) o.alpha = 0.7f;
    if (!(o.t0 >= 1.0f) || !online_detail::finite(o.t0)) o.t0 = 1.0f;
    if (!(o.gamma_floor >= 0.0f && o.gamma_floor < 1.0f)) o.gamma_floor = 0.0f;
    if (!(o.reg_covar >= 0.0f) || !online_detail::finite(o.reg_covar)) o.reg_covar = 1e-6f;
    if (!(o.min_weight > 0.0f && o.min_weight * (float)K < 1.0f)) o.min_weight = 1e-3f / (float)K;
    if (!(o.x_limit > 0.0f) || !online_detail::finite(o.x_limit)) o.x_limit = 1e15f;
    if (!(o.quantile > 0.0f && o.quantile < 1.0f)) o.quantile = 0.01f;
    if (!(o.max_tail >= 0.0f) || !online_detail::finite(o.max_tail)) o.max_tail = 0.0f;
    return o;
  }

  void write_header(uint8_t* h) const {
    h[0] = 'T';
    h[1] = 'G';
    h[2] = 'O';
    h[3] = 'L';
    h[4] = FORMAT_VERSION;
    h[5] = (uint8_t)K;
    h[6] = (uint8_t)D;
    h[7] = (uint8_t)COV;
    h[8] = (uint8_t)(WARM & 0xFF);
    h[9] = (uint8_t)(WARM >> 8);
    h[10] = (uint8_t)(sizeof(State) & 0xFF);
    h[11] = (uint8_t)(sizeof(State) >> 8);
  }

  // lp_k + log total for k < K into lp, top = their maximum; returns its index (the first of ties),
  // or -1 when no lp_k is finite
  int log_probs(const float* x, float scale, float* lp, float* top, bool scale_on = false) const {
    float best = -INFINITY;
    int arg = -1;
    for (int k = 0; k < K; ++k) {
      const Component& m = s_.comp[k];
      float z[D];
      float q = 0.0f;
      const float* f = m.ldl;  // row j of the packed factor: L_j0 .. L_j,j-1, then 1 / D_j (full); 1 / D_j (diag)
      for (int j = 0; j < D; ++j) {  // z = L^-1 (x - mean), q = sum_j z_j^2 / D_j
        float acc = x[j] - m.emean[j];
        if (scale_on) acc *= scale;  // (the far-field retries only; times 1 would be exact anyway)
        if (FULL)
          for (int i = 0; i < j; ++i) acc -= *f++ * z[i];
        z[j] = acc;
        const float t = (acc * *f++) * acc;  // (z / D_j) z: no overflow or underflow of z^2
        q = j ? q + t : t;  // (0 + a == a for a >= 0 or NaN: the same bits, one add less)
      }
      float v = m.c - online_detail::half(q);
      if (!online_detail::finite(v)) v = -INFINITY;  // overflow (or NaN input)
      lp[k] = v;
      if (online_detail::greater(v, best)) {
        best = v;
        arg = k;
      }
    }
    *top = best;
    return arg;
  }

  // log sum_k exp(lp_k) - log total, with top = max lp and sum = sum_k exp(lp_k - top)
  float mixture_score(float top, float sum) const {
    return top + (online_detail::log_near1(sum) - online_detail::log_near1(s_.etotal));
  }

  float var_floor() const { return s_.cfg.reg_covar > 1e-30f ? s_.cfg.reg_covar : 1e-30f; }

  // The LDL^T factor of C + reg I (pivots D_j floored at var_floor(): positive definite), no square
  // roots: L unit lower-triangular (stored off the diagonal), 1 / D_j on the diagonal; and the log constant.
  void refactor(Component& m) const {
    const float reg = s_.cfg.reg_covar, fl = var_floor();
    float w[FULL ? T : 1];  // w_rj = L_rj D_j
    for (int j = 0; j < D; ++j) {
      float dj = m.cov[idx(j, j)] + reg;
      if (FULL)
        for (int i = 0; i < j; ++i) dj -= m.ldl[idx(j, i)] * w[idx(j, i)];
      if (!(dj >= fl)) dj = fl;
      const float inv = 1.0f / dj;
      m.ldl[idx(j, j)] = inv;
      if (FULL) {
        for (int r = j + 1; r < D; ++r) {
          float acc = m.cov[idx(r, j)];
          for (int i = 0; i < j; ++i) acc -= m.ldl[idx(r, i)] * w[idx(j, i)];
          w[idx(r, j)] = acc;
          m.ldl[idx(r, j)] = acc * inv;
        }
      }
    }
    refactor_constant(m);
    for (int i = 0; i < D; ++i) m.emean[i] = m.mean[i];
  }

  // The scoring parameters (every component's factor, log constant and mean, and the total) made
  // from the statistics: at a start, after a split, and at the end of every block of GAMMA_HOLD
  // samples. Within a block the E-step holds them (mini-batch stepwise EM, Liang & Klein 2009).
  TINYGMM_ONLINE_NOINLINE void refresh() {
    for (int k = 0; k < K; ++k) refactor(s_.comp[k]);
    s_.etotal = s_.total;
  }

  // c = log s0 - 1/2 sum_j log D_j - D/2 log(2 pi) = 1/2 log(s0^2 prod_j (1 / D_j)) - D/2 log(2 pi):
  // one log when the product is in range
  static void refactor_constant(Component& m) {
    float p = m.s0 * m.s0;
    for (int j = 0; j < D; ++j) p *= m.ldl[idx(j, j)];
    float c;
    if (online_detail::normal_range(p)) {
      c = online_detail::half(online_detail::log_table(p));
    } else {
      c = online_detail::log_table(m.s0);
      for (int j = 0; j < D; ++j) c += online_detail::half(online_detail::log_table(m.ldl[idx(j, j)]));
    }
    m.c = c - (float)D * 0.918938533f;
  }

  // A starved component (s0 at the floor) restarts at x when x lies outside the core of the component j
  // that explains it best (q = sum_j z_j^2 / D_j > D: farther than the average sample)
  // and j holds at least 1/K of the weight: it takes half of j's weight, and j's covariance times
  // SPLIT_SCALE. Stepwise EM alone cannot leave the local optimum where one component covers two
  // clusters and another has nothing to explain.
  TINYGMM_ONLINE_NOINLINE void split(const float* x, int j, float tail) {
    int k = -1;
    for (int i = 0; i < K && k < 0; ++i)
      if (online_detail::bits_of(s_.comp[i].s0) <= online_detail::bits_of(s_.cfg.min_weight)) k = i;  // (> 0)
    if (k < 0 || !(tail > 0.5f * (float)D) || !(s_.comp[j].s0 * (float)K >= s_.total)) return;  // (tail = q / 2)
    Component& mj = s_.comp[j];
    Component& mk = s_.comp[k];
    const float half = 0.5f * mj.s0;
    mj.s0 = half;
    mk.s0 = half;
    for (int i = 0; i < D; ++i) mk.mean[i] = x[i];
    for (int e = 0; e < T; ++e) mk.cov[e] = mj.cov[e] * SPLIT_SCALE;
    ++s_.splits;
    float total = 0.0f;
    for (int i = 0; i < K; ++i) total += s_.comp[i].s0;
    s_.total = total;
    refresh();
  }

  // ---- scratch start: k-means++ and Lloyd on the warm-up buffer -------------
  float dist2(const float* a, const float* b) const {
    float s = 0.0f;
    for (int i = 0; i < D; ++i) {
      const float d = a[i] - b[i];
      s += d * d;
    }
    return s;
  }

  int nearest(const float* x, const float (*centre)[D]) const {
    int b = 0;
    float bd = dist2(x, centre[0]);
    for (int c = 1; c < K; ++c) {
      const float d2 = dist2(x, centre[c]);
      if (d2 < bd) {
        bd = d2;
        b = c;
      }
    }
    return b;
  }

  // greedy k-means++ (each further centre: the best of TRIALS candidates drawn by D^2 weighting),
  // then LLOYD Lloyd iterations; returns the inertia of the final assignment (to the centres returned)
  TINYGMM_ONLINE_NOINLINE float kmeans(float (*centre)[D]) {
    const int N = WARM_N;
    const float* X = s_.warm;
    float dmin[N];
    const int first = (int)(online_detail::xorshift32(s_.rng) % (uint32_t)N);
    for (int i = 0; i < D; ++i) centre[0][i] = X[first * D + i];
    for (int n = 0; n < N; ++n) dmin[n] = dist2(X + n * D, centre[0]);
    for (int c = 1; c < K; ++c) {
      float tot = 0.0f;
      for (int n = 0; n < N; ++n) tot += dmin[n];
      int best = -1;
      float best_pot = 0.0f;
      for (int tr = 0; tr < TRIALS; ++tr) {
        const float u = online_detail::uniform01(s_.rng) * tot;
        int pick = N - 1;
        float acc = 0.0f;
        for (int n = 0; n < N; ++n) {
          acc += dmin[n];
          if (acc > u) {
            pick = n;
            break;
          }
        }
        float pot = 0.0f;
        for (int n = 0; n < N; ++n) {
          const float d2 = dist2(X + n * D, X + pick * D);
          pot += d2 < dmin[n] ? d2 : dmin[n];
        }
        if (best < 0 || pot < best_pot) {
          best = pick;
          best_pot = pot;
        }
      }
      for (int i = 0; i < D; ++i) centre[c][i] = X[best * D + i];
      for (int n = 0; n < N; ++n) {
        const float d2 = dist2(X + n * D, centre[c]);
        if (d2 < dmin[n]) dmin[n] = d2;
      }
    }
    float inertia = 0.0f;
    for (int it = 0; it <= LLOYD; ++it) {  // assign; then (but after the last assignment) move the centres
      float sum[K][D];
      float cnt[K];
      for (int c = 0; c < K; ++c) {
        cnt[c] = 0.0f;
        for (int i = 0; i < D; ++i) sum[c][i] = 0.0f;
      }
      inertia = 0.0f;
      for (int n = 0; n < N; ++n) {
        int b = 0;
        float bd = dist2(X + n * D, centre[0]);
        for (int c = 1; c < K; ++c) {
          const float d2 = dist2(X + n * D, centre[c]);
          if (d2 < bd) {
            bd = d2;
            b = c;
          }
        }
        inertia += bd;
        cnt[b] += 1.0f;
        for (int i = 0; i < D; ++i) sum[b][i] += X[n * D + i];
      }
      if (it == LLOYD) break;
      for (int c = 0; c < K; ++c)  // an empty cluster keeps its centre
        if (cnt[c] > 0.0f)
          for (int i = 0; i < D; ++i) centre[c][i] = sum[c][i] / cnt[c];
    }
    return inertia;
  }

  TINYGMM_ONLINE_NOINLINE void seed() {
    const int N = WARM_N;
    const float* X = s_.warm;
    float centre[K][D], trial[K][D];
    float best = kmeans(centre);
    for (int r = 1; r < RESTARTS; ++r) {  // the lowest inertia of RESTARTS seedings
      const float in = kmeans(trial);
      if (in < best) {
        best = in;
        memcpy(centre, trial, sizeof centre);
      }
    }
    // the buffer's per-feature variance: the covariance of clusters with fewer than D + 1 points
    float gmean[D], gvar[D];
    for (int i = 0; i < D; ++i) {
      float s = 0.0f;
      for (int n = 0; n < N; ++n) s += X[n * D + i];
      gmean[i] = s / (float)N;
      float v = 0.0f;
      for (int n = 0; n < N; ++n) {
        const float d = X[n * D + i] - gmean[i];
        v += d * d;
      }
      gvar[i] = v / (float)N;
    }
    float total = 0.0f;
    for (int c = 0; c < K; ++c) {
      Component& m = s_.comp[c];
      float cnt = 0.0f;
      for (int e = 0; e < T; ++e) m.cov[e] = 0.0f;
      for (int i = 0; i < D; ++i) m.mean[i] = centre[c][i];
      for (int n = 0; n < N; ++n) {
        if (nearest(X + n * D, centre) != c) continue;  // (no label array: a small stack)
        cnt += 1.0f;
        for (int i = 0; i < D; ++i) {
          const float di = X[n * D + i] - centre[c][i];
          if (FULL) {
            for (int j = 0; j <= i; ++j) m.cov[idx(i, j)] += di * (X[n * D + j] - centre[c][j]);
          } else {
            m.cov[i] += di * di;
          }
        }
      }
      if (cnt >= (float)(D + 1)) {
        const float inv = 1.0f / cnt;
        for (int e = 0; e < T; ++e) m.cov[e] *= inv;
      } else {
        for (int e = 0; e < T; ++e) m.cov[e] = 0.0f;
        for (int i = 0; i < D; ++i) m.cov[idx(i, i)] = gvar[i];
      }
      float s0 = cnt / (float)N;
      if (s0 < s_.cfg.min_weight) s0 = s_.cfg.min_weight;
      m.s0 = s0;
      total += s0;
    }
    s_.total = total;
    s_.t = (uint32_t)N;
    s_.mode = 2;
    refresh();
  }
};

}  // namespace tinygmm

#endif  // TINYGMM_ONLINE_H

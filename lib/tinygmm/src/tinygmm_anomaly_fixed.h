// tinygmm_anomaly_fixed.h - the anomaly decision on quantised inputs, in integers.
//
// Pasted into a generated GMM.h only for a model exported with both
// --fixed-point and an anomaly threshold; see docs/runtime.md.
#ifndef TINYGMM_ANOMALY_FIXED_H
#define TINYGMM_ANOMALY_FIXED_H

#include "tinygmm_platform.h"
#include "tinygmm_fixed.h"

namespace tinygmm {

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

}  // namespace tinygmm

#endif  // TINYGMM_ANOMALY_FIXED_H

// tinygmm_device.h - connects the generated model (GMM.h) to the serial
// protocol library (lib/tinygmm). Used by src/main.cpp and the test suites.
#ifndef TINYGMM_DEVICE_H
#define TINYGMM_DEVICE_H

#include "GMM.h"
#include "tinygmm_protocol.h"

static_assert(gmm::N_FEATURES <= TINYGMM_MAX_FEATURES,
              "model has more features than TINYGMM_MAX_FEATURES: raise it in build_flags");
static_assert(TINYGMM_LINE_MAX >= 16 * gmm::N_FEATURES,
              "TINYGMM_LINE_MAX too small for this many features: raise it in build_flags");

namespace tinygmm_device {

inline void classify(const float* x, tinygmm::Classification* out) {
  float proba[gmm::N_COMPONENTS];
  float ll;
  const int k = gmm::classify(x, proba, &ll);
  out->label = static_cast<int16_t>(k);
  out->probability = proba[k];
  out->log_likelihood = ll;
}

static const tinygmm::DeviceModel MODEL = {
    static_cast<uint8_t>(gmm::N_FEATURES), static_cast<uint8_t>(gmm::N_COMPONENTS),
    gmm::FEATURE_NAMES, gmm::MODEL_HASH, classify};

}  // namespace tinygmm_device

#endif  // TINYGMM_DEVICE_H

// tinygmm_device.h - connects the generated model (GMM.h) to the serial
// protocol library (lib/tinygmm). Used by src/main.cpp and the test suites.
#ifndef TINYGMM_DEVICE_H
#define TINYGMM_DEVICE_H

#include "GMM.h"
#include "tinygmm_protocol.h"

static_assert(gmm::N_FEATURES <= TINYGMM_MAX_FEATURES,
              "model has more features than TINYGMM_MAX_FEATURES: raise it in build_flags");

namespace tinygmm_device {

// The line buffer holds the longest request the host client sends for this model
// (tinygmm::request_max: 16 characters a feature + 13); -DTINYGMM_LINE_MAX=N in
// build_flags makes it larger, for hand-typed lines with more digits.
#if defined(TINYGMM_LINE_MAX)
static const uint16_t LINE_MAX = TINYGMM_LINE_MAX;
static_assert(TINYGMM_LINE_MAX >= tinygmm::request_max(gmm::N_FEATURES),
              "TINYGMM_LINE_MAX is below the longest request the host sends for this model "
              "(16 * N_FEATURES + 13): raise it in build_flags, or drop it to size the buffer by itself");
#else
static const uint16_t LINE_MAX = tinygmm::request_max(gmm::N_FEATURES);
#endif

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

// The protocol for this model, with its line buffer: Protocol p(MODEL, write, ctx).
typedef tinygmm::LineProtocolWith<LINE_MAX> Protocol;

}  // namespace tinygmm_device

#endif  // TINYGMM_DEVICE_H

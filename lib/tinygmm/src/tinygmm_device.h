// tinygmm_device.h - connects the generated model (GMM.h) to the serial
// protocol (tinygmm_protocol.h). Used by the firmware (tinygmm_firmware.h) and the test suites.
#ifndef TINYGMM_DEVICE_H
#define TINYGMM_DEVICE_H

#include "GMM.h"
#include "tinygmm_protocol.h"

// Every buffer below is sized from the model (N_FEATURES: the input, before any projection).
static_assert(gmm::N_FEATURES >= 1 && gmm::N_FEATURES <= tinygmm::MAX_FEATURES,
              "the serial protocol takes models of 1 to 4095 features (its line length is 16-bit)");

// A model exported with an anomaly threshold: every reply carries the input's
// decision and the alarm of a k-of-n filter over the stream (k anomalous inputs
// among the last n; -DTINYGMM_ALARM_K=.. -DTINYGMM_ALARM_N=.. to change them).
#if defined(TINYGMM_MODEL_ANOMALY_gmm)
#include "tinygmm_filter.h"
#ifndef TINYGMM_ALARM_K
#define TINYGMM_ALARM_K 3
#endif
#ifndef TINYGMM_ALARM_N
#define TINYGMM_ALARM_N 5
#endif
#endif

namespace tinygmm_device {

#if defined(TINYGMM_MODEL_ANOMALY_gmm)
static tinygmm::KOfN<TINYGMM_ALARM_N> alarm_filter(TINYGMM_ALARM_K);
static const tinygmm::AnomalyInfo ANOMALY_INFO = {gmm::ANOMALY_THRESHOLD, TINYGMM_ALARM_K, TINYGMM_ALARM_N};
static const tinygmm::AnomalyInfo* const ANOMALY = &ANOMALY_INFO;
#else
static const tinygmm::AnomalyInfo* const ANOMALY = 0;
#endif

// The line buffer holds the longest request the host client sends for this model
// (tinygmm::request_max: 16 characters a feature + 13); -DTINYGMM_LINE_MAX=N in
// build_flags makes it larger, for hand-typed lines with more digits.
#if defined(TINYGMM_LINE_MAX)
static const uint16_t LINE_CAPACITY = TINYGMM_LINE_MAX;
static_assert(TINYGMM_LINE_MAX >= tinygmm::request_max(gmm::N_FEATURES),
              "TINYGMM_LINE_MAX is below the longest request the host sends for this model "
              "(16 * N_FEATURES + 13): raise it in build_flags, or drop it to size the buffer by itself");
#else
static const uint16_t LINE_CAPACITY = static_cast<uint16_t>(tinygmm::request_max(gmm::N_FEATURES));
#endif

inline void classify(const float* x, tinygmm::Classification* out) {
  tinygmm::classify_with<gmm::N_COMPONENTS, gmm::classify>(x, out);
#if defined(TINYGMM_MODEL_ANOMALY_gmm)
  const float ll = out->log_likelihood;
  const bool anomalous = !(ll >= gmm::ANOMALY_THRESHOLD);  // the score is at hand: no need for is_anomaly
  out->anomaly = static_cast<int8_t>((anomalous ? 1 : 0) | (alarm_filter.update(anomalous) ? 2 : 0));
#endif
}

static const tinygmm::DeviceModel MODEL = {
    static_cast<uint16_t>(gmm::N_FEATURES), static_cast<uint8_t>(gmm::N_COMPONENTS),
    gmm::FEATURE_NAMES, gmm::MODEL_HASH, classify};

// The protocol for this model, with its line buffer, room for N_FEATURES values and
// (when the model has one) its anomaly threshold: Protocol p(MODEL, write, ctx).
class Protocol : public tinygmm::LineProtocolWith<LINE_CAPACITY, gmm::N_FEATURES> {
 public:
  Protocol(const tinygmm::DeviceModel& model, tinygmm::WriteFn write, void* ctx)
      : tinygmm::LineProtocolWith<LINE_CAPACITY, gmm::N_FEATURES>(model, write, ctx, ANOMALY) {}
};

}  // namespace tinygmm_device

#endif  // TINYGMM_DEVICE_H

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

// Learning on the device: -DTINYGMM_LEARN=1 adapts the header's model, 2 learns from scratch
// (the firmware option custom_gmm_learn = adapt | scratch sets it). Without it the firmware is
// the frozen classifier, byte for byte. Options: -DTINYGMM_LEARN_GAMMA_FLOOR=0.01 (forget with a
// time constant of ~100 samples: tracks drift; default 0, converges), -DTINYGMM_LEARN_WARM=N
// (the scratch start's warm-up buffer, default 4 K samples).
#if defined(TINYGMM_LEARN) && TINYGMM_LEARN
#include "tinygmm_learn.h"
#if defined(__AVR__)
#include <avr/eeprom.h>
#elif !defined(ARDUINO)
#include <stdio.h>
#include <stdlib.h>
#endif
#ifndef TINYGMM_LEARN_GAMMA_FLOOR
#define TINYGMM_LEARN_GAMMA_FLOOR 0.0f
#endif
#ifndef TINYGMM_LEARN_WARM
#define TINYGMM_LEARN_WARM (4 * gmm::N_COMPONENTS)
#endif
#endif

namespace tinygmm_device {

#if defined(TINYGMM_LEARN) && TINYGMM_LEARN
static_assert(TINYGMM_LEARN == 1 || TINYGMM_LEARN == 2, "TINYGMM_LEARN is 1 (adapt) or 2 (scratch)");
static const int LEARN_COV =
    gmm::COVARIANCE_TYPE == tinygmm::COV_DIAG ? tinygmm::ONLINE_COV_DIAG : tinygmm::ONLINE_COV_FULL;
typedef tinygmm::OnlineGMM<gmm::N_COMPONENTS, gmm::N_FEATURES, LEARN_COV, (TINYGMM_LEARN == 2 ? TINYGMM_LEARN_WARM : 0)>
    Learner;
static Learner learner;

inline tinygmm::OnlineConfig learn_config() {
  tinygmm::OnlineConfig cfg = tinygmm::online_defaults();
  cfg.gamma_floor = TINYGMM_LEARN_GAMMA_FLOOR;
#if TINYGMM_LEARN == 1
  cfg.t0 = 100.0f;  // the header's model is worth ~100 samples: the first steps do not throw it away
#endif
  return cfg;
}

// (Re)starts the learner: the header's parameters (adapt), or an empty warm-up buffer (scratch).
inline int learn_start(Learner& g) {
#if TINYGMM_LEARN == 1
  return g.begin_from_header<gmm::detail::Model>(learn_config(), gmm::COVARIANCE_TYPE);
#else
  g.begin_scratch(learn_config());
  return tinygmm::ONLINE_OK;
#endif
}

// SAVE / LOAD: the AVR's EEPROM from address 0; on the host a file named by the environment
// variable TINYGMM_STATE_FILE, else RAM (lost when the program ends); no storage elsewhere.
#if defined(__AVR__)
static_assert(Learner::STATE_BYTES <= E2END + 1, "the learned state does not fit the EEPROM");
static const tinygmm::OnlineStorage STORAGE = tinygmm::eeprom_storage(0);
static const tinygmm::OnlineStorage* const STORAGE_PTR = &STORAGE;
#elif !defined(ARDUINO)
// a RAM copy, written to (read from) the file when the last (first) piece is written (read)
static uint8_t saved_state[Learner::STATE_BYTES];
static bool saved = false;
inline bool storage_write(void*, size_t offset, const uint8_t* data, size_t len) {
  if (offset + len > sizeof saved_state) return false;
  memcpy(saved_state + offset, data, len);
  if (offset + len != sizeof saved_state) return true;
  saved = true;
  const char* path = getenv("TINYGMM_STATE_FILE");
  if (!path || !*path) return true;
  FILE* f = fopen(path, "wb");
  if (!f) return false;
  const bool ok = fwrite(saved_state, 1, sizeof saved_state, f) == sizeof saved_state;
  return (fclose(f) == 0) && ok;
}
inline bool storage_read(void*, size_t offset, uint8_t* data, size_t len) {
  if (offset + len > sizeof saved_state) return false;
  const char* path = getenv("TINYGMM_STATE_FILE");
  if (offset == 0 && path && *path) {
    FILE* f = fopen(path, "rb");
    if (!f) return false;
    uint8_t extra;
    saved = fread(saved_state, 1, sizeof saved_state, f) == sizeof saved_state && fread(&extra, 1, 1, f) == 0;
    fclose(f);
  }
  if (!saved) return false;
  memcpy(data, saved_state + offset, len);
  return true;
}
static const tinygmm::OnlineStorage STORAGE = {storage_write, storage_read, 0};
static const tinygmm::OnlineStorage* const STORAGE_PTR = &STORAGE;
#else
static const tinygmm::OnlineStorage* const STORAGE_PTR = 0;
#endif

struct LearnEnv {
  typedef tinygmm_device::Learner Learner;
  static Learner& learner() { return tinygmm_device::learner; }
  static int start(Learner& g) { return learn_start(g); }
  static const tinygmm::OnlineStorage* storage() { return STORAGE_PTR; }
  static const uint8_t START = TINYGMM_LEARN;
};
typedef tinygmm::LearnerGlue<LearnEnv> LearnGlue;
#endif

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
#elif defined(TINYGMM_LEARN) && TINYGMM_LEARN
// a learning device also takes "LEARN " before the values
static const uint16_t LINE_CAPACITY = static_cast<uint16_t>(tinygmm::request_max(gmm::N_FEATURES) + 21);  // "LEARN ", " seq=<n>"
#else
static const uint16_t LINE_CAPACITY = static_cast<uint16_t>(tinygmm::request_max(gmm::N_FEATURES));
#endif

inline void classify(const float* x, tinygmm::Classification* out) {
#if defined(TINYGMM_LEARN) && TINYGMM_LEARN
  LearnGlue::classify(x, out);  // the current parameters (the frozen header's are the start only)
  return;
#endif
  tinygmm::classify_with<gmm::N_COMPONENTS, gmm::classify>(x, out);
#if defined(TINYGMM_MODEL_ANOMALY_gmm)
  const float ll = out->log_likelihood;
  const bool anomalous = !(ll >= gmm::ANOMALY_THRESHOLD);  // the score is at hand: no need for is_anomaly
  out->anomaly = static_cast<int8_t>((anomalous ? 1 : 0) | (alarm_filter.update(anomalous) ? 2 : 0));
#endif
}

// A learning device's threshold moves: INFO says learn_threshold= instead, and every reply has <flags>.
#if defined(TINYGMM_LEARN) && TINYGMM_LEARN
static const tinygmm::AnomalyInfo* const LEARN_ANOMALY = 0;
#else
static const tinygmm::AnomalyInfo* const LEARN_ANOMALY = ANOMALY;
#endif

static const tinygmm::DeviceModel MODEL = {
    static_cast<uint16_t>(gmm::N_FEATURES), static_cast<uint8_t>(gmm::N_COMPONENTS),
    gmm::FEATURE_NAMES, gmm::MODEL_HASH, classify};

// The protocol for this model, with its line buffer, room for N_FEATURES values and
// (when the model has one) its anomaly threshold: Protocol p(MODEL, write, ctx).
class Protocol : public tinygmm::LineProtocolWith<LINE_CAPACITY, gmm::N_FEATURES> {
 public:
  Protocol(const tinygmm::DeviceModel& model, tinygmm::WriteFn write, void* ctx)
      : tinygmm::LineProtocolWith<LINE_CAPACITY, gmm::N_FEATURES>(model, write, ctx, LEARN_ANOMALY) {
#if defined(TINYGMM_LEARN) && TINYGMM_LEARN
    LearnGlue::start();
    set_learning(&LearnGlue::hooks);
#endif
  }
};

}  // namespace tinygmm_device

#endif  // TINYGMM_DEVICE_H

// Parity of the exported model (include/GMM.h) with scikit-learn.
//
// golden_vectors.h is written by `tinygmm export` next to GMM.h: inputs (in
// range and far outside the data) with scikit-learn's predict, predict_proba
// and score_samples. Tolerances (float32 on the device, float64 in sklearn):
//   predict        equal, unless the top two components are a near tie
//   predict_proba  |device - sklearn| <= 1e-4
//   score_samples  |device - sklearn| <= 1e-3 in range,
//                  relative error <= 1e-5 far outside the data
// Every failure names the vector. The vectors live in flash (PROGMEM on AVR),
// so the suite fits the 2 KB of SRAM of an Arduino Uno.
//
//   pio test -e native                          host
//   pio test -e uno_sim --without-uploading     simulated ATmega328P (simavr)
//   pio test -e uno / -e esp32dev               a board
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unity.h>

#include "GMM.h"
#include "golden_vectors.h"

#include "../common/unity_main.h"  // main(), or setup()/loop() on a board: calls run_all

#if defined(__AVR__)
#define GOLDEN_U8(p) pgm_read_byte(p)
#define GOLDEN_I16(p) static_cast<int16_t>(pgm_read_word(p))
#else
#define GOLDEN_U8(p) (*(p))
#define GOLDEN_I16(p) (*(p))
#endif

static_assert(golden::N_FEATURES == gmm::N_FEATURES, "golden vectors are for another model: re-export");
static_assert(golden::N_COMPONENTS == gmm::N_COMPONENTS, "golden vectors are for another model: re-export");

namespace {

const float PROBA_ABS = 1e-4f;
const float LL_ABS = 1e-3f;     // in range
const float LL_REL = 1e-5f;     // far outside the data

float x[gmm::N_FEATURES];
float proba[gmm::N_COMPONENTS];
char msg[48];

void load(int i) {
  for (int d = 0; d < gmm::N_FEATURES; ++d) x[d] = TINYGMM_READ(golden::X + i * gmm::N_FEATURES + d);
}

const char* name(int i, const char* what) {
  snprintf(msg, sizeof msg, "vector %d %s", i, what);
  return msg;
}

const char* name(int i, const char* what, int k) {
  snprintf(msg, sizeof msg, "vector %d %s[%d]", i, what, k);
  return msg;
}

float golden_proba(int i, int k) { return TINYGMM_READ(golden::PROBA + i * gmm::N_COMPONENTS + k); }

}  // namespace

void setUp(void) {}
void tearDown(void) {}

// Stale vectors (GMM.h re-exported without them, or edited) fail here first.
void test_model_hash(void) {
  char device_hash[sizeof golden::MODEL_HASH + 8];
#if defined(__AVR__)
  strncpy_P(device_hash, gmm::MODEL_HASH, sizeof device_hash - 1);
#else
  strncpy(device_hash, gmm::MODEL_HASH, sizeof device_hash - 1);
#endif
  device_hash[sizeof device_hash - 1] = 0;
  TEST_ASSERT_EQUAL_STRING_MESSAGE(golden::MODEL_HASH, device_hash,
                                   "golden vectors and GMM.h are from different models: re-run tinygmm export");
}

void test_predict(void) {
  for (int i = 0; i < golden::N_VECTORS; ++i) {
    load(i);
    const int expected = GOLDEN_I16(golden::LABEL + i);
    const int got = gmm::predict(x);
    TEST_ASSERT_TRUE_MESSAGE(got >= 0 && got < gmm::N_COMPONENTS, name(i, "predict out of range"));
    if (GOLDEN_U8(golden::NEAR_TIE + i)) {
      // Either of the tied components is right; it must still be (nearly) the most probable.
      const float best = golden_proba(i, expected);
      TEST_ASSERT_FLOAT_WITHIN_MESSAGE(2 * PROBA_ABS + 1e-3f * best, best, golden_proba(i, got),
                                       name(i, "predict (near tie)"));
    } else {
      TEST_ASSERT_EQUAL_INT_MESSAGE(expected, got, name(i, "predict"));
    }
  }
}

void test_predict_proba(void) {
  for (int i = 0; i < golden::N_VECTORS; ++i) {
    load(i);
    const int argmax = gmm::predict_proba(x, proba);
    TEST_ASSERT_EQUAL_INT_MESSAGE(gmm::predict(x), argmax, name(i, "predict_proba argmax vs predict"));
    float sum = 0.0f;
    for (int k = 0; k < gmm::N_COMPONENTS; ++k) {
      TEST_ASSERT_FLOAT_WITHIN_MESSAGE(PROBA_ABS, golden_proba(i, k), proba[k], name(i, "predict_proba", k));
      sum += proba[k];
    }
    TEST_ASSERT_FLOAT_WITHIN_MESSAGE(1e-5f, 1.0f, sum, name(i, "predict_proba sum"));
  }
}

void test_score_samples_in_range(void) {
  int n = 0;
  for (int i = 0; i < golden::N_VECTORS; ++i) {
    if (GOLDEN_U8(golden::FAR + i)) continue;
    load(i);
    const float expected = TINYGMM_READ(golden::LOG_LIKELIHOOD + i);
    TEST_ASSERT_FLOAT_WITHIN_MESSAGE(LL_ABS, expected, gmm::score_samples(x), name(i, "score_samples"));
    ++n;
  }
  TEST_ASSERT_TRUE_MESSAGE(n > 0, "no in-range golden vectors");
}

void test_score_samples_far(void) {
  int n = 0;
  for (int i = 0; i < golden::N_VECTORS; ++i) {
    if (!GOLDEN_U8(golden::FAR + i)) continue;
    load(i);
    const float expected = TINYGMM_READ(golden::LOG_LIKELIHOOD + i);
    const float got = gmm::score_samples(x);
    TEST_ASSERT_TRUE_MESSAGE(isfinite(got), name(i, "score_samples not finite"));
    TEST_ASSERT_FLOAT_WITHIN_MESSAGE(LL_REL * fabsf(expected), expected, got, name(i, "score_samples (far)"));
    ++n;
  }
  TEST_ASSERT_TRUE_MESSAGE(n > 0, "no far golden vectors");
}

// classify() is the one-pass form used by the firmware: same answers.
void test_classify_matches(void) {
  for (int i = 0; i < golden::N_VECTORS; ++i) {
    load(i);
    float ll = 0.0f;
    const int label = gmm::classify(x, proba, &ll);
    TEST_ASSERT_EQUAL_INT_MESSAGE(gmm::predict(x), label, name(i, "classify label"));
    TEST_ASSERT_EQUAL_FLOAT_MESSAGE(gmm::score_samples(x), ll, name(i, "classify log-likelihood"));
  }
}

static int run_all(void) {
  UNITY_BEGIN();
  RUN_TEST(test_model_hash);
  RUN_TEST(test_predict);
  RUN_TEST(test_predict_proba);
  RUN_TEST(test_score_samples_in_range);
  RUN_TEST(test_score_samples_far);
  RUN_TEST(test_classify_matches);
  return UNITY_END();
}

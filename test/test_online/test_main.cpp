// tinygmm::OnlineGMM (lib/tinygmm/src/tinygmm_online.h) on the boards: learning from scratch and
// adapting the project's include/GMM.h, hostile input refused with the state untouched, a constant
// stream and a stream that starves a component, save -> load resuming bit for bit, corrupt or
// foreign buffers refused, the streaming anomaly threshold. test/python/test_online.py checks the
// same code against the float32 reference (scripts/tinygmm/online.py) on the host and on simavr.
#include <string.h>
#include <unity.h>

#include "GMM.h"
#include "tinygmm_online.h"

#if defined(ARDUINO)
#include <Arduino.h>
#endif
#if defined(TINYGMM_TEST_SIMAVR)
#include <avr/interrupt.h>
#include <avr/sleep.h>
#endif

typedef tinygmm::OnlineGMM<4, 2> Learner;
static Learner g;
static uint8_t buf[Learner::STATE_BYTES];

void setUp(void) {}
void tearDown(void) {}

// deterministic pseudo-normal samples (Irwin-Hall: four uniforms, variance 1)
static uint32_t rng_state = 12345u;
static float unif() { return (float)(tinygmm::online_detail::xorshift32(rng_state) >> 8) * 5.9604645e-8f; }
static float normal() { return (unif() + unif() + unif() + unif() - 2.0f) * 1.7320508f; }

static const float CENTRES[4][2] = {{0.0f, 0.0f}, {8.0f, 0.0f}, {0.0f, 8.0f}, {8.0f, 8.0f}};

static void sample(float* x, int cluster) {
  x[0] = CENTRES[cluster][0] + 0.5f * normal();
  x[1] = CENTRES[cluster][1] + 0.5f * normal();
}

static uint32_t state_crc() {
  const size_t n = g.save(buf, sizeof buf);
  TEST_ASSERT_EQUAL_UINT32(sizeof buf, n);
  return tinygmm::online_detail::crc32(buf, n);
}

static void assert_usable() {
  float w[4], m[8], c[16];
  g.get_params(w, m, c);
  float wsum = 0.0f;
  for (int k = 0; k < 4; ++k) {
    TEST_ASSERT_TRUE(w[k] >= 1e-4f);
    wsum += w[k];
    for (int i = 0; i < 2; ++i) TEST_ASSERT_TRUE(tinygmm::online_detail::finite(m[2 * k + i]));
    // positive definite: positive diagonal and determinant
    TEST_ASSERT_TRUE(c[4 * k] > 0.0f && c[4 * k + 3] > 0.0f);
    TEST_ASSERT_TRUE(c[4 * k] * c[4 * k + 3] - c[4 * k + 1] * c[4 * k + 2] > 0.0f);
    TEST_ASSERT_EQUAL_FLOAT(c[4 * k + 1], c[4 * k + 2]);
  }
  TEST_ASSERT_FLOAT_WITHIN(1e-4f, 1.0f, wsum);
  const float x[2] = {1.0f, 2.0f};
  float p[4];
  const int k = g.predict_proba(x, p);
  TEST_ASSERT_TRUE(k >= 0 && k < 4);
  TEST_ASSERT_TRUE(tinygmm::online_detail::finite(g.score_samples(x)));
}

static void learn_clusters(int n) {
  float x[2];
  for (int i = 0; i < n; ++i) {
    sample(x, i & 3);
    const int st = g.learn(x);
    TEST_ASSERT_TRUE(st == tinygmm::ONLINE_OK || st == tinygmm::ONLINE_WARMING);
  }
}

static void test_learns_four_clusters_from_scratch(void) {
  tinygmm::OnlineConfig cfg = tinygmm::online_defaults();
  g.begin_scratch(cfg);
  TEST_ASSERT_FALSE(g.ready());
  TEST_ASSERT_EQUAL_INT(-1, g.predict(CENTRES[0]));
  learn_clusters(1500);
  TEST_ASSERT_TRUE(g.ready());
  TEST_ASSERT_EQUAL_UINT32(1500, g.samples_seen());
  assert_usable();
  // every true centre has its own component, with weight ~1/4 and variance ~0.25
  float w[4], m[8], c[16];
  g.get_params(w, m, c);
  bool used[4] = {false, false, false, false};
  for (int t = 0; t < 4; ++t) {
    const int k = g.predict(CENTRES[t]);
    TEST_ASSERT_FALSE(used[k]);
    used[k] = true;
    TEST_ASSERT_FLOAT_WITHIN(0.15f, CENTRES[t][0], m[2 * k]);
    TEST_ASSERT_FLOAT_WITHIN(0.15f, CENTRES[t][1], m[2 * k + 1]);
    TEST_ASSERT_FLOAT_WITHIN(0.06f, 0.25f, w[k]);
    TEST_ASSERT_FLOAT_WITHIN(0.12f, 0.25f, c[4 * k]);
  }
}

static void test_refuses_hostile_input(void) {
  g.begin_scratch(tinygmm::online_defaults());
  learn_clusters(200);
  const uint32_t before = state_crc();
  const float bad[][2] = {{NAN, 0.0f}, {0.0f, INFINITY}, {-INFINITY, 1.0f}, {1e30f, 0.0f}, {0.0f, -2e15f}};
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; ++i)
    TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_INPUT, g.learn(bad[i]));
  TEST_ASSERT_EQUAL_UINT32(before, state_crc());
  assert_usable();
  // evaluation of a NaN: component 0, score -inf, an anomaly
  TEST_ASSERT_EQUAL_INT(0, g.predict(bad[0]));
  TEST_ASSERT_TRUE(g.is_anomaly(bad[0]));
}

static void test_constant_stream_and_far_values(void) {
  g.begin_scratch(tinygmm::online_defaults());
  const float x[2] = {3.0f, -1.0f};
  for (int i = 0; i < 3000; ++i) TEST_ASSERT_TRUE(g.learn(x) >= 0);
  assert_usable();
  float w[4], m[8], c[16];
  g.get_params(w, m, c);
  const int k = g.predict(x);
  TEST_ASSERT_FLOAT_WITHIN(1e-4f, 3.0f, m[2 * k]);
  TEST_ASSERT_TRUE(c[4 * k] >= 1e-6f);  // reg_covar
  // a glitch within x_limit but far from everything: refused by the max_tail gate, state untouched
  tinygmm::OnlineConfig cfg = tinygmm::online_defaults();
  cfg.max_tail = 50.0f;
  g.begin_scratch(cfg);
  learn_clusters(400);
  const uint32_t before = state_crc();
  const float far[2] = {1e14f, -1e14f};
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_FAR, g.learn(far));
  TEST_ASSERT_EQUAL_UINT32(before, state_crc());
  assert_usable();
}

static void test_starved_component_stays_usable(void) {
  const float w0[4] = {0.25f, 0.25f, 0.25f, 0.25f};
  float m0[8], c0[16];
  for (int k = 0; k < 4; ++k) {
    m0[2 * k] = CENTRES[k][0];
    m0[2 * k + 1] = CENTRES[k][1];
    c0[4 * k] = c0[4 * k + 3] = 0.25f;
    c0[4 * k + 1] = c0[4 * k + 2] = 0.0f;
  }
  tinygmm::OnlineConfig cfg = tinygmm::online_defaults();
  cfg.gamma_floor = 0.02f;  // forgets quickly: components 2 and 3 lose every sample
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_OK, g.begin(cfg, w0, m0, c0));
  float x[2];
  for (int i = 0; i < 2000; ++i) {
    sample(x, i & 1);
    TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_OK, g.learn(x));
  }
  assert_usable();
  float w[4], m[8], c[16];
  g.get_params(w, m, c);
  TEST_ASSERT_TRUE(w[g.predict(CENTRES[0])] > 0.2f);
  TEST_ASSERT_TRUE(w[g.predict(CENTRES[1])] > 0.2f);
}

static void test_save_load_same_stream(void) {
  // learn 300, save; learn 100 more -> A. Load the save, learn the same 100 -> B == A.
  g.begin_scratch(tinygmm::online_defaults());
  rng_state = 777u;
  learn_clusters(300);
  TEST_ASSERT_EQUAL_UINT32(sizeof buf, g.save(buf, sizeof buf));
  const uint32_t saved_crc = tinygmm::online_detail::crc32(buf, sizeof buf);
  const uint32_t rng_mid = rng_state;
  learn_clusters(100);
  float wa[4], ma[8], ca[16];
  g.get_params(wa, ma, ca);
  const float tha = g.threshold();
  const uint32_t ta = g.samples_seen();
  // rebuild the saved bytes: same seed, same stream
  g.begin_scratch(tinygmm::online_defaults());
  rng_state = 777u;
  learn_clusters(300);
  g.save(buf, sizeof buf);
  TEST_ASSERT_EQUAL_UINT32(saved_crc, tinygmm::online_detail::crc32(buf, sizeof buf));  // deterministic
  g.begin_scratch(tinygmm::online_defaults());  // "reset"
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_OK, g.load(buf, sizeof buf));
  rng_state = rng_mid;
  learn_clusters(100);
  float wb[4], mb[8], cb[16];
  g.get_params(wb, mb, cb);
  TEST_ASSERT_EQUAL_MEMORY(wa, wb, sizeof wa);
  TEST_ASSERT_EQUAL_MEMORY(ma, mb, sizeof ma);
  TEST_ASSERT_EQUAL_MEMORY(ca, cb, sizeof ca);
  const float thb = g.threshold();
  TEST_ASSERT_EQUAL_MEMORY(&tha, &thb, sizeof tha);
  TEST_ASSERT_EQUAL_UINT32(ta, g.samples_seen());
}

static void test_load_refuses_corrupt_and_foreign(void) {
  g.begin_scratch(tinygmm::online_defaults());
  learn_clusters(100);
  g.save(buf, sizeof buf);
  const uint32_t before = state_crc();
  buf[40] ^= 0x10;  // a payload bit: CRC mismatch
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_STATE, g.load(buf, sizeof buf));
  buf[40] ^= 0x10;
  buf[5] = 3;  // K = 3 with a valid CRC: another shape
  const uint32_t crc = tinygmm::online_detail::crc32(buf, sizeof buf - 4);
  for (int i = 0; i < 4; ++i) buf[sizeof buf - 4 + i] = (uint8_t)(crc >> (8 * i));
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_STATE, g.load(buf, sizeof buf));
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_STATE, g.load(buf, sizeof buf - 1));
  TEST_ASSERT_EQUAL_UINT32(before, state_crc());
  // a well-formed buffer whose mean is NaN
  g.save(buf, sizeof buf);
  const float nan = NAN;
  const size_t mean_at = Learner::HEADER_BYTES + offsetof(Learner::State, comp) + offsetof(Learner::Component, mean);
  memcpy(buf + mean_at, &nan, 4);
  const uint32_t crc2 = tinygmm::online_detail::crc32(buf, sizeof buf - 4);
  for (int i = 0; i < 4; ++i) buf[sizeof buf - 4 + i] = (uint8_t)(crc2 >> (8 * i));
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_STATE, g.load(buf, sizeof buf));
  TEST_ASSERT_EQUAL_UINT32(before, state_crc());
}

static void test_adapts_the_exported_header(void) {
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_OK,
                        g.begin_from_header<gmm::detail::Model>(tinygmm::online_defaults(), gmm::COVARIANCE_TYPE));
  // before any learning it is the header's model: same labels, same scores to float32 rounding
  for (int a = 15; a <= 75; a += 6) {
    for (int s = 0; s <= 100; s += 10) {
      const float x[2] = {(float)a, (float)s};
      float p1[4], p2[4];
      const int k1 = gmm::predict_proba(x, p1);
      const int k2 = g.predict_proba(x, p2);
      if (p1[k1] - p1[k2] > 1e-3f) TEST_ASSERT_EQUAL_INT(k1, k2);
      const float s1 = gmm::score_samples(x), s2 = g.score_samples(x);
      TEST_ASSERT_FLOAT_WITHIN(1e-3f + 1e-4f * fabsf(s1), s1, s2);
    }
  }
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_MODEL,
                        g.begin_from_header<gmm::detail::Model>(tinygmm::online_defaults(), tinygmm::ONLINE_COV_DIAG));
}

static void test_threshold_tracks_and_freezes(void) {
  g.begin_scratch(tinygmm::online_defaults());
  TEST_ASSERT_FALSE(g.is_anomaly(CENTRES[0]));  // not ready: never
  learn_clusters(2000);
  const float th = g.threshold();
  TEST_ASSERT_TRUE(tinygmm::online_detail::finite(th));
  const float far[2] = {4.0f, 4.0f};  // between the clusters
  TEST_ASSERT_TRUE(g.is_anomaly(far));
  TEST_ASSERT_FALSE(g.is_anomaly(CENTRES[3]));
  // about 1% of fresh samples score below the threshold
  int below = 0;
  float x[2];
  for (int i = 0; i < 1000; ++i) {
    sample(x, i & 3);
    below += g.is_anomaly(x);
  }
  TEST_ASSERT_TRUE(below >= 2 && below <= 30);
  g.freeze_threshold();
  for (int i = 0; i < 50; ++i) g.learn(far);
  const float frozen = g.threshold();
  TEST_ASSERT_EQUAL_MEMORY(&th, &frozen, sizeof th);
  g.freeze_threshold(false);
  TEST_ASSERT_FALSE(g.threshold_frozen());
}

static int run_all(void) {
  UNITY_BEGIN();
  RUN_TEST(test_learns_four_clusters_from_scratch);
  RUN_TEST(test_refuses_hostile_input);
  RUN_TEST(test_constant_stream_and_far_values);
  RUN_TEST(test_starved_component_stays_usable);
  RUN_TEST(test_save_load_same_stream);
  RUN_TEST(test_load_refuses_corrupt_and_foreign);
  RUN_TEST(test_adapts_the_exported_header);
  RUN_TEST(test_threshold_tracks_and_freezes);
  return UNITY_END();
}

#if defined(ARDUINO)
void setup() {
#if !defined(TINYGMM_TEST_SIMAVR)
  delay(2000);  // a real board resets when the port opens: let the host attach
#endif
  run_all();
#if defined(TINYGMM_TEST_SIMAVR)
  Serial.flush();
  cli();  // simavr: "sleeping with interrupts off, quitting gracefully"
  sleep_enable();
  sleep_cpu();
#endif
}

void loop() {}
#else
int main(void) { return run_all(); }
#endif

// tinygmm::OnlineGMM (lib/tinygmm/src/tinygmm_online.h) on the boards: learning from scratch and
// adapting the project's include/GMM.h, hostile input refused with the state untouched, a constant
// stream and a stream that starves a component (test_online_save: save -> load resuming bit for bit,
// corrupt or foreign buffers refused; test_online_header: the header start and the anomaly
// threshold; three suites, so that each fits an Uno's flash and RAM). test/python/test_online.py checks the
// same code against the float32 reference (scripts/tinygmm/online.py) on the host and on simavr.
#include <string.h>
#include <unity.h>

#include "tinygmm_online.h"

#include "../common/unity_main.h"  // main(), or setup()/loop() on a board: calls run_all

// WARM = 8: the learner and a save buffer next to Unity and the Arduino core in 2 KB (test_online_header: the default)
typedef tinygmm::OnlineGMM<4, 2, tinygmm::ONLINE_COV_FULL, 8> Learner;
static Learner g;

// parameters read back (static: off the stack, which learning needs on an Uno)
static float w[4], m[8], c[16];

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

// CRC-32 of the learner's whole state (no save buffer: the Uno's RAM is for the stack)
template <class L>
static uint32_t state_crc(const L& l) {
  return tinygmm::online_detail::crc32(reinterpret_cast<const uint8_t*>(&l.state()), sizeof(typename L::State));
}

static void assert_usable() {
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
  const uint32_t before = state_crc(g);
  const float bad[][2] = {{NAN, 0.0f}, {0.0f, INFINITY}, {-INFINITY, 1.0f}, {1e30f, 0.0f}, {0.0f, -2e15f}};
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; ++i)
    TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_INPUT, g.learn(bad[i]));
  TEST_ASSERT_EQUAL_UINT32(before, state_crc(g));
  assert_usable();
  // evaluation of a NaN: component 0, score -inf, an anomaly
  TEST_ASSERT_EQUAL_INT(0, g.predict(bad[0]));
  TEST_ASSERT_TRUE(g.is_anomaly(bad[0]));
}

static void test_constant_stream_and_far_values(void) {
  g.begin_scratch(tinygmm::online_defaults());
  const float x[2] = {3.0f, -1.0f};
  for (int i = 0; i < 1000; ++i) TEST_ASSERT_TRUE(g.learn(x) >= 0);
  assert_usable();
  g.get_params(w, m, c);
  const int k = g.predict(x);
  TEST_ASSERT_FLOAT_WITHIN(1e-4f, 3.0f, m[2 * k]);
  TEST_ASSERT_TRUE(c[4 * k] >= 1e-6f);  // reg_covar
  // a glitch within x_limit but far from everything: refused by the max_tail gate, state untouched
  tinygmm::OnlineConfig cfg = tinygmm::online_defaults();
  cfg.max_tail = 1e4f;
  g.begin_scratch(cfg);
  learn_clusters(400);
  const uint32_t before = state_crc(g);
  const float far[2] = {1e14f, -1e14f};
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_FAR, g.learn(far));
  TEST_ASSERT_EQUAL_UINT32(before, state_crc(g));
  assert_usable();
}

static void test_starved_component_stays_usable(void) {
  const float w0[4] = {0.25f, 0.25f, 0.25f, 0.25f};
  float* m0 = m;
  float* c0 = c;
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
  g.get_params(w, m, c);
  TEST_ASSERT_TRUE(w[g.predict(CENTRES[0])] > 0.2f);
  TEST_ASSERT_TRUE(w[g.predict(CENTRES[1])] > 0.2f);
}

static int run_all(void) {
  UNITY_BEGIN();
  RUN_TEST(test_learns_four_clusters_from_scratch);
  RUN_TEST(test_refuses_hostile_input);
  RUN_TEST(test_constant_stream_and_far_values);
  RUN_TEST(test_starved_component_stays_usable);
  return UNITY_END();
}

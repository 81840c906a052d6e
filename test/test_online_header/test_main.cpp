// tinygmm::OnlineGMM (lib/tinygmm/src/tinygmm_online.h) started from the project's include/GMM.h
// (begin_from_header recovers weights, means and covariances from the header's records: before any
// learning it scores as the header does), and its streaming anomaly threshold (P^2 quantile of the
// training scores), frozen on request. test_online has the rest of the runtime's suite.
#include <string.h>
#include <unity.h>

#include "GMM.h"
#include "tinygmm_online.h"

#include "../common/unity_main.h"  // main(), or setup()/loop() on a board: calls run_all

typedef tinygmm::OnlineGMM<4, 2> Learner;
static Learner g;


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

static void learn_clusters(int n) {
  float x[2];
  for (int i = 0; i < n; ++i) {
    sample(x, i & 3);
    const int st = g.learn(x);
    TEST_ASSERT_TRUE(st == tinygmm::ONLINE_OK || st == tinygmm::ONLINE_WARMING);
  }
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
  RUN_TEST(test_adapts_the_exported_header);
  RUN_TEST(test_threshold_tracks_and_freezes);
  return UNITY_END();
}

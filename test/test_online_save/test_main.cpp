// tinygmm::OnlineGMM's save / load (lib/tinygmm/src/tinygmm_online.h): save -> reset -> load resumes
// learning bit for bit; a corrupt buffer, another shape, a short buffer or a well-formed buffer with
// a NaN are refused and leave the state as it was. A K = 2 learner, so that it and its buffer fit an
// Uno next to Unity (test/python/test_online.py checks K = 4 with the runner on simavr).
#include <string.h>
#include <unity.h>

#include "tinygmm_online.h"

#include "../common/unity_main.h"  // main(), or setup()/loop() on a board: calls run_all

typedef tinygmm::OnlineGMM<4, 2> Learner;  // only to show it refuses a K = 2 buffer
static Learner g;
typedef tinygmm::OnlineGMM<2, 2, tinygmm::ONLINE_COV_FULL, 4> Small;
static Small sm;
static uint8_t buf[Small::STATE_BYTES];


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

static void learn_small(int n) {
  float x[2];
  for (int i = 0; i < n; ++i) {
    sample(x, (i & 1) * 3);
    TEST_ASSERT_TRUE(sm.learn(x) >= 0);
  }
}

static void test_save_load_same_stream(void) {
  // learn 300, save; learn 100 more -> A. Reset, load the save, learn the same 100 -> B == A, bit for bit.
  sm.begin_scratch(tinygmm::online_defaults());
  rng_state = 777u;
  learn_small(300);
  TEST_ASSERT_EQUAL_UINT32(sizeof buf, sm.save(buf, sizeof buf));
  TEST_ASSERT_EQUAL_UINT32(0, sm.save(buf, sizeof buf - 1));  // too small: nothing written
  const uint32_t rng_mid = rng_state;
  learn_small(100);
  const uint32_t a = state_crc(sm);
  const uint32_t ta = sm.samples_seen();
  sm.begin_scratch(tinygmm::online_defaults());  // "reset"
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_OK, sm.load(buf, sizeof buf));
  TEST_ASSERT_EQUAL_UINT32(300, sm.samples_seen());
  rng_state = rng_mid;
  learn_small(100);
  TEST_ASSERT_EQUAL_UINT32(ta, sm.samples_seen());
  TEST_ASSERT_EQUAL_UINT32(a, state_crc(sm));
}

static void test_load_refuses_corrupt_and_foreign(void) {
  sm.begin_scratch(tinygmm::online_defaults());
  learn_small(100);
  sm.save(buf, sizeof buf);
  const uint32_t before = state_crc(sm);
  buf[40] ^= 0x10;  // a payload bit: CRC mismatch
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_STATE, sm.load(buf, sizeof buf));
  buf[40] ^= 0x10;
  buf[5] = 3;  // K = 3 with a valid CRC: another shape
  const uint32_t crc = tinygmm::online_detail::crc32(buf, sizeof buf - 4);
  for (int i = 0; i < 4; ++i) buf[sizeof buf - 4 + i] = (uint8_t)(crc >> (8 * i));
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_STATE, sm.load(buf, sizeof buf));
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_STATE, sm.load(buf, sizeof buf - 1));
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_STATE, g.load(buf, sizeof buf));  // a K = 4 learner refuses it
  TEST_ASSERT_EQUAL_UINT32(before, state_crc(sm));
  // a well-formed buffer whose mean is NaN
  sm.save(buf, sizeof buf);
  const float nan = NAN;
  const size_t mean_at = Small::HEADER_BYTES + offsetof(Small::State, comp) + offsetof(Small::Component, mean);
  memcpy(buf + mean_at, &nan, 4);
  const uint32_t crc2 = tinygmm::online_detail::crc32(buf, sizeof buf - 4);
  for (int i = 0; i < 4; ++i) buf[sizeof buf - 4 + i] = (uint8_t)(crc2 >> (8 * i));
  TEST_ASSERT_EQUAL_INT(tinygmm::ONLINE_BAD_STATE, sm.load(buf, sizeof buf));
  TEST_ASSERT_EQUAL_UINT32(before, state_crc(sm));
}

static int run_all(void) {
  UNITY_BEGIN();
  RUN_TEST(test_save_load_same_stream);
  RUN_TEST(test_load_refuses_corrupt_and_foreign);
  return UNITY_END();
}

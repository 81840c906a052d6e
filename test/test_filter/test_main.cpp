// The k-of-n alarm filter (lib/tinygmm/src/tinygmm_filter.h): the alarm is
// raised while at least k of the last n decisions were anomalous, from the
// first decisions on, through the ring's wrap-around, with k clamped to [1, n].
// test/python/test_anomaly.py checks it against a sliding window on random
// streams (host g++); this suite runs it on the boards.
#include <unity.h>

#include "tinygmm_filter.h"

#include "../common/unity_main.h"  // main(), or setup()/loop() on a board: calls run_all

void setUp(void) {}
void tearDown(void) {}

// feeds "0"/"1" decisions, checks each update's alarm against "0"/"1" in want
template <uint8_t N>
static void feed(tinygmm::KOfN<N>& f, const char* bits, const char* want) {
  for (; *bits; ++bits, ++want) {
    const bool alarm = f.update(*bits == '1');
    TEST_ASSERT_EQUAL_UINT8(*want == '1' ? 1 : 0, alarm ? 1 : 0);
    TEST_ASSERT_EQUAL_UINT8(alarm ? 1 : 0, f.alarm() ? 1 : 0);
  }
}

static void test_three_of_five(void) {
  tinygmm::KOfN<5> f(3);
  feed(f, "0110110000", "0000111000");
  TEST_ASSERT_EQUAL_UINT8(1, f.count());
}

static void test_counts_from_the_start(void) {
  tinygmm::KOfN<8> f(2);
  feed(f, "11", "01");  // two of the first two: raised before the window is full
  TEST_ASSERT_EQUAL_UINT8(2, f.count());
}

static void test_wraps_around(void) {
  tinygmm::KOfN<3> f(3);
  feed(f, "1111011101111", "0011000100011");
}

static void test_one_of_one_follows_the_input(void) {
  tinygmm::KOfN<1> f(1);
  feed(f, "0101100", "0101100");
}

static void test_k_is_clamped(void) {
  tinygmm::KOfN<4> zero(0), big(9);
  TEST_ASSERT_EQUAL_UINT8(1, zero.k());
  TEST_ASSERT_EQUAL_UINT8(4, big.k());
  feed(big, "11110", "00010");
}

static void test_long_window_and_reset(void) {
  tinygmm::KOfN<200> f(100);
  for (int i = 0; i < 199; ++i) f.update(i % 2 == 0);  // 100 anomalous of 199
  TEST_ASSERT_TRUE(f.alarm());
  f.update(false);  // 100 of 200
  TEST_ASSERT_TRUE(f.alarm());
  f.update(false);  // the first (anomalous) leaves: 99
  TEST_ASSERT_FALSE(f.alarm());
  f.reset();
  TEST_ASSERT_EQUAL_UINT8(0, f.count());
  TEST_ASSERT_FALSE(f.update(true));
}

static int run_all(void) {
  UNITY_BEGIN();
  RUN_TEST(test_three_of_five);
  RUN_TEST(test_counts_from_the_start);
  RUN_TEST(test_wraps_around);
  RUN_TEST(test_one_of_one_follows_the_input);
  RUN_TEST(test_k_is_clamped);
  RUN_TEST(test_long_window_and_reset);
  return UNITY_END();
}

// tinygmm_filter.h - k-of-n alarm filter for a stream of anomaly decisions.
//
// A single anomalous reading is often noise; a sensor that has gone bad gives
// several in a short time. KOfN<N> raises the alarm while at least k of the
// last N decisions (fewer at the start: of all so far) were anomalous. The
// last N decisions are kept as a ring of bits with a running count, so an
// update is O(1) and the state is (N + 7) / 8 + 3 bytes. No heap, C++11.
//
//   tinygmm::KOfN<5> filter(3);                    // 3 of the last 5
//   bool alarm = filter.update(gmm::is_anomaly(x));
#ifndef TINYGMM_FILTER_H
#define TINYGMM_FILTER_H

#include <stdint.h>

namespace tinygmm {

template <uint8_t N>
class KOfN {
  static_assert(N >= 1, "the window holds at least one decision");

 public:
  // k is clamped to [1, N]
  explicit KOfN(uint8_t k) : k_(k < 1 ? 1 : (k > N ? N : k)) { reset(); }

  void reset() {
    for (uint8_t i = 0; i < BYTES; ++i) bits_[i] = 0;
    pos_ = 0;
    count_ = 0;
  }

  // Adds one decision; returns whether the alarm is raised now.
  bool update(bool anomalous) {
    const uint8_t byte = pos_ >> 3, mask = static_cast<uint8_t>(1u << (pos_ & 7));
    if (bits_[byte] & mask) --count_;  // the decision N steps ago leaves the window
    if (anomalous) {
      bits_[byte] = static_cast<uint8_t>(bits_[byte] | mask);
      ++count_;
    } else {
      bits_[byte] = static_cast<uint8_t>(bits_[byte] & ~mask);
    }
    pos_ = static_cast<uint8_t>(pos_ + 1 == N ? 0 : pos_ + 1);
    return alarm();
  }

  bool alarm() const { return count_ >= k_; }
  uint8_t count() const { return count_; }  // anomalous decisions in the window
  uint8_t k() const { return k_; }
  static uint8_t n() { return N; }

 private:
  static const uint8_t BYTES = (N + 7) / 8;
  uint8_t bits_[BYTES];
  uint8_t pos_;
  uint8_t count_;
  uint8_t k_;
};

}  // namespace tinygmm

#endif  // TINYGMM_FILTER_H

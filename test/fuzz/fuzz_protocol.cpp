// libFuzzer target for the serial protocol library: bytes in, reply lines out.
//
// Build (test/python/test_fuzz.py does this):
//   clang++ -std=c++11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
//     -I include -I lib/tinygmm/src test/fuzz/fuzz_protocol.cpp lib/tinygmm/src/tinygmm_protocol.cpp
//
// Invariants checked on every input (abort() on violation, which libFuzzer reports):
//  - no crash or undefined behaviour (the sanitizers);
//  - every complete non-empty line gets exactly one reply, an empty one none;
//  - every reply is one printable-ASCII line starting with OK, ERR or INFO, of bounded length
//    (with or without the "*HH" checksum suffix);
//  - a line ending in "*HH" gets a reply signed from its own seed (its CRC continued over its
//    length, computed here independently of the library), any other line an unsigned one;
//  - the state recovers after any garbage: a valid request that follows gets the same answer as
//    from a fresh protocol instance.
// Two models are exercised: the exported GMM.h (real arithmetic on arbitrary floats) and a
// one-feature fake.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinygmm_device.h"
#include "tinygmm_protocol.h"

namespace {

const size_t kMaxReply = 160;  // longest OK/ERR line (INFO is checked separately)

struct Sink {
  char data[1 << 16];
  size_t len;
  bool overflow;
};

void sink_write(void* ctx, const char* data, size_t len) {
  Sink* s = static_cast<Sink*>(ctx);
  if (s->len + len > sizeof s->data) {
    s->overflow = true;
    return;
  }
  memcpy(s->data + s->len, data, len);
  s->len += len;
}

void fake_classify(const float* x, tinygmm::Classification* out) {
  out->label = x[0] > 0 ? 1 : 0;
  out->probability = 0.75f;
  out->log_likelihood = -x[0] * x[0];
}

const tinygmm::DeviceModel kFake = {1, 2, "only", "0123456789abcdef", fake_classify};

void check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "invariant violated: %s\n", what);
    abort();
  }
}

// Replies the protocol owes for this input: one per terminated line that has a
// non-blank character or overflows the buffer.
size_t expected_replies(const uint8_t* data, size_t size) {
  size_t n = 0, len = 0;
  bool content = false;
  for (size_t i = 0; i < size; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\n' || c == '\r') {
      if (content || len > TINYGMM_LINE_MAX) ++n;
      len = 0;
      content = false;
    } else {
      ++len;
      if (c != ' ' && c != '\t') content = true;
    }
  }
  return n;
}

// CRC-8, polynomial 0x07, written out again so the library is not checked against itself.
uint8_t ref_crc8(uint8_t crc, const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    crc = static_cast<uint8_t>(crc ^ static_cast<uint8_t>(p[i]));
    for (int b = 0; b < 8; ++b) crc = static_cast<uint8_t>(crc & 0x80 ? (crc << 1) ^ 0x07 : crc << 1);
  }
  return crc;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The seed a line's reply is signed from, or -1 when the reply is unsigned. The line is as the
// protocol stores it (NUL already replaced), without its terminator, and fits the buffer.
int reply_seed(const char* line, size_t n) {
  size_t a = 0, b = n;
  while (a < b && (line[a] == ' ' || line[a] == '\t')) ++a;
  while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t')) --b;
  if (b - a < 3 || line[b - 3] != '*' || hex_digit(line[b - 2]) < 0 || hex_digit(line[b - 1]) < 0) return -1;
  const size_t body = b - 3 - a;
  const char length = static_cast<char>(body);
  return ref_crc8(ref_crc8(0, line + a, body), &length, 1);
}

const size_t kMaxLines = 4096;

// The seeds of the replies this input is owed, in order (as expected_replies counts them).
size_t expected_seeds(const uint8_t* data, size_t size, int* seeds) {
  static char line[TINYGMM_LINE_MAX + 1];
  size_t n = 0, len = 0;
  bool content = false;
  for (size_t i = 0; i < size && n < kMaxLines; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\n' || c == '\r') {
      if (len > TINYGMM_LINE_MAX) seeds[n++] = -1;  // ERR too-long is never signed
      else if (content) seeds[n++] = reply_seed(line, len);
      len = 0;
      content = false;
    } else {
      if (len < sizeof line) line[len] = c == 0 ? '\x1a' : c;
      ++len;
      if (c != ' ' && c != '\t') content = true;
    }
  }
  return n;
}

void check_signature(const char* line, size_t len, int seed) {
  const bool suffixed = len >= 4 && line[len - 3] == '*';
  if (seed < 0) {
    check(!suffixed, "an unsigned request gets an unsigned reply");
    return;
  }
  check(suffixed, "a signed request gets a signed reply");
  const uint8_t crc = ref_crc8(static_cast<uint8_t>(seed), line, len - 3);
  static const char kHex[] = "0123456789ABCDEF";
  check(line[len - 2] == kHex[crc >> 4] && line[len - 1] == kHex[crc & 15], "the reply is signed from its request's seed");
}

void check_lines(const Sink& s, size_t expected, size_t info_len, const int* seeds, size_t n_seeds) {
  check(!s.overflow, "output bounded");
  size_t lines = 0, start = 0;
  for (size_t i = 0; i < s.len; ++i) {
    const char c = s.data[i];
    if (c == '\n') {
      const char* line = s.data + start;
      const size_t len = i - start;
      const bool ok = len >= 3 && memcmp(line, "OK ", 3) == 0;
      const bool err = len >= 4 && memcmp(line, "ERR ", 4) == 0;
      const bool info = len >= 5 && memcmp(line, "INFO ", 5) == 0;
      check(ok || err || info, "reply starts with OK, ERR or INFO");
      // INFO has a fixed length, plus "*HH" when the request carried a checksum
      check(info ? (len == info_len || len == info_len + 3) : len <= kMaxReply, "reply length bounded");
      if (lines < n_seeds) check_signature(line, len, seeds[lines]);
      ++lines;
      start = i + 1;
    } else {
      check(c >= 0x20 && c < 0x7f, "reply is printable ASCII");
    }
  }
  check(start == s.len, "every reply ends with a newline");
  check(lines == expected, "exactly one reply per non-empty line");
}

void run(const tinygmm::DeviceModel& model, const char* probe, const uint8_t* data, size_t size) {
  static Sink info, fresh, s;
  // the INFO line's length for this model, and the answer a fresh instance gives to the probe
  info.len = 0;
  tinygmm::LineProtocol p0(model, sink_write, &info);
  p0.feed("INFO\n", 5);
  const size_t info_len = info.len - 1;
  fresh.len = 0;
  tinygmm::LineProtocol p1(model, sink_write, &fresh);
  p1.feed(probe, strlen(probe));

  s.len = 0;
  s.overflow = false;
  tinygmm::LineProtocol p(model, sink_write, &s);
  p.feed(reinterpret_cast<const char*>(data), size);
  static int seeds[kMaxLines];
  const size_t n_seeds = expected_seeds(data, size, seeds);
  check_lines(s, expected_replies(data, size), info_len, seeds, n_seeds);
  // recovery: terminate whatever partial line is left, then the probe
  p.feed("\n", 1);
  s.len = 0;
  p.feed(probe, strlen(probe));
  check(s.len == fresh.len && memcmp(s.data, fresh.data, s.len) == 0, "state recovers after any input");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  run(tinygmm_device::MODEL, "19,39\n", data, size);
  run(kFake, "-2.5\n", data, size);
  return 0;
}

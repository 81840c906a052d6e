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
//    (with or without a signature);
//  - a line ending in "#IIII*CCCCCCCC" (v2) gets a reply ending in " #IIII*CCCCCCCC" with its own id,
//    signed by CRC-32 from its own seed; a line ending in "*HH" (v1) a reply signed by CRC-8 from its
//    own seed; any other line an unsigned one. Seeds (the CRC of every character before the '*',
//    continued over the length) are computed here independently of the library;
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
const uint16_t kLineMax = tinygmm_device::LINE_CAPACITY;  // both models get a buffer of this size

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
  out->anomaly = out->log_likelihood < -1.0f ? 1 : 0;  // the anomaly extension, without filter state
}

const tinygmm::DeviceModel kFake = {1, 2, "only", "0123456789abcdef", fake_classify};
// the fake has a threshold: its OK replies gain the flags field, its INFO threshold= and alarm=
const tinygmm::AnomalyInfo kFakeAnomaly = {-1.0f, 1, 1};

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
      if (content || len > kLineMax) ++n;
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

uint32_t ref_crc32(uint32_t crc, const char* p, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= static_cast<uint8_t>(p[i]);
    for (int b = 0; b < 8; ++b) crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
  }
  return ~crc;
}

bool all_hex(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (hex_digit(p[i]) < 0) return false;
  return true;
}

// How a line's reply must be signed: version 0 (unsigned), 1 (CRC-8 from seed) or 2 (CRC-32 from
// seed, echoing id). The line is as the protocol stores it (NUL already replaced), without its
// terminator, and fits the buffer.
struct Expect {
  int version;
  uint32_t seed;
  char id[4];
};

Expect reply_seed(const char* line, size_t n) {
  Expect e = {0, 0, {0, 0, 0, 0}};
  size_t a = 0, b = n;
  while (a < b && (line[a] == ' ' || line[a] == '\t')) ++a;
  while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t')) --b;
  if (b - a >= 14 && line[b - 9] == '*' && line[b - 14] == '#' && all_hex(line + b - 8, 8) &&
      all_hex(line + b - 13, 4)) {
    const size_t covered = b - 9;  // from the start of the line, leading blanks included
    const char length = static_cast<char>(covered);
    e.version = 2;
    e.seed = ref_crc32(ref_crc32(0, line, covered), &length, 1);
    memcpy(e.id, line + b - 13, 4);
  } else if (b - a >= 3 && line[b - 3] == '*' && all_hex(line + b - 2, 2)) {
    const size_t covered = b - 3;
    const char length = static_cast<char>(covered);
    e.version = 1;
    e.seed = ref_crc8(ref_crc8(0, line, covered), &length, 1);
  }
  return e;
}

const size_t kMaxLines = 4096;

// How each reply this input is owed must be signed, in order (as expected_replies counts them).
size_t expected_seeds(const uint8_t* data, size_t size, Expect* seeds) {
  static char line[kLineMax + 1];
  size_t n = 0, len = 0;
  bool content = false;
  for (size_t i = 0; i < size && n < kMaxLines; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\n' || c == '\r') {
      if (len > kLineMax) {
        const Expect none = {0, 0, {0, 0, 0, 0}};
        seeds[n++] = none;  // ERR too-long is never signed
      } else if (content) {
        seeds[n++] = reply_seed(line, len);
      }
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

void check_signature(const char* line, size_t len, const Expect& e) {
  static const char kHex[] = "0123456789ABCDEF";
  const bool v1 = len >= 4 && line[len - 3] == '*';
  const bool v2 = len >= 16 && line[len - 9] == '*' && line[len - 15] == ' ' && line[len - 14] == '#';
  if (e.version == 0) {
    check(!v1 && !v2, "an unsigned request gets an unsigned reply");
  } else if (e.version == 1) {
    check(v1, "a v1-signed request gets a v1-signed reply");
    const uint8_t crc = ref_crc8(static_cast<uint8_t>(e.seed), line, len - 3);
    check(line[len - 2] == kHex[crc >> 4] && line[len - 1] == kHex[crc & 15], "the reply is signed from its request's seed");
  } else {
    check(v2, "a v2-signed request gets a v2-signed reply");
    check(memcmp(line + len - 13, e.id, 4) == 0, "the v2 reply echoes its request's id");
    const uint32_t crc = ref_crc32(e.seed, line, len - 9);
    bool same = true;
    for (int i = 0; i < 8; ++i) same = same && line[len - 8 + i] == kHex[(crc >> (28 - 4 * i)) & 15];
    check(same, "the v2 reply is signed from its request's seed");
  }
}

void check_lines(const Sink& s, size_t expected, size_t info_len, const Expect* seeds, size_t n_seeds) {
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
      // INFO has a fixed length, plus "*HH" or " #IIII*CCCCCCCC" when the request was signed
      check(info ? (len == info_len || len == info_len + 3 || len == info_len + 15) : len <= kMaxReply,
            "reply length bounded");
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

void run(const tinygmm::DeviceModel& model, const tinygmm::AnomalyInfo* anomaly, const char* probe,
         const uint8_t* data, size_t size) {
  static Sink info, fresh, s;
  // the INFO line's length for this model, and the answer a fresh instance gives to the probe
  info.len = 0;
  tinygmm::LineProtocolWith<kLineMax> p0(model, sink_write, &info, anomaly);
  p0.feed("INFO\n", 5);
  const size_t info_len = info.len - 1;
  fresh.len = 0;
  tinygmm::LineProtocolWith<kLineMax> p1(model, sink_write, &fresh, anomaly);
  p1.feed(probe, strlen(probe));

  s.len = 0;
  s.overflow = false;
  tinygmm::LineProtocolWith<kLineMax> p(model, sink_write, &s, anomaly);
  p.feed(reinterpret_cast<const char*>(data), size);
  static Expect seeds[kMaxLines];
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
  // (the demo model has no threshold: a k-of-n alarm's state would outlive the input)
  run(tinygmm_device::MODEL, 0, "19,39\n", data, size);
  run(kFake, &kFakeAnomaly, "-2.5\n", data, size);
  return 0;
}

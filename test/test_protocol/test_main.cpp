// Serial protocol v2 and v1 (lib/tinygmm/src/tinygmm_protocol.h): the line parser and
// the request -> reply loop over an in-memory stream, for every valid and
// malformed case of the protocol, and the optional "*HH" CRC-8 signature. A small fake model (3 features, 2
// components, exact answers) keeps the suite independent of the exported
// model; one test goes through tinygmm_device::MODEL (include/GMM.h).
//
// Inputs and expected replies are string literals in flash (PSTR on AVR), so
// the suite fits the 2 KB of SRAM of an Arduino Uno.
#include <math.h>
#include <string.h>
#include <unity.h>

#include "tinygmm_device.h"
#include "tinygmm_protocol.h"

#include "../common/unity_main.h"  // main(), or setup()/loop() on a board: calls run_all

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define P(s) PSTR(s)
#define FLASH_ATTR PROGMEM
#define FLASH_BYTE(p) static_cast<char>(pgm_read_byte(p))
#else
#define P(s) (s)
#define FLASH_ATTR
#define FLASH_BYTE(p) (*(p))
#endif

using tinygmm::Classification;
using tinygmm::DeviceModel;
using tinygmm::LineProtocol;
using tinygmm::ParseResult;

// ---- in-memory stream ------------------------------------------------------

namespace {

const size_t OUT_MAX = 160;  // longest expected output: 126 chars
char out[OUT_MAX + 1];
size_t out_len;
bool out_overflow;

void reset_out() {
  out_len = 0;
  out[0] = 0;
  out_overflow = false;
}

void append(void* ctx, const char* data, size_t len) {
  (void)ctx;
  for (size_t i = 0; i < len; ++i) {
    if (out_len >= OUT_MAX) {
      out_overflow = true;
      return;
    }
    out[out_len++] = data[i];
  }
  out[out_len] = 0;
}

// ---- fake model: exact, easy to predict answers -------------------------------
// label 0 if x0 >= x1 else 1; probability 0.75 / 0.625; ll = -(x0^2+x1^2+x2^2)/2,
// which overflows float32 to -inf for |x| >= ~1.9e19 (sent as "-inf").

const char FAKE_NAMES[] FLASH_ATTR = "alpha|beta|gamma";
const char FAKE_HASH[] FLASH_ATTR = "0123456789abcdef";
int fake_calls;
float fake_x[3];

void fake_classify(const float* x, Classification* c) {
  ++fake_calls;
  for (int i = 0; i < 3; ++i) fake_x[i] = x[i];
  c->label = x[0] >= x[1] ? 0 : 1;
  c->probability = c->label == 0 ? 0.75f : 0.625f;
  c->log_likelihood = -0.5f * (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
}

const DeviceModel FAKE = {3, 2, FAKE_NAMES, FAKE_HASH, fake_classify};

LineProtocol* proto;  // the protocol under test, fresh for each test

// ---- helpers -----------------------------------------------------------------

char expected[OUT_MAX + 1];
char msg[40];

void copy_flash(char* dst, const char* src, size_t cap) {
  size_t i = 0;
  for (; i + 1 < cap; ++i) {
    const char c = FLASH_BYTE(src + i);
    if (!c) break;
    dst[i] = c;
  }
  dst[i] = 0;
}

// msg = "input <escaped input>", truncated: names the failing case.
void describe(const char* input_flash) {
  size_t n = 0;
  msg[n++] = '<';
  for (const char* p = input_flash; n + 5 < sizeof msg; ++p) {
    const char c = FLASH_BYTE(p);
    if (!c) break;
    if (c == '\n' || c == '\r') {
      msg[n++] = '\\';
      msg[n++] = c == '\n' ? 'n' : 'r';
    } else if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) >= 127) {
      msg[n++] = '?';
    } else {
      msg[n++] = c;
    }
  }
  msg[n++] = '>';
  msg[n] = 0;
}

// Unity wants messages in RAM: copy a flash string into msg.
const char* M(const char* text_flash) {
  copy_flash(msg, text_flash, sizeof msg);
  return msg;
}

// out must equal a flash string.
void expect_out(const char* text_flash, const char* message, int line) {
  copy_flash(expected, text_flash, sizeof expected);
  UNITY_TEST_ASSERT(!out_overflow, line, message);
  UNITY_TEST_ASSERT_EQUAL_STRING(expected, out, line, message);
}

void feed_flash(const char* s) {
  for (;; ++s) {
    const char c = FLASH_BYTE(s);
    if (!c) return;
    proto->feed(c);
  }
}

// Feeds input (all at once), then checks the complete output.
void check_reply(const char* input_flash, const char* expected_flash, int line) {
  reset_out();
  describe(input_flash);
  feed_flash(input_flash);
  expect_out(expected_flash, msg, line);
}

}  // namespace

#define CHECK(input, reply) check_reply(P(input), P(reply), __LINE__)
#define EXPECT_OUT(text, message) expect_out(P(text), M(P(message)), __LINE__)

// Each test gets a fresh protocol object on its stack (no heap).
const uint16_t FAKE_LINE_MAX = 128;

#define FRESH_PROTOCOL()                                        \
  tinygmm::LineProtocolWith<FAKE_LINE_MAX> fresh_(FAKE, append, 0); \
  proto = &fresh_

void setUp(void) {
  proto = 0;
  reset_out();
  fake_calls = 0;
}

void tearDown(void) {}

// ---- tests -------------------------------------------------------------------

void test_ready(void) {
  FRESH_PROTOCOL();
  proto->begin();
  EXPECT_OUT("READY tinygmm 0123456789abcdef\n", "begin");
  TEST_ASSERT_EQUAL_UINT32(1, proto->replies());
}

void test_ok(void) {
  FRESH_PROTOCOL();
  CHECK("1,2,3\n", "OK 1 0.625 -7\n");
  TEST_ASSERT_EQUAL_FLOAT(1.0f, fake_x[0]);
  TEST_ASSERT_EQUAL_FLOAT(2.0f, fake_x[1]);
  TEST_ASSERT_EQUAL_FLOAT(3.0f, fake_x[2]);
  CHECK("2,1,0\n", "OK 0 0.75 -2.5\n");
  CHECK("0.5,0.25,-1\n", "OK 0 0.75 -0.65625\n");
  CHECK("+1,-2,3e0\n", "OK 0 0.75 -7\n");
  CHECK(".5,4.,-0.25E1\n", "OK 1 0.625 -11.25\n");
  CHECK("1e-50,0,0\n", "OK 0 0.75 0\n");  // underflow to zero is accepted
  CHECK("1000,0,0\n", "OK 0 0.75 -500000\n");
  CHECK("-3000,0,0\n", "OK 1 0.625 -4500000\n");
  CHECK("1e4,0,0\n", "OK 0 0.75 -5e+7\n");
  TEST_ASSERT_EQUAL_INT(9, fake_calls);
  TEST_ASSERT_EQUAL_UINT32(9, proto->replies());
}

void test_separators(void) {
  FRESH_PROTOCOL();
  CHECK("1 2 3\n", "OK 1 0.625 -7\n");
  CHECK("1, 2 ,3\n", "OK 1 0.625 -7\n");
  CHECK("1,2 3\n", "OK 1 0.625 -7\n");
  CHECK("\t1,\t2,3\t\n", "OK 1 0.625 -7\n");
  CHECK("   1 ,  2 ,  3   \n", "OK 1 0.625 -7\n");
  CHECK("1  2\t \t3\n", "OK 1 0.625 -7\n");
}

void test_info(void) {
  FRESH_PROTOCOL();
  CHECK("INFO\n", "INFO protocol=2 components=2 features=3 line_max=128 model=0123456789abcdef names=alpha|beta|gamma\n");
  CHECK("info\n", "INFO protocol=2 components=2 features=3 line_max=128 model=0123456789abcdef names=alpha|beta|gamma\n");
  CHECK("  Info \r\n", "INFO protocol=2 components=2 features=3 line_max=128 model=0123456789abcdef names=alpha|beta|gamma\n");
  TEST_ASSERT_EQUAL_INT(0, fake_calls);
}

void test_err_count(void) {
  FRESH_PROTOCOL();
  CHECK("1,2\n", "ERR count expected 3 got 2\n");
  CHECK("1,2,3,4\n", "ERR count expected 3 got 4\n");
  CHECK("7\n", "ERR count expected 3 got 1\n");
  CHECK("1 2 3 4 5 6 7 8 9 10\n", "ERR count expected 3 got 10\n");
  CHECK("1,x\n", "ERR count expected 3 got 2\n");  // the count comes before bad values
  TEST_ASSERT_EQUAL_INT(0, fake_calls);
}

void test_err_empty_field(void) {
  FRESH_PROTOCOL();
  CHECK("1,,3\n", "ERR empty-field 2\n");
  CHECK(",1,2,3\n", "ERR empty-field 1\n");
  CHECK("1,2,\n", "ERR empty-field 3\n");
  CHECK("1,2,3,\n", "ERR empty-field 4\n");
  CHECK("1, ,3\n", "ERR empty-field 2\n");
  CHECK(",\n", "ERR empty-field 1\n");
  CHECK("1,,x\n", "ERR empty-field 2\n");  // structure comes before bad values
  TEST_ASSERT_EQUAL_INT(0, fake_calls);
}

void test_err_bad_number(void) {
  FRESH_PROTOCOL();
  CHECK("1,x,3\n", "ERR bad-number 2\n");
  CHECK("1,2,3x\n", "ERR bad-number 3\n");
  CHECK("0x10,1,2\n", "ERR bad-number 1\n");  // no hex floats
  CHECK("1.2.3,1,2\n", "ERR bad-number 1\n");
  CHECK("e,1,2\n", "ERR bad-number 1\n");
  CHECK("e5,1,2\n", "ERR bad-number 1\n");
  CHECK("-,1,2\n", "ERR bad-number 1\n");
  CHECK("1,2,1e\n", "ERR bad-number 3\n");
  CHECK("#,1,2\n", "ERR bad-number 1\n");
  CHECK("1,x,y\n", "ERR bad-number 2\n");  // the first bad value is reported
  TEST_ASSERT_EQUAL_INT(0, fake_calls);
}

void test_err_not_finite(void) {
  FRESH_PROTOCOL();
  CHECK("nan,1,2\n", "ERR not-finite 1\n");
  CHECK("1,inf,2\n", "ERR not-finite 2\n");
  CHECK("1,2,-Infinity\n", "ERR not-finite 3\n");
  CHECK("1,2,+NaN\n", "ERR not-finite 3\n");
  CHECK("INF 0 0\n", "ERR not-finite 1\n");
  TEST_ASSERT_EQUAL_INT(0, fake_calls);
}

void test_err_out_of_range(void) {
  FRESH_PROTOCOL();
  CHECK("1e39,0,0\n", "ERR out-of-range 1\n");
  CHECK("0,-1e39,0\n", "ERR out-of-range 2\n");
  CHECK("0,0,1e400\n", "ERR out-of-range 3\n");
  CHECK("0,0,3.5e38\n", "ERR out-of-range 3\n");
  TEST_ASSERT_EQUAL_INT(0, fake_calls);
}

void test_far_input_minus_inf(void) {
  FRESH_PROTOCOL();
  CHECK("1e20,0,0\n", "OK 0 0.75 -inf\n");  // finite input, log-likelihood below -FLT_MAX
  CHECK("0,0,-3e38\n", "OK 0 0.75 -inf\n");
  TEST_ASSERT_EQUAL_INT(2, fake_calls);
  CHECK("1,2,3\n", "OK 1 0.625 -7\n");
}

void test_err_unknown_command(void) {
  FRESH_PROTOCOL();
  CHECK("HELLO\n", "ERR unknown-command HELLO\n");
  CHECK("help me\n", "ERR unknown-command help\n");
  CHECK("INFO 1\n", "ERR unknown-command INFO\n");
  CHECK("information\n", "ERR unknown-command information\n");
  CHECK("nanx,1,2\n", "ERR unknown-command nanx\n");
  CHECK("abcdefghijklmnopqrstuvwxyz\n", "ERR unknown-command abcdefghijklmnop\n");  // 16 chars
  TEST_ASSERT_EQUAL_INT(0, fake_calls);
}

// line_max (128 here) characters are accepted; one more is too long, and
// the rest of the line is discarded with exactly one ERR.
void test_too_long(void) {
  FRESH_PROTOCOL();
  reset_out();
  feed_flash(P("1,2,3"));
  for (uint16_t i = 5; i < FAKE_LINE_MAX; ++i) proto->feed(' ');
  proto->feed('\n');
  EXPECT_OUT("OK 1 0.625 -7\n", "line of LINE_MAX chars");

  reset_out();
  feed_flash(P("1,2,3"));
  for (uint16_t i = 5; i < FAKE_LINE_MAX + 1; ++i) proto->feed(' ');
  EXPECT_OUT("", "no reply before the newline");
  proto->feed('\n');
  EXPECT_OUT("ERR too-long\n", "line of LINE_MAX+1 chars");

  reset_out();
  for (int i = 0; i < 1000; ++i) proto->feed(static_cast<char>('0' + i % 10));
  feed_flash(P("\r\n1,2,3\n"));  // \r ends the long line; the \n after it is an empty line
  EXPECT_OUT("ERR too-long\nOK 1 0.625 -7\n", "1000 chars, then recovery");
  TEST_ASSERT_EQUAL_INT(2, fake_calls);
}

void test_empty_lines(void) {
  FRESH_PROTOCOL();
  CHECK("\n", "");
  CHECK("\r\n", "");
  CHECK("\r", "");
  CHECK("   \t \n", "");
  CHECK("\n\n\r\r\r\n", "");
  TEST_ASSERT_EQUAL_UINT32(0, proto->replies());
  CHECK("\n\n1,2,3\n\n", "OK 1 0.625 -7\n");
}

void test_line_endings(void) {
  FRESH_PROTOCOL();
  CHECK("1,2,3\r\n", "OK 1 0.625 -7\n");
  CHECK("1,2,3\r", "OK 1 0.625 -7\n");
  CHECK("1,2,3\n\r", "OK 1 0.625 -7\n");
  CHECK("1,2,3\r2,1,0\n", "OK 1 0.625 -7\nOK 0 0.75 -2.5\n");
  CHECK("INFO\r\n1,2\r\n", "INFO protocol=2 components=2 features=3 line_max=128 model=0123456789abcdef names=alpha|beta|gamma\n"
                           "ERR count expected 3 got 2\n");
  TEST_ASSERT_EQUAL_UINT32(7, proto->replies());
}

// Bytes trickle in one at a time (or split anywhere): nothing is answered
// before the end of the line.
void test_byte_by_byte(void) {
  FRESH_PROTOCOL();
  const char* s = P("1,2,3\r\nINFO\n0,0,1e20\n");
  const char* e = P("OK 1 0.625 -7\nINFO protocol=2 components=2 features=3 line_max=128 model=0123456789abcdef names=alpha|beta|gamma\n"
                    "OK 0 0.75 -inf\n");
  reset_out();
  int lines = 0;
  for (;; ++s) {
    const char c = FLASH_BYTE(s);
    if (!c) break;
    const size_t before = out_len;
    proto->feed(c);
    if (c == '\n' || c == '\r') {
      lines += out_len > before;
    } else {
      TEST_ASSERT_EQUAL_UINT32_MESSAGE(before, out_len, M(P("reply before the end of the line")));
    }
  }
  expect_out(e, M(P("byte by byte")), __LINE__);
  TEST_ASSERT_EQUAL_INT(3, lines);

  reset_out();
  proto->feed("1,", 2);
  proto->feed("2 ", 2);
  proto->feed("", 0);
  proto->feed("3", 1);
  EXPECT_OUT("", "split line: no reply yet");
  proto->feed("\n", 1);
  EXPECT_OUT("OK 1 0.625 -7\n", "split line");
}

// Binary noise (e.g. a baud-rate mismatch) gives exactly one ERR line per
// line, and the next good line is answered normally.
void test_garbage_recovery(void) {
  FRESH_PROTOCOL();
  CHECK("\x01\x02\xff\xfe#!@\x7f\n1,2,3\n", "ERR count expected 3 got 1\nOK 1 0.625 -7\n");
  CHECK("\x01 \x02 \xff\n1,2,3\n", "ERR bad-number 1\nOK 1 0.625 -7\n");
  CHECK("\xc3\xa9t\xc3\xa9,1,2\n2,1,0\n", "ERR bad-number 1\nOK 0 0.75 -2.5\n");
  CHECK(",,,;;;\n1,2,3\n", "ERR empty-field 1\nOK 1 0.625 -7\n");
  CHECK("}{*&^%$\r1,2,3\r", "ERR count expected 3 got 1\nOK 1 0.625 -7\n");

  // a NUL byte inside a line does not end it early (it is a bad character)
  reset_out();
  const char nul_line[] = {'1', ',', '2', 0, 'x', ',', '3', '\n'};
  proto->feed(nul_line, sizeof nul_line);
  EXPECT_OUT("ERR bad-number 2\n", "NUL inside a value");
  reset_out();
  feed_flash(P("1,2,3\n"));
  EXPECT_OUT("OK 1 0.625 -7\n", "recovery after a NUL");
}

void test_parse_vector(void) {
  float v[4] = {0, 0, 0, 0};
  char line[24];
  strcpy(line, "1.5, -2 3e2");
  ParseResult r = tinygmm::parse_vector(line, v, 3);
  TEST_ASSERT_EQUAL_INT(tinygmm::PARSE_OK, r.status);
  TEST_ASSERT_EQUAL_UINT8(3, r.count);
  TEST_ASSERT_EQUAL_FLOAT(1.5f, v[0]);
  TEST_ASSERT_EQUAL_FLOAT(-2.0f, v[1]);
  TEST_ASSERT_EQUAL_FLOAT(300.0f, v[2]);
  TEST_ASSERT_TRUE_MESSAGE(strcmp(line, "1.5, -2 3e2") == 0, M(P("line restored after parsing")));

  strcpy(line, "1,2,3,4");
  r = tinygmm::parse_vector(line, v, 3);
  TEST_ASSERT_EQUAL_INT(tinygmm::PARSE_COUNT, r.status);
  TEST_ASSERT_EQUAL_UINT8(4, r.count);

  strcpy(line, "1,,2");
  r = tinygmm::parse_vector(line, v, 3);
  TEST_ASSERT_EQUAL_INT(tinygmm::PARSE_EMPTY_FIELD, r.status);
  TEST_ASSERT_EQUAL_UINT8(2, r.field);

  strcpy(line, "1,2,zz");
  r = tinygmm::parse_vector(line, v, 3);
  TEST_ASSERT_EQUAL_INT(tinygmm::PARSE_BAD_NUMBER, r.status);
  TEST_ASSERT_EQUAL_UINT8(3, r.field);
  TEST_ASSERT_TRUE_MESSAGE(strcmp(line, "1,2,zz") == 0, M(P("line restored after an error")));

  strcpy(line, "1,-inf,2");
  r = tinygmm::parse_vector(line, v, 3);
  TEST_ASSERT_EQUAL_INT(tinygmm::PARSE_NOT_FINITE, r.status);
  TEST_ASSERT_EQUAL_UINT8(2, r.field);

  strcpy(line, "1,2,-1e40");
  r = tinygmm::parse_vector(line, v, 3);
  TEST_ASSERT_EQUAL_INT(tinygmm::PARSE_OUT_OF_RANGE, r.status);
  TEST_ASSERT_EQUAL_UINT8(3, r.field);
}

// The buffer bounds the parser, whatever the expected count says.
void test_parse_vector_never_writes_past_its_buffer(void) {
  float v[4] = {0, 0, 0, -7.0f};
  char line[24];
  strcpy(line, "1,2,3,4");
  ParseResult r = tinygmm::parse_vector(line, v, 4, 3);
  TEST_ASSERT_EQUAL_INT(tinygmm::PARSE_NO_ROOM, r.status);
  TEST_ASSERT_EQUAL_UINT16(4, r.count);
  TEST_ASSERT_EQUAL_FLOAT(3.0f, v[2]);
  TEST_ASSERT_EQUAL_FLOAT(-7.0f, v[3]);  // untouched

  strcpy(line, "1,2,3,4,5");  // a wrong count is still a wrong count
  r = tinygmm::parse_vector(line, v, 4, 3);
  TEST_ASSERT_EQUAL_INT(tinygmm::PARSE_COUNT, r.status);
  TEST_ASSERT_EQUAL_FLOAT(-7.0f, v[3]);

  strcpy(line, "1,2,3,zz");  // a bad value beyond the buffer is not reached
  r = tinygmm::parse_vector(line, v, 4, 3);
  TEST_ASSERT_EQUAL_INT(tinygmm::PARSE_NO_ROOM, r.status);
}

void check_float(float value, uint8_t digits, const char* text_flash, int line) {
  char buf[20];
  const uint8_t n = tinygmm::format_float(value, buf, digits);
  copy_flash(expected, text_flash, sizeof expected);
  UNITY_TEST_ASSERT_EQUAL_STRING(expected, buf, line, 0);
  UNITY_TEST_ASSERT_EQUAL_INT(strlen(expected), n, line, M(P("returned length")));
}

#define CHECK_FLOAT(value, digits, text) check_float(value, digits, P(text), __LINE__)

void test_format_float(void) {
  CHECK_FLOAT(0.0f, 7, "0");
  CHECK_FLOAT(-0.0f, 7, "0");
  CHECK_FLOAT(1.5f, 6, "1.5");
  CHECK_FLOAT(-7.0f, 7, "-7");
  CHECK_FLOAT(0.75f, 6, "0.75");
  CHECK_FLOAT(0.0001f, 6, "0.0001");
  CHECK_FLOAT(1e-6f, 6, "1e-6");
  CHECK_FLOAT(1.0f / 3.0f, 6, "0.333333");
  CHECK_FLOAT(-2.0f / 3.0f, 7, "-0.6666667");
  CHECK_FLOAT(1234567.0f, 7, "1234567");
  CHECK_FLOAT(12345678.0f, 7, "1.234568e+7");
  // 6 digits where the last of 7 may differ by one between float32 (AVR) and double (host) scaling
  CHECK_FLOAT(-6.1059767e13f, 6, "-6.10598e+13");
  CHECK_FLOAT(3.4028235e38f, 6, "3.40282e+38");
  CHECK_FLOAT(1.17549435e-38f, 6, "1.17549e-38");
  CHECK_FLOAT(0.9999999f, 6, "1");  // rounds up into the next decade
  CHECK_FLOAT(99999.99f, 6, "100000");
  CHECK_FLOAT(0.5f, 12, "0.5");  // digits clamped to 9
  CHECK_FLOAT(2.0f, 0, "2");     // and to at least 1
  CHECK_FLOAT(NAN, 7, "nan");
  CHECK_FLOAT(INFINITY, 7, "inf");
  CHECK_FLOAT(-INFINITY, 7, "-inf");
}

// The real model, through the glue used by the firmware (tinygmm_device::MODEL).
// expected <- text, truncated at OUT_MAX like the output stream
size_t exp_len;

void exp_add(const char* text, bool flash) {
  for (;; ++text) {
    const char c = flash ? FLASH_BYTE(text) : *text;
    if (!c || exp_len >= OUT_MAX) break;
    expected[exp_len++] = c;
  }
  expected[exp_len] = 0;
}

void exp_int(int v) {
  char buf[8];
  char* q = buf + sizeof buf;
  *--q = 0;
  const bool neg = v < 0;
  unsigned u = neg ? 0u - static_cast<unsigned>(v) : static_cast<unsigned>(v);
  do {
    *--q = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u);
  if (neg) *--q = '-';
  exp_add(q, false);
}

void exp_float(float v, uint8_t digits) {
  char buf[20];
  tinygmm::format_float(v, buf, digits);
  exp_add(buf, false);
}

#define EXP_BEGIN() (exp_len = 0, expected[0] = 0)
#define EXP_P(text) exp_add(P(text), true)
#define EXPECT_BUILT(message) \
  UNITY_TEST_ASSERT_EQUAL_STRING(expected, out, __LINE__, M(P(message)))

// ---- optional "*HH" integrity check -----------------------------------------------
// CRC-8, polynomial 0x07, initial 0 (CRC-8/SMBUS): written out here again, so
// the test does not check the library against itself.
uint8_t ref_crc8(uint8_t crc, const char* s, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    crc ^= static_cast<uint8_t>(s[i]);
    for (int b = 0; b < 8; ++b) crc = static_cast<uint8_t>(crc & 0x80 ? (crc << 1) ^ 0x07 : crc << 1);
  }
  return crc;
}

char hex_digit(uint8_t v, bool upper) { return static_cast<char>(v < 10 ? '0' + v : (upper ? 'A' : 'a') + v - 10); }

// Where a reply's CRC starts: the request's CRC continued over one byte, its length.
uint8_t ref_reply_seed(const char* request, size_t n) {
  const char length = static_cast<char>(n);
  return ref_crc8(ref_crc8(0, request, n), &length, 1);
}

// Feeds body + "*HH\n" (HH = CRC of body, xor flip; lowercase if asked); returns its reply's seed.
uint8_t feed_signed(const char* body_flash, uint8_t flip, bool upper) {
  char body[40];
  copy_flash(body, body_flash, sizeof body);
  const uint8_t sent = ref_crc8(0, body, strlen(body)) ^ flip;
  reset_out();
  proto->feed(body, strlen(body));
  const char tail[4] = {'*', hex_digit(sent >> 4, upper), hex_digit(sent & 15, upper), '\n'};
  proto->feed(tail, sizeof tail);
  return ref_reply_seed(body, strlen(body));
}

// expected += "*HH\n": the CRC of the reply so far, started from the request's seed (uppercase).
void exp_sign(uint8_t seed) {
  const uint8_t crc = ref_crc8(seed, expected, exp_len);
  const char tail[5] = {'*', hex_digit(crc >> 4, true), hex_digit(crc & 15, true), '\n', 0};
  exp_add(tail, false);
}

#define CHECK_SIGNED(body, flip, upper, reply)                      \
  do {                                                              \
    const uint8_t seed_ = feed_signed(P(body), flip, upper);        \
    EXP_BEGIN();                                                    \
    EXP_P(reply);                                                   \
    exp_sign(seed_);                                                \
    describe(P(body));                                              \
    UNITY_TEST_ASSERT_EQUAL_STRING(expected, out, __LINE__, msg);   \
  } while (0)

void test_checksum(void) {
  FRESH_PROTOCOL();
  TEST_ASSERT_EQUAL_HEX8_MESSAGE(0xF4, tinygmm::crc8(0, "123456789", 9), M(P("CRC-8/SMBUS check value")));
  CHECK_SIGNED("1,2,3", 0, true, "OK 1 0.625 -7");
  CHECK_SIGNED("2 1 0", 0, false, "OK 0 0.75 -2.5");  // lowercase hex accepted
  CHECK_SIGNED("INFO", 0, true, "INFO protocol=2 components=2 features=3 line_max=128 model=0123456789abcdef names=alpha|beta|gamma");
  CHECK_SIGNED("1,2", 0, true, "ERR count expected 3 got 2");
  CHECK_SIGNED("1,2,3", 0x01, true, "ERR checksum");  // one bit off
  CHECK_SIGNED("1,2,4", 0x80, false, "ERR checksum");
  CHECK_SIGNED("HELLO", 0, true, "ERR unknown-command HELLO");
  CHECK_SIGNED("", 0, true, "ERR empty-field 1");  // "*00": a signature of nothing
  TEST_ASSERT_EQUAL_INT(2, fake_calls);            // a bad checksum never classifies
  // a request without the suffix still gets an unsigned reply
  CHECK("1,2,3\n", "OK 1 0.625 -7\n");
  // "*" followed by something that is not two hex digits is no signature
  CHECK("1,2,3*G0\n", "ERR bad-number 3\n");
}

// "961,507,566" that lost its second '5' on the wire is "961,507,66": 8 bits of CRC
// collide (both 0x74), so the device accepts and answers it. The reply must still not
// check against the request the host sent: its seed holds the length.
void test_checksum_binds_length(void) {
  FRESH_PROTOCOL();
  char sent[16], got[16];
  copy_flash(sent, P("961,507,566"), sizeof sent);
  copy_flash(got, P("961,507,66*74\n"), sizeof got);
  const size_t n_got = strlen(got) - 4;
  TEST_ASSERT_EQUAL_HEX8_MESSAGE(ref_crc8(0, sent, strlen(sent)), ref_crc8(0, got, n_got), M(P("a collision")));
  TEST_ASSERT_EQUAL_HEX8(0x74, ref_crc8(0, sent, strlen(sent)));
  reset_out();
  proto->feed(got, strlen(got));
  const size_t n = strlen(out);
  TEST_ASSERT_TRUE_MESSAGE(n > 7 && out[n - 4] == '*' && out[n - 1] == '\n', M(P("a signed reply")));
  TEST_ASSERT_EQUAL_STRING_LEN_MESSAGE("OK ", out, 3, M(P("the device accepted the request")));
  uint8_t hh = 0;
  for (size_t i = n - 3; i < n - 1; ++i) hh = static_cast<uint8_t>(hh * 16 + (out[i] <= '9' ? out[i] - '0' : out[i] - 'A' + 10));
  TEST_ASSERT_EQUAL_HEX8_MESSAGE(ref_crc8(ref_reply_seed(got, n_got), out, n - 4), hh,
                                 M(P("signed for what it received")));
  TEST_ASSERT_NOT_EQUAL_MESSAGE(ref_crc8(ref_reply_seed(sent, strlen(sent)), out, n - 4), hh,
                                M(P("so it does not check against what was sent")));
}

// Protocol v2: "body#IIII*CCCCCCCC" -> "reply #IIII*CCCCCCCC", CRC-32 (zlib's) from the request's seed.
uint32_t ref_crc32(uint32_t crc, const char* s, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= static_cast<uint8_t>(s[i]);
    for (int b = 0; b < 8; ++b) crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320ul : crc >> 1;
  }
  return ~crc;
}

void hex32(uint32_t v, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = hex_digit(static_cast<uint8_t>((v >> (28 - 4 * i)) & 15), true);
}

// Feeds "<body>#<id>*<crc ^ flip>\n"; checks the reply is "<reply> #<id>*<crc32 from the seed>\n".
void check_v2(const char* body_flash, const char* id, uint32_t flip, const char* reply_flash, int line) {
  char req[48];
  copy_flash(req, body_flash, 32);
  size_t n = strlen(req);
  req[n++] = '#';
  memcpy(req + n, id, 4);
  n += 4;
  const uint32_t crc = ref_crc32(0, req, n);
  const char length = static_cast<char>(n);
  const uint32_t seed = ref_crc32(crc, &length, 1);
  req[n] = '*';
  hex32(crc ^ flip, req + n + 1);
  req[n + 9] = '\n';
  reset_out();
  proto->feed(req, n + 10);
  EXP_BEGIN();
  exp_add(reply_flash, true);
  EXP_P(" #");
  char tag[5] = {id[0], id[1], id[2], id[3], 0};
  exp_add(tag, false);
  char tail[11];
  tail[0] = '*';
  hex32(ref_crc32(seed, expected, exp_len), tail + 1);
  tail[9] = '\n';
  tail[10] = 0;
  exp_add(tail, false);
  describe(body_flash);
  UNITY_TEST_ASSERT_EQUAL_STRING(expected, out, line, msg);
}

void test_checksum_v2(void) {
  FRESH_PROTOCOL();
  TEST_ASSERT_EQUAL_HEX32_MESSAGE(0xCBF43926ul, tinygmm::crc32(0, "123456789", 9), M(P("CRC-32 check value")));
  check_v2(P("1,2,3"), "00A1", 0, P("OK 1 0.625 -7"), __LINE__);
  check_v2(P("  2 1 0"), "ffff", 0, P("OK 0 0.75 -2.5"), __LINE__);  // leading blanks are covered
  check_v2(P("INFO"), "1234", 0, P("INFO protocol=2 components=2 features=3 line_max=128 model=0123456789abcdef names=alpha|beta|gamma"), __LINE__);
  check_v2(P("1,2"), "0002", 0, P("ERR count expected 3 got 2"), __LINE__);
  check_v2(P("1,2,3"), "0003", 1, P("ERR checksum"), __LINE__);
  check_v2(P(""), "0004", 0, P("ERR empty-field 1"), __LINE__);
  TEST_ASSERT_EQUAL_INT(2, fake_calls);
}

// The real model, through the glue used by the firmware (tinygmm_device::MODEL).
void test_device_model(void) {
  tinygmm_device::Protocol dev(tinygmm_device::MODEL, append, 0);

  reset_out();
  dev.begin();
  EXP_BEGIN();
  EXP_P("READY tinygmm ");
  exp_add(gmm::MODEL_HASH, true);
  EXP_P("\n");
  EXPECT_BUILT("READY with gmm::MODEL_HASH");

  reset_out();
  dev.feed("INFO\n", 5);
  EXP_BEGIN();
  EXP_P("INFO protocol=2 components=");
  exp_int(gmm::N_COMPONENTS);
  EXP_P(" features=");
  exp_int(gmm::N_FEATURES);
  EXP_P(" line_max=");
  exp_int(tinygmm_device::LINE_CAPACITY);
  EXP_P(" model=");
  exp_add(gmm::MODEL_HASH, true);
  EXP_P(" names=");
  exp_add(gmm::FEATURE_NAMES, true);
  EXP_P("\n");
  EXPECT_BUILT("INFO of gmm");

  // a vector of ones: the reply is exactly what gmm::classify says
  reset_out();
  float x[gmm::N_FEATURES];
  for (int i = 0; i < gmm::N_FEATURES; ++i) {
    x[i] = 1.0f;
    dev.feed(i ? ",1" : "1", i ? 2 : 1);
  }
  dev.feed('\n');
  float p[gmm::N_COMPONENTS];
  float ll;
  const int k = gmm::classify(x, p, &ll);
  EXP_BEGIN();
  EXP_P("OK ");
  exp_int(k);
  EXP_P(" ");
  exp_float(p[k], 6);
  EXP_P(" ");
  exp_float(ll, 7);
  EXP_P("\n");
  EXPECT_BUILT("vector of ones via MODEL");

  // one value too many
  reset_out();
  for (int i = 0; i <= gmm::N_FEATURES; ++i) dev.feed("1 ", 2);
  dev.feed('\n');
  EXP_BEGIN();
  EXP_P("ERR count expected ");
  exp_int(gmm::N_FEATURES);
  EXP_P(" got ");
  exp_int(gmm::N_FEATURES + 1);
  EXP_P("\n");
  EXPECT_BUILT("N_FEATURES+1 values via MODEL");
  TEST_ASSERT_EQUAL_UINT32(4, dev.replies());
}

static int run_all(void) {
  UNITY_BEGIN();
  RUN_TEST(test_ready);
  RUN_TEST(test_ok);
  RUN_TEST(test_separators);
  RUN_TEST(test_info);
  RUN_TEST(test_err_count);
  RUN_TEST(test_err_empty_field);
  RUN_TEST(test_err_bad_number);
  RUN_TEST(test_err_not_finite);
  RUN_TEST(test_err_out_of_range);
  RUN_TEST(test_far_input_minus_inf);
  RUN_TEST(test_err_unknown_command);
  RUN_TEST(test_too_long);
  RUN_TEST(test_empty_lines);
  RUN_TEST(test_line_endings);
  RUN_TEST(test_byte_by_byte);
  RUN_TEST(test_garbage_recovery);
  RUN_TEST(test_parse_vector);
  RUN_TEST(test_parse_vector_never_writes_past_its_buffer);
  RUN_TEST(test_format_float);
  RUN_TEST(test_checksum);
  RUN_TEST(test_checksum_binds_length);
  RUN_TEST(test_checksum_v2);
  RUN_TEST(test_device_model);
  return UNITY_END();
}

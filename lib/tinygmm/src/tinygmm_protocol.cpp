// tinygmm_protocol.cpp - see tinygmm_protocol.h for the protocol.
#include "tinygmm_protocol.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define TINYGMM_STR(s) PSTR(s)
#define TINYGMM_FLASH_BYTE(p) pgm_read_byte(p)
#define TINYGMM_FLASH_DATA PROGMEM
#define TINYGMM_FLASH_PTR(p) pgm_read_ptr(p)
#define TINYGMM_STRTOF strtod
#else
#define TINYGMM_STR(s) (s)
#define TINYGMM_FLASH_BYTE(p) (*(p))
#define TINYGMM_FLASH_DATA
#define TINYGMM_FLASH_PTR(p) (*(p))
#define TINYGMM_STRTOF strtof
#endif

namespace tinygmm {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Case-insensitive: does [s, end) equal the lowercase word w (in flash on AVR: TINYGMM_STR)?
bool equals_word(const char* s, const char* end, const char* w) {
  for (;; ++s, ++w) {
    const char c = static_cast<char>(TINYGMM_FLASH_BYTE(w));
    if (s == end || c == 0) return s == end && c == 0;
    if (lower(*s) != c) return false;
  }
}

// inf, infinity or nan: a word strtof would take as a number (not a command; refused as a value)
bool is_non_finite_word(const char* s, const char* end) {
  return equals_word(s, end, TINYGMM_STR("inf")) || equals_word(s, end, TINYGMM_STR("infinity")) ||
         equals_word(s, end, TINYGMM_STR("nan"));
}

ParseStatus parse_number(char* begin, char* end, float* out) {
  const char* p = begin;
  if (*p == '+' || *p == '-') ++p;
  if (is_non_finite_word(p, end)) {
    return PARSE_NOT_FINITE;
  }
  // Only decimal notation: strtof would also take hex floats on some libcs.
  for (const char* q = begin; q < end; ++q) {
    const char c = *q;
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
      return PARSE_BAD_NUMBER;
    }
  }
  const char saved = *end;
  *end = 0;
  char* stop = 0;
  errno = 0;
  const float v = TINYGMM_STRTOF(begin, &stop);
  const int err = errno;
  *end = saved;
  if (stop != end || stop == begin) return PARSE_BAD_NUMBER;
  if (isinf(v)) return err == ERANGE ? PARSE_OUT_OF_RANGE : PARSE_NOT_FINITE;
  if (isnan(v)) return PARSE_NOT_FINITE;
  *out = v;  // underflow to a subnormal or zero is accepted
  return PARSE_OK;
}

}  // namespace

namespace {

uint16_t saturate16(size_t n) { return static_cast<uint16_t>(n >= 0xFFFFu ? 0xFFFFu : n); }

}  // namespace

ParseResult parse_vector(char* line, float* out, uint16_t expected, uint16_t capacity) {
  ParseResult r = {PARSE_OK, 0, 0};
  ParseStatus first_bad = PARSE_OK;
  uint16_t first_field = 0;
  const size_t room = expected < capacity ? expected : capacity;  // values stored: never past out[capacity - 1]
  size_t n = 0;
  char* p = line;
  while (is_space(*p)) ++p;
  while (*p) {
    if (*p == ',') {  // leading comma or ",,"
      r.status = PARSE_EMPTY_FIELD;
      r.field = saturate16(n + 1);
      return r;
    }
    char* start = p;
    while (*p && *p != ',' && !is_space(*p)) ++p;
    ++n;
    if (n <= room && first_bad == PARSE_OK) {
      const ParseStatus s = parse_number(start, p, &out[n - 1]);
      if (s != PARSE_OK) {
        first_bad = s;
        first_field = saturate16(n);
      }
    }
    while (is_space(*p)) ++p;
    if (*p == ',') {
      ++p;
      while (is_space(*p)) ++p;
      if (*p == 0) {  // trailing comma
        r.status = PARSE_EMPTY_FIELD;
        r.field = saturate16(n + 1);
        return r;
      }
    }
  }
  r.count = saturate16(n);
  if (n != expected) {
    r.status = PARSE_COUNT;
  } else if (first_bad != PARSE_OK) {
    r.status = first_bad;
    r.field = first_field;
  } else if (expected > capacity) {
    r.status = PARSE_NO_ROOM;
  }
  return r;
}

uint8_t format_float(float value, char* buf, uint8_t digits) {
  char* p = buf;
  if (isnan(value)) {
    buf[0] = 'n', buf[1] = 'a', buf[2] = 'n', buf[3] = 0;
    return 3;
  }
  if (value < 0) {
    *p++ = '-';
    value = -value;
  }
  if (isinf(value)) {
    *p++ = 'i', *p++ = 'n', *p++ = 'f', *p = 0;
    return static_cast<uint8_t>(p - buf);
  }
  if (value == 0) {
    p = buf;  // no "-0"
    *p++ = '0', *p = 0;
    return 1;
  }
  if (digits < 1) digits = 1;
  if (digits > 9) digits = 9;
  // Decimal exponent and mantissa in [1, 10), scaling by powers of ten in
  // few steps (double is float on AVR; the host gets a little extra precision).
  static const double kPow[] = {1e1, 1e2, 1e4, 1e8, 1e16, 1e32};
  double v = value;
  int e10 = 0;
  // Greedy binary decomposition of the exponent: at most 6 steps each way.
  for (int i = 5; i >= 0; --i) {
    if (v >= kPow[i]) {
      v /= kPow[i];
      e10 += 1 << i;
    }
  }
  for (int i = 5; i >= 0; --i) {
    if (v * kPow[i] < 10.0) {
      v *= kPow[i];
      e10 -= 1 << i;
    }
  }
  while (v >= 10.0) {
    v /= 10.0;
    ++e10;
  }
  while (v < 1.0) {
    v *= 10.0;
    --e10;
  }
  uint32_t scale = 1;
  for (uint8_t i = 1; i < digits; ++i) scale *= 10;
  uint32_t mant = static_cast<uint32_t>(v * scale + 0.5);
  if (mant >= scale * 10) {
    mant /= 10;
    ++e10;
  }
  char d[10];
  for (int i = digits - 1; i >= 0; --i) {
    d[i] = static_cast<char>('0' + mant % 10);
    mant /= 10;
  }
  int last = digits - 1;  // drop trailing zeros
  while (last > 0 && d[last] == '0') --last;
  if (e10 >= -5 && e10 < digits) {
    if (e10 < 0) {
      *p++ = '0', *p++ = '.';
      for (int i = -1; i > e10; --i) *p++ = '0';
      for (int i = 0; i <= last; ++i) *p++ = d[i];
    } else {
      for (int i = 0; i <= e10; ++i) *p++ = i <= last ? d[i] : '0';
      if (last > e10) {
        *p++ = '.';
        for (int i = e10 + 1; i <= last; ++i) *p++ = d[i];
      }
    }
  } else {
    *p++ = d[0];
    if (last > 0) {
      *p++ = '.';
      for (int i = 1; i <= last; ++i) *p++ = d[i];
    }
    *p++ = 'e';
    int e = e10;
    if (e < 0) {
      *p++ = '-';
      e = -e;
    } else {
      *p++ = '+';
    }
    if (e >= 10) *p++ = static_cast<char>('0' + e / 10);
    *p++ = static_cast<char>('0' + e % 10);
  }
  *p = 0;
  return static_cast<uint8_t>(p - buf);
}

LineProtocol::LineProtocol(const DeviceModel& model, WriteFn write, void* ctx, char* line, uint16_t line_max,
                           float* values, uint16_t max_values, const AnomalyInfo* anomaly)
    : model_(model),
      anomaly_(anomaly),
      write_(write),
      ctx_(ctx),
      line_(line),
      values_(values),
      max_values_(max_values),
      line_max_(line_max),
      len_(0),
      overflow_(false),
      replies_(0),
      sign_(0),
      crc_(0)
#if TINYGMM_PROTOCOL_LEARN
      ,
      learning_(0),
      learn_next_(0),
      learn_outcomes_(0),
      learn_known_(0),
      learn_seq_set_(false)
#endif
{
}

uint8_t crc8(uint8_t crc, const char* data, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    crc = static_cast<uint8_t>(crc ^ static_cast<uint8_t>(data[i]));
    for (uint8_t b = 0; b < 8; ++b) crc = static_cast<uint8_t>((crc & 0x80) ? (crc << 1) ^ 0x07 : crc << 1);
  }
  return crc;
}

uint32_t crc32(uint32_t crc, const char* data, size_t len) {
  crc = ~crc;
  for (size_t i = 0; i < len; ++i) {
    crc ^= static_cast<uint8_t>(data[i]);
    for (uint8_t b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0xEDB88320ul & (0ul - (crc & 1ul)));
  }
  return ~crc;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// n hex digits starting at s, or -1 if one is not a hex digit (n <= 8: the value fits 32 bits).
int32_t parse_hex_or(const char* s, uint8_t n, uint32_t* out) {
  uint32_t v = 0;
  for (uint8_t i = 0; i < n; ++i) {
    const int h = hex_value(s[i]);
    if (h < 0) return -1;
    v = (v << 4) | static_cast<uint32_t>(h);
  }
  *out = v;
  return 0;
}

}  // namespace

void LineProtocol::put(const char* s, size_t n) {
  if (sign_ == 1) crc_ = crc8(static_cast<uint8_t>(crc_), s, n);
  if (sign_ == 2) crc_ = crc32(crc_, s, n);
  write_(ctx_, s, n);
}

void LineProtocol::put_flash(const char* s) {
  char chunk[16];
  size_t n = 0;
  for (;;) {
    const char c = static_cast<char>(TINYGMM_FLASH_BYTE(s++));
    if (c == 0) break;
    chunk[n++] = c;
    if (n == sizeof chunk) {
      put(chunk, n);
      n = 0;
    }
  }
  if (n) put(chunk, n);
}

void LineProtocol::put_int(long v) {
  char buf[12];
  char* p = buf + sizeof buf;
  const bool neg = v < 0;
  unsigned long u = neg ? 0ul - static_cast<unsigned long>(v) : static_cast<unsigned long>(v);
  do {
    *--p = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u);
  if (neg) *--p = '-';
  put(p, static_cast<size_t>(buf + sizeof buf - p));
}

void LineProtocol::put_float(float v, uint8_t digits) {
  char buf[20];
  const uint8_t n = format_float(v, buf, digits);
  put(buf, n);
}

void LineProtocol::end_line() {
  static const char kHex[] = "0123456789ABCDEF";
  if (sign_ == 1) {
    const char tail[3] = {'*', kHex[(crc_ >> 4) & 15], kHex[crc_ & 15]};
    write_(ctx_, tail, 3);
  } else if (sign_ == 2) {
    put(" #", 2);
    put(id_, 4);
    char tail[9];
    tail[0] = '*';
    for (uint8_t i = 0; i < 8; ++i) tail[1 + i] = kHex[(crc_ >> (28 - 4 * i)) & 15];
    write_(ctx_, tail, 9);
  }
  sign_ = 0;
  write_(ctx_, "\n", 1);
  ++replies_;
}

void LineProtocol::begin() {
  put_flash(TINYGMM_STR("READY tinygmm "));
  put_flash(model_.model_hash);
  end_line();
}

void LineProtocol::reply_error(const char* reason_flash, long value) {
  put_flash(TINYGMM_STR("ERR "));
  put_flash(reason_flash);
  if (value >= 0) {
    put(" ", 1);
    put_int(value);
  }
  end_line();
}

void LineProtocol::feed(const char* data, size_t len) {
  for (size_t i = 0; i < len; ++i) feed(data[i]);
}

void LineProtocol::feed(char c) {
  if (c == '\n' || c == '\r') {
    if (overflow_) {
      overflow_ = false;
      len_ = 0;
      reply_error(TINYGMM_STR("too-long"), -1);
      return;
    }
    line_[len_] = 0;
    handle_line();
    len_ = 0;
    return;
  }
  if (overflow_) return;
  if (len_ >= line_max_) {
    overflow_ = true;
    return;
  }
  line_[len_++] = c == 0 ? '\x1a' : c;  // a NUL must not end the line early: ASCII SUB
}

// A line, from feed(): framing, checking, dispatch.
void LineProtocol::handle_line() {
  char* request = unframe();
  if (request) dispatch(request);
}

// ---- framing ------------------------------------------------------------
// The line without its surrounding blanks and its signature: v2 "#IIII*CCCCCCCC" or
// v1 "*HH" (see check_signature). Null when there is nothing to answer (an empty
// line) or the envelope already got its answer (ERR checksum, ERR empty-field).
char* LineProtocol::unframe() {
  char* p = line_;
  while (is_space(*p)) ++p;
  char* end = p;
  while (*end) ++end;
  while (end > p && is_space(end[-1])) --end;
  if (end == p) return 0;  // empty line: ignored
  *end = 0;
  if (!check_signature(p)) return 0;
  return p;
}

// ---- checking -----------------------------------------------------------
// The CRC covers every character of the line before the '*' (leading blanks
// too). The reply is signed from the request's CRC continued over one byte, its
// length: a request that lost or gained bytes yet kept its CRC then still gets a
// reply the host cannot verify. Cuts the signature off the line (begin: its first
// non-blank) and says whether the request is to be answered.
bool LineProtocol::check_signature(char* begin) {
  char* end = begin;
  while (*end) ++end;
  const size_t n = static_cast<size_t>(end - line_);
  uint32_t want = 0;
  uint32_t id = 0;
  size_t signed_len = 0;  // characters before the '*'
  if (n >= 14 && end[-9] == '*' && end[-14] == '#' && parse_hex_or(end - 8, 8, &want) == 0 &&
      parse_hex_or(end - 13, 4, &id) == 0) {
    sign_ = 2;
    signed_len = n - 9;
    for (uint8_t i = 0; i < 4; ++i) id_[i] = end[-13 + i];
  } else if (n >= 3 && end[-3] == '*' && parse_hex_or(end - 2, 2, &want) == 0) {
    sign_ = 1;
    signed_len = n - 3;
  } else {
    return true;  // unsigned
  }
  const char length = static_cast<char>(signed_len & 0xFF);
  const uint32_t got = sign_ == 2 ? crc32(0, line_, signed_len) : crc8(0, line_, signed_len);
  crc_ = sign_ == 2 ? crc32(got, &length, 1) : crc8(static_cast<uint8_t>(got), &length, 1);
  end = line_ + signed_len - (sign_ == 2 ? 5 : 0);  // the request without its signature
  *end = 0;
  if (got != want) {
    reply_error(TINYGMM_STR("checksum"), -1);
    return false;
  }
  while (end > begin && is_space(end[-1])) *--end = 0;
  if (end <= begin) {
    reply_error(TINYGMM_STR("empty-field"), 1);
    return false;
  }
  return true;
}

// ---- dispatch -----------------------------------------------------------
// A word that is not a number is a command; anything else is a vector.
void LineProtocol::dispatch(char* request) {
  if (is_alpha(*request)) {
    char* w = request;
    while (is_alpha(*w)) ++w;
    const bool numeric_word = is_non_finite_word(request, w) || equals_word(request, w, TINYGMM_STR("e"));
    if (!numeric_word) {
      if (!dispatch_command(request, w)) {
        if (w - request > 16) w = request + 16;
        put_flash(TINYGMM_STR("ERR unknown-command "));
        put(request, static_cast<size_t>(w - request));
        end_line();
      }
      return;
    }
  }
  answer_vector(request);
}

namespace {

// The commands' names (lowercase, in flash on AVR), in the order of LineProtocol::Command.
const char kInfoName[] TINYGMM_FLASH_DATA = "info";
#if TINYGMM_PROTOCOL_LEARN
const char kLearnName[] TINYGMM_FLASH_DATA = "learn";
const char kFreezeName[] TINYGMM_FLASH_DATA = "freeze";
const char kThawName[] TINYGMM_FLASH_DATA = "thaw";
const char kResetName[] TINYGMM_FLASH_DATA = "reset";
const char kSaveName[] TINYGMM_FLASH_DATA = "save";
const char kLoadName[] TINYGMM_FLASH_DATA = "load";
const char kDumpName[] TINYGMM_FLASH_DATA = "dump";
const char* const kCommandNames[] TINYGMM_FLASH_DATA = {kInfoName,  kLearnName, kFreezeName, kThawName,
                                                        kResetName, kSaveName,  kLoadName,   kDumpName};
#else
const char* const kCommandNames[] TINYGMM_FLASH_DATA = {kInfoName};
#endif

}  // namespace

// The command named by [name, end), run with the rest of the request; false if there is none.
// To add one: its name above, its Command, and its case here.
bool LineProtocol::dispatch_command(char* name, char* end) {
  uint8_t i = 0;
  while (i < sizeof kCommandNames / sizeof kCommandNames[0] &&
         !equals_word(name, end, static_cast<const char*>(TINYGMM_FLASH_PTR(&kCommandNames[i]))))
    ++i;
  char* args = end;
  while (is_space(*args)) ++args;
  switch (static_cast<Command>(i)) {
    case COMMAND_INFO:
      if (*args) return false;  // "INFO anything" is not INFO
      command_info();
      return true;
    default:
#if TINYGMM_PROTOCOL_LEARN
      if (i < N_COMMANDS && learning_) return command_learning(static_cast<Command>(i), args);
#endif
      return false;  // no such command
  }
}

void LineProtocol::command_info() {
  put_flash(TINYGMM_STR("INFO protocol=2 components="));
  put_int(model_.n_components);
  put_flash(TINYGMM_STR(" features="));
  put_int(model_.n_features);
  put_flash(TINYGMM_STR(" line_max="));
  put_int(line_max_);
  put_flash(TINYGMM_STR(" model="));
  put_flash(model_.model_hash);
  if (anomaly_) {  // anomaly extension
    put_flash(TINYGMM_STR(" threshold="));
    put_float(anomaly_->threshold, 9);
    put_flash(TINYGMM_STR(" alarm="));
    put_int(anomaly_->alarm_k);
    put("/", 1);
    put_int(anomaly_->alarm_n);
  }
#if TINYGMM_PROTOCOL_LEARN
  if (learning_) info_learning();  // learning extension
#endif
  put_flash(TINYGMM_STR(" names="));  // last: names run to the end of the line
  put_flash(model_.feature_names);
  end_line();
}

// A vector: parsed into values (max_values floats, from LineProtocolWith), classified, answered.
void LineProtocol::answer_vector(char* text) {
  const ParseResult r = parse_vector(text, values_, model_.n_features, max_values_);
  switch (r.status) {
    case PARSE_OK: {
      Classification c;
      c.anomaly = -1;
      model_.classify(values_, &c);
#if TINYGMM_PROTOCOL_LEARN
      if (c.label < 0) {  // a learner still warming up (or without a model) has no answer yet
        reply_error(TINYGMM_STR("not-ready"), -1);
        return;
      }
#endif
      // Far out the log-likelihood may be below -FLT_MAX: it is sent as -inf,
      // with the label and probability still meaningful. Anything else not
      // finite would be a model fault.
      if (isnan(c.log_likelihood) || (isinf(c.log_likelihood) && c.log_likelihood > 0) ||
          !isfinite(c.probability)) {
        reply_error(TINYGMM_STR("overflow"), -1);
        return;
      }
      put_flash(TINYGMM_STR("OK "));
      put_int(c.label);
      put(" ", 1);
      put_float(c.probability, 6);
      put(" ", 1);
      put_float(c.log_likelihood, 7);
#if TINYGMM_PROTOCOL_LEARN
      if ((anomaly_ || learning_) && c.anomaly >= 0) {  // anomaly extension: <flags>
#else
      if (anomaly_ && c.anomaly >= 0) {  // anomaly extension: <flags>
#endif
        put(" ", 1);
        put_int(c.anomaly);
      }
      end_line();
      return;
    }
    case PARSE_COUNT:
      put_flash(TINYGMM_STR("ERR count expected "));
      put_int(model_.n_features);
      put_flash(TINYGMM_STR(" got "));
      put_int(r.count);
      end_line();
      return;
    case PARSE_NO_ROOM:  // the model has more features than this protocol's value buffer
      reply_error(TINYGMM_STR("too-long"), -1);
      return;
    case PARSE_EMPTY_FIELD:
      reply_error(TINYGMM_STR("empty-field"), r.field);
      return;
    case PARSE_NOT_FINITE:
      reply_error(TINYGMM_STR("not-finite"), r.field);
      return;
    case PARSE_OUT_OF_RANGE:
      reply_error(TINYGMM_STR("out-of-range"), r.field);
      return;
    case PARSE_BAD_NUMBER:
    case PARSE_UNKNOWN_COMMAND:
    default:
      reply_error(TINYGMM_STR("bad-number"), r.field);
      return;
  }
}

#if TINYGMM_PROTOCOL_LEARN
// ---- learning extension (TINYGMM_LEARN) -----------------------------------

void LineProtocol::put_hex32(uint32_t v) {
  static const char kHex[] = "0123456789abcdef";
  char buf[8];
  for (uint8_t i = 0; i < 8; ++i) buf[i] = kHex[(v >> (28 - 4 * i)) & 15];
  put(buf, 8);
}

// A float32 as the 8 hex digits of its bits (IEEE 754, most significant first): exact both ways.
void LineProtocol::put_float_bits(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  put_hex32(u);
}

// INFO's learning keys: mode=<adapt|scratch|warming|frozen|none> learned=<t> warm=<n>/<W>
// splits=<n> learn_threshold=<T> (not threshold=: that key is a frozen model's fixed threshold).
void LineProtocol::info_learning() {
  LearnStatus st;
  learning_->status(&st);
  put_flash(TINYGMM_STR(" mode="));
  if (st.mode == 0) {
    put_flash(TINYGMM_STR("none"));
  } else if (st.frozen) {
    put_flash(TINYGMM_STR("frozen"));
  } else if (st.mode == 1) {
    put_flash(TINYGMM_STR("warming"));
  } else {
    put_flash(st.start == 1 ? TINYGMM_STR("adapt") : TINYGMM_STR("scratch"));
  }
  put_flash(TINYGMM_STR(" start="));
  put_flash(st.start == 1 ? TINYGMM_STR("adapt") : TINYGMM_STR("scratch"));
  put_flash(TINYGMM_STR(" learned="));
  put_int(static_cast<long>(st.t));
  put_flash(TINYGMM_STR(" warm="));
  put_int(st.n_warm);
  put("/", 1);
  put_int(st.warm);
  put_flash(TINYGMM_STR(" splits="));
  put_int(static_cast<long>(st.splits));
  put_flash(TINYGMM_STR(" learn_threshold="));
  put_float(st.threshold, 9);
  put_flash(TINYGMM_STR(" learn_seq="));
  if (learn_seq_set_) {
    put_int(static_cast<long>(learn_next_));
  } else {
    put_flash(TINYGMM_STR("none"));
  }
}

bool LineProtocol::command_learning(Command command, char* args) {
  if (command == COMMAND_LEARN) {
    command_learn(args);
    return true;
  }
  if (command == COMMAND_DUMP) {
    command_dump(args);
    return true;
  }
  if (*args) return false;  // the others take no argument
  switch (command) {
    case COMMAND_FREEZE: {
      learning_->freeze(true);
      LearnStatus st;
      learning_->status(&st);
      put_flash(TINYGMM_STR("OK frozen threshold="));
      put_float(st.threshold, 9);
      end_line();
      return true;
    }
    case COMMAND_THAW:
      learning_->freeze(false);
      put_flash(TINYGMM_STR("OK learning"));
      end_line();
      return true;
    case COMMAND_RESET: {
      if (learning_->reset() != 0) {
        reply_error(TINYGMM_STR("not-started"), -1);
        return true;
      }
      LearnStatus st;
      learning_->status(&st);
      put_flash(TINYGMM_STR("OK reset start="));
      put_flash(st.start == 1 ? TINYGMM_STR("adapt") : TINYGMM_STR("scratch"));
      end_line();
      return true;
    }
    case COMMAND_SAVE: {
      uint32_t crc = 0;
      const int32_t n = learning_->save(&crc);
      if (n < 0) {
        reply_error(n == -1 ? TINYGMM_STR("no-storage") : TINYGMM_STR("storage"), -1);
        return true;
      }
      put_flash(TINYGMM_STR("OK saved "));
      put_int(n);
      put_flash(TINYGMM_STR(" crc="));
      put_hex32(crc);
      end_line();
      return true;
    }
    case COMMAND_LOAD: {
      const int8_t r = learning_->load();
      if (r < 0) {
        reply_error(r == -1 ? TINYGMM_STR("no-storage") : TINYGMM_STR("bad-state"), -1);
        return true;
      }
      LearnStatus st;
      learning_->status(&st);
      put_flash(TINYGMM_STR("OK loaded learned="));
      put_int(static_cast<long>(st.t));
      end_line();
      return true;
    }
    default:
      return false;
  }
}

// LEARN x1,...,xD [seq=<n>] with a sequence number: the request is learned once however often it
// is sent. n must be the next number expected (any number, the first time after a boot); one
// already answered (among the last 32) is answered again, without learning, "OK duplicate
// learned=<t>" if it was learned (or stored for the warm-up), "ERR duplicate refused" if it was
// refused; any other number gets "ERR sequence next=<n>" and nothing happens. Returns true when
// the request is to be processed, with the "seq=" field cut off args.
bool LineProtocol::learn_sequence(char* args, int8_t* verdict) {
  *verdict = -1;
  char* field = strrchr(args, ' ');
  if (!field || strncmp(field + 1, "seq=", 4) != 0) return true;  // not sequenced
  const char* d = field + 5;
  uint32_t n = 0;
  uint8_t digits = 0;
  for (; *d >= '0' && *d <= '9'; ++d, ++digits) {
    if (digits == 10 || n > (0x7FFFFFFFUL - static_cast<uint32_t>(*d - '0')) / 10) break;
    n = n * 10 + static_cast<uint32_t>(*d - '0');
  }
  if (digits == 0 || *d != '\0') {
    reply_error(TINYGMM_STR("bad-seq"), -1);  // not 0..2^31-1 in decimal
    return false;
  }
  *field = '\0';
  if (!learn_seq_set_ || n == learn_next_) {
    learn_seq_set_ = true;
    learn_next_ = n;
    *verdict = 1;  // process it, then record its outcome
    return true;
  }
  const uint32_t back = (learn_next_ - n) & 0x7FFFFFFFUL;  // how many numbers ago it was answered
  if (back >= 1 && back <= learn_known_) {
    if ((learn_outcomes_ >> (back - 1)) & 1u) {
      LearnStatus st;
      learning_->status(&st);
      put_flash(TINYGMM_STR("OK duplicate learned="));
      put_int(static_cast<long>(st.t));
      end_line();
    } else {
      reply_error(TINYGMM_STR("duplicate refused"), -1);
    }
    return false;
  }
  put_flash(TINYGMM_STR("ERR sequence next="));
  put_int(static_cast<long>(learn_next_));
  end_line();
  return false;
}

// LEARN x1,...,xD: one learning step. Values are parsed and refused as a classify line's
// (the same ERR, from answer_vector); the learner may refuse a value it cannot learn.
void LineProtocol::command_learn(char* args) {
  int8_t sequenced;
  if (!learn_sequence(args, &sequenced)) return;
  const ParseResult r = parse_vector(args, values_, model_.n_features, max_values_);
  int8_t got = LEARN_BAD_INPUT;
  Classification c;
  c.anomaly = 0;
  if (r.status == PARSE_OK) got = learning_->learn(values_, &c);
  if (sequenced == 1) {  // this number is answered now: record whether it changed the learner
    learn_next_ = (learn_next_ + 1) & 0x7FFFFFFFUL;
    learn_outcomes_ = (learn_outcomes_ << 1) | (got == LEARN_LEARNED || got == LEARN_WARMING ? 1u : 0u);
    if (learn_known_ < 32) ++learn_known_;
  }
  if (r.status != PARSE_OK) {
    answer_vector(args);  // parses again (the line is unchanged) and replies with the same ERR
    return;
  }
  switch (got) {
    case LEARN_LEARNED: {
      LearnStatus st;
      learning_->status(&st);
      put_flash(TINYGMM_STR("OK "));
      put_int(c.label);
      put(" ", 1);
      put_float(c.probability, 6);
      put(" ", 1);
      put_float(c.log_likelihood, 7);
      put(" ", 1);
      put_int(c.anomaly);
      put_flash(TINYGMM_STR(" learned="));
      put_int(static_cast<long>(st.t));
      end_line();
      return;
    }
    case LEARN_WARMING: {
      LearnStatus st;
      learning_->status(&st);
      put_flash(TINYGMM_STR("WARMING "));
      put_int(st.n_warm);
      put("/", 1);
      put_int(st.warm);
      end_line();
      return;
    }
    case LEARN_BAD_INPUT:
      reply_error(TINYGMM_STR("refused input"), -1);
      return;
    case LEARN_FAR:
      reply_error(TINYGMM_STR("refused far"), -1);
      return;
    case LEARN_FROZEN:
      reply_error(TINYGMM_STR("frozen"), -1);
      return;
    default:
      reply_error(TINYGMM_STR("not-started"), -1);
      return;
  }
}

// DUMP: "DUMP components=<K> features=<D> cov=<full|diag> learned=<t> threshold=<hex> reg_covar=<hex>";
// DUMP <k>: "DUMP <k> <weight> <mean...> <covariance...>", every value the hex of its float32 bits.
void LineProtocol::command_dump(char* args) {
  LearnStatus st;
  learning_->status(&st);
  if (!*args) {
    put_flash(TINYGMM_STR("DUMP components="));
    put_int(model_.n_components);
    put_flash(TINYGMM_STR(" features="));
    put_int(model_.n_features);
    put_flash(st.full ? TINYGMM_STR(" cov=full") : TINYGMM_STR(" cov=diag"));
    put_flash(TINYGMM_STR(" learned="));
    put_int(static_cast<long>(st.t));
    put_flash(TINYGMM_STR(" threshold="));
    put_float_bits(st.threshold);
    put_flash(TINYGMM_STR(" reg_covar="));
    put_float_bits(st.reg_covar);
    end_line();
    return;
  }
  uint16_t k = 0;
  char* p = args;
  while (*p >= '0' && *p <= '9' && k < 1000) k = static_cast<uint16_t>(k * 10 + (*p++ - '0'));
  if (p == args || *p || k >= model_.n_components) {
    reply_error(TINYGMM_STR("bad-component"), -1);
    return;
  }
  if (st.mode != 2) {
    reply_error(TINYGMM_STR("not-ready"), -1);
    return;
  }
  put_flash(TINYGMM_STR("DUMP "));
  put_int(k);
  float v;
  for (uint16_t i = 0; learning_->param(static_cast<uint8_t>(k), i, &v); ++i) {
    put(" ", 1);
    put_float_bits(v);
  }
  end_line();
}
#endif  // TINYGMM_PROTOCOL_LEARN

}  // namespace tinygmm

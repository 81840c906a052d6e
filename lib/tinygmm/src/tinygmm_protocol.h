// tinygmm_protocol.h - serial protocol v1 of the tinygmm classifier firmware.
//
// Line based ASCII; a line ends at '\n' or '\r' (so "\r\n" works too; the
// empty line between the two is ignored):
//   on begin():            READY tinygmm <model-hash>
//   "x1,x2,...,xD"      -> OK <label> <max-probability> <log-likelihood>
//                          (values separated by commas and/or spaces; the
//                          log-likelihood is -inf when it is below -FLT_MAX)
//   "INFO"              -> INFO components=<K> features=<D> names=<n1|n2|...> model=<model-hash>
//   with an anomaly threshold (LineProtocol's AnomalyInfo), OK ends with one more
//   field, <flags>: bit 0 this input is anomalous (log-likelihood < threshold),
//   bit 1 the stream's k-of-n alarm is raised (0..3); and INFO ends with
//   " threshold=<T> alarm=<k>/<n>". Without one, both are as above.
//   anything malformed  -> exactly one "ERR <reason>" line:
//       ERR count expected <D> got <n>   wrong number of values
//       ERR empty-field <i>             ",," or a leading/trailing comma
//       ERR bad-number <i>              value i (1-based) is not a number
//       ERR not-finite <i>              value i is nan or inf
//       ERR out-of-range <i>            value i overflows a float
//       ERR unknown-command <word>      a word that is not a command
//       ERR overflow                    the model gave no usable answer (NaN);
//                                       does not happen with a generated GMM.h
//       ERR too-long                    line longer than TINYGMM_LINE_MAX;
//                                       discarded up to the next newline
//   empty lines are ignored silently.
//
// Optional integrity check (the host CLI uses it; typing by hand needs none):
// a request may end with "*HH", HH the CRC-8 (polynomial 0x07, initial 0, two
// hex digits) of the characters before the '*'. The device then answers
// "ERR checksum" if it does not match, and ends its reply with "*HH" too:
// the CRC-8 of the reply's characters, started from the request's CRC
// continued over one byte holding the request's length (the characters before
// the '*', modulo 256). So a reply is bound to its request, a corrupted reply is
// recognised, and so is a reply to a request that lost or gained a byte on
// the way even when its CRC happened to still match.
//
// Framework agnostic: bytes go in through feed(), reply lines come out through
// a write callback. No heap, no String, fixed buffers; feed() never blocks.
#ifndef TINYGMM_PROTOCOL_H
#define TINYGMM_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifndef TINYGMM_LINE_MAX
#define TINYGMM_LINE_MAX 128
#endif
#ifndef TINYGMM_MAX_FEATURES
#define TINYGMM_MAX_FEATURES 16
#endif

namespace tinygmm {

struct Classification {
  int16_t label;
  float probability;
  float log_likelihood;
  int8_t anomaly;  // -1 (set by the protocol before classify): none; else bit 0 anomalous, bit 1 alarm
};

// The model's anomaly threshold and the k-of-n alarm filter's parameters.
struct AnomalyInfo {
  float threshold;
  uint8_t alarm_k;
  uint8_t alarm_n;
};

// What the protocol needs to know about the model. On AVR feature_names and
// model_hash point to flash (PROGMEM), as in a generated GMM.h.
struct DeviceModel {
  uint8_t n_features;
  uint8_t n_components;
  const char* feature_names;  // joined with '|'
  const char* model_hash;
  void (*classify)(const float* x, Classification* out);
};

typedef void (*WriteFn)(void* ctx, const char* data, size_t len);

enum ParseStatus {
  PARSE_OK = 0,
  PARSE_EMPTY_FIELD,
  PARSE_COUNT,
  PARSE_BAD_NUMBER,
  PARSE_NOT_FINITE,
  PARSE_OUT_OF_RANGE,
  PARSE_UNKNOWN_COMMAND
};

struct ParseResult {
  ParseStatus status;
  uint8_t field;  // 1-based field of the first bad value
  uint8_t count;  // number of values found (saturates at 255)
};

// Parses "x1,x2 x3" into out[expected]. The line is modified while parsing
// and restored before returning. Structural errors (empty fields) come
// first, then the value count, then the first bad value.
ParseResult parse_vector(char* line, float* out, uint8_t expected);

// CRC-8, polynomial 0x07, continuing from crc.
uint8_t crc8(uint8_t crc, const char* data, size_t len);

// Writes v with `digits` significant digits ("%.<digits>g"-like, no
// trailing zeros) into buf (at least 20 bytes); returns the length.
uint8_t format_float(float v, char* buf, uint8_t digits);

class LineProtocol {
 public:
  // anomaly: the model's threshold (null: the model has none)
  LineProtocol(const DeviceModel& model, WriteFn write, void* ctx, const AnomalyInfo* anomaly = 0);
  void begin();  // announces READY
  void feed(char c);
  void feed(const char* data, size_t len);
  uint32_t replies() const { return replies_; }

 private:
  void handle_line();
  void reply_error(const char* reason_flash, int value);
  void put(const char* s, size_t n);
  void put_flash(const char* s);
  void put_int(long v);
  void put_float(float v, uint8_t digits);
  void end_line();

  const DeviceModel& model_;
  const AnomalyInfo* anomaly_;
  WriteFn write_;
  void* ctx_;
  char line_[TINYGMM_LINE_MAX + 1];
  uint16_t len_;
  bool overflow_;
  uint32_t replies_;
  bool checksum_;  // the current request carried *HH: sign the reply
  uint8_t crc_;    // running CRC of the reply line
};

}  // namespace tinygmm

#endif  // TINYGMM_PROTOCOL_H

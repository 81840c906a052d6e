// tinygmm_protocol.h - the serial protocol (v2, which still answers v1) of the tinygmm firmware.
//
// The protocol itself (requests, replies, errors, signatures, the extension rules, the names=
// encoding) is specified once, in docs/protocol.md. This file is its device side: framework
// agnostic (bytes go in through feed(), reply lines come out through a write callback), no heap,
// no String, fixed buffers sized from the model (LineProtocolWith), and feed() never blocks.
// INFO's names= is the header's FEATURE_NAMES as it is (UTF-8 bytes, '|' between names).
#ifndef TINYGMM_PROTOCOL_H
#define TINYGMM_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

namespace tinygmm {

// The longest request line the host client sends for a model of n features: n values
// of at most 15 characters ("%.9g" of a float32: "-1.23456789e-05"), n - 1 commas and
// the 14 characters of the v2 signature "#IIII*CCCCCCCC" (v1's "*HH" is shorter).
// The device glue sizes the line buffer with it, so every request the client builds fits.
// (32-bit, so that it cannot wrap: a LineProtocolWith<request_max(n)> above 65535 does not compile.)
constexpr uint32_t request_max(uint32_t n_features) { return 16ul * n_features + 13ul; }

// The most features a model may have for the protocol (request_max(n) <= 65535).
const uint16_t MAX_FEATURES = 4095;

struct Classification {
  int16_t label;
  float probability;
  float log_likelihood;
  int8_t anomaly;  // -1 (set by the protocol before classify): none; else bit 0 anomalous, bit 1 alarm
};

// A DeviceModel's classify from a generated header's classify(x, proba, &ll) with K components:
//   {..., tinygmm::classify_with<gmm::N_COMPONENTS, gmm::classify>}
template <int K, int (*Classify)(const float*, float*, float*)>
void classify_with(const float* x, Classification* out) {
  float proba[K];
  float ll;
  const int k = Classify(x, proba, &ll);
  out->label = static_cast<int16_t>(k);
  out->probability = proba[k];
  out->log_likelihood = ll;
}

// The model's anomaly threshold and the k-of-n alarm filter's parameters.
struct AnomalyInfo {
  float threshold;
  uint8_t alarm_k;
  uint8_t alarm_n;
};

// What the protocol needs to know about the model. On AVR feature_names and
// model_hash point to flash (PROGMEM), as in a generated GMM.h.
struct DeviceModel {
  uint16_t n_features;    // up to MAX_FEATURES
  uint8_t n_components;   // up to 127, as the exporter allows
  const char* feature_names;  // UTF-8, joined with '|' (INFO's names= sends them as they are)
  const char* model_hash;
  void (*classify)(const float* x, Classification* out);
};

typedef void (*WriteFn)(void* ctx, const char* data, size_t len);

// ---- learning on the device (only with -DTINYGMM_LEARN=1|2, see tinygmm_learn.h) ----
// The frozen firmware has none of this: no command, no member, not one byte more.
#if defined(TINYGMM_LEARN) && TINYGMM_LEARN
#define TINYGMM_PROTOCOL_LEARN 1
#else
#define TINYGMM_PROTOCOL_LEARN 0
#endif

#if TINYGMM_PROTOCOL_LEARN
// What a LEARN request did (Learning::learn).
enum LearnResult {
  LEARN_LEARNED = 0,       // learned; the Classification is the sample's, scored before it was learned
  LEARN_WARMING = 1,       // stored in the scratch start's warm-up buffer
  LEARN_BAD_INPUT = -1,    // refused: not finite, or beyond the learner's x_limit (nothing changed)
  LEARN_FAR = -2,          // refused: every component finds it impossibly far (nothing changed)
  LEARN_FROZEN = -3,       // FREEZE is on: nothing learned
  LEARN_NOT_STARTED = -4   // the learner has no model (an adapt start from a header it cannot read)
};

// The learner's state, for INFO and DUMP.
struct LearnStatus {
  uint8_t start;       // 1 adapt (the header's model), 2 scratch
  uint8_t mode;        // 0 not started, 1 warming, 2 learning
  uint8_t frozen;      // FREEZE is on
  uint8_t full;        // full covariances (else diagonal)
  uint32_t t;          // samples learned (the warm-up's included)
  uint32_t splits;     // starved components restarted
  uint16_t n_warm, warm;  // samples in the warm-up buffer, its size
  float threshold;     // the anomaly threshold now (-inf: none yet)
  float reg_covar;
};

// The learner behind the protocol's LEARN, FREEZE, THAW, RESET, SAVE, LOAD and DUMP
// (tinygmm::LearnerGlue builds one from an OnlineGMM and a storage).
struct Learning {
  int8_t (*learn)(const float* x, Classification* out);  // a LearnResult
  void (*freeze)(bool frozen);
  int8_t (*reset)();                   // 0, or LEARN_NOT_STARTED (the start failed)
  int32_t (*save)(uint32_t* crc);      // bytes saved; -1 no storage, -2 the storage failed
  int8_t (*load)();                    // 0 loaded; -1 no storage, -2 no valid state stored
  // Parameter i of component k: 0 its weight, 1..D its mean, then its covariance (reg_covar
  // included) as the packed lower triangle by rows (full) or the diagonal; false past the end.
  bool (*param)(uint8_t k, uint16_t i, float* v);
  void (*status)(LearnStatus* out);
};
#endif

enum ParseStatus {
  PARSE_OK = 0,
  PARSE_EMPTY_FIELD,
  PARSE_COUNT,
  PARSE_BAD_NUMBER,
  PARSE_NOT_FINITE,
  PARSE_OUT_OF_RANGE,
  PARSE_UNKNOWN_COMMAND,
  PARSE_NO_ROOM  // expected more values than out can hold
};

struct ParseResult {
  ParseStatus status;
  uint16_t field;  // 1-based field of the first bad value (saturates at 65535)
  uint16_t count;  // number of values found (saturates at 65535)
};

// Parses "x1,x2 x3" into out[expected]. The line is modified while parsing
// and restored before returning. Structural errors (empty fields) come
// first, then the value count, then the first bad value. It never writes
// past out[capacity - 1]: with expected > capacity a line of expected values
// is PARSE_NO_ROOM.
ParseResult parse_vector(char* line, float* out, uint16_t expected, uint16_t capacity);
inline ParseResult parse_vector(char* line, float* out, uint16_t expected) {
  return parse_vector(line, out, expected, expected);
}

// CRC-8, polynomial 0x07, continuing from crc.
uint8_t crc8(uint8_t crc, const char* data, size_t len);

// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), continuing from crc as
// zlib.crc32(data, crc) does: crc32(crc32(0, a), b) == crc32(0, a + b).
uint32_t crc32(uint32_t crc, const char* data, size_t len);

// Writes v with `digits` significant digits ("%.<digits>g"-like, no
// trailing zeros) into buf (at least 20 bytes); returns the length.
uint8_t format_float(float v, char* buf, uint8_t digits);

// The protocol state machine. It keeps lines of up to line_max characters in `line`,
// a buffer of line_max + 1 chars, and parses a line's values into `values`, a buffer
// of max_values floats; it uses both for as long as it lives. Construct a
// LineProtocolWith, which owns both.
class LineProtocol {
 public:
  void begin();  // announces READY
  void feed(char c);
  void feed(const char* data, size_t len);
  uint32_t replies() const { return replies_; }
  uint16_t line_max() const { return line_max_; }

 protected:
  // anomaly: the model's threshold (null: the model has none)
  LineProtocol(const DeviceModel& model, WriteFn write, void* ctx, char* line, uint16_t line_max, float* values,
               uint16_t max_values, const AnomalyInfo* anomaly);
#if TINYGMM_PROTOCOL_LEARN
  // learning: the learner behind the learning commands (null: none, as without TINYGMM_LEARN)
  void set_learning(const Learning* learning) { learning_ = learning; }
#endif

 private:
  // The commands, in the order of their names in kCommandNames (tinygmm_protocol.cpp).
  enum Command {
    COMMAND_INFO = 0,
#if TINYGMM_PROTOCOL_LEARN
    COMMAND_LEARN,
    COMMAND_FREEZE,
    COMMAND_THAW,
    COMMAND_RESET,
    COMMAND_SAVE,
    COMMAND_LOAD,
    COMMAND_DUMP,
#endif
    N_COMMANDS
  };
  void command_info();
#if TINYGMM_PROTOCOL_LEARN
  bool command_learning(Command command, char* args);
  void command_learn(char* args);
  bool learn_sequence(char* args, int8_t* verdict);
  void command_dump(char* args);
  void info_learning();
  void put_hex32(uint32_t v);
  void put_float_bits(float v);
#endif

  void handle_line();
  char* unframe();                    // framing: the request without blanks and signature, or null
  bool check_signature(char* begin);  // checking: CRC of a signed request; sets up the reply's signature
  void dispatch(char* request);       // dispatch: a command, or a vector
  bool dispatch_command(char* name, char* end);
  void answer_vector(char* text);

  void reply_error(const char* reason_flash, long value);
  void put(const char* s, size_t n);
  void put_flash(const char* s);
  void put_int(long v);
  void put_float(float v, uint8_t digits);
  void end_line();

  const DeviceModel& model_;
  const AnomalyInfo* anomaly_;
  WriteFn write_;
  void* ctx_;
  char* line_;
  float* values_;
  uint16_t max_values_;
  uint16_t line_max_;
  uint16_t len_;
  bool overflow_;
  uint32_t replies_;
  uint8_t sign_;   // how the current reply is signed: 0 not, 1 v1 "*HH", 2 v2 " #IIII*CCCCCCCC"
  char id_[4];     // v2: the request id, echoed
  uint32_t crc_;   // running CRC of the reply line (CRC-8 in the low byte for v1)
#if TINYGMM_PROTOCOL_LEARN
  const Learning* learning_;  // the learning commands' learner (null: none)
  // sequenced LEARN (seq=<n>, docs/protocol.md): the next number expected, and the outcomes of the
  // last learn_known_ (<= 32) numbers, bit 0 the newest: 1 learned (or stored for the warm-up), 0 refused
  uint32_t learn_next_;
  uint32_t learn_outcomes_;
  uint8_t learn_known_;
  bool learn_seq_set_;
#endif
};

// A LineProtocol with its own buffers: lines of up to LineMax characters, and the
// values of a line, MaxValues floats. The default is the number of features whose
// requests fit LineMax (the inverse of request_max), so LineProtocolWith<request_max(D)>
// holds D values; a model with more features than MaxValues gets ERR too-long for
// its vectors (the parser never writes past the buffer). Pass the model's N_FEATURES
// to say so exactly: LineProtocolWith<request_max(gmm::N_FEATURES), gmm::N_FEATURES>.
template <uint16_t LineMax, uint16_t MaxValues = (LineMax >= 29 ? (LineMax - 13) / 16 : 1)>
class LineProtocolWith : public LineProtocol {
 public:
  LineProtocolWith(const DeviceModel& model, WriteFn write, void* ctx, const AnomalyInfo* anomaly = 0)
      : LineProtocol(model, write, ctx, buffer_, LineMax, values_, MaxValues, anomaly) {}

 private:
  static_assert(MaxValues >= 1, "LineProtocolWith needs room for at least one value");
  char buffer_[LineMax + 1];
  float values_[MaxValues];
};

}  // namespace tinygmm

#endif  // TINYGMM_PROTOCOL_H

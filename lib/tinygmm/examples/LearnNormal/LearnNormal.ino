// LearnNormal: an Uno that learns its own "normal" from the readings it sees, keeps what it
// learned in the EEPROM across resets and power cycles, and flags the readings that do not fit.
//
// tinygmm::OnlineGMM learns a Gaussian mixture one reading at a time (stepwise EM, in fixed
// memory and bounded time), here from scratch: no exported model is needed. Each reading is
// scored before it is learned; a score below the learned threshold (the 1% quantile of the
// scores so far) is an anomaly.
//
// Readings arrive over the serial line, one per line ("x1,x2"), as from a host streaming a
// CSV (Serial Monitor at 115200 baud, line ending "Newline"). For a sensor instead, fill x[]
// in loop() from it (e.g. two analogRead()s) and call handle_reading(x) every sample period.
// Each reading gets one line back:
//   learned <t> label <k> score <log-likelihood>[ ANOMALY]   or   warming <n>/<W>
// and these words are commands:
//   save    keep the learned state in the EEPROM now (it is also kept every SAVE_EVERY readings)
//   forget  start over from scratch (the EEPROM keeps the old state until the next save)
//   freeze  stop learning and keep the threshold: readings are only scored
//   thaw    learn again
//   info    learned=<t> warm=<n>/<W> threshold=<T|none> frozen=<0|1>
// At boot the sketch says "resumed learned=<t>" when the EEPROM holds a state of this shape
// with a valid CRC, else "started afresh" (info tells the same later: learned=0 after a fresh start).
#include <stdlib.h>
#include <string.h>
#include <tinygmm_online.h>

static const int K = 4;                   // components
static const int D = 2;                   // features per reading
static const uint16_t SAVE_EVERY = 100;   // readings learned between saves (EEPROM cells last ~100,000 writes,
                                          // and eeprom_update_block writes only the bytes that changed)
typedef tinygmm::OnlineGMM<K, D> Learner;  // the whole state: Learner::STATE_BYTES bytes of EEPROM
static Learner learner;
static uint16_t since_save = 0;
static bool frozen = false;

static const tinygmm::OnlineStorage EEPROM_STATE = tinygmm::eeprom_storage(0);  // the state from address 0
static_assert(Learner::STATE_BYTES <= E2END + 1, "the learned state does not fit the EEPROM");

static void save() {
  uint32_t crc = 0;
  learner.save_to(EEPROM_STATE, &crc);
  since_save = 0;
  Serial.print(F("saved learned="));
  Serial.print(learner.samples_seen());
  Serial.print(F(" crc="));
  Serial.println(crc, HEX);
}

static void start_afresh() {
  learner.begin_scratch(tinygmm::online_defaults());
  frozen = false;
  Serial.println(F("started afresh"));
}

// score, then learn (unless frozen) one reading, and say what happened
static void handle_reading(const float* x) {
  if (frozen) {
    float p[K], ll;
    const int k = learner.classify(x, p, &ll);
    if (k < 0) {
      Serial.println(F("not ready: still warming up"));
      return;
    }
    Serial.print(F("scored label "));
    Serial.print(k);
    Serial.print(F(" score "));
    Serial.print(ll, 4);
    Serial.println(learner.is_anomaly(x) ? F(" ANOMALY") : F(""));
    return;
  }
  tinygmm::OnlineScore sc = {-1, 0.0f, 0.0f, false};  // (label -1: learn() scored nothing)
  switch (learner.learn(x, &sc)) {
    case tinygmm::ONLINE_OK:
      if (sc.label < 0) {  // the last warm-up reading: the mixture is seeded from the warm-up
        Serial.println(F("seeded"));
        return;
      }
      Serial.print(F("learned "));
      Serial.print(learner.samples_seen());
      Serial.print(F(" label "));
      Serial.print(sc.label);
      Serial.print(F(" score "));
      Serial.print(sc.log_likelihood, 4);
      Serial.println(sc.anomalous ? F(" ANOMALY") : F(""));
      if (++since_save >= SAVE_EVERY) save();
      return;
    case tinygmm::ONLINE_WARMING:
      Serial.print(F("warming "));
      Serial.print(learner.warm_count());
      Serial.print('/');
      Serial.println(Learner::WARM_SIZE);
      return;
    case tinygmm::ONLINE_FAR:
      Serial.println(F("refused: too far from every component"));
      return;
    default:
      Serial.println(F("refused: not a finite reading within range"));
      return;
  }
}

// a line: a command word, or D numbers separated by commas
static void handle_line(char* line) {
  if (strcmp(line, "save") == 0) return save();
  if (strcmp(line, "forget") == 0) return start_afresh();
  if (strcmp(line, "freeze") == 0) {
    frozen = true;
    learner.freeze_threshold();
    Serial.println(F("frozen"));
    return;
  }
  if (strcmp(line, "info") == 0) {
    Serial.print(F("learned="));
    Serial.print(learner.samples_seen());
    Serial.print(F(" warm="));
    Serial.print(learner.warm_count());
    Serial.print('/');
    Serial.print(Learner::WARM_SIZE);
    Serial.print(F(" threshold="));
    const float th = learner.threshold();
    if (th > -INFINITY) {
      Serial.print(th, 4);
    } else {
      Serial.print(F("none"));  // (not yet: the first scores are a start's transient)
    }
    Serial.print(F(" frozen="));
    Serial.println(frozen ? 1 : 0);
    return;
  }
  if (strcmp(line, "thaw") == 0) {
    frozen = false;
    learner.freeze_threshold(false);
    Serial.println(F("learning"));
    return;
  }
  float x[D];
  char* p = line;
  for (int i = 0; i < D; ++i) {
    char* end;
    x[i] = static_cast<float>(strtod(p, &end));
    const char want = i + 1 < D ? ',' : '\0';
    if (end == p || *end != want) {
      Serial.print(F("error: expected "));
      Serial.print(D);
      Serial.println(F(" numbers separated by commas"));
      return;
    }
    p = end + 1;
  }
  handle_reading(x);
}

void setup() {
  Serial.begin(115200);
  if (learner.load_from(EEPROM_STATE) == tinygmm::ONLINE_OK) {
    frozen = learner.threshold_frozen();
    Serial.print(F("resumed learned="));
    Serial.println(learner.samples_seen());
  } else {
    start_afresh();
  }
}

void loop() {
  static char line[48];
  static uint8_t len = 0;
  static bool overflow = false;
  while (Serial.available() > 0) {
    const char c = static_cast<char>(Serial.read());
    if (c == '\r') continue;
    if (c != '\n') {
      if (static_cast<size_t>(len) + 1 < sizeof line) {
        line[len++] = c;
      } else {
        overflow = true;  // too long: dropped whole, answered once at its end
      }
      continue;
    }
    line[len] = '\0';
    if (overflow) {
      Serial.println(F("error: line too long"));
    } else if (len > 0) {
      handle_line(line);
    }
    len = 0;
    overflow = false;
  }
}

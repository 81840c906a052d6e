// Example: tell a machine's operating state from two sensors with a tinygmm model.
//
// The model header GMM.h is generated before each build by the tinygmm library's hook from
// data/machine.csv and the custom_gmm_* options of platformio.ini; it is on the include path.
// loop() takes a reading from a simulated sensor (the three states of the training data,
// with noise), classifies it with gmm::classify and acts on the answer; the serial protocol
// of the tinygmm library runs alongside, so `tinygmm classify/verify --port ...` work too.
#include <stdint.h>

#include "GMM.h"
#include "tinygmm_protocol.h"

namespace {

// ---- the simulated sensor: keep in step with data/make_sensor_data.py ----
enum State { IDLE, RUNNING, FAULT, N_STATES };
const char* const STATE_NAMES[N_STATES] = {"idle", "running", "fault"};
const float TEMPERATURE[N_STATES][2] = {{24.0f, 1.5f}, {48.0f, 3.0f}, {66.0f, 4.0f}};  // mean, sd
const float VIBRATION[N_STATES][2] = {{0.3f, 0.1f}, {2.5f, 0.4f}, {7.0f, 1.2f}};
const uint8_t SCHEDULE[] = {IDLE, IDLE, IDLE, RUNNING, RUNNING, RUNNING, RUNNING, FAULT, RUNNING, IDLE};

class SimulatedSensor {
 public:
  // x[0] = temperature (degC), x[1] = vibration (mm/s): the model's feature order
  State read(float* x) {
    const State s = static_cast<State>(SCHEDULE[(n_++ / 4) % sizeof SCHEDULE]);
    x[0] = TEMPERATURE[s][0] + TEMPERATURE[s][1] * normal();
    x[1] = VIBRATION[s][0] + VIBRATION[s][1] * normal();
    if (x[1] < 0) x[1] = 0;
    return s;
  }

 private:
  float uniform() {
    seed_ = seed_ * 1664525u + 1013904223u;
    return static_cast<float>(seed_ >> 8) * (1.0f / 16777216.0f);
  }
  float normal() { return (uniform() + uniform() + uniform() + uniform() - 2.0f) * 1.7320508f; }
  uint32_t seed_ = 12345u;
  uint32_t n_ = 0;
};

static_assert(gmm::N_FEATURES == 2, "this example's sensor gives temperature and vibration");

// Components are numbered by the fit; which one is "fault" is learnt once, at start-up, by
// classifying each state's nominal reading.
int component_of[N_STATES];
void learn_components() {
  for (int s = 0; s < N_STATES; ++s) {
    const float nominal[2] = {TEMPERATURE[s][0], VIBRATION[s][0]};
    component_of[s] = gmm::predict(nominal);
  }
}

// ---- the serial protocol, with this model behind it ----
const tinygmm::DeviceModel MODEL = {static_cast<uint16_t>(gmm::N_FEATURES), static_cast<uint8_t>(gmm::N_COMPONENTS),
                                    gmm::FEATURE_NAMES, gmm::MODEL_HASH,
                                    tinygmm::classify_with<gmm::N_COMPONENTS, gmm::classify>};

SimulatedSensor sensor;

}  // namespace

#if defined(ARDUINO)
#include <Arduino.h>

static void serial_write(void*, const char* data, size_t len) {
  Serial.write(reinterpret_cast<const uint8_t*>(data), len);
}
static tinygmm::LineProtocolWith<tinygmm::request_max(gmm::N_FEATURES)> protocol(MODEL, serial_write, 0);
static unsigned long last_reading = 0;

void setup() {
  pinMode(LED_BUILTIN, OUTPUT);
  learn_components();
  Serial.begin(115200);
  protocol.begin();
}

void loop() {
  while (Serial.available() > 0) protocol.feed(static_cast<char>(Serial.read()));
  if (millis() - last_reading >= 250) {  // four readings a second
    last_reading = millis();
    float x[gmm::N_FEATURES];
    sensor.read(x);
    float proba[gmm::N_COMPONENTS];
    float ll;
    const int k = gmm::classify(x, proba, &ll);
    digitalWrite(LED_BUILTIN, k == component_of[FAULT] ? HIGH : LOW);  // the LED says "fault"
  }
}

#else  // native: print a run of classified readings on stderr, then serve the protocol on stdin/stdout
#include <stdio.h>
#include <unistd.h>

static void stdout_write(void*, const char* data, size_t len) {
  fwrite(data, 1, len, stdout);
  if (len && data[len - 1] == '\n') fflush(stdout);
}

int main() {
  learn_components();
  for (int i = 0; i < 40; ++i) {
    float x[gmm::N_FEATURES];
    const State truth = sensor.read(x);
    float proba[gmm::N_COMPONENTS];
    float ll;
    const int k = gmm::classify(x, proba, &ll);
    const char* seen = "?";
    for (int s = 0; s < N_STATES; ++s)
      if (component_of[s] == k) seen = STATE_NAMES[s];
    fprintf(stderr, "reading %2d: temperature=%5.1f vibration=%4.2f -> component %d (%s, p=%.3f); simulated %s\n", i,
            static_cast<double>(x[0]), static_cast<double>(x[1]), k, seen, static_cast<double>(proba[k]),
            STATE_NAMES[truth]);
  }
  tinygmm::LineProtocolWith<tinygmm::request_max(gmm::N_FEATURES)> protocol(MODEL, stdout_write, 0);
  protocol.begin();
  char buf[256];
  for (;;) {
    const ssize_t n = read(0, buf, sizeof buf);
    if (n <= 0) break;
    protocol.feed(buf, static_cast<size_t>(n));
  }
  return 0;
}
#endif

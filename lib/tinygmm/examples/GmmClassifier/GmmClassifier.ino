// GmmClassifier: an Arduino IDE sketch that classifies feature vectors sent over serial
// with a Gaussian mixture model fitted by tinygmm (scikit-learn's GaussianMixture).
//
// 1. The GMM.h beside this sketch is a demo model (4 customer groups by age and spending
//    score, from tinygmm's data/customers.csv), so the example builds as it is. For your own
//    data, open the sketch folder (Sketch > Show Sketch Folder) and, in it, replace it:
//      tinygmm export --data readings.csv --features "temperature,vibration"
//    (it writes GMM.h and GMM.json in the current folder; pip install tinygmm gives the command)
// 2. Install the library: Sketch > Include Library > Add .ZIP Library... with the zip that
//    `tinygmm library --zip` writes; then File > Examples > tinygmm > GmmClassifier, upload.
// 3. Serial monitor at 115200 baud, line ending "Newline": type 19,39 and get
//    OK <label> <probability> <log-likelihood>; INFO names the model. The host tools
//    (tinygmm classify / stream / verify --port ...) speak the same protocol.
//
// To classify readings of your own instead, call the model directly:
//    float x[gmm::N_FEATURES] = {...};  float p[gmm::N_COMPONENTS];  float ll;
//    int k = gmm::classify(x, p, &ll);   // label, probabilities, log-likelihood
#include "GMM.h"
#include <tinygmm_protocol.h>

// what the protocol needs to know about the model, and how to classify with it
const tinygmm::DeviceModel MODEL = {static_cast<uint16_t>(gmm::N_FEATURES), static_cast<uint8_t>(gmm::N_COMPONENTS),
                                    gmm::FEATURE_NAMES, gmm::MODEL_HASH,
                                    tinygmm::classify_with<gmm::N_COMPONENTS, gmm::classify>};

void serialWrite(void*, const char* data, size_t len) {
  Serial.write(reinterpret_cast<const uint8_t*>(data), len);
}

// the line buffer holds the longest request the host tools send for this many features
tinygmm::LineProtocolWith<tinygmm::request_max(gmm::N_FEATURES)> protocol(MODEL, serialWrite, 0);

void setup() {
  Serial.begin(115200);
  protocol.begin();  // prints READY tinygmm <model hash>
}

void loop() {
  while (Serial.available() > 0) {
    protocol.feed(static_cast<char>(Serial.read()));
  }
}

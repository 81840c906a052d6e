// tinygmm_firmware.h - the tinygmm firmware: classifies feature vectors that arrive over serial
// with the model of GMM.h. Include it in exactly one source file, with GMM.h on the include
// path: it defines setup() and loop() on Arduino, main() (stdin/stdout, so the program acts
// as a device on a pty) elsewhere. The repository's src/main.cpp is this include, and so is
// the native / simavr firmware that `tinygmm classify --port native|simavr` builds from an
// installed package; the protocol is in tinygmm_protocol.h, the model glue in tinygmm_device.h.
#ifndef TINYGMM_FIRMWARE_H
#define TINYGMM_FIRMWARE_H

#include "tinygmm_device.h"

#if defined(ARDUINO)
#include <Arduino.h>

#ifndef TINYGMM_BAUD
#define TINYGMM_BAUD 115200
#endif

static void serial_write(void*, const char* data, size_t len) {
  Serial.write(reinterpret_cast<const uint8_t*>(data), len);
}

static tinygmm_device::Protocol protocol(tinygmm_device::MODEL, serial_write, 0);

void setup() {
  Serial.begin(TINYGMM_BAUD);
  protocol.begin();
}

void loop() {
  while (Serial.available() > 0) protocol.feed(static_cast<char>(Serial.read()));
}

#else  // a host: stdin/stdout
#include <stdio.h>
#include <unistd.h>

static void stdout_write(void*, const char* data, size_t len) {
  fwrite(data, 1, len, stdout);
  if (len && data[len - 1] == '\n') fflush(stdout);
}

int main() {
  tinygmm_device::Protocol protocol(tinygmm_device::MODEL, stdout_write, 0);
  protocol.begin();
  char buf[256];
  for (;;) {
    const ssize_t n = read(0, buf, sizeof buf);
    if (n <= 0) break;  // EOF or the port went away
    protocol.feed(buf, static_cast<size_t>(n));
  }
  return 0;
}
#endif

#endif  // TINYGMM_FIRMWARE_H

// unity_main.h - the entry points every Unity suite (test/test_*) shares: on the host
// main(), on a board setup()/loop(), on simavr (TINYGMM_TEST_SIMAVR) a clean exit
// after the run. A suite includes it and defines `static int run_all(void)`, which
// runs its tests between UNITY_BEGIN() and UNITY_END().
#ifndef TINYGMM_TEST_UNITY_MAIN_H
#define TINYGMM_TEST_UNITY_MAIN_H

#if defined(ARDUINO)
#include <Arduino.h>
#endif
#if defined(TINYGMM_TEST_SIMAVR)
#include <avr/interrupt.h>
#include <avr/sleep.h>
#endif

static int run_all(void);

#if defined(ARDUINO)
void setup() {
#if !defined(TINYGMM_TEST_SIMAVR)
  delay(2000);  // a real board resets when the port opens: let the host attach
#endif
  run_all();
#if defined(TINYGMM_TEST_SIMAVR)
  Serial.flush();
  cli();  // simavr: "sleeping with interrupts off, quitting gracefully"
  sleep_enable();
  sleep_cpu();
#endif
}

void loop() {}
#else
int main(void) { return run_all(); }
#endif

#endif  // TINYGMM_TEST_UNITY_MAIN_H

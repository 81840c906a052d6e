// golden_runner.cpp - evaluates the golden vectors with an exported GMM.h on
// a bare-metal ATmega328P (avr-libc only, no Arduino core) and prints the
// results over USART0, for test/python/test_avr_sim.py to compare with
// scikit-learn. Runs under simavr:
//   avr-g++ -mmcu=atmega328p -Os -std=gnu++11 -DF_CPU=16000000UL -I<dir with GMM.h and
//       golden_vectors.h> -Itest/avr test/avr/golden_runner.cpp -o golden.elf
//   simavr -m atmega328p -f 16000000 golden.elf     (UART text on stderr)
//
// Output, one line per vector. Floats are printed exactly, as the 8 hex
// digits of their IEEE-754 bits (the device's own decimal formatting,
// tinygmm::format_float, is only good to about 7 digits in AVR's 32-bit
// double, and it is tested by the protocol runner):
//   GOLDEN <n-vectors> <features> <components> <model-hash>
//   V <i> <far> <predict> <classify-label> <predict_proba-argmax> <classify-cycles>
//     <classify-ll> <score_samples> x[0..D-1] proba[0..K-1]
//   END
// <classify-cycles> is Timer1 at F_CPU/8, times 8 (0 on the host).
#include "GMM.h"
#include "avr_uart.h"
#include "golden_vectors.h"
#include <string.h>

#if defined(__AVR__)
#define GOLDEN_U8(p) pgm_read_byte(p)
#define GOLDEN_I16(p) static_cast<int16_t>(pgm_read_word(p))
#else
#define GOLDEN_U8(p) (*(p))
#define GOLDEN_I16(p) (*(p))
#endif

static void put_float(float v) {
  static_assert(sizeof(float) == 4, "IEEE-754 binary32 expected");
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  uart_putc(' ');
  for (int shift = 28; shift >= 0; shift -= 4) uart_putc("0123456789abcdef"[(bits >> shift) & 15]);
}

static void timer_start() {
#if defined(__AVR__)
  TCCR1A = 0;
  TCCR1B = 0;
  TCNT1 = 0;
  TIFR1 = _BV(TOV1);
  TCCR1B = _BV(CS11);  // F_CPU / 8
#endif
}

static uint32_t timer_cycles() {
#if defined(__AVR__)
  const uint16_t t = TCNT1;
  TCCR1B = 0;
  if (TIFR1 & _BV(TOV1)) return 0xFFFFFFFFu;  // more than 2^19 cycles
  return 8ul * t;
#else
  return 0;
#endif
}

int main() {
  uart_init();
  uart_puts_flash(RUNNER_STR("GOLDEN"));
  uart_put_int(golden::N_VECTORS);
  uart_put_int(gmm::N_FEATURES);
  uart_put_int(gmm::N_COMPONENTS);
  uart_putc(' ');
  uart_puts_flash(gmm::MODEL_HASH);
  uart_putc('\n');

  float x[gmm::N_FEATURES];
  float proba[gmm::N_COMPONENTS];
  float proba2[gmm::N_COMPONENTS];
  for (int i = 0; i < golden::N_VECTORS; ++i) {
    for (int d = 0; d < gmm::N_FEATURES; ++d) x[d] = TINYGMM_READ(golden::X + i * gmm::N_FEATURES + d);
    float ll = 0.0f;
    timer_start();
    const int label = gmm::classify(x, proba, &ll);
    const uint32_t cycles = timer_cycles();
    const int predicted = gmm::predict(x);
    const int argmax = gmm::predict_proba(x, proba2);
    const float score = gmm::score_samples(x);

    uart_putc('V');
    uart_put_int(i);
    uart_put_int(GOLDEN_U8(golden::FAR + i));
    uart_put_int(predicted);
    uart_put_int(label);
    uart_put_int(argmax);
    uart_putc(' ');
    uart_putu(cycles);
    put_float(ll);
    put_float(score);
    for (int d = 0; d < gmm::N_FEATURES; ++d) put_float(x[d]);
    for (int k = 0; k < gmm::N_COMPONENTS; ++k) put_float(proba2[k]);
    uart_putc('\n');
    (void)GOLDEN_I16(golden::LABEL + i);
  }
  uart_puts_flash(RUNNER_STR("END\n"));
  halt();
  return 0;
}

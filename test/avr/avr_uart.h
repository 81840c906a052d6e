// avr_uart.h - bare-metal USART0 output for the ATmega328P test firmwares in
// test/avr (avr-libc only, no Arduino core), and their host stand-in.
//
// On AVR: 115200 baud 8N1 at F_CPU 16 MHz (U2X, UBRR0 = 16), polled, no
// interrupts. halt() lets the last byte leave the shift register, then sleeps
// with interrupts off, which makes simavr exit ("sleeping with interrupts off,
// quitting gracefully").
//
// TXC0 is never cleared on purpose: simavr usleep()s on every read of UCSR0A
// while TXC0 (and RXC0) are clear, to be kind to polling firmware, which makes
// a "clear TXC0, poll TXC0" loop run thousands of times slower than real time.
// Once the first byte is out, TXC0 stays set and polling UDRE0 is cheap. On the host the same calls write to
// stdout, so a runner builds with g++ as well and the two outputs can be
// compared line by line.
#ifndef TINYGMM_TEST_AVR_UART_H
#define TINYGMM_TEST_AVR_UART_H

#include <stddef.h>
#include <stdint.h>

#if defined(__AVR__)
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <util/delay.h>

#define RUNNER_FLASH PROGMEM
#define RUNNER_STR(s) PSTR(s)
#define RUNNER_BYTE(p) static_cast<char>(pgm_read_byte(p))

static inline void uart_init() {
  UCSR0A = _BV(U2X0);
  UBRR0 = 16;  // 16 MHz / (8 * (16 + 1)) = 117647 baud, 2.1% off 115200
  UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
  UCSR0B = _BV(TXEN0);
}

static inline void uart_putc(char c) {
  while (!(UCSR0A & _BV(UDRE0))) {
  }
  UDR0 = static_cast<uint8_t>(c);
}

static inline void halt() {
  while (!(UCSR0A & _BV(UDRE0))) {
  }
  _delay_us(250);  // the byte in the shift register: 10 bits at 117647 baud = 85 us
  cli();
  sleep_enable();
  sleep_cpu();
  for (;;) {
  }
}

#else  // host
#include <stdio.h>
#include <stdlib.h>

#define RUNNER_FLASH
#define RUNNER_STR(s) (s)
#define RUNNER_BYTE(p) (*(p))

static inline void uart_init() {}
static inline void uart_putc(char c) { putchar(c); }
static inline void halt() {
  fflush(stdout);
  exit(0);
}
#endif

static inline void uart_write(const char* data, size_t len) {
  for (size_t i = 0; i < len; ++i) uart_putc(data[i]);
}

// s in flash on AVR (RUNNER_STR / RUNNER_FLASH)
static inline void uart_puts_flash(const char* s) {
  for (;; ++s) {
    const char c = RUNNER_BYTE(s);
    if (!c) return;
    uart_putc(c);
  }
}

#include "../common/uart_text.h"

#endif  // TINYGMM_TEST_AVR_UART_H

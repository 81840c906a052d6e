// uart_text.h - decimal output for the bare-metal test runners (test/avr, test/qemu).
// Include it after defining `static inline void uart_putc(char)` for the target.
#ifndef TINYGMM_TEST_UART_TEXT_H
#define TINYGMM_TEST_UART_TEXT_H

#include <stdint.h>

static inline void uart_puts(const char* s) {
  while (*s) uart_putc(*s++);
}

static inline void uart_putu(uint32_t v) {
  char buf[11];
  char* p = buf + sizeof buf;
  *--p = 0;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  uart_puts(p);
}

// a space, then v in decimal
static inline void uart_put_int(long v) {
  uart_putc(' ');
  if (v < 0) {
    uart_putc('-');
    v = -v;
  }
  uart_putu(static_cast<uint32_t>(v));
}

#endif  // TINYGMM_TEST_UART_TEXT_H
